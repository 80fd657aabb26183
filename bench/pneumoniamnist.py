#!/usr/bin/env python
"""PneumoniaMNIST with medfast's small-image recipe, from scratch on a CPU, compared with the published MedMNIST figures.

A thin caller of the library: `medfast.recipes.small_image_recipe` trains on `train` and makes every choice (best
epoch, ensemble, decision threshold) on `val`; `medfast.metrics` computes every figure; `test` is read once per
bench seed, at the end, at the threshold chosen on val for the predictions scored: with TTA (the default), the one
chosen on TTA val predictions (`learn.medfast_tta_threshold`); without, the one saved in the exported model (which
predicts without TTA, and saves the threshold chosen on its plain val predictions); with TTA the test figures of
the saved model as `medfast predict` runs it (plain predictions at its saved threshold) are printed too. `--bench-seeds 3` repeats the whole recipe
with three seeds and reports the mean and the minimum. `--dev NPZ` also scores a development set beside val (the test
arrays of another file, e.g. the films a subset of `--data` left out), where val is a few dozen images.

    python bench/pneumoniamnist.py                   # one bench seed
    python bench/pneumoniamnist.py --bench-seeds 3   # mean and minimum over three
    python bench/pneumoniamnist.py --smoke           # seconds, on a synthetic file
"""
from __future__ import annotations
import argparse, json, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import machine, loadavg, scratch_dir
from medfast.core import check_path, save_json, atomic_open, MedfastError
from medfast.synthetic import synthetic_medmnist
from medfast.medmnist import medmnist_test_dl
from medfast.metrics import metrics_table
from medfast.evaluation import get_preds_labelled, saved_threshold
from medfast.recipes import small_image_recipe, recipe_dls, fit_recipe
from medfast.inference import export, load

DEFAULT_DATA = Path(__file__).resolve().parents[2]/'shared'/'data'/'pneumoniamnist_28.npz'
PUBLISHED = [  # MedMNIST v2 (Yang et al. 2023) and MedMNIST+ (Doerrich et al. 2025), official train split
    ('ResNet-18 (28 px), MedMNIST v2', 0.854, 0.944), ('ResNet-50 (224 px), MedMNIST v2', 0.884, 0.962),
    ('Google AutoML Vision, MedMNIST v2', 0.946, 0.991), ('ResNet-18 ImageNet-pretrained (224 px), MedMNIST+', 0.911, 0.980)]

def _fig(tbl, metric, cls='all'):
    r = tbl[(tbl.metric == metric) & (tbl['class'] == cls)].iloc[0]
    return dict(value=float(r.value), ci=[float(r.ci_low), float(r.ci_high)])

def _threshold_arg(s):
    try: return float(s)
    except ValueError: return s

def run_one(npz, seed, a, n_boot):
    "Train the recipe with `seed`, export it, and evaluate val and test at the exported threshold"
    t0 = time.perf_counter()
    r = small_image_recipe(**({} if a.arch is None else dict(arch=a.arch, fallback_arch=None)), size=a.size, epochs=a.epochs, lr=a.lr, wd=a.wd, label_smoothing=a.smooth,
                           balance=a.balance, n_models=a.ensemble or 2, tta=a.tta, seed=seed, budget=a.budget,
                           **({} if a.bs is None else dict(bs=a.bs, min_steps=None)),   # a batch size you give is kept
                           **({} if a.threshold is None else dict(threshold=_threshold_arg(a.threshold))))
    learn = fit_recipe(lambda size: recipe_dls(npz, r, size=size, classes=['normal', 'pneumonia']), r, quiet=a.quiet,
                       models_given=a.ensemble is not None)     # else a budget may train fewer members, each fully
    train_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        shipped = saved_threshold(load(export(learn, Path(d)/'model')))  # the threshold the shipped model applies (no TTA)
    tta_thr = getattr(learn, 'medfast_tta_threshold', None)
    thr = tta_thr if a.tta and tta_thr is not None else shipped           # each chosen on val, for the predictions it decides
    out = dict(seed=seed, threshold=thr, shipped_threshold=shipped, threshold_rule=r.threshold, plan=learn.plan, train_s=round(train_s, 1),
               best_epochs=[getattr(m, 'best_epoch', None) for m in learn.members],
               epochs_trained=[getattr(m, 'epochs_trained', None) for m in learn.members])
    splits = ['val'] + (['dev'] if a.dev else []) + ([] if a.val_only else ['test'])
    for split in splits:                                 # dev: another file's test arrays, scored as a second validation set
        dl = medmnist_test_dl(learn.dls, npz=a.dev, split='test') if split == 'dev' else medmnist_test_dl(learn.dls, split=split)
        with learn.no_bar(): lp = get_preds_labelled(learn, dl, tta=a.tta)
        tbl = metrics_table(lp.probs, lp.targets, lp.classes, thr, n_boot=n_boot, seed=seed)
        if a.save_preds:                                 # for studying decision rules offline, on val alone
            with atomic_open(Path(a.save_preds)/f'{split}_seed{seed}.npz', 'wb') as f: np.savez(f, probs=lp.probs, targets=lp.targets)
        out[split] = dict(acc=_fig(tbl, 'accuracy'), auc=_fig(tbl, 'roc_auc'), bal_acc=_fig(tbl, 'balanced_accuracy'),
                          sens=_fig(tbl, 'sensitivity', 'pneumonia'), spec=_fig(tbl, 'specificity', 'pneumonia'),
                          log_loss=float(lp.losses.mean()))     # finer than ACC/AUC near their ceiling
        if split == 'test':
            out['test_at_0_5'] = dict(acc=_fig(metrics_table(lp.probs, lp.targets, lp.classes, 0.5, n_boot=0), 'accuracy')['value'])
            if a.tta:                                    # the shipped model: plain predictions at the threshold saved with it
                with learn.no_bar(): plain = get_preds_labelled(learn, dl)
                tbl = metrics_table(plain.probs, plain.targets, plain.classes, shipped, n_boot=0)
                out['test_shipped'] = dict(acc=_fig(tbl, 'accuracy')['value'], auc=_fig(tbl, 'roc_auc')['value'])
    out['wall_s'] = round(time.perf_counter() - t0, 1)
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(DEFAULT_DATA), help='PneumoniaMNIST .npz (28 px)')
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--bench-seeds', type=int, default=1, help='repeat the whole recipe with seeds seed, seed+100, ...')
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--ensemble', type=int, default=None,
                   help='models per recipe run (seeds seed, seed+1, ...); default 2, fewer where --budget cannot train both fully')
    p.add_argument('--arch', default=None, help="network (a medfast registry name; default: the recipe's own, or a lighter one "
                   "where --budget cannot train it through two thirds of its schedule)")
    p.add_argument('--size', type=int, default=48)
    p.add_argument('--threshold', default=None, help="decision threshold: a rule applied to val ('youden', 'binormal', 'f1') or a "
                   "probability; default: the recipe's")
    p.add_argument('--bs', type=int, default=None, help="batch size (default: the recipe's 128, smaller for a small training set; one you give is kept)")
    p.add_argument('--lr', type=float, default=4e-3)
    p.add_argument('--wd', type=float, default=0.05)
    p.add_argument('--smooth', type=float, default=0.1, help='label smoothing')
    p.add_argument('--balance', type=float, default=1.0, help='class-balanced sampling power (0 = off)')
    p.add_argument('--tta', action=argparse.BooleanOptionalAction, default=True, help='test-time augmentation')
    p.add_argument('--budget', type=float, default=None, help='minutes per recipe run: plan the epochs to fit')
    p.add_argument('--threads', type=int, default=None, help='torch threads')
    p.add_argument('--save-preds', default=None, help='also save each split\'s probabilities and targets here ({split}_seed{seed}.npz)')
    p.add_argument('--json', default=None, help='also write the results to this JSON file')
    p.add_argument('--val-only', action='store_true', help='never read the test split (for recipe development)')
    p.add_argument('--dev', default=None, metavar='NPZ', help="also score the test arrays of this .npz beside val, as a larger "
                   "development set (e.g. the train/val films a subset of --data left out), for choices a few dozen validation images cannot make")
    p.add_argument('--quiet', action='store_true', help='no per-epoch table')
    p.add_argument('--smoke', action='store_true', help='tiny synthetic run in seconds (for tests)')
    a = p.parse_args(argv)
    if a.threshold is not None:
        try: small_image_recipe(threshold=_threshold_arg(a.threshold))
        except ValueError as e: p.error(f"--threshold: {e}")
    t_start, load0 = time.perf_counter(), loadavg()
    if a.threads: torch.set_num_threads(a.threads)
    if a.smoke:
        npz = synthetic_medmnist(scratch_dir()/'smoke.npz', n=48, size=28, seed=0)
        a.epochs, a.ensemble, a.size, a.bs = 1, 1, 32, 16
        if a.dev: a.dev = npz                            # the synthetic file stands in for a development set too
    else:
        npz = Path(a.data)
        try:
            check_path(npz, 'MedMNIST file', is_dir=False)
            if a.dev: check_path(a.dev, 'development MedMNIST file (--dev)', is_dir=False)
        except MedfastError as e: print(f"error: {e}", file=sys.stderr); return 2
    print(f"machine: {machine()}\ndata: {npz}\nargs: {vars(a)}", flush=True)
    n_boot = 200 if a.smoke else 1000
    runs = []
    for k in range(a.bench_seeds):                          # each seed's figures as soon as it is done
        r = run_one(npz, a.seed + 100*k, a, n_boot); runs.append(r)
        print(f"\nbench seed {r['seed']}: threshold chosen on val ({r['threshold_rule']}{', on TTA predictions' if a.tta else ''}): {r['threshold']:.4f} (saved in the model, for plain predictions: {r['shipped_threshold']:.4f}); "
              f"{r['plan']['size']} px, {r['plan']['epochs']} epochs planned x {len(r['best_epochs'])} model(s), trained {'+'.join(map(str, r['epochs_trained']))}, " + (f"best epochs {r['best_epochs']}" if any(e is not None for e in r['best_epochs']) else 'last epochs kept')
              + f", {r['wall_s']:.0f} s")
        for split in ('val', 'dev', 'test'):
            if split not in r: continue
            m = r[split]
            print(f"  {split:4s}: ACC {m['acc']['value']:.4f} [{m['acc']['ci'][0]:.3f}, {m['acc']['ci'][1]:.3f}]  "
                  f"AUC {m['auc']['value']:.4f} [{m['auc']['ci'][0]:.3f}, {m['auc']['ci'][1]:.3f}]  "
                  f"sens {m['sens']['value']:.3f} spec {m['spec']['value']:.3f}  log loss {m['log_loss']:.4f}")
        if 'test' in r: print(f"  (test ACC at threshold 0.5, not used: {r['test_at_0_5']['acc']:.4f})", flush=True)
        if 'test_shipped' in r: print(f"  test, as the saved model predicts (no TTA, its threshold {r['shipped_threshold']:.4f}): "
                                      f"ACC {r['test_shipped']['acc']:.4f}  AUC {r['test_shipped']['auc']:.4f}", flush=True)
    wall = time.perf_counter() - t_start
    split = 'val' if a.val_only else 'test'
    accs, aucs = [r[split]['acc']['value'] for r in runs], [r[split]['auc']['value'] for r in runs]
    summary = dict(acc_mean=float(np.mean(accs)), acc_min=float(np.min(accs)), auc_mean=float(np.mean(aucs)), auc_min=float(np.min(aucs)))
    print(f"\n{split} over {len(runs)} bench seed(s): ACC mean {summary['acc_mean']:.4f} min {summary['acc_min']:.4f}; "
          f"AUC mean {summary['auc_mean']:.4f} min {summary['auc_min']:.4f}; wall {wall:.0f} s "
          f"(load avg {load0:.1f} at start, {loadavg():.1f} at end)")
    if not a.val_only:
        print(f"\n| {'model':52s} | test ACC | test AUC |\n|{'-'*54}|----------|----------|")
        for name, acc, auc in PUBLISHED: print(f"| {name:52s} | {acc:8.3f} | {auc:8.3f} |")
        print(f"| {'medfast recipe (this run, from scratch, CPU)':52s} | {summary['acc_mean']:8.3f} | {summary['auc_mean']:8.3f} |")
    r0 = runs[0]
    res = dict(args=vars(a), machine=machine(), runs=runs, summary=summary, wall_s=round(wall, 1), threshold=r0['threshold'],
               **({} if a.val_only else dict(test={k: v['value'] if isinstance(v, dict) else v for k, v in r0['test'].items()})))
    if a.json: save_json(res, a.json, overwrite=True)
    return 0

if __name__ == '__main__': sys.exit(main())
