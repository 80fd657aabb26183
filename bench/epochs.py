#!/usr/bin/env python
"""Which epoch of a one-cycle run to keep, judged on validation alone: the best by a validation score, or the last.

Trains recipe members with every epoch's weights kept, then predicts validation (and test) with each epoch's weights
and saves the probabilities (`DIR/preds_seed{seed}.npz`). The comparison halves validation at random many times, lets
each rule pick an epoch on one half, and scores the pick on the other. `--test` prints test figures once, after the
choice.

- `--task pneumoniamnist` (two classes): PneumoniaMNIST with the small-image recipe; rules: best validation ROC AUC,
  lowest validation log loss, last epoch; scored per member and per two-member ensemble (bench seeds s, s+1).
- `--task cells` (eight classes): a PBC folder with the `cells` recipe. A seeded, stratified fifth is kept aside as
  `bench/pbc.py` keeps it (the test side); the recipe's own validation split is carved from the rest. Rules: lowest
  validation loss as the recipe's training loss computes it (label-smoothed cross-entropy: what
  `Recipe(monitor='auto')` kept for more than two classes before this comparison), lowest plain log loss (what it
  keeps now), last epoch; predictions of the plain network (no averaging over flips and turns), scored by log loss,
  Brier score and accuracy.

    python bench/epochs.py --out DIR --arch xresnet18_half --epochs 13 --seeds 42 43 142 143 242 243
    python bench/epochs.py --task cells --data ../shared/data/pbc_sample --out DIR --seeds 42 43
    python bench/epochs.py --out DIR --analyse-only [--test]
    python bench/epochs.py --smoke [--task cells]
"""
from __future__ import annotations
import argparse, sys, tempfile, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import machine, halvings, log_loss_score, brier_score
from fastai.callback.core import Callback
from medfast.core import atomic_open
from medfast.synthetic import synthetic_medmnist
from medfast.medmnist import medmnist_test_dl
from medfast.metrics import roc_auc, acc, choose_threshold
from medfast.evaluation import get_preds_labelled
from medfast.recipes import small_image_recipe, cell_recipe, recipe_dls, recipe_learner, _train

SHARED = Path(__file__).resolve().parents[2]/'shared'/'data'
TASKS = dict(pneumoniamnist=dict(data=SHARED/'pneumoniamnist_28.npz', arch='resnet18_small', size=48, epochs=13, bs=128),
             cells=dict(data=SHARED/'pbc_sample', arch='resnet18_small', size=80, epochs=60, bs=128))
# cells: batches of 128, as round 11's figures in bench/README.md were made; the cells recipe now trains in batches of 32 (--bs 32)

class KeepEveryEpoch(Callback):
    "Keep a copy of the weights after each training epoch in `learn.epoch_states`"
    def before_fit(self):
        if not hasattr(self.learn, 'epoch_states'): self.learn.epoch_states = []
    def before_train(self): self.trained = True
    def after_epoch(self):
        if getattr(self, 'trained', False):
            self.learn.epoch_states.append({k: v.detach().clone() for k, v in self.model.state_dict().items()}); self.trained = False

def _every_epoch(learn, dls_by_split, tta=False, binary=True):
    "Each kept epoch's probabilities on each split: `{split}_p` (epochs x n, P(class 1), for two classes; else epochs x n x c) and `{split}_y`"
    out = {}
    for split, dl in dls_by_split.items():
        ps = []
        for st in learn.epoch_states:
            learn.model.load_state_dict(st)
            with learn.no_bar(): lp = get_preds_labelled(learn, dl, tta=tta)
            ps.append(lp.probs[:, 1] if binary else lp.probs)
        out[f'{split}_p'], out[f'{split}_y'] = np.stack(ps), lp.targets
    return out

def _fit_every_epoch(dls, r, seed):
    "Train one member of recipe `r` on `dls` with every epoch's weights kept (no best-epoch callback); the learner and its training seconds"
    learn = recipe_learner(dls, r, seed=seed); learn.add_cb(KeepEveryEpoch())
    t0 = time.perf_counter(); _train(learn, r, quiet=True)
    return learn, time.perf_counter() - t0

def train_member(npz, seed, a):
    "Train one PneumoniaMNIST member with the recipe's settings; each epoch's val/test probabilities"
    r = small_image_recipe(arch=a.arch, size=a.size, epochs=a.epochs, bs=a.bs, seed=seed, monitor=None, tta=a.tta)
    learn, secs = _fit_every_epoch(recipe_dls(npz, r, classes=['normal', 'pneumonia']), r, seed)
    return _every_epoch(learn, {s: medmnist_test_dl(learn.dls, split=s) for s in ('val', 'test')}, tta=a.tta), secs

def train_cells_member(train, heldout, seed, a):
    "Train one `cells` recipe member on folder `train` (its validation split drawn by `seed`, as `medfast train --seed`); each epoch's plain val/held-out probabilities"
    r = cell_recipe(arch=a.arch, size=a.size, epochs=a.epochs, bs=a.bs, seed=seed, monitor=None)
    learn, secs = _fit_every_epoch(recipe_dls(train, r, task='folder'), r, seed)
    files = sorted(f for f in Path(heldout).rglob('*') if f.is_file() or f.is_symlink())
    out = _every_epoch(learn, dict(val=learn.dls.valid, test=learn.dls.test_dl(files, with_labels=True)), binary=False)
    out['label_smoothing'] = np.array(r.label_smoothing)
    return out, secs

def _log_loss(p, y):
    "Mean negative log probability of the true class; `p` is P(class 1) (n,) or probabilities (n, c)"
    if p.ndim == 1: p = np.clip(p, 1e-7, 1 - 1e-7); return float(-np.mean(np.where(y == 1, np.log(p), np.log(1 - p))))
    return log_loss_score(p, y)
def _smoothed_loss(p, y, eps):
    "Label-smoothed cross-entropy, as the recipe's loss computes it: (1-eps) log loss + eps x mean over classes of -log p"
    return (1 - eps) * _log_loss(p, y) + eps * float(-np.mean(np.log(np.clip(p, 1e-7, 1))))
def _auc(p, y): return float(roc_auc(np.stack([1 - p, p], 1), y))

def rules_for(binary): return ('auc', 'log_loss', 'last') if binary else ('valid_loss', 'log_loss', 'last')

def pick(rule, P, y, eps=0.):
    "The epoch `rule` keeps, given each epoch's probabilities `P` on labels `y` (ties: the earliest, as `KeepBestEpoch`)"
    if rule == 'last': return len(P) - 1
    if rule == 'auc': return int(np.argmax([_auc(p, y) for p in P]))
    if rule == 'valid_loss': return int(np.argmin([_smoothed_loss(p, y, eps) for p in P]))
    return int(np.argmin([_log_loss(p, y) for p in P]))

def load_runs(out):
    runs = {}
    for f in sorted(Path(out).glob('preds_seed*.npz')):
        with np.load(f, allow_pickle=False) as d: runs[int(f.stem.split('seed')[1])] = {k: d[k] for k in d.files}
    return runs

def analyse(runs, n_splits=100, seed=0, test=False):
    "Split-half comparison of the rules on validation; with `test`, test figures once at each rule's full-validation pick"
    seeds = sorted(runs)
    if runs[seeds[0]]['val_p'].ndim == 3: return analyse_multiclass(runs, n_splits, seed, test)
    pairs = [(s, s + 1) for s in seeds if s + 1 in runs and s - 1 not in runs]
    y = runs[seeds[0]]['val_y']
    res = {r: dict(member_auc=[], member_ll=[], ens_auc=[], ens_ll=[], epochs=[]) for r in rules_for(True)}
    for a_, b_ in halvings(y, n_splits, seed):
        for rule in res:
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
    for rule in res:
        r = {k: np.array(v) for k, v in res[rule].items()}
        d = r['ens_auc'] - base
        print(f"| {rule} | {r['epochs'].mean()+1:.1f} | {r['member_auc'].mean():.4f} | {r['member_ll'].mean():.4f} | "
              f"{r['ens_auc'].mean():.4f} | {r['ens_ll'].mean():.4f} | {(d > 0).mean():.2f} / {(d < 0).mean():.2f} |")
    if not test: return res
    print("\nTest, once, at each rule's pick on the whole validation split (ensemble of each bench seed's two members;"
          " threshold chosen on validation by the binormal rule):")
    print("| rule | bench seed | epochs picked | val AUC | test AUC | test ACC | test log loss |\n|---|---|---|---|---|---|---|")
    for rule in res:
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

def analyse_multiclass(runs, n_splits=100, seed=0, test=False):
    "`analyse` for more than two classes: each training seed has its own validation split, halved within itself"
    rules, scores = rules_for(False), dict(log_loss=log_loss_score, brier=brier_score, acc=lambda p, y: float(acc(p, y)))
    res = {r: dict(epochs=[], **{k: [] for k in scores}) for r in rules}
    diff = []                                               # log loss of 'last' minus that of the 'valid_loss' rule (the rule before)
    for s in sorted(runs):
        P, y, eps = runs[s]['val_p'], runs[s]['val_y'], float(runs[s]['label_smoothing'])
        for a_, b_ in halvings(y, n_splits, seed):
            got = {}
            for rule in rules:
                k = pick(rule, P[:, a_], y[a_], eps); res[rule]['epochs'].append(k)
                for m, f in scores.items(): res[rule][m].append(f(P[k, b_], y[b_]))
                got[rule] = res[rule]['log_loss'][-1]
            diff.append(got['last'] - got['valid_loss'])
    d = np.array(diff)
    print(f"\nValidation split in halves {n_splits} times (each way, per training seed): each rule picks an epoch on one half, scored on the other")
    print("| rule | mean epoch picked (1-based) | val log loss | val Brier | val ACC |\n|---|---|---|---|---|")
    for rule in rules:
        r = {k: np.array(v) for k, v in res[rule].items()}
        print(f"| {rule} | {r['epochs'].mean()+1:.1f} | {r['log_loss'].mean():.4f} | {r['brier'].mean():.4f} | {r['acc'].mean():.4f} |")
    print(f"last vs valid_loss: log loss lower in {(d < 0).mean():.2f}, higher in {(d > 0).mean():.2f} of halvings (mean difference {d.mean():+.4f})")
    if not test: return res
    print("\nTest (kept-aside images), once, at each rule's pick on the whole validation split (plain network, no averaging over flips and turns):")
    print("| rule | training seed | epoch picked | val log loss | test log loss | test Brier | test ACC |\n|---|---|---|---|---|---|---|")
    for rule in rules:
        t = []
        for s in sorted(runs):
            r = runs[s]; k = pick(rule, r['val_p'], r['val_y'], float(r['label_smoothing']))
            t.append([f(r['test_p'][k], r['test_y']) for f in scores.values()])
            print(f"| {rule} | {s} | {k+1} | {_log_loss(r['val_p'][k], r['val_y']):.4f} | " + ' | '.join(f'{v:.4f}' for v in t[-1]) + ' |')
        m = np.mean(t, 0)
        print(f"| **{rule}, mean** | | | | **{m[0]:.4f}** | **{m[1]:.4f}** | **{m[2]:.4f}** |")
    return res

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--task', choices=list(TASKS), default='pneumoniamnist', help="pneumoniamnist (two classes) or cells (a PBC folder, eight classes)")
    p.add_argument('--data', default=None, help="PneumoniaMNIST .npz (28 px), or a PBC folder for --task cells")
    p.add_argument('--out', default=None, help='folder for each member\'s per-epoch predictions')
    p.add_argument('--arch', default=None)
    p.add_argument('--size', type=int, default=None)
    p.add_argument('--epochs', type=int, default=None)
    p.add_argument('--bs', type=int, default=None)
    p.add_argument('--seeds', type=int, nargs='+', default=[42, 43])
    p.add_argument('--heldout-frac', type=float, default=0.2, help="--task cells: share of each class kept aside as the test side")
    p.add_argument('--split-seed', type=int, default=0, help="--task cells: seed of that split (bench/pbc.py's --seed)")
    p.add_argument('--tta', action=argparse.BooleanOptionalAction, default=False, help='test-time augmentation (seeded; pneumoniamnist)')
    p.add_argument('--splits', type=int, default=100, help='random halvings of validation')
    p.add_argument('--analyse-only', action='store_true', help='only compare the rules on predictions already in --out')
    p.add_argument('--test', action='store_true', help='also print test figures, once, after the choice')
    p.add_argument('--smoke', action='store_true', help='tiny synthetic run in seconds (for tests)')
    a = p.parse_args(argv)
    for k, v in TASKS[a.task].items():
        if getattr(a, k) is None: setattr(a, k, v)
    with tempfile.TemporaryDirectory() as tmp:
        tmp, data = Path(tmp), Path(a.data)
        if a.smoke:
            a.epochs, a.size, a.arch, a.seeds, a.splits, a.test, a.bs = 2, 32, 'xresnet18_half', [0, 1], 3, True, 16
            a.out = a.out or str(tmp/'out')
            if a.task == 'cells':
                from medfast.studies.blood import synthetic_blood_cells
                data = synthetic_blood_cells(tmp/'synthetic', n=10, size=(64, 64), layout='normal8')
            else: data = synthetic_medmnist(tmp/'smoke.npz', n=48, size=28, seed=0)
        if a.out is None: p.error('--out: give a folder for the predictions')
        if not a.analyse_only and not data.exists(): p.error(f"--data: no such file or folder {data}; pass the PneumoniaMNIST .npz or a PBC folder")
        print(f"machine: {machine()}\nargs: {vars(a)}", flush=True)
        if not a.analyse_only:
            Path(a.out).mkdir(parents=True, exist_ok=True)
            if a.task == 'cells':
                from pbc import split_folder
                train, heldout = split_folder(data, tmp/'split', a.heldout_frac, a.split_seed)
            for s in a.seeds:
                out, secs = train_member(data, s, a) if a.task == 'pneumoniamnist' else train_cells_member(train, heldout, s, a)
                with atomic_open(Path(a.out)/f'preds_seed{s}.npz', 'wb') as f: np.savez(f, **out)
                y = out['val_y']
                by = [_auc(q, y) for q in out['val_p']] if out['val_p'].ndim == 2 else [_log_loss(q, y) for q in out['val_p']]
                print(f"seed {s}: trained {secs/60:.1f} min; val {'AUC' if out['val_p'].ndim == 2 else 'log loss'} by epoch "
                      + ' '.join(f'{u:.4f}' for u in by), flush=True)
        runs = load_runs(a.out)
        if not runs: p.error(f"--out: no preds_seed*.npz in {a.out}")
        analyse(runs, n_splits=a.splits, test=a.test)
    return 0

if __name__ == '__main__': sys.exit(main())
