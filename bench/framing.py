#!/usr/bin/env python
"""How a Kermany model's answers hold when its own validation films are framed another way.

`medfast train` squishes every film whole to a square. Copies of the same films are not always made that way:
PneumoniaMNIST (whose test arrays are the official Kermany test films) cut each film to a square around its centre,
so a wide film loses its sides and a tall one its top and bottom. This script rebuilds the patient-grouped
validation split that `medfast train --data DATA --seed SEED` made (films the model never trained on), then predicts
them framed five ways: as stored; reduced to 28 px; the central 75% or 65% of the width kept (a wide film cut to a
square), each at 28 px; the central 80% of the height kept (a tall one), at 28 px. It reads validation films only
(written out as PNG files first, so "as stored" may differ from the training run's own read in the third decimal).
The seed defaults to the one in the model's `run.json`, and the split rebuilt must have as many films as that run's.

    python bench/framing.py runs/kermany ../shared/data/chest_xray_224/train --seed 42
    python bench/framing.py --smoke          # a minute: a one-epoch model on synthetic X-rays
"""
from __future__ import annotations
import argparse, json, sys, tempfile
from pathlib import Path
import numpy as np
from PIL import Image
_here = Path(__file__).resolve().parent                            # bench/onnx.py must not shadow the onnx package:
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != _here] + [str(_here)]   # this folder goes last
from benchutils import machine, medfast_cli
from medfast.inference import load, predict
from medfast.evaluation import saved_threshold
from medfast.core import MedfastError
from medfast.data import pneumonia_dls
from medfast.metrics import acc, log_loss, roc_auc, sensitivity, specificity

def keep_centre(im:Image.Image, width:float=1., height:float=1.) -> Image.Image:
    "The central `width` and `height` fractions of `im`, resized back to its size (a square crop of a squished copy)"
    w, h = im.size; cw, ch = round(w*width), round(h*height)
    l, t = (w - cw)//2, (h - ch)//2
    return im.crop((l, t, l + cw, t + ch)).resize((w, h), Image.Resampling.BICUBIC)

def _small(im): return im.resize((28, 28), Image.Resampling.BICUBIC)

FRAMINGS = {'as stored (squished whole)': lambda im: im,
            '28 px': _small,
            'central 75% of the width, 28 px': lambda im: _small(keep_centre(im, width=0.75)),
            'central 65% of the width, 28 px': lambda im: _small(keep_centre(im, width=0.65)),
            'central 80% of the height, 28 px': lambda im: _small(keep_centre(im, height=0.8))}

def _run_record(model) -> dict:
    "The `run.json` medfast train wrote beside `model` (a folder or its model.json), or {}"
    f = (Path(model) if Path(model).is_dir() else Path(model).parent)/'run.json'
    return json.loads(f.read_text()) if f.is_file() else {}

def framing_table(model, data, seed:int|None=None, positive:str='PNEUMONIA') -> list[str]:
    "Markdown rows: accuracy, ROC AUC, sensitivity, specificity and log loss of `model` on its validation films, framed each way"
    learn, run = load(model), _run_record(model)
    if positive not in learn.dls.vocab: raise MedfastError(f"{model} tells {', '.join(map(str, learn.dls.vocab))} apart, not {positive}: "
                                                           "give a model medfast train made from a Kermany folder.")
    seed = seed if seed is not None else run.get('cli_args', {}).get('seed', 42)
    thr = saved_threshold(learn)
    items = list(pneumonia_dls(data, size=32, bs=16, seed=seed, num_workers=0).valid_ds.items)
    if (n := run.get('split', {}).get('valid')) is not None and n != len(items):
        raise MedfastError(f"--seed {seed} and DATA {data} give {len(items)} validation films, but the model's run had {n}: "
                           "give the DATA and --seed it was trained with.")
    classes = [str(c) for c in learn.dls.vocab]; pos = classes.index(positive)
    y = np.array([classes.index(Path(p).parent.name) for p in items])
    rows = [f"{len(items)} validation films ({int((y != pos).sum())} normal), seed {seed}, decision at "
            + ('argmax' if thr is None else f'P({positive}) >= {thr:.3f}'), '',
            '| framing | ACC | ROC AUC | sensitivity | specificity | log loss | normals called pneumonia |', '|---|---|---|---|---|---|---|']
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, frame) in enumerate(FRAMINGS.items()):
            (d := Path(tmp)/str(k)).mkdir()
            paths = [d/f'{i:05d}.png' for i in range(len(items))]
            for p, q in zip(items, paths): frame(Image.open(p).convert('L')).save(q)
            probs = predict(learn, paths, progress=False)[[f'prob_{c}' for c in classes]].to_numpy()
            spec = specificity(probs, y, thr)[pos]
            rows.append(f"| {name} | {acc(probs, y, thr):.3f} | {roc_auc(probs, y):.4f} | {sensitivity(probs, y, thr)[pos]:.3f} | "
                        f"{spec:.3f} | {log_loss(probs, y):.3f} | {1 - spec:.1%} |")
    return rows

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model', nargs='?', help="a model folder or model.json written by medfast train --task pneumonia")
    p.add_argument('data', nargs='?', help="the Kermany train folder it was trained on (NORMAL/, PNEUMONIA/)")
    p.add_argument('--seed', type=int, default=None, help="the --seed it was trained with, which decides the validation split "
                   "(default: the one in the model's run.json, else 42)")
    p.add_argument('--smoke', action='store_true', help="train a one-epoch model on synthetic X-rays and read it: checks the script runs")
    a = p.parse_args()
    if a.smoke and (a.model or a.data): p.error("--smoke trains its own model: give either --smoke or MODEL and DATA")
    if not a.smoke and (a.model is None or a.data is None): p.error("give MODEL and DATA (or --smoke)")
    if a.seed is not None and a.seed < 0: p.error(f"--seed must be 0 or more, not {a.seed}")
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        if a.smoke:
            from medfast.synthetic import synthetic_xrays
            a.data = synthetic_xrays(Path(tmp)/'xrays', n=24, size=64, seed=0)/'train'
            a.model = Path(tmp)/'run'
            medfast_cli('train', '--data', a.data, '--pretrained', 'no', '--epochs', '1', '--size', '32', '--bs', '8',
                        '--quiet', '--out', a.model, '--seed', str(a.seed or 0))
        if not Path(a.data).is_dir(): sys.exit(f"error: DATA {a.data} is not a folder: give the Kermany train folder the model was trained on.")
        try: print('\n'.join(framing_table(a.model, a.data, a.seed)))
        except MedfastError as e: sys.exit(f"error: {e}")

if __name__ == '__main__': main()
