"compare: every arch checked before any fit, test='auto' on held-out items, spreadsheet-safe atomic CSVs (tiny synthetic runs)"
import json, warnings
import pytest
from PIL import Image

warnings.filterwarnings('ignore')

from conftest import compare_factory as _factory

def test_bad_archs_fail_before_any_fit(compare_xrays):
    from medfast.comparison import compare
    from medfast import learner
    calls = []
    orig = learner.train
    learner.train = lambda *a, **k: calls.append(a) or orig(*a, **k)
    try:
        with pytest.raises(ValueError, match=r"2 of 3 cannot train.*'resnet19' is not a registered.*'alexnet' needs images of at least 64 px"):
            compare(['basenet', 'resnet19', 'alexnet'], _factory(compare_xrays), n_boot=0)
    finally: learner.train = orig
    assert calls == []

def test_auto_test_uses_held_out_items(tmp_path, compare_xrays):
    "pneumonia_study_dls on a folder without test/ keeps its test side in dls.test_items; 'auto' scores it"
    import shutil
    from medfast.comparison import compare
    from medfast.studies.pneumonia import pneumonia_study_dls
    from medfast.core import read_csv_safe
    shutil.copytree(compare_xrays/'train', tmp_path/'cx'/'train')
    f = lambda seed: pneumonia_study_dls(tmp_path/'cx', size=32, bs=4, seed=seed, num_workers=0)
    dls = f(0)
    assert dls.test_path is None and len(dls.test_items)
    res = compare({'=1+1': 'basenet'}, f, seed=0, n_boot=5, out=tmp_path/'cmp')
    assert 'test_accuracy' in res.table and res.test_tables is not None
    for name in ('compare.csv', 'history.csv', 'test_metrics.csv'):
        text = (res.out/name).read_text()
        assert "'=1+1" in text and not any(l.startswith('=') for l in text.splitlines()), name
    assert read_csv_safe(res.out/'compare.csv').arch[0] == '=1+1'
    rec = json.loads((res.out/'=1+1.json').read_text())
    assert rec['compare']['test'] == f"held-out test side ({len(dls.test_items)} items)"

def test_write_crops_escapes_cells_csv(tmp_path):
    from medfast.studies.crops import write_crops
    from medfast.core import read_csv_safe
    import pandas as pd
    (tmp_path/'img').mkdir(); Image.new('L', (100, 100), 60).save(tmp_path/'img'/'=cmd.png')
    clicks = pd.DataFrame(dict(image=['=cmd.png']*2, x=[50., 50.], y=[50., 50.], label=['alive']*2, user=['u1', 'u2']))
    out = write_crops(tmp_path/'img', clicks, tmp_path/'crops', size=20)
    lines = (out/'cells.csv').read_text().splitlines()
    assert lines[1].startswith("'=cmd.png") and not list(out.glob('*.tmp*'))
    assert read_csv_safe(out/'cells.csv').image[0] == '=cmd.png'

def test_compare_command(cli, compare_xrays, tmp_path):
    "`medfast compare A B --data`: one table printed, the files written, a second run in a new folder; bad names one line, nothing trained"
    import pandas as pd
    args = ('compare', 'basenet', 'resnet18', '--data', compare_xrays, '--pretrained', 'no', '--epochs', 1, '--size', 32, '--bs', 8,
            '--n-boot', 0, '--quiet', '--out', tmp_path/'c')
    r = cli(*args)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert 'test_accuracy' in r.stdout and f"Wrote {tmp_path/'c'}/" in r.stdout
    tm = pd.read_csv(tmp_path/'c'/'test_metrics.csv')
    assert set(tm.arch) == {'basenet', 'resnet18'} and set(tm.threshold_source) == {'argmax'}
    assert r.stdout.count('training...') == 2 and not any(l.startswith('epoch') for l in r.stdout.splitlines())   # --quiet
    r = cli('compare', 'basenet', 'resnet19', '--data', compare_xrays, '--out', tmp_path/'bad')
    assert r.returncode == 1 and 'resnet19' in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path/'bad').exists() and 'training' not in r.stdout
