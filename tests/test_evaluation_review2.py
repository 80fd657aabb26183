"Evaluation as a user meets it, second review: a one-class test folder in `medfast evaluate`, a network that fails while it is scored in `compare`"
import json, re, shutil, warnings
import numpy as np, pandas as pd
import pytest
from conftest import compare_factory as _factory, tiny_exported_basenet

warnings.filterwarnings('ignore')

PLOTS = ['confusion_matrix.png', 'roc_curve.png', 'pr_curve.png', 'calibration.png']

@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    "A basenet trained for one epoch on 32-px synthetic X-rays, exported in the safe format, and the data"
    return tiny_exported_basenet(tmp_path_factory.mktemp('evalrev'))

def test_evaluate_one_class_test_folder(cli, tiny_model, tmp_path):
    "A test folder of pneumonia films only: scored, the absent class named, ROC AUC left undefined (not 0.5, not an error), every plot drawn"
    model, data = tiny_model
    shutil.copytree(data/'test'/'PNEUMONIA', tmp_path/'test'/'PNEUMONIA')
    r = cli('evaluate', model, tmp_path/'test', '--out', tmp_path/'ev', '--n-boot', 100, '--top-losses', 4)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No cases of class(es) ['NORMAL']" in r.stderr and 'NORMAL 0' in r.stdout, r.stdout + r.stderr
    m = pd.read_csv(tmp_path/'ev'/'metrics.csv')
    row = lambda metric, cls='all': m[(m.metric == metric) & (m['class'] == cls)].iloc[0]
    assert np.isnan(row('roc_auc').value) and np.isnan(row('roc_auc').ci_low)
    assert 0 <= row('sensitivity', 'PNEUMONIA').ci_low <= row('sensitivity', 'PNEUMONIA').value   # the class present keeps its interval
    for f in PLOTS + ['top_losses.png']: assert (tmp_path/'ev'/f).stat().st_size > 0, f

def test_evaluate_threshold_on_a_loaded_model_checked_first(tiny_model):
    "The Python API on a loaded model: ci as a percentage, a threshold out of range, both refused before the test images are read"
    from medfast.inference import load
    from medfast.evaluation import evaluate
    model, data = tiny_model
    learn = load(model)
    learn.get_preds = lambda *a, **k: pytest.fail('predicted before checking the settings')
    for kw, says in [(dict(ci=95), '0.95 for 95%'), (dict(threshold=1.5), 'from 0 to 1'), (dict(target_sensitivity=90), '0.95 for 95%')]:
        with pytest.raises(ValueError, match=re.escape(says)):
            evaluate(learn, data/'test', **kw)

def test_network_failing_while_scored_leaves_no_record(tmp_path, compare_xrays, monkeypatch, capsys):
    "A network that trains but fails while scored (an unreadable test image, say) is a failed row, with no run record beside the others'; a second run into one folder says where it went"
    import medfast.comparison as cmp
    (tmp_path/'c').mkdir(); (tmp_path/'c'/'compare.csv').write_text('an earlier comparison')
    real, calls = cmp.evaluate, []
    def flaky(learn, src, **kw):
        calls.append(1)
        if len(calls) == 1: raise OSError('cannot read test image x.jpeg')
        return real(learn, src, **kw)
    monkeypatch.setattr(cmp, 'evaluate', flaky)
    with pytest.warns(UserWarning, match='basenet failed'):
        res = cmp.compare(['basenet', 'improved_basenet'], _factory(compare_xrays), seed=0, n_boot=0, out=tmp_path/'c')
    assert res.table.error.notna().tolist() == [True, False]
    assert not (res.out/'basenet.json').exists() and (res.out/'improved_basenet.json').exists()
    assert json.loads((res.out/'compare.json').read_text())['failed'] == {'basenet': 'OSError: cannot read test image x.jpeg'}
    assert res.out == tmp_path/'c-2' and (tmp_path/'c'/'compare.csv').read_text() == 'an earlier comparison'
    assert f"Outputs: {tmp_path/'c-2'} (not {tmp_path/'c'}, which holds results or is claimed by a run in progress)" in capsys.readouterr().out

def test_learner_fn_sweep_scored_on_a_label_table(tmp_path, compare_xrays):
    "A sweep built by learner_fn takes a label CSV as its test side, as compare with DataLoaders does (it was refused as 'not a folder')"
    from medfast.comparison import compare
    from medfast.learner import medfast_learner, train
    from medfast.core import MissingPathError
    shutil.copytree(compare_xrays/'test', tmp_path/'t')
    files = sorted(p.relative_to(tmp_path/'t') for p in (tmp_path/'t').rglob('*.jpeg'))
    pd.DataFrame(dict(file=[str(f) for f in files], label=[f.parts[0] for f in files])).to_csv(tmp_path/'t'/'labels.csv', index=False)
    make = lambda name, bs, seed: medfast_learner(_factory(compare_xrays)(seed), 'basenet', pretrained=False, seed=seed)
    fit = lambda learn, name, bs: train(learn, 1)
    res = compare({'bs 8': 8}, seed=0, n_boot=0, learner_fn=make, fit_fn=fit, test=tmp_path/'t'/'labels.csv')
    assert res.table.test_accuracy.notna().all()
    assert int(res.test_tables.query("metric == 'n'").value.iloc[0]) == len(files)
    with pytest.raises(MissingPathError, match='test table not found'):
        compare({'bs 8': 8}, seed=0, learner_fn=make, fit_fn=fit, test=tmp_path/'t'/'nope.csv')
