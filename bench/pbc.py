"""PBC blood cells, 8 classes: train with `medfast train --task folder` on part of a PBC folder, score the rest.

The review measures a model trained on the whole `pbc_sample` (1,200 images) on PBC images it never saw. Here the
sample itself is split, stratified and seeded: `--heldout-frac` of each class is kept aside (symlinks, nothing is
copied), the rest trains through the CLI exactly as a user would run it (its own validation split, carved from the
training part, makes every choice), and `medfast evaluate` scores the kept-aside part. Pass the training options
after `--`, e.g.

    python bench/pbc.py --data ../shared/data/pbc_sample -- --recipe small_image --augment cells --budget 15

`--colour SATURATION HUE` is an experiment the library does not ship: it adds fastai's saturation and hue jitter to
the `cells` augmentation preset for that run (see bench/README.md).

Prints the machine (CPU model, bf16 capability), the wall time, the saved model's log loss, Brier score and accuracy
on the CLI's own validation split (what a choice between runs may rest on), and accuracy and macro F1 on the
kept-aside images.
"""
import argparse, json, random, sys
from pathlib import Path
import numpy as np, pandas as pd
from benchutils import kept_or_temp, machine, medfast_cli, print_lines, log_loss_score, brier_score

def split_folder(src:Path, dest:Path, frac:float, seed:int) -> tuple:
    "Symlink `frac` of each class of `src` into `dest/heldout`, the rest into `dest/train`; returns both folders"
    rng = random.Random(seed)
    for cls in sorted(d for d in src.iterdir() if d.is_dir()):
        files = sorted(f for f in cls.iterdir() if f.is_file())
        rng.shuffle(files)
        k = round(len(files)*frac)
        for side, part in (('heldout', files[:k]), ('train', files[k:])):
            (dest/side/cls.name).mkdir(parents=True, exist_ok=True)
            for f in part: (dest/side/cls.name/f.name).symlink_to(f.resolve())
    return dest/'train', dest/'heldout'

def valid_scores(train:Path, model:Path, seed:int=42) -> dict:
    "Log loss, Brier score and accuracy of the saved `model` on the validation split `medfast train --seed seed` carves from `train`"
    from medfast.data import folder_dls
    from medfast.inference import load, predict
    from medfast.metrics import acc
    dls = folder_dls(train, size=32, bs=8, seed=seed)       # the split depends on the files and the seed only
    files = [str(f) for f in dls.valid_ds.items]
    y = np.array([dls.vocab.o2i[Path(f).parent.name] for f in files])
    P = predict(load(model), files, progress=False)[[f'prob_{c}' for c in dls.vocab]].to_numpy()
    return dict(n=len(y), log_loss=log_loss_score(P, y), brier=brier_score(P, y), acc=float(acc(P, y)))

def colour_prelude(saturation:float, hue:float) -> str:
    "Python code that adds saturation and hue jitter to the `cells` augmentation preset of the process it runs in"
    return ("import medfast.recipes as r, medfast.data as d\nfrom fastai.vision.augment import Saturation, Hue\n"
            f"r.AUGMENTATIONS['cells'] = lambda size=None, **kw: d.cell_tfms(size=size, **kw) + "
            f"[Saturation(max_lighting={saturation!r}), Hue(max_hue={hue!r})]")

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default='../shared/data/pbc_sample', help="PBC class folders")
    p.add_argument('--heldout-frac', type=float, default=0.2)
    p.add_argument('--seed', type=int, default=0, help="seed of the held-out split (training has its own --seed)")
    p.add_argument('--smoke', action='store_true', help="tiny synthetic blood cells, 1 epoch at 32 px: checks the script runs")
    p.add_argument('--keep', metavar='DIR', help="a new folder to keep the split, the trained model and its evaluation in "
                   "(default: a temporary folder, removed at the end)")
    p.add_argument('--colour', nargs=2, type=float, metavar=('SATURATION', 'HUE'), help="an experiment: add fastai's "
                   "Saturation(SATURATION) and Hue(HUE) jitter to the `cells` augmentation preset for this run (the library has none)")
    p.add_argument('train_args', nargs='*', help="options for medfast train (after --)")
    a = p.parse_args()
    print(machine())
    with kept_or_temp(a.keep) as tmp:
        data = Path(a.data)
        if a.smoke:
            from medfast.studies.blood import synthetic_blood_cells
            data = synthetic_blood_cells(tmp/'synthetic', n=10, size=(96, 96), layout='normal8')
            a.train_args = ['--size', '32', '--epochs', '1', '--bs', '8'] + (['--augment', 'cells'] if a.colour else [])
        elif not data.is_dir(): sys.exit(f"--data {data} is not a folder of class folders (PBC: ../shared/data/pbc_sample).")
        train, heldout = split_folder(data, tmp/'data', a.heldout_frac, a.seed)
        out, secs = medfast_cli('train', '--task', 'folder', '--data', train, '--pretrained', 'no', '--quiet', '--out', tmp/'run',
                                *a.train_args, echo=True, prelude=colour_prelude(*a.colour) if a.colour else '')
        print_lines(out, ('Plan', 'model ', 'Estimated', 'Image size'))
        seed = json.loads((tmp/'run'/'run.json').read_text())['cli_args']['seed']   # the seed the CLI used, its default included
        v = valid_scores(train, tmp/'run'/'model.json', seed)
        print(f"validation ({v['n']} images, the CLI's own split): log loss {v['log_loss']:.3f}, Brier {v['brier']:.3f}, "
              f"accuracy {v['acc']:.3f}")
        medfast_cli('evaluate', tmp/'run', heldout, '--out', tmp/'eval', '--quiet', '--n-boot', '200')
        m = pd.read_csv(tmp/'eval'/'metrics.csv')
        allc = m[m['class'] == 'all'].set_index('metric')['value']
        per = m[(m.metric == 'sensitivity') & (m['class'] != 'all')].set_index('class')['value']
        print(f"held-out images: {int(allc.get('n', 0))}, accuracy {allc['accuracy']:.3f}, "
              f"macro F1 {allc.get('f1_macro', float('nan')):.3f}, train wall time {secs/60:.1f} min")
        print('recall per class: ' + ', '.join(f"{k} {v:.2f}" for k, v in per.items()))

if __name__ == '__main__': main()
