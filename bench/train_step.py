#!/usr/bin/env python
"""Training throughput: a medfast/fastai epoch vs a hand-written PyTorch loop; fp32, channels_last, bf16 autocast.

Both sides train the same network (`--arch`, a copy of the medfast_learner model, same initial weights), on the same
in-memory uint8 images (`medfast.medmnist` DataLoaders vs a `TensorDataset`), with the same batch size, the same
Adam(W) maths (lr, betas 0.9/0.99, eps 1e-5, decoupled weight decay 0.01) and a one-cycle schedule; the hand loop
steps with PyTorch's fused AdamW kernel, as medfast's default optimiser (`FusedAdam`) does, and a third side trains
medfast with fastai's `Adam` (a Python loop over the parameters) to show what the fused step saves. Runs alternate
(mode by mode, the order of the two sides flipping each round) and the median of `--repeats` rounds is reported:
images/s of the training phase, overhead of fastai/medfast against the hand loop, and images per CPU-second
(less sensitive to other processes on a shared machine). `--workers` also times a full epoch on JPEG files
with DataLoader num_workers 0/1/2.

    python bench/train_step.py                     # ~2-4 min on an idle 2-core CPU
    python bench/train_step.py --arch xresnet18_half --size 48 --bs 128 --n 1024 --modes bf16   # the light network
    python bench/train_step.py --workers --accuracy  # + DataLoader workers and the fp32/bf16 accuracy check
    python bench/train_step.py --smoke             # seconds
"""
from __future__ import annotations
import argparse, os, statistics, sys, time
from functools import partial
from pathlib import Path
import numpy as np, torch
from torch import nn
from fastai.vision.all import *
from sklearn.metrics import roc_auc_score
import copy as copylib
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import CPUMixedPrecision, cpu_has_fast_bf16, machine, loadavg, scratch_dir, precision_accuracy
from medfast.core import seed_everything
from medfast.synthetic import synthetic_medmnist
from medfast.medmnist import medmnist_dls, load_medmnist
from medfast.learner import medfast_learner, FusedAdam
import medfast.recipes                           # registers the recipes' networks (xresnet18_half)

MODES = {'fp32': (False, False), 'channels_last': (False, True), 'bf16': (True, False), 'bf16+channels_last': (True, True)}

class PhaseTimer(Callback):
    "Wall and CPU seconds of the training and validation phases of the last epoch"
    order = 0
    def before_train(self): self.t = (time.perf_counter(), time.process_time())
    def after_train(self): self.train_s = (time.perf_counter() - self.t[0], time.process_time() - self.t[1])
    def before_validate(self): self.t = (time.perf_counter(), time.process_time())
    def after_validate(self): self.valid_s = (time.perf_counter() - self.t[0], time.process_time() - self.t[1])

def hand_loop(model, x_tr, y_tr, x_va, y_va, stats, bs, lr, bf16, channels_last, seed):
    "A plain PyTorch epoch (train + validation with accuracy and AUC); returns ((wall, cpu) train, (wall, cpu) valid)"
    torch.manual_seed(seed)
    mean, std = (torch.tensor(s).view(1, -1, 1, 1) for s in stats)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_tr, y_tr), batch_size=bs, shuffle=True, drop_last=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01,
                            fused=True if ismin_torch('2.4') else None)   # a fused CPU kernel from torch 2.4
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=len(dl), pct_start=0.25)
    def prep(xb): return ((xb.float().div_(255).expand(-1, 3, -1, -1) - mean) / std).contiguous(memory_format=mf)
    t = (time.perf_counter(), time.process_time())
    model.train()
    for xb, yb in dl:
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): out = model(prep(xb))
        loss = nn.functional.cross_entropy(out.float(), yb)
        loss.backward(); opt.step(); opt.zero_grad(); sched.step()
    train = (time.perf_counter() - t[0], time.process_time() - t[1])
    t = (time.perf_counter(), time.process_time())
    model.eval(); outs = []
    with torch.no_grad():
        for i in range(0, len(x_va), 2*bs):
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): outs.append(model(prep(x_va[i:i+2*bs])).float())
    p = torch.cat(outs).softmax(1)
    acc, auc = (p.argmax(1) == y_va).float().mean().item(), roc_auc_score(y_va.numpy(), p[:, 1].numpy())
    return train, (time.perf_counter() - t[0], time.process_time() - t[1])

def fastai_epoch(dls, arch, model, lr, bf16, channels_last, optim, seed):
    "One medfast_learner epoch with `model` (its default optimiser, or fastai's `Adam` for `optim='fastai'`); returns ((wall, cpu) train, (wall, cpu) valid)"
    timer = PhaseTimer()
    cbs = [timer] + ([CPUMixedPrecision(bf16, channels_last)] if (bf16 or channels_last) else [])
    kw = dict(opt_func=Adam) if optim == 'fastai' else {}
    learn = medfast_learner(dls, arch, pretrained=False, seed=seed, cbs=cbs, fast_cpu=False, **kw)
    learn.model = model
    learn.create_opt()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, lr, wd=0.01)
    return timer.train_s, timer.valid_s

def bench_steps(a):
    tmp = scratch_dir()
    npz = synthetic_medmnist(tmp/'bench.npz', n=a.n, size=a.size, seed=0, n_val=a.n//4, n_test=8)
    dls = medmnist_dls(npz, bs=a.bs, seed=0)
    data = load_medmnist(npz)
    (x_tr, y_tr), (x_va, y_va) = data['train'], data['val']
    y_tr, y_va = y_tr[:, 0], y_va[:, 0]
    stats = [o.mean.flatten().tolist() for o in dls.after_batch.fs if isinstance(o, Normalize)][0], \
            [o.std.flatten().tolist() for o in dls.after_batch.fs if isinstance(o, Normalize)][0]
    base = medfast_learner(dls, a.arch, pretrained=False, seed=0).model
    init = copylib.deepcopy(base.state_dict())
    def fresh(): m = copylib.deepcopy(base); m.load_state_dict(init); return m
    modes = [m for m in a.modes.split(',')]
    sides = ['hand', 'medfast', 'medfast+fastai-Adam']
    res = {(m, s): [] for m in modes for s in sides}
    n_train = (len(x_tr) // a.bs) * a.bs
    fastai_epoch(dls, a.arch, fresh(), a.lr, False, False, 'medfast', 0)                # warm-up
    for r in range(a.repeats):
        for m in modes:
            bf16, cl = MODES[m]
            order = sides if r % 2 == 0 else sides[::-1]
            for s in order:
                if s == 'hand': out = hand_loop(fresh(), x_tr, y_tr, x_va, y_va, stats, a.bs, a.lr, bf16, cl, r)
                else: out = fastai_epoch(dls, a.arch, fresh(), a.lr, bf16, cl, 'fastai' if 'fastai' in s else 'medfast', r)
                res[(m, s)].append(out)
            print(f"  round {r+1}/{a.repeats} {m}: " + ', '.join(f"{s} {n_train/res[(m, s)][-1][0][0]:.0f} img/s" for s in sides), flush=True)
    def med(m, s, phase=0, k=0): return statistics.median(o[phase][k] for o in res[(m, s)])
    print(f"\nTraining phase, {a.arch} (medfast_learner head), {n_train} images {a.size}px per epoch, bs {a.bs}, "
          f"median of {a.repeats}:")
    print("| mode | hand loop (fused AdamW) img/s | medfast img/s | overhead | medfast with fastai Adam img/s | fused step's speed-up | "
          "hand img/CPU-s | medfast img/CPU-s | speed-up vs fp32 (medfast) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in modes:
        h, f, t = (n_train/med(m, s) for s in sides)
        hc, fc = n_train/med(m, 'hand', k=1), n_train/med(m, 'medfast', k=1)
        ref = n_train/med(modes[0], 'medfast')
        print(f"| {m} | {h:.0f} | {f:.0f} | {100*(h/f-1):+.0f}% | {t:.0f} | {f/t:.3f}x | {hc:.0f} | {fc:.0f} | {f/ref:.2f}x |")
    print("\nValidation phase (metrics included), images/s:")
    for m in modes:
        print(f"  {m}: hand {len(x_va)/med(m, 'hand', 1):.0f}, medfast {len(x_va)/med(m, 'medfast', 1):.0f}")
    return res

def bench_opt_step(a, n_steps=20):
    "Milliseconds of one optimiser step alone (random gradients, every parameter): fastai's Adam vs medfast's FusedAdam"
    dls = medmnist_dls(synthetic_medmnist(scratch_dir()/'opt.npz', n=32, size=a.size, seed=0, n_val=8, n_test=8), bs=8, seed=0)
    learn = medfast_learner(dls, a.arch, pretrained=False, seed=0)
    print(f"\nOne optimiser step alone, {a.arch}, {len(list(learn.model.parameters()))} tensors, "
          f"{sum(p.numel() for p in learn.model.parameters())/1e6:.1f}M parameters, median of {a.repeats} rounds of {n_steps} steps:")
    for fmt in (torch.contiguous_format, torch.channels_last):
        m = learn.model.to(memory_format=fmt)
        for p in m.parameters(): p.grad = torch.randn_like(p)
        opts = {'fastai Adam': Adam(learn.splitter(m), lr=1e-3), 'FusedAdam': FusedAdam(learn.splitter(m), lr=1e-3)}
        ms = {k: [] for k in opts}
        for r in range(a.repeats):
            for k, o in (opts.items() if r % 2 == 0 else list(opts.items())[::-1]):
                o.step(); t = time.perf_counter()
                for _ in range(n_steps): o.step()
                ms[k].append((time.perf_counter() - t) / n_steps * 1e3)
        f, g = (statistics.median(v) for v in ms.values())
        print(f"  {'channels_last' if fmt is torch.channels_last else 'contiguous'} weights: fastai Adam {f:.1f} ms, FusedAdam {g:.1f} ms ({f/g:.1f}x)")

def bench_workers(a):
    "Full epochs from JPEG files (decode + resize + augment + train) with num_workers 0/1/2"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import folder_dls
    real = Path(__file__).resolve().parents[2]/'shared'/'data'/'chest_xray_224'/'train'
    tmp = scratch_dir()
    if real.exists() and not a.smoke:
        import shutil
        for cls in ('NORMAL', 'PNEUMONIA'):
            (tmp/'x'/cls).mkdir(parents=True)
            for f in sorted((real/cls).glob('*.jpeg'))[:a.n_files//2]: shutil.copy(f, tmp/'x'/cls/f.name)
        path = tmp/'x'
    else: path = synthetic_xrays(tmp/'x', n=a.n_files, size=224, seed=0)/'train'
    bf16 = cpu_has_fast_bf16()
    print(f"\nFull epochs on {a.n_files} JPEG files (224 px -> {a.wsize} px, X-ray augmentation, resnet18, bs {a.bs}, "
          f"{'bf16+channels_last' if bf16 else 'fp32'}):")
    times = {}
    for r in range(a.repeats):
        for w in (a.worker_list if r % 2 == 0 else a.worker_list[::-1]):
            dls = folder_dls(path, size=a.wsize, bs=a.bs, num_workers=w, verify=False, seed=0)
            learn = medfast_learner(dls, 'resnet18', pretrained=False)        # medfast's CPU default
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3)
            times.setdefault(w, []).append(time.perf_counter() - t0)
    n = len(dls.train_ds) + len(dls.valid_ds)
    for w in a.worker_list:
        t = statistics.median(times[w])
        print(f"  num_workers={w}: {t:.1f} s/epoch, {n/t:.0f} img/s (train+valid)")

PMNIST = Path(__file__).resolve().parents[2]/'shared'/'data'/'pneumoniamnist_28.npz'

def bench_accuracy(a):
    "Does accuracy hold? The same training in float32 and in bf16+channels_last, a few seeds, real PneumoniaMNIST"
    npz = PMNIST if PMNIST.exists() and not a.smoke else synthetic_medmnist(scratch_dir()/'acc.npz', n=64, seed=1)
    modes = {'fp32': dict(cbs=[CPUMixedPrecision(bf16=False, channels_last=False)]), 'bf16+channels_last': dict(cbs=[CPUMixedPrecision(bf16=True)])}
    return precision_accuracy(npz, modes, a.acc_size, a.bs, a.acc_epochs, a.acc_seeds)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=512, help='training images per epoch')
    ap.add_argument('--arch', default='resnet18', help='the network (a medfast name, e.g. xresnet18_half or resnet18_small)')
    ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--modes', default=','.join(MODES))
    ap.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    ap.add_argument('--workers', action='store_true', help='also time JPEG-file epochs with num_workers 0/1/2')
    ap.add_argument('--n-files', type=int, default=256); ap.add_argument('--wsize', type=int, default=128)
    ap.add_argument('--accuracy', action='store_true', help='also train fp32 vs bf16+channels_last on PneumoniaMNIST and compare val AUC')
    ap.add_argument('--acc-epochs', type=int, default=3); ap.add_argument('--acc-size', type=int, default=32)
    ap.add_argument('--acc-seeds', type=int, default=2)
    ap.add_argument('--smoke', action='store_true', help='tiny run in seconds (for tests)')
    a = ap.parse_args(argv)
    if a.smoke: a.n, a.size, a.bs, a.repeats, a.modes, a.n_files, a.wsize, a.acc_epochs, a.acc_seeds = 32, 32, 16, 1, 'fp32,bf16+channels_last', 24, 32, 1, 1
    a.worker_list = [0] if a.smoke else [0, 1, 2]
    if a.threads: torch.set_num_threads(a.threads)
    print(f"machine: {machine()}\nargs: {vars(a)}", flush=True)
    bench_steps(a)
    bench_opt_step(a)
    if a.workers or a.smoke: bench_workers(a)
    if a.accuracy or a.smoke: bench_accuracy(a)
    print(f"\nload avg at end: {loadavg():.1f}")
    return 0

if __name__ == '__main__': sys.exit(main())
