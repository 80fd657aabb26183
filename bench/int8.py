#!/usr/bin/env python
"""An int8 ONNX network against float32, on a trained model and real images: how far the answers move, and images/s.

The int8 network is what `medfast export MODEL --onnx --int8 IMAGES` writes (`export_onnx(..., int8=IMAGES)`): weights
int8 per output channel, activations uint8 scaled on `--calibration` images drawn from IMAGES, then checked on as many
others. Every image under IMAGES is then predicted by the float32 and the int8 ONNX networks (probability changes,
labels changed, and ROC AUC and accuracy where the folder names are the classes), and the runtimes are timed one at a
time on the same model-ready tensors at batch 1 and 32, each as `medfast predict` runs it: PyTorch eager in float32,
eager in bfloat16 autocast (`--bf16`), ONNX Runtime float32, ONNX Runtime int8.

    python bench/int8.py runs/kermany/model.json ../shared/data/chest_xray_224/train
    python bench/int8.py --smoke          # seconds: an untrained network on synthetic X-rays
"""
from __future__ import annotations
import argparse, statistics, sys, tempfile
from functools import partial
from pathlib import Path
import numpy as np, torch
_here = Path(__file__).resolve().parent                            # bench/onnx.py must not shadow the onnx package:
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != _here] + [str(_here)]   # this folder goes last
from benchutils import machine, rate
from medfast.inference import load, predict, model_input, expand_paths, _Prep
from medfast.metrics import roc_auc
from medfast.onnx import export_onnx, load_onnx
import medfast.recipes                                            # registers the recipes' networks

def agreement(f32, i8, images, classes) -> str:
    "One table row: how the int8 network's predictions of every image under `images` differ from float32's"
    a, b = (predict(m, images, progress=False) for m in (f32, i8))
    ok = a.error.isna() & b.error.isna()
    a, b = a[ok], b[ok]
    cols = [f'prob_{c}' for c in classes]
    d = np.abs(a[cols].values - b[cols].values).max(1)
    y = np.array([classes.index(p) if p in classes else -1 for p in (Path(f).parent.name for f in a.file)])
    row = (f"| {len(a)} | {np.median(d):.1e} | {np.quantile(d, .99):.3f} | {d.max():.3f} | "
           f"{int((a.label.values != b.label.values).sum())} |")
    if (y >= 0).all() and len(set(y)) == len(classes):
        p32, p8 = a[cols].values, b[cols].values
        pos = (lambda p: p[:, 1]) if len(classes) == 2 else (lambda p: p)
        row += (f" {roc_auc(pos(p32), y):.4f} / {roc_auc(pos(p8), y):.4f} | "
                f"{(a.label.values == np.array(classes)[y]).mean():.4f} / {(b.label.values == np.array(classes)[y]).mean():.4f} |")
    else: row += " – | – |"
    return row

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model', nargs='?', help="a trained medfast model (model.json, or its folder)")
    p.add_argument('images', nargs='?', help="a folder of images: calibration is drawn from it, and every image is compared")
    p.add_argument('--calibration', type=int, default=128, help="images to scale the int8 network on (and as many to check on)")
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--images-per-timing', type=int, default=256)
    p.add_argument('--pause', type=float, default=0.5, help="seconds idle before each timing (the other runtime's threads stop spinning)")
    p.add_argument('--smoke', action='store_true')
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if a.smoke:
            from medfast.synthetic import synthetic_xrays
            from medfast.data import pneumonia_dls
            from medfast.learner import medfast_learner
            from medfast.inference import export
            data = synthetic_xrays(d/'xr', n=40, size=48, seed=0)
            learn = medfast_learner(pneumonia_dls(data, size=32, bs=8, seed=0), 'resnet18_small', pretrained=False)
            a.model, a.images = export(learn, d/'model'), data/'train'
            a.calibration, a.rounds, a.images_per_timing, a.pause = 8, 1, 8, 0.
        if a.model is None or a.images is None: p.error("give MODEL and IMAGES (or --smoke)")
        learn = load(a.model, device='cpu'); spec = learn.medfast_spec
        f32 = load_onnx(export_onnx(learn, d/'float32'))
        js8 = export_onnx(learn, d/'int8', int8=a.images, n_calibration=a.calibration)
        i8 = load_onnx(js8)
        print(f"machine: {machine()}")
        px = spec['image']['resize']['size']
        print(f"model: {a.model} ({spec['arch']}, {px[0]}x{px[1]} px, classes {spec['classes']}, threshold {spec.get('threshold')})")
        r = i8.medfast_spec['int8']
        print(f"int8 export's own check: scaled on {r['calibration_images']}, checked on {r['checked_images']} others: "
              f"max prob diff {r.get('max_prob_diff', float('nan')):.3f}, labels changed {r.get('labels_changed', 0)}\n")
        print("| images | median max prob diff | 99th percentile | max | labels changed | ROC AUC float32 / int8 | accuracy float32 / int8 |")
        print("|---|---|---|---|---|---|---|")
        print(agreement(f32, i8, a.images, spec['classes']), flush=True)
        files = [f for f, err in expand_paths([a.images]) if err is None][:32]
        x32 = torch.cat([model_input(learn, f)[0] for f in files])
        fns = {'PyTorch eager float32': partial(_Prep(spec).probs, model=learn.model),
               'PyTorch eager bfloat16': partial(_Prep(spec, bf16=True).probs, model=learn.model),
               'ONNX Runtime float32': partial(_Prep(spec).probs, model=f32.model),
               'ONNX Runtime int8': partial(_Prep(spec).probs, model=i8.model)}
        res = {(k, bs): [] for k in fns for bs in (1, len(x32))}
        for rnd in range(a.rounds):                                   # each round turns the order by one
            order = list(fns)[rnd % len(fns):] + list(fns)[:rnd % len(fns)]
            for bs in (1, len(x32)):
                for k in order: res[k, bs].append(rate(fns[k], x32[:bs], max(1, a.images_per_timing // bs), a.pause))
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"\nimages/s on model-ready tensors, each runtime as `medfast predict` runs it; medians of {a.rounds} rounds, "
              f"{a.images_per_timing} images per timing after {a.pause:g} s idle and one untimed call\n")
        print(f"| runtime | batch 1 img/s | / eager float32 | batch {len(x32)} img/s | / eager float32 |\n|---|---|---|---|---|")
        e1, e32 = med['PyTorch eager float32', 1], med['PyTorch eager float32', len(x32)]
        for k in fns:
            print(f"| {k} | {med[k, 1]:.0f} | {med[k, 1]/e1:.2f}x | {med[k, len(x32)]:.0f} | {med[k, len(x32)]/e32:.2f}x |")
    return 0

if __name__ == '__main__': sys.exit(main())
