#!/usr/bin/env python
"""Training on a GPU: medfast_learner in float32 vs mixed precision (`GPUMixedPrecision`), against a hand-written PyTorch loop.

Both sides train the same ResNet-18 (same initial weights) on the same in-memory images (a MedMNIST-style `.npz`,
resized on the GPU), with the same batch size, AdamW maths and one-cycle schedule; the hand loop uses
`torch.autocast('cuda')` (+ a GradScaler for float16) exactly as fastai's `MixedPrecision` does. Runs alternate,
mode by mode with the order of the two sides flipping each round, and the median of `--repeats` rounds is
reported: training images/s, medfast's overhead against the hand loop, and the speed-up over float32.
`--accuracy NPZ` also trains float32 and mixed precision from the same seeds on a real file and compares val AUC.

    python bench/gpu.py                                            # ~1 min on one modern GPU
    python bench/gpu.py --accuracy ../shared/data/pneumoniamnist_28.npz
    python bench/gpu.py --smoke                                    # seconds; on a CPU it says there is no GPU
"""
from __future__ import annotations
import argparse, statistics, sys, time
from functools import partial
from pathlib import Path
import torch
from torch import nn
from fastai.vision.all import *
import copy as copylib                                   # after fastai: its star import has a `copy` of its own
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import GPUMixedPrecision, gpu_amp_mode, machine, scratch_dir, precision_accuracy
from medfast.synthetic import synthetic_medmnist
from medfast.medmnist import medmnist_dls
from medfast.learner import medfast_learner

DTYPES = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}

class TrainTimer(Callback):
    "Wall seconds of the last training phase, the GPU's queue drained at both ends"
    order = 0
    def before_train(self): torch.cuda.synchronize(); self.t = time.perf_counter()
    def after_train(self): torch.cuda.synchronize(); self.secs = time.perf_counter() - self.t

def medfast_epoch(dls, model, mode, lr, seed):
    "One `medfast_learner` epoch in `mode`; the training phase's seconds"
    timer = TrainTimer()
    cbs = [timer] + ([GPUMixedPrecision(mode)] if mode != 'fp32' else [])
    learn = medfast_learner(dls, 'resnet18', pretrained=False, seed=seed, cbs=cbs, gpu_amp=False,
                            opt_func=partial(OptimWrapper, opt=partial(torch.optim.AdamW, betas=(0.9, 0.99), eps=1e-5)))
    learn.model = model.cuda(); learn.create_opt()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, lr, wd=0.01)
    return timer.secs

def hand_epoch(dls, model, mode, lr, seed):
    "The same epoch as a plain PyTorch loop over the same batches; the training phase's seconds"
    torch.manual_seed(seed)
    model = model.cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=len(dls.train), pct_start=0.25)
    dtype = DTYPES[mode]; scaler = torch.amp.GradScaler('cuda', enabled=dtype is torch.float16)
    torch.cuda.synchronize(); t = time.perf_counter()
    for xb, yb in dls.train:
        with torch.autocast('cuda', dtype=dtype or torch.float32, enabled=dtype is not None): out = model(xb)
        loss = nn.functional.cross_entropy(out.float(), yb)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update(); opt.zero_grad(set_to_none=True); sched.step()
    torch.cuda.synchronize()
    return time.perf_counter() - t

def bench_throughput(a):
    npz = synthetic_medmnist(scratch_dir()/'gpu.npz', n=a.n, size=28, seed=0, n_val=a.n//8, n_test=8)
    dls = medmnist_dls(npz, size=a.size, bs=a.bs, seed=0, device='cuda')
    base = medfast_learner(dls, 'resnet18', pretrained=False, seed=0, gpu_amp=False).model
    init = copylib.deepcopy(base.state_dict())
    def fresh(): m = copylib.deepcopy(base); m.load_state_dict(init); return m
    modes, sides = a.modes.split(','), {'hand': hand_epoch, 'medfast': medfast_epoch}
    n_train = len(dls.train) * a.bs
    for m in modes: medfast_epoch(dls, fresh(), m, a.lr, 0); hand_epoch(dls, fresh(), m, a.lr, 0)   # warm-up: cuDNN picks kernels
    res = {(m, s): [] for m in modes for s in sides}
    for r in range(a.repeats):
        for m in modes:
            for s in (list(sides) if r % 2 == 0 else list(sides)[::-1]): res[(m, s)].append(sides[s](dls, fresh(), m, a.lr, r))
            print(f"  round {r+1}/{a.repeats} {m}: " + ', '.join(f"{s} {n_train/res[(m, s)][-1]:.0f} img/s" for s in sides), flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"\nTraining phase, resnet18 from scratch, {n_train} images at {a.size} px per epoch, bs {a.bs}, median of {a.repeats}:")
    print("| precision | hand loop img/s | medfast img/s | medfast overhead | speed-up vs fp32 (medfast) |\n|---|---|---|---|---|")
    for m in modes:
        h, f = n_train/med[(m, 'hand')], n_train/med[(m, 'medfast')]
        print(f"| {m} | {h:.0f} | {f:.0f} | {100*(h/f-1):+.1f}% | {f/(n_train/med[(modes[0], 'medfast')]):.2f}x |")

def bench_accuracy(a):
    "The same training in float32 and in the GPU's mixed precision, from the same seeds: does the validation AUC hold?"
    npz = Path(a.accuracy) if a.accuracy else synthetic_medmnist(scratch_dir()/'acc.npz', n=256, size=28, seed=1)
    modes = {'fp32': dict(gpu_amp=False), gpu_amp_mode(): dict(gpu_amp=True)}
    return precision_accuracy(npz, modes, a.acc_size, a.bs, a.acc_epochs, a.acc_seeds, device='cuda')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=8192, help='training images per epoch')
    ap.add_argument('--size', type=int, default=224); ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--lr', type=float, default=1e-3); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--modes', default='fp32,bf16,fp16', help='precisions to time (bf16 needs compute capability 8.0+)')
    ap.add_argument('--accuracy', metavar='NPZ', nargs='?', const='', default=None, help='also compare val AUC of fp32 and mixed precision on NPZ')
    ap.add_argument('--acc-epochs', type=int, default=5); ap.add_argument('--acc-size', type=int, default=64)
    ap.add_argument('--acc-seeds', type=int, default=2)
    ap.add_argument('--smoke', action='store_true', help='tiny run in seconds (for tests)')
    a = ap.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    if not torch.cuda.is_available(): print("No GPU here: nothing to measure (bench/train_step.py times CPUs)."); return 0
    if a.smoke: a.n, a.size, a.bs, a.repeats, a.acc_epochs, a.acc_seeds, a.acc_size = 256, 64, 32, 1, 1, 1, 32
    if gpu_amp_mode() != 'bf16': a.modes = ','.join(m for m in a.modes.split(',') if m != 'bf16')
    print(f"args: {vars(a)}", flush=True)
    bench_throughput(a)
    if a.accuracy is not None or a.smoke: bench_accuracy(a)
    return 0

if __name__ == '__main__': sys.exit(main())
