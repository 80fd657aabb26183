#!/usr/bin/env python
"""PneumoniaMNIST with medfast's recipe, from scratch on a CPU, compared with the published MedMNIST figures.

Trains on `train`, selects (best epoch, decision threshold) on `val`, and reports `test` once at the end.
Recipe: in-memory MedMNIST DataLoaders upscaled 28 -> 48 px, `medfast_learner` on a ResNet-18 whose stem keeps
small images large (stride-2 stem conv, no max-pool) with fastai's head, class-balanced batches, X-ray-safe augmentation (no flips, mild rotation, zoom
and lighting), label smoothing, one-cycle, bfloat16 autocast + channels_last where the CPU supports it, test-time
augmentation and a decision threshold chosen on `val` by Youden's J (balanced accuracy), optionally an ensemble of
seeds. No pretrained weights.

    python bench/pneumoniamnist.py                 # the full run (~10 min on a 2-core CPU)
    python bench/pneumoniamnist.py --smoke         # seconds, on a synthetic file
"""
from __future__ import annotations
import argparse, json, sys, tempfile, time, warnings
from contextlib import nullcontext
from pathlib import Path
import numpy as np, torch, torchvision
from torch import nn
from fastai.vision.all import *
from sklearn.metrics import roc_auc_score
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import CPUMixedPrecision, cpu_has_fast_bf16, machine, loadavg
from medfast.core import set_seed, save_json, check_path, MedfastError
from medfast.learner import medfast_learner
from medfast.medmnist import medmnist_dls, medmnist_test_dl, synthetic_medmnist

DEFAULT_DATA = Path(__file__).resolve().parents[2]/'shared'/'data'/'pneumoniamnist_28.npz'
PUBLISHED = [  # MedMNIST v2 (Yang et al. 2023) and MedMNIST+ (Doerrich et al. 2025), official train split
    ('ResNet-18 (28 px), MedMNIST v2', 0.854, 0.944), ('ResNet-50 (224 px), MedMNIST v2', 0.884, 0.962),
    ('Google AutoML Vision, MedMNIST v2', 0.946, 0.991), ('ResNet-18 ImageNet-pretrained (224 px), MedMNIST+', 0.911, 0.980)]

def resnet18_nomaxpool(pretrained:bool=False, **kwargs) -> nn.Module:
    "torchvision ResNet-18 (random init) without the stem max-pool, so 48-px inputs reach layer1 at 24x24"
    if pretrained: raise ValueError("resnet18_nomaxpool has no pretrained weights here (no network access).")
    m = torchvision.models.resnet18()
    m.maxpool = nn.Identity()
    return m

def xray_aug(size):
    "Batch augmentation for radiographs: no flips, mild rotation/zoom/warp/lighting"
    return aug_transforms(size=size, do_flip=False, flip_vert=False, max_rotate=10., max_zoom=1.15, max_warp=0.1,
                          max_lighting=0.3, p_affine=0.75, p_lighting=0.75, min_scale=1.)

def binary_metrics(probs, targs, thresh):
    "ACC, balanced ACC, sensitivity, specificity and ROC AUC of P(positive) `probs` at `thresh`"
    pred = (probs >= thresh).astype(int)
    sens = (pred[targs == 1] == 1).mean(); spec = (pred[targs == 0] == 0).mean()
    return dict(acc=float((pred == targs).mean()), bal_acc=float((sens+spec)/2), sens=float(sens), spec=float(spec),
                auc=float(roc_auc_score(targs, probs)))

def youden_threshold(probs, targs):
    "Threshold maximising sensitivity + specificity (balanced accuracy) on a labelled set"
    cands = np.unique(np.r_[probs, 0.5])
    scores = [binary_metrics(probs, targs, t)['bal_acc'] for t in cands]
    best = np.flatnonzero(np.isclose(scores, max(scores)))        # ties: the middle of the best plateau
    return float(cands[best[len(best)//2]])

def bootstrap_ci(probs, targs, thresh, n=1000, seed=0):
    "95% percentile bootstrap intervals for test ACC and AUC"
    rng, accs, aucs = np.random.default_rng(seed), [], []
    for _ in range(n):
        i = rng.integers(0, len(targs), len(targs))
        if targs[i].min() == targs[i].max(): continue
        accs.append(((probs[i] >= thresh) == targs[i]).mean()); aucs.append(roc_auc_score(targs[i], probs[i]))
    return np.percentile(accs, [2.5, 97.5]).tolist(), np.percentile(aucs, [2.5, 97.5]).tolist()

def train_one(npz, seed, a, fast_cpu):
    "Train one model with seed `seed`; returns (learn, val probs, test probs, seconds)"
    t0 = time.perf_counter()
    dls = medmnist_dls(npz, size=a.size, bs=a.bs, seed=seed, tfms=xray_aug(a.size), balance=a.balance,
                       classes=['normal', 'pneumonia'])
    set_seed(seed)
    cbs = [CPUMixedPrecision(bf16=fast_cpu)]                    # medfast's default on a CPU; idle on a GPU
    learn = medfast_learner(dls, resnet18_nomaxpool, pretrained=False, label_smoothing=a.smooth, seed=seed,
                            metrics=[accuracy, RocAucBinary()], cbs=cbs, wd=a.wd)
    with tempfile.TemporaryDirectory() as d:
        learn.path, learn.model_dir = Path(d), 'models'
        save = SaveModelCallback(monitor='roc_auc_score', comp=np.greater, fname=f'best{seed}', with_opt=False)
        with learn.no_bar(), (learn.no_logging() if a.quiet else nullcontext()):
            if not a.quiet: print('    epoch, train_loss, valid_loss, accuracy, roc_auc, time')
            learn.fit_one_cycle(a.epochs, a.lr, cbs=[save])
    def probs(dl):
      with learn.no_bar():
        if a.tta: p, y = learn.tta(dl=dl, n=a.tta, beta=0.5)
        else: p, y = learn.get_preds(dl=dl)
        return p[:, 1].float().numpy(), y.numpy()
    pv, yv = probs(medmnist_test_dl(dls, split='val'))
    pt, yt = (pv, yv) if a.val_only else probs(medmnist_test_dl(dls, split='test'))
    return learn, (pv, yv), (pt, yt), time.perf_counter() - t0

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(DEFAULT_DATA), help='PneumoniaMNIST .npz (28 px)')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--ensemble', type=int, default=2, help='number of seeds averaged (seed, seed+1, ...)')
    p.add_argument('--size', type=int, default=48)
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--lr', type=float, default=4e-3)
    p.add_argument('--wd', type=float, default=0.05)
    p.add_argument('--smooth', type=float, default=0.1, help='label smoothing')
    p.add_argument('--balance', type=float, default=1.0, help='class-balanced sampling power (0 = off)')
    p.add_argument('--tta', type=int, default=4, help='TTA augmented passes (0 = off)')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: one per core; 1 is faster on a busy shared machine)')
    p.add_argument('--no-bf16', action='store_true', help='train in float32 even on a bf16-capable CPU')
    p.add_argument('--json', default=None, help='also write the results to this JSON file')
    p.add_argument('--val-only', action='store_true', help='never read the test split (for recipe development)')
    p.add_argument('--quiet', action='store_true', help='no per-epoch table')
    p.add_argument('--smoke', action='store_true', help='tiny synthetic run in seconds (for tests)')
    a = p.parse_args(argv)
    t_start, load0 = time.perf_counter(), loadavg()
    if a.threads: torch.set_num_threads(a.threads)
    if a.smoke:
        npz = synthetic_medmnist(Path(tempfile.mkdtemp())/'smoke.npz', n=48, size=28, seed=0)
        a.epochs, a.ensemble, a.size, a.bs, a.tta = 1, 1, 32, 16, 1
    else:
        npz = Path(a.data)
        try: check_path(npz, 'MedMNIST file', is_dir=False)
        except MedfastError as e: print(f"error: {e}", file=sys.stderr); return 2
    fast_cpu = cpu_has_fast_bf16() and not a.no_bf16
    print(f"machine: {machine()}\ndata: {npz}\nargs: {vars(a)}\nbf16 autocast: {fast_cpu}", flush=True)
    vals, tests, runs = [], [], []
    for k in range(a.ensemble):
        seed = a.seed + k
        learn, (pv, yv), (pt, yt), secs = train_one(npz, seed, a, fast_cpu)
        vals.append(pv); tests.append(pt)
        t = youden_threshold(pv, yv)
        runs.append(dict(seed=seed, secs=round(secs, 1), val=binary_metrics(pv, yv, t), test=binary_metrics(pt, yt, t), thresh=t))
        print(f"seed {seed}: {secs:.0f} s, val AUC {runs[-1]['val']['auc']:.4f}", flush=True)
    pv, pt = np.mean(vals, 0), np.mean(tests, 0)
    thresh = youden_threshold(pv, yv)
    val_m, test_m = binary_metrics(pv, yv, thresh), binary_metrics(pt, yt, thresh)
    test_05 = binary_metrics(pt, yt, 0.5)
    acc_ci, auc_ci = bootstrap_ci(pt, yt, thresh, n=200 if a.smoke else 1000)
    wall = time.perf_counter() - t_start
    if a.val_only:
        print(f"val-only run: val ACC {val_m['acc']:.4f} AUC {val_m['auc']:.4f}, wall {time.perf_counter()-t_start:.0f} s")
        return 0
    print(f"\nthreshold chosen on val (Youden J): {thresh:.4f}")
    print(f"val : ACC {val_m['acc']:.4f}  AUC {val_m['auc']:.4f}")
    print(f"test: ACC {test_m['acc']:.4f} [{acc_ci[0]:.3f}, {acc_ci[1]:.3f}]  AUC {test_m['auc']:.4f} "
          f"[{auc_ci[0]:.3f}, {auc_ci[1]:.3f}]  sens {test_m['sens']:.3f} spec {test_m['spec']:.3f}  "
          f"(at threshold 0.5: ACC {test_05['acc']:.4f})")
    if len(runs) > 1:
        for r in runs: print(f"  seed {r['seed']} alone: test ACC {r['test']['acc']:.4f} AUC {r['test']['auc']:.4f} (val thr {r['thresh']:.3f})")
    print(f"seed {a.seed}, {a.ensemble} model(s) x {a.epochs} epochs, wall time {wall:.0f} s "
          f"(load avg {load0:.1f} at start, {loadavg():.1f} at end)\n")
    print(f"| {'model':52s} | test ACC | test AUC |\n|{'-'*54}|----------|----------|")
    for name, acc, auc in PUBLISHED: print(f"| {name:52s} | {acc:8.3f} | {auc:8.3f} |")
    print(f"| {'medfast recipe (this run, from scratch, CPU)':52s} | {test_m['acc']:8.3f} | {test_m['auc']:8.3f} |")
    res = dict(args=vars(a), machine=machine(), threshold=thresh, val=val_m, test=test_m, test_at_0_5=test_05,
               test_acc_ci95=acc_ci, test_auc_ci95=auc_ci, runs=runs, wall_s=round(wall, 1))
    if a.json: save_json(res, a.json, overwrite=True)
    return 0

if __name__ == '__main__': sys.exit(main())
