"`medfast predict MODEL PATH...` on a folder mixing good and bad files: one row per file, errors where expected, exit 0"
import io, os
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image

from medfast.core import read_csv_safe
from medfast.inference import export
from medfast.shards import shard_path
from medfast.synthetic import synthetic_xrays
from medfast.data import folder_dls
from medfast.learner import medfast_learner

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
    assert list(t.columns) == ['file', 'label'] + [f'prob_{c}' for c in classes] + ['error', 'model']
    assert t.model.nunique() == 1 and len(t.model.iloc[0]) == 16                  # every row names the model that made it
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
    pd.testing.assert_frame_equal(safe.drop(columns=['error', 'model']), pkl.drop(columns=['error', 'model']))   # two files: two model ids

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

def test_predict_cli_name_not_utf8_resume_and_evaluate(run, cli):
    "A file name that is not UTF-8 (an old zip, a Windows share) gets its row, resumes, and is scored by evaluate"
    import os
    root, mixed, *_ = run
    odd = root/'odd'; odd.mkdir()
    good = sorted(p for p in mixed.iterdir() if p.name.startswith(('IM-', 'person')))[:2]
    for f in good: (odd/f.name).write_bytes(f.read_bytes())
    (odd/os.fsdecode(b'scan\xff.jpeg')).write_bytes(good[0].read_bytes())
    out = root/os.fsdecode(b'r\xe9sultats.csv')                # the --out path too
    r = cli('predict', root/'run', odd, '--out', out, '--quiet')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    (odd/'more.jpeg').write_bytes(good[1].read_bytes())
    r = cli('predict', root/'run', odd, '--out', out, '--quiet', '--resume')
    assert r.returncode == 0 and '3 file(s) done, 1 to go' in r.stdout, r.stdout + r.stderr[-3000:]
    assert 'Predicted 4 of 4 input(s) (3 by the run resumed)' in r.stdout          # the whole CSV, not this run's part
    from medfast.core import read_csv_safe
    t = read_csv_safe(out)
    assert len(t) == 4 and t.error.isna().all() and str(odd/os.fsdecode(b'scan\xff.jpeg')) in set(t.file)
    test = root/'odd_test'/'NORMAL'; test.mkdir(parents=True)
    for f in odd.iterdir(): (test/f.name).write_bytes(f.read_bytes())
    r = cli('evaluate', root/'run', test.parent, '--out', root/'odd_eval', '--n-boot', '0', '--top-losses', '0', '--quiet')
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert len(read_csv_safe(root/'odd_eval'/'predictions.csv')) == 4

def test_predict_cli_model_that_fails_to_load_leaves_nothing(run, cli, tmp_path):
    "A model folder without its weights: one line, no .partial.csv left to block the next run"
    root, mixed, *_ = run
    broken = tmp_path/'broken'; broken.mkdir()
    (broken/'model.json').write_bytes((root/'run'/'model.json').read_bytes())
    out = tmp_path/'o.csv'
    r = cli('predict', broken, mixed, '--out', out)
    assert r.returncode == 1 and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['broken']
    r = cli('predict', root/'run', mixed, '--out', out, '--quiet')
    assert r.returncode == 0 and out.exists(), r.stderr[-3000:]
    other = tmp_path/'other.csv'; other.write_text('file,label,prob_a,prob_b,prob_c,error\nx.png,a,1,0,0,\n')
    r = cli('predict', root/'run', mixed, '--out', other, '--resume')      # another model's CSV: refused, nothing copied
    assert r.returncode == 1 and 'another model' in r.stderr and not (tmp_path/'other.partial.csv').exists()

def other_threshold_model(root, dest):
    "The run's network saved again at another decision threshold: another model, as far as its predictions go"
    import json
    from medfast.inference import spec_sha256
    spec = json.loads((root/'run'/'model.json').read_text()); spec['threshold'] = 0.3; spec['spec_sha256'] = spec_sha256(spec)
    dest.mkdir(); (dest/'model.json').write_text(json.dumps(spec))
    (dest/'model.pth').write_bytes((root/'run'/'model.pth').read_bytes())
    return dest

def test_predict_cli_resume_refuses_another_model(run, cli, tmp_path):
    "--resume onto a CSV another model (here: the same network at another threshold) wrote: refused, the CSV untouched"
    root, mixed, *_ = run
    other = other_threshold_model(root, tmp_path/'other')
    out = tmp_path/'p.csv'
    r = cli('predict', root/'run', mixed, '--out', out, '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    before = out.read_bytes()
    r = cli('predict', other, mixed, root/'empty_dir', '--out', out, '--resume')
    assert r.returncode == 1 and 'another model' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert out.read_bytes() == before and not (tmp_path/'p.partial.csv').exists()
    r = cli('predict', root/'run', mixed, root/'empty_dir', '--out', out, '--resume', '--quiet')   # the same model: resumed
    assert 'Resuming' in r.stdout and len(pd.read_csv(out)) == len(pd.read_csv(io.StringIO(before.decode()))) + 1, r.stderr[-3000:]

def test_predict_cli_resume_leaves_a_user_table_untouched(run, cli, tmp_path):
    "--resume onto a CSV of one's own (a label table whose last row has no line break): refused, not one byte changed"
    root, mixed, *_ = run
    table = tmp_path/'labels.csv'; table.write_bytes(b'file,label,patient\nimgs/a.png,NORMAL,p1\nimgs/b.png,PNEUMONIA,p2')
    before = table.read_bytes()
    r = cli('predict', root/'run', mixed, '--out', table, '--resume')
    assert r.returncode == 1 and 'is not a predictions CSV of medfast (its columns: file, label, patient)' in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and table.read_bytes() == before and not (tmp_path/'labels.partial.csv').exists()

def test_predict_cli_resume_from_another_folder_repeats_nothing(run, cli, tmp_path):
    "A run begun with relative names, resumed from another folder with absolute ones: each image predicted once"
    import shutil
    root, mixed, *_ = run
    goods = sorted(p for p in mixed.iterdir() if p.suffix == '.jpeg' and p.name.startswith(('IM-', 'person')))
    imgs = tmp_path/'imgs'; imgs.mkdir()
    for f in goods[:2]: shutil.copy(f, imgs/f.name)
    assert cli('predict', root/'run', 'imgs', '--out', 'p.csv', '--quiet', cwd=tmp_path).returncode == 0
    for f in goods[2:]: shutil.copy(f, imgs/f.name)
    r = cli('predict', root/'run', imgs, '--out', tmp_path/'p.csv', '--resume', '--quiet', cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    t = pd.read_csv(tmp_path/'p.csv')
    assert len(t) == len(goods) and t.file.map(lambda f: Path(f).name).is_unique, t.file.tolist()

def test_predict_cli_moved_csv_knows_its_model(run, cli, tmp_path):
    "A CSV moved (or copied to another machine) still names its model in every row: resuming it with another model is refused"
    import shutil
    root, mixed, *_ = run
    other = other_threshold_model(root, tmp_path/'other')
    assert cli('predict', root/'run', mixed, '--out', tmp_path/'p.csv', '--quiet').returncode == 0
    shutil.move(tmp_path/'p.csv', tmp_path/'moved.csv'); before = (tmp_path/'moved.csv').read_bytes()
    r = cli('predict', other, mixed, root/'empty_dir', '--out', tmp_path/'moved.csv', '--resume', env={'MEDFAST_HOME': str(tmp_path/'elsewhere')})
    assert r.returncode == 1 and 'another model' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert (tmp_path/'moved.csv').read_bytes() == before

def test_predict_cli_resume_after_kill_inside_the_model_column(run, cli, tmp_path):
    "A run killed while writing a row's model id resumes (the half id is not another model); an older medfast's CSV is named as such"
    root, mixed, *_ = run
    first = sorted(str(p) for p in mixed.glob('*.jpeg') if p.stat().st_size > 1000)[0]
    head = 'file,label,prob_NORMAL,prob_PNEUMONIA,error'
    (tmp_path/'k.csv').write_text(f'{head},model\n{first},NORMAL,0.6,0.4,,\n{first[:-3]}x,NORMAL,0.6,0.4,,abcd')
    r = cli('predict', root/'run', mixed, '--out', tmp_path/'k.csv', '--resume', '--quiet')
    assert r.returncode == 0 and 'Resuming' in r.stdout and '1 file(s) done' in r.stdout, r.stderr[-3000:]
    (tmp_path/'old.csv').write_text(f'{head}\n{first},NORMAL,0.6,0.4,\n')
    r = cli('predict', root/'run', mixed, '--out', tmp_path/'old.csv', '--resume')
    assert r.returncode == 1 and 'written by an older medfast' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]

def test_predict_cli_fifo_gets_an_error_row(run, cli, tmp_path):
    import os
    root, mixed, *_ = run
    d = tmp_path/'with_pipe'; d.mkdir(); os.mkfifo(d/'pipe.jpeg')
    good = next(p for p in mixed.iterdir() if p.name.startswith(('IM-', 'person'))); (d/good.name).write_bytes(good.read_bytes())
    r = cli('predict', root/'run', d, '--out', tmp_path/'p.csv', '--quiet', timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    t = pd.read_csv(tmp_path/'p.csv')
    assert 'not a regular file' in t.set_index(t.file.map(lambda f: Path(f).name)).error['pipe.jpeg']

@pytest.mark.parametrize('args, says', [
    (['predict', '--merge', '--out', 'x.csv', '--shards', '99999999999999999999'], '--shards must be a whole number from 1 to 10000'),
    (['predict', 'MODEL', 'IMAGES', '--shard', '2/99999999999999999999'], 'at most 10000 shards'),
    (['evaluate', 'MODEL', 'IMAGES', '--n-boot', '100000000'], 'from 100 to 100000'),
    (['train', '--n-synthetic', '40', '--budget', 'inf'], 'positive, finite number of minutes'),
    (['train', '--n-synthetic', '40', '--ensemble', '17'], '--ensemble must be a whole number of models from 1 to 16'),   # else a model no load() reads
    (['train', '--n-synthetic', '40', '--cache', 'CSV'], 'is a file; name a folder'),
    (['predict', 'MODEL', 'IMAGES', '--out', 'y'*300 + '.csv'], 'too long for this system'),        # names over the system's limit
    (['evaluate', 'MODEL', 'x'*300], 'too long for this system'),
    (['predict', '', 'IMAGES'], 'model must be a path'), (['evaluate', 'MODEL', ''], 'must be a path')])   # an unset variable
def test_cli_out_of_range_numbers_one_line(run, cli, tmp_path, args, says):
    "Numbers a slip of the keyboard makes huge, refused in one line before any work (no memory exhausted, no traceback)"
    root, mixed, *_ = run
    (tmp_path/'c.csv').write_text('x\n')
    subs = {'MODEL': root/'run', 'IMAGES': mixed, 'CSV': tmp_path/'c.csv'}
    r = cli(*[subs.get(a, a) for a in args], '--out', tmp_path/'o', cwd=tmp_path) if args[0] == 'train' else \
        cli(*[subs.get(a, a) for a in args], cwd=tmp_path)
    assert r.returncode == 1 and 'Traceback' not in r.stderr and says in r.stderr, r.stderr[-3000:]
    assert len(r.stderr.strip().splitlines()) == 1

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
    r = cli('export', root/'run', '--onnx', '--out', f"{exp/'v3'}/")      # a new folder named with its slash: the model inside it
    assert r.returncode == 0 and (exp/'v3'/'model.onnx.json').is_file() and not (exp/'v3.onnx').exists(), r.stderr[-3000:]

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

def test_predict_cli_bf16_warns_where_emulated(run, cli):
    "`--bf16` on a CPU without native bfloat16: one warning line saying it is slower there; none where the CPU has it"
    from medfast.core import cpu_has_fast_bf16
    root, mixed, good_names, expected_errors = run
    r = cli('predict', root/'run', *sorted(mixed.glob('*.jpeg'))[:2], '--out', root/'bf16.csv', '--quiet', '--bf16', '--cpu')
    assert r.returncode == 0, r.stderr[-3000:]
    warned = [l for l in (r.stdout + r.stderr).splitlines() if 'no native bfloat16' in l]
    assert len(warned) == (cpu_has_fast_bf16() is False) and 'Traceback' not in r.stderr
    if warned: assert warned[0].startswith('medfast predict: warning:')

NO_ACCELERATE = '''
import io, json, sys, contextlib
assert sys.modules['accelerate'] is None                  # set by sitecustomize: as in a base install
import medfast.shards
light = sorted(m for m in ('torch', 'fastai') if m in sys.modules)
from medfast.cli import main
root, mixed, out = sys.argv[1:4]
res = []
for argv in (['predict', root + '/run', mixed, '--out', out, '--shard', '0/2', '--quiet'],
             ['predict', root + '/run', mixed, '--out', out, '--shard', '1/2', '--quiet'],
             ['predict', '--merge', '--out', out],
             ['predict', root + '/run', mixed, '--out', sys.argv[4], '--resume', '--quiet']):
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se): rc = main(argv)
    res.append([rc, so.getvalue(), se.getvalue()])
print(json.dumps(dict(light=light, res=res, distributed='medfast.distributed' in sys.modules)))
'''

def test_predict_cli_shard_merge_resume_without_accelerate(run, tmp_path):
    "A base install has no Hugging Face accelerate: --shard, --merge and --resume work all the same (they need no process group)"
    import json, os, subprocess, sys
    root, mixed, *_ = run
    (tmp_path/'site').mkdir()
    (tmp_path/'site'/'sitecustomize.py').write_text("import sys; sys.modules['accelerate'] = None    # 'import accelerate' fails\n")
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(p for p in (str(tmp_path/'site'), os.environ.get('PYTHONPATH')) if p),
           'PYTHONWARNINGS': 'ignore'}
    # what a killed run leaves: the first file's row, then half of a second line
    header = 'file,label,prob_NORMAL,prob_PNEUMONIA,error,model\n'
    first = sorted(str(p) for p in mixed.glob('*.jpeg') if p.stat().st_size > 1000)[0]
    (tmp_path/'killed.csv').write_text(header + f'{first},NORMAL,0.6,0.4,,\n{first[:-5]}')
    r = subprocess.run([sys.executable, '-c', NO_ACCELERATE, root, mixed, tmp_path/'s.csv', tmp_path/'killed.csv'],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.splitlines()[-1])
    assert out['light'] == [] and not out['distributed']     # medfast.shards needs neither torch nor accelerate
    for rc, so, se in out['res']: assert rc == 0 and 'Traceback' not in se, se[-2000:]
    shards = [pd.read_csv(tmp_path/f's.shard-{i}-of-2.csv') for i in (0, 1)]
    merged = pd.read_csv(tmp_path/'s.csv')
    assert list(merged.file) == list(shards[0].file) + list(shards[1].file) and len(shards[0]) and len(shards[1])
    assert 'Resuming' in out['res'][3][1] and '1 file(s) done' in out['res'][3][1]
    resumed = pd.read_csv(tmp_path/'killed.csv')
    assert list(resumed.file) == list(merged.file) and resumed.prob_NORMAL[0] == 0.6      # the row already there was kept

def test_predict_cli_merge_refuses_two_models(run, cli):
    "Shards written by two different models are not joined: their columns match, their labels would not"
    root, mixed, *_ = run
    out = root/'two'/'two.csv'; out.parent.mkdir()
    r = cli('predict', root/'run', mixed, '--out', out, '--shard', '0/2', '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    r = cli('predict', root/'run_pkl'/'model.pkl', mixed, '--out', out, '--shard', '1/2', '--quiet', '--trust-pickle')
    assert r.returncode == 0, r.stderr[-3000:]
    r = cli('predict', '--merge', '--out', out)
    assert r.returncode == 1 and 'Traceback' not in r.stderr and 'different models' in r.stderr, r.stderr[-3000:]
    assert not out.exists()


# --------------------------------------------------------------------- shards: killed runs, re-saved shards, changed lists
@pytest.fixture(scope='module')
def awkward(run):
    "Copies of one film under names with a comma, a quote, a newline, '=' and a byte that is not UTF-8"
    root = run[0]; imgs = root/'awkward'; imgs.mkdir()
    good = sorted((root/'xr'/'test').rglob('*.jpeg'))[0].read_bytes()
    for n in ('a,b.png', 'q"uote.png', 'new\nline.png', 'plain.png', '=cmd.png', os.fsdecode(b'bad\xff.png')):
        (imgs/n).write_bytes(good)
    return root, imgs

def _files(csv): return sorted(read_csv_safe(csv, dtype=str, keep_default_na=False).file)

def _ok(r): assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stdout + r.stderr[-3000:]

def test_resume_after_kill_inside_quoted_newline(awkward, cli):
    "A shard killed while writing the row of a name holding a newline resumes (no pandas traceback) and merges every file once"
    root, imgs = awkward
    out = root/'k'/'p.csv'
    for i in (0, 1): _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', f'{i}/2', '--quiet'))
    done = sorted(str(p) for p in imgs.iterdir())
    i = next(i for i in (0, 1) if b'new\n' in shard_path(out, i, 2).read_bytes())
    b = shard_path(out, i, 2).read_bytes()
    shard_path(out, i, 2, partial=True).write_bytes(b[:b.index(b'new\n') + 4])      # the kill, inside the quoted name
    shard_path(out, i, 2).unlink()
    _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', f'{i}/2', '--resume', '--quiet'))
    _ok(cli('predict', '--merge', '--out', out))
    assert _files(out) == done

def test_merge_resaved_shard_and_changed_list(awkward, cli):
    "A shard re-saved with a BOM, CRLF and no final newline merges row by row; shards cut from different lists are refused"
    root, imgs = awkward
    out = root/'m'/'p.csv'
    for i in (0, 1): _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', f'{i}/2', '--quiet'))
    s0 = shard_path(out, 0, 2)
    s0.write_bytes(b'\xef\xbb\xbf' + s0.read_bytes().replace(b'\n', b'\r\n').rstrip(b'\r\n'))    # as a Windows tool saves it
    _ok(cli('predict', '--merge', '--out', out))
    assert _files(out) == sorted(str(p) for p in imgs.iterdir())
    for n in ('zz1.png', 'zz2.png'): (imgs/n).write_bytes((imgs/'plain.png').read_bytes())   # the folder grew: shard 0 now ends later
    try:
        _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', '0/2', '--quiet', '--overwrite'))
        r = cli('predict', '--merge', '--out', out, '--overwrite')
    finally:
        for n in ('zz1.png', 'zz2.png'): (imgs/n).unlink()
    assert r.returncode != 0 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert 'different file lists' in r.stderr.strip().splitlines()[-1]

def test_merge_refuses_shards_of_another_list_without_repeats(awkward, cli):
    "A file added between the shard runs repeats nothing (it is silently skipped): the lists' digests differ, refused; so is resuming"
    root, imgs = awkward
    out = root/'d'/'p.csv'
    _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', '0/2', '--quiet'))
    extra = imgs/'aaa.png'; extra.write_bytes((imgs/'plain.png').read_bytes())    # in shard 0's part of the longer list
    try:
        _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', '1/2', '--quiet'))
        assert not set(_files(shard_path(out, 0, 2))) & set(_files(shard_path(out, 1, 2)))   # no file in both: only the digest tells
        r = cli('predict', '--merge', '--out', out)
        assert r.returncode == 1 and 'Traceback' not in r.stderr and 'different file lists' in r.stderr, r.stderr[-3000:]
        assert not out.exists()
    finally: extra.unlink()
    shard_path(out, 1, 2).rename(shard_path(out, 1, 2, partial=True))            # as if killed: resumed from the list without it
    r = cli('predict', root/'run', imgs, '--out', out, '--shard', '1/2', '--resume', '--quiet')
    assert r.returncode == 1 and 'another file list' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]

def test_predict_cli_all_missing_names_the_first_error(run, cli, tmp_path):
    "Nothing could be predicted: exit code 1, and the console line says why (the first error row's reason), not only 'see the error column'"
    root, *_ = run
    r = cli('predict', root/'run', tmp_path/'nothere', '--out', tmp_path/'p.csv', '--quiet')
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert f"1 error(s) (see the error column), e.g. not found: {tmp_path/'nothere'}" in r.stdout, r.stdout
