"""Kermany chest X-rays: `medfast train` on a Kermany train folder as the review runs it, scored on the official test films.

The review trains with `medfast train --data <Kermany train folder> --pretrained no --budget 15` and scores the
official `test/` split (624 films, 37.5% normal against 26% in train). That folder is not in this repository.
PneumoniaMNIST's test arrays are the same 624 films at 28 px, so by default they are written out as PNG files in the
Kermany layout and scored instead: a proxy for how the model generalises to the official test films. Nothing in
training reads them (the threshold is chosen on the patient-grouped validation split), and
they must never be used to choose a setting. `--test DIR` scores a real test folder instead. Training options go
after `--` (default: `--budget 15`), e.g.

    python bench/kermany.py -- --recipe xray --budget 15 --seed 1

Prints the machine (CPU model, bf16 capability), the training plan, the wall time, and for validation and test the
accuracy, ROC AUC, sensitivity and specificity at the threshold saved in the model, with the log loss and Brier score
of the probabilities (validation's are what a choice between runs may rest on: its accuracy and AUC saturate).
"""
import argparse, sys
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from benchutils import kept_or_temp, machine, loadavg, medfast_cli, print_lines

def write_test_folder(npz, dest:Path, classes=('NORMAL', 'PNEUMONIA')) -> Path:
    "The test arrays of a two-class MedMNIST `npz` as PNG files in `dest/<class>/`"
    with np.load(npz) as d: xs, ys = d['test_images'], d['test_labels'][:, 0]
    for c in classes: (dest/c).mkdir(parents=True, exist_ok=True)
    for i, (x, y) in enumerate(zip(xs, ys)): Image.fromarray(x).save(dest/classes[int(y)]/f'test_{i:04d}.png')
    return dest

def figures(m:pd.DataFrame, positive='PNEUMONIA') -> dict:
    "Accuracy, ROC AUC, sensitivity and specificity (of `positive`) from the rows of a medfast metrics.csv"
    def get(metric, cls='all'):
        r = m[(m.metric == metric) & (m['class'].astype(str).str.upper() == cls.upper())]
        return float(r.value.iloc[0]) if len(r) else float('nan')
    n = get('n')
    return dict(n=int(n) if n == n else None, acc=get('accuracy'), auc=get('roc_auc'),
                sens=get('sensitivity', positive), spec=get('specificity', positive), log_loss=get('log_loss'), brier=get('brier'))

def _line(name, f): return (f"{name}: ACC {f['acc']:.3f}  AUC {f['auc']:.3f}  sensitivity {f['sens']:.3f}  "
                            f"specificity {f['spec']:.3f}  log loss {f['log_loss']:.3f}  Brier {f['brier']:.3f}"
                            + (f"  ({f['n']} images)" if f.get('n') else ''))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='../shared/data/chest_xray_224/train', help="Kermany train folder (NORMAL/, PNEUMONIA/)")
    p.add_argument('--test', default=None, help="a labelled test folder to score (default: the PneumoniaMNIST test films)")
    p.add_argument('--proxy', default='../shared/data/pneumoniamnist_28.npz', help="PneumoniaMNIST .npz whose test arrays are the proxy")
    p.add_argument('--smoke', action='store_true', help="tiny synthetic X-rays, 1 epoch: checks the script runs")
    p.add_argument('--keep', metavar='DIR', help="a new folder to keep the trained model (run/) and its evaluation (eval/) in "
                   "(default: a temporary folder, removed at the end)")
    p.add_argument('train_args', nargs='*', help="options for medfast train (after --; default --budget 15)")
    a = p.parse_args()
    print(machine())
    with kept_or_temp(a.keep) as tmp:
        data, proxy, train_args = Path(a.data), Path(a.proxy), a.train_args or ['--budget', '15']
        if a.smoke:
            from medfast.synthetic import synthetic_xrays, synthetic_medmnist
            data = synthetic_xrays(tmp/'xrays', n=16, size=64, seed=0)/'train'
            proxy = synthetic_medmnist(tmp/'proxy.npz', n=32, size=28, seed=0)
            train_args = ['--recipe', 'xray', '--size', '32', '--epochs', '1', '--bs', '8', '--ensemble', '1']
        if not data.is_dir(): sys.exit(f"--data {data} is not a folder (Kermany train: ../shared/data/chest_xray_224/train).")
        if a.test: test = Path(a.test)
        elif proxy.is_file(): test = write_test_folder(proxy, tmp/'test')
        else: sys.exit(f"--proxy {proxy} not found: pass --test DIR (a labelled test folder) or the PneumoniaMNIST .npz.")
        print(f"test: {test if a.test else f'the PneumoniaMNIST test films ({proxy.name}), as PNG files'}")
        out, secs = medfast_cli('train', '--data', data, '--pretrained', 'no', '--quiet', '--out', tmp/'run', *train_args, echo=True)
        print_lines(out, ('Measured', 'resnet18 would', 'Plan', 'model ', 'Decision', 'Image size', 'Split'))
        medfast_cli('evaluate', tmp/'run', test, '--out', tmp/'eval', '--quiet', '--n-boot', '200')
        print(f"train wall time {secs/60:.1f} min (load avg {loadavg():.1f} at the end)")
        valid = pd.read_csv(tmp/'run'/'metrics.csv')
        print(_line('valid (patient-grouped)', figures(valid[valid.split == 'valid'])))
        print(_line('test', figures(pd.read_csv(tmp/'eval'/'metrics.csv'))))

if __name__ == '__main__': main()
