"Smoke tests: every bench script runs end to end on tiny synthetic inputs (no timing assertions)"
import os, subprocess, sys
from pathlib import Path
import pytest
from conftest import run_python

BENCH = Path(__file__).resolve().parents[1]/'bench'

def run_bench(script, *args, timeout=600):
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    r = run_python(BENCH/script, '--smoke', *args, timeout=timeout, cwd=BENCH.parent, env=env)
    assert r.returncode == 0, f"{script} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout

def test_decode_smoke():
    out = run_bench('decode.py')
    for method in ('| fastai |', '| draft |', '| cache |'): assert method in out
    assert 'cache build' in out

def test_train_step_smoke():
    out = run_bench('train_step.py')
    assert '| fp32 |' in out and '| bf16+channels_last |' in out and 'num_workers=0' in out
    assert 'Accuracy check' in out and 'mean val accuracy' in out
    assert 'One optimiser step alone' in out and 'FusedAdam' in out

def test_gpu_smoke():
    import torch
    out = run_bench('gpu.py')
    if torch.cuda.is_available(): assert '| fp32 |' in out and 'medfast overhead' in out and 'Accuracy check on' in out
    else: assert 'No GPU here' in out

def test_predict_smoke():
    out = run_bench('predict.py')
    assert '| fastai get_preds |' in out and '| medfast predict, full-size decode |' in out

def test_pneumoniamnist_smoke(tmp_path):
    js = tmp_path/'res.json'
    out = run_bench('pneumoniamnist.py', '--json', str(js), '--save-preds', str(tmp_path/'preds'), '--dev', 'smoke')
    assert 'threshold chosen on val (binormal' in out and 'MedMNIST v2' in out and 'medfast recipe' in out and '  dev : ACC' in out
    import json
    res = json.loads(js.read_text())
    assert 0 <= res['test']['auc'] <= 1 and 0 <= res['threshold'] <= 1
    assert sorted(f.name for f in (tmp_path/'preds').iterdir()) == ['dev_seed42.npz', 'test_seed42.npz', 'val_seed42.npz']
    r = run_python(BENCH/'thresholds.py', str(tmp_path/'preds'), '--splits', '5', '--test', timeout=300, cwd=BENCH.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'binormal' in r.stdout and 'mean over runs (validation only)' in r.stdout and 'test, at each rule' in r.stdout

def test_pneumoniamnist_bad_threshold():
    r = run_python(BENCH/'pneumoniamnist.py', '--threshold', 'otsu', timeout=300)
    assert r.returncode == 2 and '--threshold' in r.stderr and 'Traceback' not in r.stderr

def test_thresholds_needs_preds(tmp_path):
    r = run_python(BENCH/'thresholds.py', str(tmp_path), timeout=300)
    assert r.returncode == 2 and 'no val_seed*.npz' in r.stderr and 'Traceback' not in r.stderr

def test_pneumoniamnist_missing_data(tmp_path):
    r = run_python(BENCH/'pneumoniamnist.py', '--data', str(tmp_path/'nope.npz'), timeout=300)
    assert r.returncode != 0 and 'MedMNIST file not found' in r.stderr + r.stdout

def test_epochs_smoke():
    out = run_bench('epochs.py')
    assert "| last |" in out and "| auc |" in out and 'each rule picks an epoch on one half' in out and '**last, mean**' in out

def test_epochs_cells_smoke():
    "`--task cells`: eight classes from class folders, held-out side kept aside as bench/pbc.py does, the recipe's own loss as a rule"
    out = run_bench('epochs.py', '--task', 'cells')
    assert "| valid_loss |" in out and "| last |" in out and 'last vs valid_loss' in out and '**last, mean**' in out

def test_epochs_needs_preds(tmp_path):
    r = run_python(BENCH/'epochs.py', '--out', str(tmp_path), '--analyse-only', timeout=300)
    assert r.returncode == 2 and 'no preds_seed*.npz' in r.stderr and 'Traceback' not in r.stderr

def test_pbc_smoke():
    out = run_bench('pbc.py')
    assert 'held-out images: 16' in out and 'accuracy' in out and 'recall per class' in out

def test_pbc_colour_prelude():
    "`--colour` runs the CLI after code that adds saturation and hue jitter to the `cells` preset"
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); from pbc import colour_prelude; exec(colour_prelude(0.2, 0.05))\n" \
           "from medfast.recipes import Recipe; print([type(t).__name__ for t in Recipe(augment='cells').tfms()])"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "'Saturation', 'Hue']" in r.stdout, r.stderr[-2000:]

def test_kermany_smoke(tmp_path):
    "`--keep DIR` keeps the model and its evaluation, and refuses a folder that exists"
    out = run_bench('kermany.py', '--keep', str(tmp_path/'k'))
    assert 'Plan: 32 px' in out and 'valid (patient-grouped): ACC' in out and 'test: ACC' in out and '(8 images)' in out
    assert (tmp_path/'k'/'run'/'model.json').is_file() and (tmp_path/'k'/'eval'/'metrics.csv').is_file()
    r = run_python(BENCH/'kermany.py', '--smoke', '--keep', str(tmp_path/'k'), timeout=300)
    assert r.returncode != 0 and 'already exists' in r.stderr and 'Traceback' not in r.stderr
