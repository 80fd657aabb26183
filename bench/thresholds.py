#!/usr/bin/env python
"""Which decision-threshold rule to trust, judged on validation predictions alone (repeated split halves).

Reads the `val_seed*.npz` files that `bench/pneumoniamnist.py --save-preds DIR` writes (probabilities and targets of
the validation split). For each split of validation into two stratified halves, every rule chooses its threshold
on one half and is scored on the other (balanced accuracy, which a change of class balance does not move; and
accuracy), both ways round. The test split is not read unless `--test` is given, and then only to report each
rule's figure at the threshold it chose on the whole validation split, after the choice is made.

    python bench/thresholds.py runs/X13                 # validation only
    python bench/thresholds.py runs/X13 --test          # and the test figures, read once
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).parent))
from benchutils import machine, halvings
from medfast.metrics import choose_threshold, balanced_acc, acc

RULES = {'Youden J, observed (youden)': dict(method='youden'),
         'Youden J, binormal fit (binormal)': dict(method='binormal'),
         'F1 (f1)': dict(method='f1'),
         'fixed 0.5': None}

def pick(p, y, rule):
    "The threshold `rule` chooses on probabilities `p` and targets `y`"
    return 0.5 if RULES[rule] is None else choose_threshold(p, y, **RULES[rule])

def split_halves(p, y, n_splits:int=100, seed:int=0) -> dict:
    "Per rule: balanced accuracy and accuracy on the other half, over `n_splits` stratified halvings, both ways round"
    res = {r: dict(bal=[], acc=[], thr=[]) for r in RULES}
    for fit, score in halvings(y, n_splits, seed):
        for r in RULES:
            t = pick(p[fit], y[fit], r)
            res[r]['bal'].append(balanced_acc(p[score], y[score], t)); res[r]['acc'].append(acc(p[score], y[score], t))
            res[r]['thr'].append(t)
    return res

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dirs', nargs='+', help='folders of val_seed*.npz (and test_seed*.npz) from bench/pneumoniamnist.py --save-preds')
    ap.add_argument('--splits', type=int, default=100, help='random halvings of validation per run')
    ap.add_argument('--test', action='store_true', help='after the comparison, report test figures at each rule\'s full-validation threshold')
    a = ap.parse_args(argv)
    files = sorted(f for d in a.dirs for f in Path(d).glob('val_seed*.npz'))
    if not files: print(f"error: no val_seed*.npz in {', '.join(a.dirs)}; run bench/pneumoniamnist.py --save-preds DIR first", file=sys.stderr); return 2
    print(f"machine: {machine()}\n{len(files)} run(s); {a.splits} stratified halvings of validation each, scored both ways round\n")
    tot = {r: dict(bal=[], acc=[], sd=[], thr_sd=[]) for r in RULES}
    full = {}                                            # (file, rule) -> threshold chosen on all of validation
    print(f"| run | rule | threshold on all val | its sd over halves | other-half bal. ACC (mean, sd) | other-half ACC |\n|---|---|---|---|---|---|")
    for f in files:
        d = np.load(f, allow_pickle=False); p, y = d['probs'][:, 1], d['targets']
        res = split_halves(p, y, a.splits)
        for r in RULES:
            full[f, r] = pick(p, y, r)
            b, ac = np.array(res[r]['bal']), np.array(res[r]['acc'])
            tot[r]['bal'].append(b.mean()); tot[r]['acc'].append(ac.mean()); tot[r]['sd'].append(b.std()); tot[r]['thr_sd'].append(np.std(res[r]['thr']))
            print(f"| {f.parent.name}/{f.stem} | {r} | {full[f, r]:.3f} | {np.std(res[r]['thr']):.3f} | {b.mean():.4f} ({b.std():.4f}) | {ac.mean():.4f} |")
    print(f"\nmean over runs (validation only):")
    for r in RULES:
        print(f"  {r:38s} balanced ACC {np.mean(tot[r]['bal']):.4f} (sd over halvings {np.mean(tot[r]['sd']):.4f}), ACC {np.mean(tot[r]['acc']):.4f}, threshold sd {np.mean(tot[r]['thr_sd']):.3f}")
    if a.test:
        print("\ntest, at each rule's threshold chosen on all of validation (read after the choice; never used for it):")
        print("| run | rule | threshold | test ACC | test bal. ACC |\n|---|---|---|---|---|")
        for f in files:
            tf = f.with_name(f.name.replace('val_', 'test_'))
            if not tf.exists(): continue
            t = np.load(tf, allow_pickle=False)
            for r in RULES:
                th = full[f, r]
                print(f"| {f.parent.name}/{f.stem} | {r} | {th:.3f} | {acc(t['probs'], t['targets'], th):.4f} | {balanced_acc(t['probs'], t['targets'], th):.4f} |")
    return 0

if __name__ == '__main__': sys.exit(main())
