"End-to-end `medfast evaluate`: a tiny exported model and a tiny labelled test folder, in a fresh process."
import json, shutil
from pathlib import Path
import pandas as pd
import pytest
from PIL import Image
from conftest import tiny_exported_basenet

PLOTS = ['confusion_matrix.png', 'roc_curve.png', 'pr_curve.png', 'calibration.png', 'top_losses.png']

@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    "A basenet trained for one epoch on 32-px synthetic X-rays, exported in the safe format, and a test folder"
    tmp = tmp_path_factory.mktemp('evalcli')
    model, data = tiny_exported_basenet(tmp)
    test = tmp/'test'                                  # lower-case class folders: matched ignoring case
    for cls in ('NORMAL', 'PNEUMONIA'): shutil.copytree(data/'test'/cls, test/cls.lower())
    return model, test, data

def test_evaluate_writes_metrics_and_plots(cli, tiny_model, tmp_path):
    model, test, _ = tiny_model
    r = cli('evaluate', model, test, '--out', tmp_path/'ev', '--n-boot', 100, '--top-losses', 4)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'sensitivity' in r.stdout and 'ci_low' in r.stdout
    out = tmp_path/'ev'
    for f in ['metrics.csv', 'predictions.csv', 'run.json'] + PLOTS:
        assert (out/f).stat().st_size > 0, f
    for f in PLOTS: assert (out/f).read_bytes()[:4] == b'\x89PNG' and Image.open(out/f).size[0] > 100, f
    m = pd.read_csv(out/'metrics.csv')
    assert list(m.columns) == ['metric', 'class', 'value', 'ci_low', 'ci_high', 'threshold', 'threshold_source', 'ci_level']
    assert m.threshold.isna().all() and set(m.threshold_source) == {'argmax'} and set(m.ci_level) == {0.95}   # each row says how
    assert {'accuracy', 'balanced_accuracy', 'roc_auc', 'sensitivity', 'specificity', 'precision', 'f1'} <= set(m.metric)
    n = int(m.query("metric == 'n'").value.iloc[0])
    preds = pd.read_csv(out/'predictions.csv')
    assert n == len(list(test.rglob('*.jpeg'))) == len(preds)
    assert list(preds.columns) == ['file', 'actual', 'predicted', 'prob_NORMAL', 'prob_PNEUMONIA', 'loss']   # medfast predict's prob_ names
    rec = json.loads((out/'run.json').read_text())
    assert rec['test']['n'] == n and rec['model']['classes'] == ['NORMAL', 'PNEUMONIA'] and 'torch' in rec['env']

def test_evaluate_never_overwrites_and_takes_options(cli, tiny_model, tmp_path):
    model, _, data = tiny_model
    (tmp_path/'ev').mkdir(); (tmp_path/'ev'/'keep.txt').write_text('earlier results')
    r = cli('evaluate', model.parent, data, '--out', tmp_path/'ev', '--n-boot', 0, '--top-losses', 0,
            '--threshold', 0.3, '--tta')            # the model folder, a Kermany root (its test/), TTA, a threshold
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path/'ev'/'keep.txt').read_text() == 'earlier results'
    out = tmp_path/'ev-2'
    assert (out/'metrics.csv').exists() and not (out/'top_losses.png').exists()
    rec = json.loads((out/'run.json').read_text())
    m = pd.read_csv(out/'metrics.csv')
    assert set(m.threshold) == {0.3} and set(m.threshold_source) == {'given'}
    assert rec['threshold'] == 0.3 and rec['tta'] is False      # a safe-format model carries no augmentation: said, skipped, recorded
    assert 'no random augmentation' in r.stdout + r.stderr

def test_evaluate_clear_errors(cli, tiny_model, tmp_path):
    model, test, _ = tiny_model
    bad = tmp_path/'bad'
    shutil.copytree(test, bad); (bad/'covid').mkdir(); Image.new('L', (32, 32)).save(bad/'covid'/'x.png')
    r = cli('evaluate', model, bad, '--out', tmp_path/'ev')
    assert r.returncode == 1 and 'covid' in r.stderr and 'NORMAL' in r.stderr, r.stderr
    r = cli('evaluate', tmp_path/'nope.json', test, '--out', tmp_path/'ev')
    assert r.returncode == 1 and 'nope' in r.stderr, r.stderr
    r = cli('evaluate', model, tmp_path/'missing', '--out', tmp_path/'ev')
    assert r.returncode == 1 and 'missing' in r.stderr, r.stderr

def test_evaluate_and_export_argument_errors(cli, tiny_model, tmp_path):
    "Arguments that cannot work stop with one line naming the flag and the fix, before anything is written"
    model, test, _ = tiny_model
    for args, says in [(('--n-boot', 5), '--n-boot'), (('--seed', -1), '--seed'), (('--device', 'bogus'), '--device'),
                       (('--device', 'cuda:99'), '--device'), (('--top-losses', 1000), 'from 0 to 100')]:
        r = cli('evaluate', model, test, '--out', tmp_path/'ev', *args)
        assert r.returncode == 1 and says in r.stderr and 'Traceback' not in r.stderr, (args, r.stderr)
    assert not (tmp_path/'ev').exists()
    onnx = tmp_path/'m.onnx'; onnx.write_bytes(b'')
    r = cli('evaluate', onnx, test)
    assert r.returncode == 1 and 'medfast predict' in r.stderr, r.stderr
    r = cli('export', model)                                        # a safe model already: only --onnx has work to do
    assert r.returncode == 1 and '--onnx' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = cli('export', model, '--safetensors')
    assert r.returncode == 1 and '--safetensors goes with --onnx' in r.stderr, r.stderr
    r = cli('predict', model, test, '--out', Path(model).parent/'model.pth'/'p.csv')   # a file where a folder should be
    assert r.returncode == 1 and 'is a file, not a folder' in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_evaluate_warns_on_the_training_data(cli, tmp_path):
    "Scored on the folder it was trained on (its run.json names it): said; on that data's held-out test/ folder: not"
    env = {'MEDFAST_HOME': str(tmp_path/'home')}
    r = cli('train', '--n-synthetic', 24, '--epochs', 1, '--size', 32, '--bs', 8, '--arch', 'basenet', '--quiet', '--out', tmp_path/'run', env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    data = Path(json.loads((tmp_path/'run'/'run.json').read_text())['data'])
    r = cli('evaluate', tmp_path/'run', data/'train', '--n-boot', 100, '--quiet', '--out', tmp_path/'ev1', env=env)
    assert r.returncode == 0 and 'the folder this model was trained on (its run.json), so these figures are optimistic' in r.stderr, r.stderr[-2000:]
    r = cli('evaluate', tmp_path/'run', data, '--n-boot', 100, '--quiet', '--out', tmp_path/'ev2', env=env)
    assert r.returncode == 0 and 'trained on' not in r.stderr, r.stderr[-2000:]

def test_evaluate_refuses_predictions_as_labels(cli, tiny_model, tmp_path):
    "medfast predict's CSV names the model's decision `label`: given to evaluate as a label table, refused, not scored as the truth"
    model, test, _ = tiny_model
    r = cli('predict', model, test, '--out', tmp_path/'p.csv', '--quiet')
    assert r.returncode == 0, r.stderr[-2000:]
    r = cli('evaluate', model, tmp_path/'p.csv', '--out', tmp_path/'ev', '--quiet')
    assert r.returncode == 1 and 'is a table of predictions' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'ev').exists()
