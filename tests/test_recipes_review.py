"`medfast train` with recipe options on tiny synthetic MedMNIST files: one-model ensembles, TTA on grey images, thresholds, budgets"
import json
import numpy as np, pandas as pd, pytest
from PIL import Image
from medfast.synthetic import synthetic_medmnist

FAST = ('--recipe', 'small_image', '--arch', 'xresnet18_half', '--size', 32, '--quiet')   # the light network, small images

def _threshold_column(out):
    "The thresholds metrics.csv records, one per row (NaN: argmax)"
    return pd.read_csv(out/'metrics.csv').threshold

def _trained(cli, tmp_path, npz, *args):
    "`medfast train` on `npz` with the light recipe and `args`: its output and the saved model's description"
    r = cli('train', '--data', npz, *FAST, *args, '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    return r, json.loads((tmp_path/'run'/'model.json').read_text())

def test_one_model_tta_grey_threshold_saved_and_applied(cli, tmp_path):
    "An ensemble of one with TTA on grey arrays: a plain network, its val threshold in model.json, applied by `medfast evaluate`"
    npz = synthetic_medmnist(tmp_path/'grey.npz', n=64, size=28, seed=0)
    r, spec = _trained(cli, tmp_path, npz, '--ensemble', 1, '--tta', '--epochs', 1)
    thr = spec['threshold']
    assert 0 < thr < 1 and 'ensemble' not in spec['model_kwargs'] and spec['image']['grey_to_rgb']
    assert f"decision threshold {thr:.3f} chosen on valid" in r.stdout
    assert np.allclose(_threshold_column(tmp_path/'run'), thr)
    d = np.load(npz)                                              # the test arrays as a labelled folder of PNGs
    for i, (a, y) in enumerate(zip(d['test_images'], d['test_labels'].ravel())):
        (tmp_path/'test'/str(y)).mkdir(parents=True, exist_ok=True); Image.fromarray(a).save(tmp_path/'test'/str(y)/f'{i}.png')
    e = cli('evaluate', tmp_path/'run', tmp_path/'test', '--n-boot', 0, '--top-losses', 0, '--out', tmp_path/'ev')
    assert e.returncode == 0, e.stdout + e.stderr
    m = pd.read_csv(tmp_path/'ev'/'metrics.csv')
    assert np.allclose(m.threshold, thr) and set(m.threshold_source) == {'saved'}

def test_multiclass_ensemble_tta_has_no_threshold(cli, tmp_path):
    "Four classes, two seeds, TTA: an ensemble that predicts the most probable class, no threshold chosen or saved"
    npz = synthetic_medmnist(tmp_path/'four.npz', n=64, n_classes=4, seed=1)
    r, spec = _trained(cli, tmp_path, npz, '--ensemble', 2, '--tta', '--epochs', 1)
    assert spec.get('threshold') is None and spec['model_kwargs']['ensemble'] == 2 and spec['classes'] == ['0', '1', '2', '3']
    assert 'Decision threshold' not in r.stdout and 'decision threshold' not in r.stdout
    assert _threshold_column(tmp_path/'run').isna().all()

def test_budget_too_small_for_one_epoch_says_so(cli, tmp_path):
    "A budget that measuring alone spends: the plan is printed, a one-line warning names the least budget that fits, the run still finishes"
    npz = synthetic_medmnist(tmp_path/'grey.npz', n=64, size=28, seed=0)
    r = cli('train', '--data', npz, *FAST, '--budget', 0.005, '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'Measured ' in r.stdout and 'Plan: 32 px, 1 epoch(s) x 1 model(s)' in r.stdout and '(budget 0.005 min' in r.stdout
    warning = [l for l in r.stderr.splitlines() if 'cannot be kept' in l]
    assert len(warning) == 1 and 'A budget of 0.005 min cannot be kept' in warning[0] and 'give a budget of at least' in warning[0]
    assert json.loads((tmp_path/'run'/'run.json').read_text())['cli_args']['budget'] == 0.005
