#!/usr/bin/env python
"""Batched inference on a folder of X-ray JPEGs: images/s of fastai `get_preds` vs `medfast.inference.predict`.

Methods (same ResNet-18 learner, same files, same batch size; runs alternate, median of `--repeats`):
  fastai get_preds       `learn.get_preds(dl=learn.dls.test_dl(files))` (medfast DataLoaders: reduced-scale decoding)
  medfast predict        `medfast.inference.predict(learn, folder, bs)` (threaded decoding overlapping the model),
                         with `fast_decode=False` (full-size decoding) and with its default (decode as trained)
  + bf16                 `predict(..., bf16=True)`: bfloat16 autocast (only on CPUs with native bfloat16: AMX / AVX512-BF16)
Both sides run channels_last on a CPU (medfast_learner's CPUMixedPrecision for fastai, `predict` itself for medfast).
Prediction agreement with fastai's probabilities is reported (max abs difference).

    python bench/predict.py                 # 256 real 224-px X-rays (or --large for 2000-px ones)
    python bench/predict.py --smoke         # seconds
"""
from __future__ import annotations
import argparse, shutil, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from fastai.vision.all import *
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import cpu_has_fast_bf16, machine, loadavg
from medfast.synthetic import synthetic_xrays
from medfast.data import folder_dls
from medfast.images import image_files
from medfast.learner import medfast_learner
from medfast.inference import predict

REAL = Path(__file__).resolve().parents[2]/'shared'/'data'/'chest_xray_224'/'train'

def make_folder(dest, n, large, smoke):
    "A class-folder set of `n` X-ray JPEGs: real 224-px ones (upscaled to ~2000 px with `large`) or synthetic"
    if smoke or not REAL.exists(): return synthetic_xrays(dest, n=n, size=64 if smoke else 224, seed=0)/'train'
    rng = np.random.default_rng(0)
    for cls in ('NORMAL', 'PNEUMONIA'):
        (dest/cls).mkdir(parents=True)
        for f in sorted((REAL/cls).glob('*.jpeg'))[:n//2]:
            if not large: shutil.copy(f, dest/cls/f.name); continue
            big = np.asarray(Image.open(f).convert('L').resize((2000, 1800), Image.BICUBIC), np.float32)
            big += rng.normal(0, 6, big.shape).astype(np.float32)
            Image.fromarray(np.clip(big, 0, 255).astype(np.uint8)).save(dest/cls/f.name, quality=90)
    return dest

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=256); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--large', action='store_true', help='2000x1800 JPEGs instead of 224-px ones')
    ap.add_argument('--smoke', action='store_true', help='tiny run in seconds (for tests)')
    a = ap.parse_args(argv)
    if a.smoke: a.n, a.size, a.bs, a.repeats = 16, 32, 8, 1
    tmp = Path(tempfile.mkdtemp(prefix='medfast-predict-'))
    try:
        folder = make_folder(tmp/'x', a.n, a.large, a.smoke)
        files = image_files(folder)
        dls = folder_dls(folder, size=a.size, bs=a.bs, num_workers=0, verify=False, seed=0)
        learn = medfast_learner(dls, 'resnet18', pretrained=False)
        learn.model.eval()
        bf16 = cpu_has_fast_bf16()
        def fastai_preds():
            with learn.no_bar(): return learn.get_preds(dl=learn.dls.test_dl(files, bs=a.bs))[0]
        def medfast_preds(fast=False, low=False):
            df = predict(learn, folder, bs=a.bs, fast_decode=fast, progress=False, bf16=low)
            return torch.tensor(df[[c for c in df.columns if c.startswith('prob_')]].values)
        methods = {'fastai get_preds': fastai_preds, 'medfast predict, full-size decode': partial(medfast_preds, False),
                   'medfast predict (default: reduced-scale decode, as trained)': partial(medfast_preds, None)}
        if bf16: methods['medfast predict, default + bf16'] = partial(medfast_preds, None, True)
        ref = fastai_preds()                                                    # warm-up + reference
        times, agree = {}, {}
        for r in range(a.repeats):
            for name in (list(methods) if r % 2 == 0 else list(methods)[::-1]):
                t0 = time.perf_counter(); p = methods[name](); times.setdefault(name, []).append(time.perf_counter() - t0)
                agree[name] = float((p.float() - ref.float()).abs().max())
        print(f"machine: {machine()}")
        print(f"{len(files)} {'2000x1800' if a.large else 'X-ray'} JPEGs -> {a.size} px, resnet18, bs {a.bs}, "
              f"median of {a.repeats} alternating runs\n")
        print("| method | images/s | speed-up vs fastai | max abs prob diff vs fastai |\n|---|---|---|---|")
        base = statistics.median(times['fastai get_preds'])
        for name in methods:
            t = statistics.median(times[name])
            print(f"| {name} | {len(files)/t:.0f} | {base/t:.2f}x | {agree[name]:.4f} |")
        print(f"\nload avg at end: {loadavg():.1f}")
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return 0

if __name__ == '__main__': sys.exit(main())
