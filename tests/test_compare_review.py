"compare as a user meets it: equal terms for every network, failures and Ctrl-C, and the `medfast compare` command (tiny synthetic runs)"
import json, warnings
import pytest

warnings.filterwarnings('ignore')

from conftest import compare_factory as _factory

COLS = ['train_loss', 'valid_loss', 'valid_accuracy', 'test_accuracy', 'test_roc_auc']

def test_same_numbers_whatever_the_order_and_on_rerun(compare_xrays):
    "Each network's numbers depend on the seed only: not on the networks trained before it, nor on a factory vs one DataLoaders"
    from medfast.comparison import compare
    run = lambda archs, src: compare(archs, src, seed=0, n_boot=0).table.set_index('arch')[COLS]
    a = run(['basenet', 'resnet18'], _factory(compare_xrays))
    b = run(['resnet18', 'basenet'], _factory(compare_xrays))
    c = run(['basenet', 'resnet18'], _factory(compare_xrays)(0))
    assert a.equals(b.loc[a.index]) and a.equals(c)

def test_failed_network_keeps_the_others(tmp_path, compare_xrays):
    "A network that fails (out of memory, say) is a row with its error; the others are trained, scored and written"
    from medfast.comparison import compare
    from medfast.learner import train
    from medfast.core import read_csv_safe
    def fit(learn, name, arch):
        if name == 'resnet18': raise RuntimeError('CUDA out of memory')
        train(learn, 1)
    with pytest.warns(UserWarning, match='resnet18 failed'):
        res = compare(['basenet', 'resnet18', 'improved_basenet'], _factory(compare_xrays), seed=0, n_boot=0, out=tmp_path/'c', fit_fn=fit)
    t = read_csv_safe(res.out/'compare.csv')
    assert list(t.arch) == ['basenet', 'resnet18', 'improved_basenet'] and t.error.notna().tolist() == [False, True, False]
    assert t.test_accuracy.notna().tolist() == [True, False, True]
    assert sorted(p.name for p in res.out.iterdir()) == ['basenet.json', 'compare.csv', 'compare.json', 'compare.png',
                                                          'history.csv', 'improved_basenet.json', 'test_metrics.csv']
    assert set(json.loads((res.out/'compare.json').read_text())['failed']) == {'resnet18'}

def test_ctrl_c_leaves_no_half_written_folder(tmp_path, compare_xrays):
    from medfast.comparison import compare
    from medfast.learner import train
    def fit(learn, name, arch):
        if name == 'resnet18': raise KeyboardInterrupt
        train(learn, 1)
    with pytest.raises(KeyboardInterrupt): compare(['basenet', 'resnet18'], _factory(compare_xrays), n_boot=0, out=tmp_path/'c', fit_fn=fit)
    assert list((tmp_path/'c').iterdir()) == []
    res = compare(['basenet'], _factory(compare_xrays), n_boot=0, out=tmp_path/'c')      # the next run: a folder of its own, complete
    assert res.out != tmp_path/'c' and (res.out/'compare.csv').exists()

def test_pretrained_weights_checked_before_any_training(tmp_path, compare_xrays, monkeypatch):
    "pretrained=True without cached weights fails at once, naming every network that lacks them (no download in this test)"
    import medfast.models as mm
    from medfast.core import MissingWeightsError
    from medfast.comparison import compare
    from medfast import learner
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'hub'))
    def offline(spec): raise MissingWeightsError(f"no weights for {spec.name}")
    monkeypatch.setattr(mm, '_hub_state_dict', offline)
    calls = []
    monkeypatch.setattr(learner, 'train', lambda *a, **k: calls.append(a))
    with pytest.raises(MissingWeightsError, match=r"'resnet18', 'resnet34'.*nothing was trained"):
        compare(['basenet', 'resnet18', 'resnet34'], _factory(compare_xrays), pretrained=True, out=tmp_path/'c')
    assert calls == [] and not (tmp_path/'c').exists()

def test_compare_command_offline_pretrained(cli, compare_xrays, tmp_path):
    "`medfast compare` with ImageNet weights on an offline machine: one line with the CLI's fix, nothing trained, no folder"
    r = cli('compare', 'basenet', 'resnet18', '--data', compare_xrays, '--size', 32, '--pretrained', 'yes', '--out', tmp_path/'c',
            env={'TORCH_HOME': str(tmp_path/'hub'), 'https_proxy': 'http://127.0.0.1:9', 'HTTPS_PROXY': 'http://127.0.0.1:9'})
    assert r.returncode == 1 and "no ImageNet weights for 'resnet18'" in r.stderr and '--pretrained no' in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and 'training' not in r.stdout and not (tmp_path/'c').exists()

def test_timm_label_record_is_a_flat_file(tmp_path, compare_xrays):
    pytest.importorskip('timm')
    from medfast.comparison import compare
    res = compare(['timm/resnet10t'], _factory(compare_xrays), n_boot=0, out=tmp_path/'c')
    assert (res.out/'timm_resnet10t.json').is_file() and not (res.out/'timm').exists()

def test_compare_command_user_mistakes(cli, compare_xrays, tmp_path):
    "`medfast compare`: an arch needing bigger images is one line (no traceback) and trains nothing; --test none has no test columns"
    r = cli('compare', 'basenet', 'alexnet', '--data', compare_xrays, '--size', 32, '--pretrained', 'no', '--out', tmp_path/'a')
    assert r.returncode == 1 and "'alexnet' needs images of at least 64 px" in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1 and not (tmp_path/'a').exists()
    r = cli('compare', 'basenet', '--data', compare_xrays, '--size', 32, '--bs', 8, '--epochs', 1, '--pretrained', 'no', '--test', 'none',
            '--quiet', '--out', tmp_path/'b')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'test_accuracy' not in r.stdout and not (tmp_path/'b'/'test_metrics.csv').exists()

def test_compare_command_exits_1_when_a_network_failed(compare_xrays, tmp_path, monkeypatch, capsys):
    "`medfast compare` where one network failed (the others scored): their table is printed, the failure said on stderr, exit code 1 for scripts"
    import pandas as pd, medfast.comparison
    from medfast.cli import compare_main
    out = tmp_path/'c'; out.mkdir()
    (out/'compare.csv').write_text('x')
    table = pd.DataFrame(dict(arch=['basenet', 'resnet18'], valid_accuracy=[0.8, float('nan')], error=[None, 'RuntimeError: CUDA out of memory']))
    fake = lambda archs, dls, **kw: medfast.comparison.Comparison(table, None, pd.DataFrame(), None, None, out)
    monkeypatch.setattr(medfast.comparison, 'compare', fake)
    rc = compare_main(['basenet', 'resnet18', '--data', str(compare_xrays), '--size', '32', '--pretrained', 'no', '--quiet', '--out', str(tmp_path/'o')])
    o, e = capsys.readouterr()
    assert rc == 1 and 'basenet' in o and '1 of 2 network(s) failed: resnet18' in e, (o, e)
