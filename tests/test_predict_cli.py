"`medfast predict MODEL PATH...` on a folder mixing good and bad files: one row per file, errors where expected, exit 0"
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image

from medfast.synthetic import synthetic_xrays

from medfast.data import folder_dls
from medfast.learner import medfast_learner
from medfast.inference import export

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A tiny trained model exported in the safe format, and a folder of good and bad files"
    root = tmp_path_factory.mktemp('cli')
    data = synthetic_xrays(root/'xr', n=16, size=48, seed=0)
    learn = medfast_learner(folder_dls(data/'train', size=32, bs=8, seed=0, num_workers=0), 'resnet18', pretrained=False)
    learn.fit(1, 1e-3)
    export(learn, root/'run'/'model')
    export(learn, root/'run_pkl'/'model', format='pickle')
    mixed = root/'mixed'; (mixed/'sub').mkdir(parents=True)
    good = sorted((data/'test').rglob('*.jpeg'))[:3]
    for f in good: (mixed/f.name).write_bytes(f.read_bytes())
    Image.open(good[0]).convert('CMYK').save(mixed/'sub'/'cmyk.jpeg')          # found by recursion
    arr = (np.asarray(Image.open(good[1]).convert('L')).astype(np.uint16) * 16)
    Image.fromarray(arr).save(mixed/'sub'/'sixteen.png')
    (mixed/'zero.jpeg').write_bytes(b'')
    (mixed/'truncated.jpeg').write_bytes(good[0].read_bytes()[:300])
    (mixed/'text.jpeg').write_text('not an image')
    (mixed/'notes.txt').write_text('ignored: not an image extension')
    (root/'empty_dir').mkdir()
    expected_errors = {'zero.jpeg': '0 bytes', 'truncated.jpeg': 'truncated', 'text.jpeg': 'not an image',
                       'empty_dir': 'No image files', 'missing.png': 'not found'}
    good_names = {f.name for f in good} | {'cmyk.jpeg', 'sixteen.png'}
    return root, mixed, good_names, expected_errors

def check_csv(csv, good_names, expected_errors, classes=('NORMAL', 'PNEUMONIA')):
    t = pd.read_csv(csv)
    assert list(t.columns) == ['file', 'label'] + [f'prob_{c}' for c in classes] + ['error']
    names = t.file.map(lambda f: Path(f).name)
    assert sorted(names) == sorted(good_names | set(expected_errors))          # one row per file, no extras
    ok = t.error.isna()
    assert set(names[ok]) == good_names
    assert t.loc[ok, 'label'].isin(classes).all()
    np.testing.assert_allclose(t.loc[ok, [f'prob_{c}' for c in classes]].sum(axis=1), 1, rtol=1e-5)
    errs = dict(zip(names[~ok], t.error[~ok]))
    for name, fragment in expected_errors.items(): assert fragment in errs[name], (name, errs[name])
    assert t.loc[~ok, 'label'].isna().all()
    return t

def test_predict_cli_mixed_folder(run, cli):
    root, mixed, good_names, expected_errors = run
    out = root/'preds.csv'
    r = cli('predict', root/'run', mixed, root/'empty_dir', root/'missing.png', '--out', out, '--bs', '3')
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{len(expected_errors)} error(s)" in r.stdout and str(out) in r.stdout
    safe = check_csv(out, good_names, expected_errors)
    # the pickle format gives the same table
    r = cli('predict', root/'run_pkl'/'model.pkl', mixed, root/'empty_dir', root/'missing.png', '--out', root/'p.csv', '--quiet', '--trust-pickle')
    assert r.returncode == 0, r.stderr[-3000:]
    pkl = check_csv(root/'p.csv', good_names, expected_errors)
    pd.testing.assert_frame_equal(safe.drop(columns='error'), pkl.drop(columns='error'))

def test_predict_cli_never_overwrites(run, cli):
    root, mixed, *_ = run
    out = root/'again.csv'; out.write_text('precious results\n')
    r = cli('predict', root/'run'/'model.json', mixed, '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    assert out.read_text() == 'precious results\n'
    assert (root/'again-2.csv').exists() and 'again-2.csv' in r.stdout
    r = cli('predict', root/'run'/'model.json', mixed, '--out', out, '--quiet', '--overwrite')
    assert r.returncode == 0 and out.read_text().startswith('file,label')

def test_predict_cli_bad_model(run, cli):
    root, mixed, *_ = run
    r = cli('predict', root/'no_model_here', mixed, '--out', root/'x.csv')
    assert r.returncode != 0 and 'no_model_here' in r.stderr and 'Traceback' not in r.stderr
    assert not (root/'x.csv').exists()

def test_predict_cli_overlapping_paths(run, cli):
    "A folder and its sub-folder (and a file in it) given together: each file gets one row, where first found"
    root, mixed, good_names, expected_errors = run
    out = root/'overlap.csv'
    r = cli('predict', root/'run', mixed, mixed/'sub', mixed/'sub'/'cmyk.jpeg', '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    t = pd.read_csv(out)
    assert t.file.is_unique and len(t) == len(good_names) + 3               # zero, truncated, text: no missing/empty_dir here

def test_predict_cli_bad_shard(run, cli):
    root, mixed, *_ = run
    for bad in ('3/2', 'abc', '0/0'):
        r = cli('predict', root/'run', mixed, '--out', root/'bad_shard.csv', '--shard', bad)
        assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-3000:]
        assert len(r.stderr.strip().splitlines()) == 1 and '--shard' in r.stderr and '0 <= I < N' in r.stderr
    assert not list(root.glob('bad_shard*'))

def test_predict_cli_merge_says_what_is_missing(run, cli):
    root, mixed, *_ = run
    out = root/'sh'/'sh.csv'; out.parent.mkdir()
    r = cli('predict', root/'run', mixed, '--out', out, '--shard', '0/2', '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    r = cli('predict', '--merge', '--out', out)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert 'never started: 1/2' in r.stderr and 'partial' not in r.stderr          # shard 1 left no file to name
    r = cli('predict', '--merge', '--out', root/'sh'/'nothing.csv')
    assert r.returncode == 1 and 'Traceback' not in r.stderr and '--shards N' in r.stderr

def test_export_onnx_keeps_dots_in_the_name(run, cli):
    "`--out exp/cells.v1` writes exp/cells.v1.onnx; a second version never replaces the first"
    pytest.importorskip('onnx')
    root, *_ = run
    exp = root/'exp'
    r = cli('export', root/'run', '--onnx', '--out', exp/'cells.v1')
    assert r.returncode == 0, r.stderr[-3000:]
    v1 = (exp/'cells.v1.onnx').read_bytes()
    r = cli('export', root/'run', '--onnx', '--out', exp/'cells.v2', '--overwrite')
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in exp.iterdir()) == ['cells.v1.onnx', 'cells.v1.onnx.json', 'cells.v2.onnx', 'cells.v2.onnx.json']
    assert (exp/'cells.v1.onnx').read_bytes() == v1

def test_export_int8_prints_its_check(run, cli):
    "`--int8 IMAGES` writes an int8 network and says how far its answers moved; too few images: one line, nothing written"
    pytest.importorskip('onnxruntime')
    root, mixed, *_ = run
    exp = root/'exp8'
    r = cli('export', root/'run', '--onnx', '--int8', root/'xr', '--calibration', '8', '--out', exp/'fast')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'int8: scaled on 8 images; on 8 others its probabilities moved by at most' in r.stdout, r.stdout
    r = cli('predict', exp/'fast.onnx.json', mixed, '--out', exp/'p.csv', '--quiet')
    assert r.returncode == 0 and 'Predicted 5 of' in r.stdout, r.stderr[-3000:]
    r = cli('export', root/'run', '--onnx', '--int8', mixed, '--out', exp/'few')
    assert r.returncode == 1 and 'at least 16' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not list(exp.glob('few*'))

def test_export_int8_without_onnxruntime_says_how_to_install(run):
    "onnx installed but onnxruntime missing: one line naming the extra to install, no traceback, nothing written"
    pytest.importorskip('onnx')
    import subprocess, sys
    root, *_ = run
    args = ['export', str(root/'run'), '--onnx', '--int8', str(root/'xr'), '--out', str(root/'noort'/'m')]
    code = f"import sys; sys.modules['onnxruntime'] = None\nfrom medfast.cli import main\nsys.exit(main({args!r}))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'pip install "medfast[onnx]"' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert not list(root.glob('noort/*'))
