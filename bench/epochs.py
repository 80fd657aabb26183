#!/usr/bin/env python
"""Which epoch of a one-cycle run to keep, judged on validation alone: best validation AUC, best validation log loss, or the last.

Trains recipe members on PneumoniaMNIST with every epoch's weights kept, then predicts validation (and test) with each
epoch's weights and saves them (`DIR/preds_seed{seed}.npz`). The comparison halves validation at random many times,
lets each rule pick an epoch on one half, and scores the pick on the other (ROC AUC, log loss), for each member and
for each bench seed's two-member ensemble. `--test` prints test figures once, after the choice.

    python bench/epochs.py --out DIR --arch xresnet18_half --epochs 13 --seeds 42 43 142 143 242 243
    python bench/epochs.py --out DIR --analyse-only [--test]
    python bench/epochs.py --smoke
"""
from __future__ import annotations
import argparse, sys, tempfile, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import machine, halvings
from fastai.callback.core import Callback
from medfast.core import atomic_open
from medfast.synthetic import synthetic_medmnist
from medfast.medmnist import medmnist_test_dl
from medfast.metrics import roc_auc, acc, choose_threshold
from medfast.evaluation import get_preds_labelled
from medfast.recipes import small_image_recipe, recipe_dls, recipe_learner, _train

DEFAULT_DATA = Path(__file__).resolve().parents[2]/'shared'/'data'/'pneumoniamnist_28.npz'
RULES = ('auc', 'log_loss', 'last')

class KeepEveryEpoch(Callback):
    "Keep a copy of the weights after each training epoch in `learn.epoch_states`"
    def before_fit(self):
        if not hasattr(self.learn, 'epoch_states'): self.learn.epoch_states = []
    def before_train(self): self.trained = True
    def after_epoch(self):
        if getattr(self, 'trained', False):
            self.learn.epoch_states.append({k: v.detach().clone() for k, v in self.model.state_dict().items()}); self.trained = False

def train_member(npz, seed, a):
    "Train one member with the recipe's settings (no best-epoch callback) and return each epoch's val/test probabilities"
    r = small_image_recipe(arch=a.arch, size=a.size, epochs=a.epochs, bs=a.bs, seed=seed, monitor=None, tta=a.tta)
    dls = recipe_dls(npz, r, classes=['normal', 'pneumonia'])
    learn = recipe_learner(dls, r, seed=seed); learn.add_cb(KeepEveryEpoch())
    t0 = time.perf_counter(); _train(learn, r, quiet=True); secs = time.perf_counter() - t0
    out = {}
    for split in ('val', 'test'):
        dl, ps = medmnist_test_dl(learn.dls, split=split), []
        for st in learn.epoch_states:
            learn.model.load_state_dict(st)
            with learn.no_bar(): lp = get_preds_labelled(learn, dl, tta=a.tta)
            ps.append(lp.probs[:, 1])
        out[f'{split}_p'], out[f'{split}_y'] = np.stack(ps), lp.targets
    return out, secs

def _log_loss(p, y): p = np.clip(p, 1e-7, 1 - 1e-7); return float(-np.mean(np.where(y == 1, np.log(p), np.log(1 - p))))
def _auc(p, y): return float(roc_auc(np.stack([1 - p, p], 1), y))

def pick(rule, P, y):
    "The epoch `rule` keeps, given each epoch's probabilities `P` (epochs x n) on labels `y` (ties: the earliest, as `KeepBestEpoch`)"
    if rule == 'last': return len(P) - 1
    if rule == 'auc': return int(np.argmax([_auc(p, y) for p in P]))
    return int(np.argmin([_log_loss(p, y) for p in P]))

def load_runs(out):
    runs = {}
    for f in sorted(Path(out).glob('preds_seed*.npz')):
        with np.load(f, allow_pickle=False) as d: runs[int(f.stem.split('seed')[1])] = {k: d[k] for k in d.files}
    return runs

def analyse(runs, n_splits=100, seed=0, test=False):
    "Split-half comparison of the rules on validation; with `test`, test figures once at each rule's full-validation pick"
    seeds = sorted(runs); pairs = [(s, s + 1) for s in seeds if s + 1 in runs and s - 1 not in runs]
    y = runs[seeds[0]]['val_y']
    res = {r: dict(member_auc=[], member_ll=[], ens_auc=[], ens_ll=[], epochs=[]) for r in RULES}
    for a_, b_ in halvings(y, n_splits, seed):
        for rule in RULES:
            picks = {s: pick(rule, runs[s]['val_p'][:, a_], y[a_]) for s in seeds}
            res[rule]['epochs'] += list(picks.values())
            for s in seeds:
                p = runs[s]['val_p'][picks[s], b_]
                res[rule]['member_auc'].append(_auc(p, y[b_])); res[rule]['member_ll'].append(_log_loss(p, y[b_]))
            for s0, s1 in pairs:
                p = (runs[s0]['val_p'][picks[s0], b_] + runs[s1]['val_p'][picks[s1], b_]) / 2
                res[rule]['ens_auc'].append(_auc(p, y[b_])); res[rule]['ens_ll'].append(_log_loss(p, y[b_]))
    print(f"\nValidation split in halves {n_splits} times (each way): each rule picks an epoch on one half, scored on the other")
    print(f"| rule | mean epoch picked (1-based) | member AUC | member log loss | ensemble AUC | ensemble log loss | ensemble AUC vs 'auc' (better / worse share) |")
    print("|---|---|---|---|---|---|---|")
    base = np.array(res['auc']['ens_auc'])
    for rule in RULES:
        r = {k: np.array(v) for k, v in res[rule].items()}
        d = r['ens_auc'] - base
        print(f"| {rule} | {r['epochs'].mean()+1:.1f} | {r['member_auc'].mean():.4f} | {r['member_ll'].mean():.4f} | "
              f"{r['ens_auc'].mean():.4f} | {r['ens_ll'].mean():.4f} | {(d > 0).mean():.2f} / {(d < 0).mean():.2f} |")
    if not test: return res
    print("\nTest, once, at each rule's pick on the whole validation split (ensemble of each bench seed's two members;"
          " threshold chosen on validation by the binormal rule):")
    print("| rule | bench seed | epochs picked | val AUC | test AUC | test ACC | test log loss |\n|---|---|---|---|---|---|---|")
    for rule in RULES:
        aucs, accs = [], []
        for s0, s1 in pairs:
            k0, k1 = (pick(rule, runs[s]['val_p'], y) for s in (s0, s1))
            pv = (runs[s0]['val_p'][k0] + runs[s1]['val_p'][k1]) / 2
            pt = (runs[s0]['test_p'][k0] + runs[s1]['test_p'][k1]) / 2; yt = runs[s0]['test_y']
            thr = choose_threshold(np.stack([1 - pv, pv], 1), y, method='binormal')
            a_ = float(acc(np.stack([1 - pt, pt], 1), yt, thr)); u = _auc(pt, yt); aucs.append(u); accs.append(a_)
            print(f"| {rule} | {s0} | {k0+1}, {k1+1} | {_auc(pv, y):.4f} | {u:.4f} | {a_:.4f} | {_log_loss(pt, yt):.4f} |")
        print(f"| **{rule}, mean** | | | | **{np.mean(aucs):.4f}** | **{np.mean(accs):.4f}** | |")
    return res

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=str(DEFAULT_DATA), help='PneumoniaMNIST .npz (28 px)')
    p.add_argument('--out', default=None, help='folder for each member\'s per-epoch predictions')
    p.add_argument('--arch', default='resnet18_small')
    p.add_argument('--size', type=int, default=48)
    p.add_argument('--epochs', type=int, default=13)
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 43])
    p.add_argument('--tta', action=argparse.BooleanOptionalAction, default=False, help='test-time augmentation (seeded)')
    p.add_argument('--splits', type=int, default=100, help='random halvings of validation')
    p.add_argument('--analyse-only', action='store_true', help='only compare the rules on predictions already in --out')
    p.add_argument('--test', action='store_true', help='also print test figures, once, after the choice')
    p.add_argument('--smoke', action='store_true', help='tiny synthetic run in seconds (for tests)')
    a = p.parse_args(argv)
    npz = Path(a.data)
    if a.smoke:
        npz = synthetic_medmnist(Path(tempfile.mkdtemp())/'smoke.npz', n=48, size=28, seed=0)
        a.epochs, a.size, a.arch, a.seeds, a.splits, a.test, a.bs = 2, 32, 'xresnet18_half', [0, 1], 3, True, 16
        a.out = a.out or tempfile.mkdtemp()
    if a.out is None: p.error('--out: give a folder for the predictions')
    if not a.analyse_only and not npz.is_file(): p.error(f"--data: no such file {npz}; pass the PneumoniaMNIST .npz")
    print(f"machine: {machine()}\nargs: {vars(a)}", flush=True)
    if not a.analyse_only:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        for s in a.seeds:
            out, secs = train_member(npz, s, a)
            with atomic_open(Path(a.out)/f'preds_seed{s}.npz', 'wb') as f: np.savez(f, **out)
            aucs = [_auc(q, out['val_y']) for q in out['val_p']]
            print(f"seed {s}: trained {secs/60:.1f} min; val AUC by epoch " + ' '.join(f'{u:.4f}' for u in aucs), flush=True)
    runs = load_runs(a.out)
    if not runs: p.error(f"--out: no preds_seed*.npz in {a.out}")
    analyse(runs, n_splits=a.splits, test=a.test)
    return 0

if __name__ == '__main__': sys.exit(main())
