#!/usr/bin/env python
"""Decode + resize of large (~2000-px) chest X-ray JPEGs to 224 px: fastai's default vs medfast.

Methods, each ending in the same `Resize(224, Squish)` item transform medfast's DataBlocks use:
  fastai   `PILImage.create(path)`: full-resolution decode
  draft    `MedImage.create(path, size=224)`: medfast.images.open_image decodes the JPEG at reduced scale
  cache    `PILImage.create(cached copy)`: medfast.cache copies made once (build time reported separately)
Methods are run alternately, `--repeats` times, in one process; the median per method gives the speed-up ratios.
Mean absolute difference (0-255 scale) against the fastai result shows the image content is the same.

    python bench/decode.py                # 24 synthetic 2000x1800 JPEGs made from real 224-px X-rays
    python bench/decode.py --smoke        # 3 small images, seconds
"""
from __future__ import annotations
import argparse, shutil, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image, ImageFilter
from fastai.vision.all import PILImage, Resize, ResizeMethod
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import machine
from medfast.images import MedImage
from medfast.cache import cache_images

REAL_XRAYS = Path(__file__).resolve().parents[2]/'shared'/'data'/'chest_xray_224'/'train'

def make_large_jpegs(dest, n=24, size=(2000, 1800), seed=0, quality=90, noise=3.) -> list:
    "Write `n` large grey JPEGs: real 224-px X-rays (or synthetic ones) upscaled with film-like noise"
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    srcs = sorted(REAL_XRAYS.rglob('*.jpeg'))[::97][:n] if REAL_XRAYS.exists() else []
    out = []
    for i in range(n):
        if i < len(srcs): im = Image.open(srcs[i]).convert('L')
        else:
            from medfast.synthetic import synthetic_xray
            im = synthetic_xray('normal' if i % 2 else 'bacteria', 256, seed=i)
        big = np.asarray(im.resize(size, Image.BICUBIC), dtype=np.float32)
        big += rng.normal(0, noise, big.shape).astype(np.float32)              # film grain: JPEG sizes like real scans
        p = dest/('NORMAL' if i % 2 else 'PNEUMONIA')/f'person{i}_bacteria_{i}.jpeg'
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.clip(big, 0, 255).astype(np.uint8), 'L').save(p, quality=quality)
        out.append(p)
    return out

def run_method(name, paths, cached, size):
    rsz = Resize(size, ResizeMethod.Squish)
    if name == 'fastai': imgs = [PILImage.create(p) for p in paths]
    elif name == 'draft': imgs = [MedImage.create(p, size=size) for p in paths]
    elif name == 'cache': imgs = [PILImage.create(p) for p in cached]
    return [np.asarray(rsz(im, split_idx=1), dtype=np.float32) for im in imgs]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=24, help='number of large JPEGs')
    ap.add_argument('--width', type=int, default=2000); ap.add_argument('--height', type=int, default=1800)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--noise', type=float, default=3., help='grain std (0-255) added to the upscaled X-rays')
    ap.add_argument('--smoke', action='store_true', help='3 small images, 1 repeat (seconds; for tests)')
    a = ap.parse_args(argv)
    if a.smoke: a.n, a.width, a.height, a.repeats, a.size = 3, 600, 500, 1, 64
    tmp = Path(tempfile.mkdtemp(prefix='medfast-decode-'))
    try:
        paths = make_large_jpegs(tmp/'xrays', a.n, (a.width, a.height), noise=a.noise)
        kb = np.mean([p.stat().st_size for p in paths]) / 1e3
        t0 = time.perf_counter()
        cached = cache_images(paths, a.size, cache_dir=tmp/'cache', progress=False)
        build = time.perf_counter() - t0
        t0 = time.perf_counter(); cache_images(paths, a.size, cache_dir=tmp/'cache', progress=False); check = time.perf_counter() - t0
        methods, times = ['fastai', 'draft', 'cache'], {}
        run_method('fastai', paths[:1], cached[:1], a.size)                    # warm-up (imports, page cache)
        for r in range(a.repeats):
            for m in (methods if r % 2 == 0 else methods[::-1]):                # alternate the order
                t0 = time.perf_counter(); out = run_method(m, paths, cached, a.size)
                times.setdefault(m, []).append((time.perf_counter() - t0) / len(paths))
        ref = run_method('fastai', paths, cached, a.size)
        mad = {m: float(np.mean([np.abs(x - y).mean() for x, y in zip(ref, run_method(m, paths, cached, a.size))]))
               for m in methods}
        med = {m: statistics.median(ts) for m, ts in times.items()}
        print(f"machine: {machine()}")
        print(f"{a.n} JPEGs {a.width}x{a.height} q90 (mean {kb:.0f} KB) -> {a.size} px (squish), "
              f"median of {a.repeats} alternating runs\n")
        print(f"| method | ms / image | images / s | speed-up vs fastai | mean abs diff vs fastai (0-255) |")
        print(f"|---|---|---|---|---|")
        for m in methods:
            print(f"| {m} | {med[m]*1000:.1f} | {1/med[m]:.0f} | {med['fastai']/med[m]:.1f}x | {mad[m]:.2f} |")
        print(f"\ncache build (once, {a.n} images, parallel): {build:.2f} s = {build/a.n*1000:.1f} ms/image; "
              f"re-check of an up-to-date cache: {check*1000:.1f} ms")
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return 0

if __name__ == '__main__': sys.exit(main())
