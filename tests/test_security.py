"Security and data safety: no code runs from a model file, no run loses another's results, no silent wrong answer"
import json, os, pickle, signal, subprocess, sys, threading
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from PIL import Image

from medfast.core import (MedfastError, DataLayoutError, ModelMismatchError, UnsafeFileError, claim_folder,
                          release_folders, read_csv_safe)
from medfast.synthetic import synthetic_xrays, synthetic_xray
from medfast.data import folder_dls, class_folder_items
from medfast.images import open_image, image_files
from medfast.inference import export, load, predict, spec_sha256
from medfast.learner import medfast_learner
from medfast.cli import main

@pytest.fixture(autouse=True)
def no_hang():
    "Fail (instead of hanging the suite) if a test takes over 120 s"
    def boom(*_): raise TimeoutError("security test hung")
    old = signal.signal(signal.SIGALRM, boom); signal.alarm(120)
    try: yield
    finally: signal.alarm(0); signal.signal(signal.SIGALRM, old)

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    "Two tiny different learners, a safe export of the first, and a small labelled test folder"
    root = tmp_path_factory.mktemp('sec')
    data = synthetic_xrays(root/'xr', n=20, size=40, seed=0)
    dls = folder_dls(data/'train', size=32, bs=8, seed=0, num_workers=0)
    learns = []
    for seed in (0, 1):
        learn = medfast_learner(dls, 'basenet', pretrained=False, seed=seed, fast_cpu=False)
        learn.fit(1, 1e-3); learns.append(learn)
    js = export(learns[0], root/'run'/'model')
    return root, data, learns, js

def run_cli(*args, env=None):
    exe = [sys.executable, '-c', 'import sys; from medfast.cli import main; sys.exit(main())']
    return subprocess.run(exe + [str(a) for a in args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})})

def one_line_error(capsys, code, *fragments):
    err = capsys.readouterr().err.strip()
    assert code in (1, 2), err
    assert 'Traceback' not in err and len(err.splitlines()) == 1, err
    for f in fragments: assert f in err, (f, err)
    return err

# --------------------------------------------------------------------- 1. pickles

class Payload:
    "Unpickling this creates the marker file: proof that code ran"
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (open, (self.marker, 'w'))

def test_pickle_payload_never_runs(env, capsys):
    root, data, learns, js = env
    marker = root/'PWNED'
    (root/'evil').mkdir(exist_ok=True)
    pkl = root/'evil'/'model.pkl'; pkl.write_bytes(pickle.dumps(Payload(str(marker))))
    img = sorted((data/'test').rglob('*.jpeg'))[0]
    with pytest.raises(UnsafeFileError, match='trust_pickle=True'): load(pkl)
    with pytest.raises(UnsafeFileError): load(root/'evil')                      # a folder holding one
    with pytest.raises(UnsafeFileError): predict(pkl, img)
    r = run_cli('predict', pkl, img, '--out', root/'evil.csv')
    assert r.returncode == 1 and '--trust-pickle' in r.stderr and "format='safe'" in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and not (root/'evil.csv').exists()
    one_line_error(capsys, main(['evaluate', str(pkl), str(data/'test'), '--out', str(root/'evil_eval')]), 'pickle')
    assert not marker.exists() and not (root/'evil_eval').exists()

def test_trusted_pickle_warns_and_converts(env, tmp_path):
    root, data, learns, js = env
    pkl = export(learns[0], tmp_path/'m', format='pickle')
    with pytest.warns(UserWarning, match='runs any code'): learn = load(pkl, trust_pickle=True)
    safe = load(export(learn, tmp_path/'converted', format='safe'))
    assert list(safe.dls.vocab) == list(learns[0].dls.vocab)

# --------------------------------------------------------------------- 2. safe model.json contained

def resign(js, out, **changes):
    spec = {**json.loads(Path(js).read_text()), **changes}
    spec['spec_sha256'] = spec_sha256(spec)
    out.mkdir(exist_ok=True); (out/'model.json').write_text(json.dumps(spec))
    if not (out/'model.pth').exists(): (out/'model.pth').write_bytes(Path(js).with_suffix('.pth').read_bytes())
    return out/'model.json'

def test_weights_outside_folder_refused(env, tmp_path):
    root, data, learns, js = env
    for w in ['/etc/passwd', '../run/model.pth', str(js.with_suffix('.pth'))]:
        with pytest.raises(UnsafeFileError, match="file name in the model's folder"): load(resign(js, tmp_path/'a', weights=w))
    os.symlink('/etc/passwd', tmp_path/'a'/'link.pth')                          # a link out of the folder: read, checked, refused
    with pytest.raises(ModelMismatchError, match='SHA-256 differs'): load(resign(js, tmp_path/'a', weights='link.pth'))
    os.remove(tmp_path/'a'/'link.pth'); os.symlink(js.with_suffix('.pth'), tmp_path/'a'/'link.pth')   # a link to the model's own weights (a Hugging Face cache)
    assert load(resign(js, tmp_path/'a', weights='link.pth')).dls.vocab == json.loads(js.read_text())['classes']

def test_devices_and_fifos_never_block(env, tmp_path):
    root, data, learns, js = env
    os.mkfifo(tmp_path/'fifo.pth')
    with pytest.raises(UnsafeFileError, match='not a regular file'): load(resign(js, tmp_path, weights='fifo.pth'))
    os.symlink('/dev/zero', tmp_path/'zero.pth')
    with pytest.raises(UnsafeFileError): load(resign(js, tmp_path, weights='zero.pth'))

def test_no_download_no_second_file(env, tmp_path):
    root, data, learns, js = env
    for kw in [{'weights': 'DEFAULT'}, {'weights_path': '/etc/passwd'}, {'pretrained': True}]:
        with pytest.raises(ModelMismatchError, match='is not allowed'): load(resign(js, tmp_path/'c', model_kwargs=kw))
    with pytest.raises(ModelMismatchError, match='1 to 4096'):
        spec = json.loads(js.read_text())
        load(resign(js, tmp_path/'c', image={**spec['image'], 'resize': {**spec['image']['resize'], 'size': [60000, 60000]}}))
    with pytest.raises(ModelMismatchError, match='must be positive'):
        load(resign(js, tmp_path/'c', normalize={'mean': [0.5]*3, 'std': [0, 1, 1]}))

def test_hand_edited_fields_refused_at_load(env, tmp_path):
    "A re-signed model.json whose threshold, channels or normalisation cannot work is refused at load, not at predict"
    root, data, learns, js = env
    spec = json.loads(js.read_text())
    for t in ['0.5', [0.5], -1, 5, float('nan')]:
        with pytest.raises(ModelMismatchError, match='threshold must be a probability'): load(resign(js, tmp_path/'t', threshold=t))
    assert load(resign(js, tmp_path/'t', threshold=0.4)).medfast_threshold == 0.4
    n_in = spec['n_in']; other = {**spec['image'], 'mode': 'L' if n_in == 3 else 'RGB', 'grey_to_rgb': False}
    with pytest.raises(ModelMismatchError, match=f'network takes n_in={n_in}'): load(resign(js, tmp_path/'m', image=other))
    with pytest.raises(ModelMismatchError, match='2 means'):
        load(resign(js, tmp_path/'n', normalize={'mean': [0.5]*2, 'std': [0.2]*2}))

def test_weights_file_that_is_a_folder(env, tmp_path):
    root, data, learns, js = env
    d = tmp_path/'d'; d.mkdir(); (d/'model.json').write_text(js.read_text()); (d/'model.pth').mkdir()
    with pytest.raises(UnsafeFileError, match=r'model.pth is not a regular file'): load(d)

def test_swapped_classes_detected(env, tmp_path):
    root, data, learns, js = env
    spec = json.loads(js.read_text()); (tmp_path/'d').mkdir()
    (tmp_path/'d'/'model.json').write_text(json.dumps({**spec, 'classes': spec['classes'][::-1]}))
    (tmp_path/'d'/'model.pth').write_bytes(js.with_suffix('.pth').read_bytes())
    with pytest.raises(ModelMismatchError, match='changed after export'): load(tmp_path/'d')

def test_old_format_loads_with_note(env, tmp_path):
    root, data, learns, js = env
    spec = json.loads(js.read_text()); spec.pop('spec_sha256'); spec['format_version'] = 1
    (tmp_path/'e').mkdir(); (tmp_path/'e'/'model.json').write_text(json.dumps(spec))
    (tmp_path/'e'/'model.pth').write_bytes(js.with_suffix('.pth').read_bytes())
    with pytest.warns(UserWarning, match='older medfast'): learn = load(tmp_path/'e')
    assert list(learn.dls.vocab) == spec['classes']

# --------------------------------------------------------------------- 3. CSV injection

def test_csv_injection_neutralised(env, tmp_path, capsys):
    root, data, learns, js = env
    src = sorted((data/'test').rglob('*.jpeg'))[0]
    imgs = tmp_path/'imgs'; imgs.mkdir()
    names = ['=HYPERLINK("evil")x.jpeg', '+1.jpeg', '-2.jpeg', '@SUM(A1).jpeg', 'ok.jpeg']
    for n in names: (imgs/n).write_bytes(src.read_bytes())
    assert main(['predict', str(js), str(imgs), '--out', str(tmp_path/'p.csv'), '--quiet']) == 0
    raw = (tmp_path/'p.csv').read_text().splitlines()[1:]
    assert not any(l.lstrip('"').startswith(('=', '+', '-', '@')) for l in raw)
    cells = [l.split(',')[0].strip('"') for l in raw]
    assert all(c.startswith("'") for c in cells if Path(c).name != 'ok.jpeg' and not c.startswith('/'))
    assert sorted(Path(f).name for f in read_csv_safe(tmp_path/'p.csv').file) == sorted(names)   # real names recoverable
    # metrics / predictions CSVs of evaluate, with a formula-like class name
    test = tmp_path/'test'
    for c, d in zip(['NORMAL', 'PNEUMONIA'], ['NORMAL', 'PNEUMONIA']):
        (test/d).mkdir(parents=True); [(test/d/f.name).write_bytes(f.read_bytes()) for f in sorted((data/'test'/c).iterdir())[:3]]
    (test/'NORMAL'/'=cmd|calc.jpeg').write_bytes(src.read_bytes())
    assert main(['evaluate', str(js), str(test), '--out', str(tmp_path/'ev'), '--n-boot', '0', '--top-losses', '0']) == 0
    files = read_csv_safe(tmp_path/'ev'/'predictions.csv').file
    assert any(Path(f).name == '=cmd|calc.jpeg' for f in files)
    from medfast.core import csv_escape, write_csv
    df = pd.DataFrame({'class': ['=1+1', '@x'], 'value': [0.5, -1.0]})                # a metrics table
    raw = write_csv(df, tmp_path/'m.csv').read_text()
    assert "'=1+1" in raw and "'@x" in raw and '-1.0' in raw

# --------------------------------------------------------------------- 4-6. data loss

def test_claim_folder_exclusive(tmp_path):
    got = []
    def claim(): got.append(claim_folder(tmp_path/'R'))
    ts = [threading.Thread(target=claim) for _ in range(6)]
    [t.start() for t in ts]; [t.join() for t in ts]
    assert len(set(got)) == 6                                                   # nobody shares a folder
    release_folders()
    assert not any(tmp_path.iterdir())                                          # empty claims leave no trace

def test_concurrent_exports_never_mix(env, tmp_path):
    root, data, learns, js = env
    target = tmp_path/'shared'/'model'
    states = [{k: v.clone() for k, v in l.model.state_dict().items()} for l in learns]
    for _ in range(5):
        barrier = threading.Barrier(2)
        def go(l): barrier.wait(); export(l, target, overwrite=True)
        ts = [threading.Thread(target=go, args=(l,)) for l in learns]
        [t.start() for t in ts]; [t.join() for t in ts]
        got = load(target).model.state_dict()                                  # intact: the checksums agree
        assert any(all(torch.equal(got[k], s[k]) for k in s) for s in states)   # ...and it is one model, whole
    assert sorted(p.name for p in (tmp_path/'shared').iterdir()) == ['model.json', 'model.pth']

def test_concurrent_trains_two_results(tmp_path):
    home = tmp_path/'home'
    args = ['train', '--epochs', '1', '--size', '32', '--arch', 'basenet', '--n-synthetic', '20', '--out', tmp_path/'R']
    exe = [sys.executable, '-c', 'import sys; from medfast.cli import main; sys.exit(main())']
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MEDFAST_HOME': str(home)}
    ps = [subprocess.Popen(exe + [str(a) for a in args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for _ in range(2)]
    outs = [p.communicate(timeout=110) for p in ps]
    assert all(p.returncode == 0 for p in ps), [o[1][-2000:] for o in outs]
    runs = sorted(tmp_path.glob('R*'))
    assert [r.name for r in runs] == ['R', 'R-2']
    for r in runs:
        load(r); assert len(pd.read_csv(r/'metrics.csv')) and json.loads((r/'run.json').read_text())
    assert (runs[0]/'model.pth').read_bytes() != b'' and (runs[0]/'run.json').read_text() != (runs[1]/'run.json').read_text()
    assert [p.name for p in (home/'synthetic').iterdir()] == ['xrays-n20-seed0']   # one complete copy, no leftovers

def test_interrupted_synthetic_generation(tmp_path, monkeypatch):
    import medfast.synthetic as D
    calls = []
    def boom(*a, **k):
        calls.append(1)
        if len(calls) > 5: raise KeyboardInterrupt
        return synthetic_xray(*a, **k)
    monkeypatch.setattr(D, 'synthetic_xray', boom)
    with pytest.raises(KeyboardInterrupt): D.synthetic_xrays(tmp_path/'s', n=20, size=32)
    assert not any(tmp_path.iterdir())                                          # nothing half-made left
    monkeypatch.undo()
    assert (D.synthetic_xrays(tmp_path/'s', n=20, size=32)/'SYNTHETIC.json').exists()

# --------------------------------------------------------------------- 7. NaN

def test_diverged_learner_not_exported_and_nan_rows(env, tmp_path):
    root, data, learns, js = env
    learn = learns[1]; learn.diverged = True
    with pytest.raises(MedfastError, match='allow_diverged=True'): export(learn, tmp_path/'d'/'model')
    assert not (tmp_path/'d'/'model.json').exists()
    learn.diverged = False
    broken = load(js)
    with torch.no_grad(): next(broken.model.parameters()).fill_(float('nan'))
    t = predict(broken, sorted((data/'test').rglob('*.jpeg'))[:3], progress=False)
    assert t.label.isna().all() and t.error.str.contains('NaN').all()

def test_divergence_then_evaluation(env, tmp_path, capsys, monkeypatch):
    root, data, learns, js = env
    broken = load(js)
    with torch.no_grad(): next(broken.model.parameters()).fill_(float('nan'))
    nan_js = export(broken, tmp_path/'nan'/'model', allow_diverged=True)
    one_line_error(capsys, main(['evaluate', str(nan_js), str(data/'test'), '--out', str(tmp_path/'ev')]), 'NaN')
    assert not (tmp_path/'ev').exists()
    import medfast.learner as ML                                               # training that diverges stops the CLI
    def diverge(learn, *a, **k): learn.diverged = True; return learn
    monkeypatch.setattr(ML, 'train', diverge)
    code = main(['train', '--task', 'folder', '--data', str(data/'train'), '--size', '32', '--arch', 'basenet', '--bs', '8',
                 '--out', str(tmp_path/'tr')])
    one_line_error(capsys, code, 'diverged', '--lr'); release_folders()
    assert not (tmp_path/'tr').exists()

# --------------------------------------------------------------------- 8. leaks and verification

def test_train_refuses_byte_identical_split(env, tmp_path, capsys):
    root, data, learns, js = env
    import shutil
    d = tmp_path/'xr'; shutil.copytree(data, d)
    src = sorted((d/'train'/'NORMAL').iterdir())[0]
    shutil.copy(src, d/'test'/'NORMAL'/'dup.jpeg')
    one_line_error(capsys, main(['train', '--data', str(d), '--size', '32', '--arch', 'basenet', '--epochs', '1',
                                 '--out', str(tmp_path/'o')]), 'byte-identical', '--allow-leaks')
    (d/'test'/'NORMAL'/'dup.jpeg').write_bytes(b'garbage')                       # a corrupt test image: found before training
    one_line_error(capsys, main(['train', '--data', str(d), '--size', '32', '--arch', 'basenet', '--epochs', '1',
                                 '--out', str(tmp_path/'o')]), 'dup.jpeg')
    release_folders(); assert not (tmp_path/'o').exists()

# --------------------------------------------------------------------- 9. folders

def test_case_folding_one_rule(tmp_path):
    for c in ('NORMAL', 'normal', 'PNEUMONIA'):
        (tmp_path/c).mkdir(); [synthetic_xray(seed=i).save(tmp_path/c/f'{c}{i}.png') for i in range(2)]
    with pytest.raises(DataLayoutError, match='differ only in case'): class_folder_items(tmp_path)

def test_symlink_loop_followed_once(tmp_path, capsys, env):
    root, data, learns, js = env
    d = tmp_path/'imgs'; d.mkdir()
    for f in sorted((data/'test').rglob('*.jpeg'))[:3]: (d/f.name).write_bytes(f.read_bytes())
    os.symlink('..', d/'loop'); os.symlink('.', d/'self')
    assert len(image_files(d)) == 3
    assert len(predict(js, d, progress=False)) == 3
    os.symlink('me', tmp_path/'me')                                             # a link to itself
    one_line_error(capsys, main(['evaluate', str(js), str(tmp_path/'me'), '--out', str(tmp_path/'e')]), 'symbolic link loop')

def test_unreadable_subfolder_error_row(env, tmp_path, monkeypatch, capsys):
    root, data, learns, js = env
    d = tmp_path/'imgs'; (d/'locked').mkdir(parents=True)
    for f in sorted((data/'test').rglob('*.jpeg'))[:2]: (d/f.name).write_bytes(f.read_bytes())
    real = os.scandir
    def scandir(p='.'):
        if Path(p).name == 'locked': raise PermissionError(13, 'Permission denied', str(p))
        return real(p)
    monkeypatch.setattr(os, 'scandir', scandir)                                 # tests run as root: simulate chmod 000
    t = predict(js, d, progress=False)
    assert len(t) == 3 and t.error.notna().sum() == 1 and 'permission denied' in t.error.dropna().iloc[0]
    monkeypatch.setattr('builtins.open', lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, 'Permission denied')))
    with pytest.raises(Exception, match='permission denied'): open_image(next(iter(d.glob('*.jpeg'))))

# --------------------------------------------------------------------- 10. memory

def test_16bit_reduced_before_windowing(tmp_path):
    import tracemalloc
    a = np.tile(np.linspace(0, 4095, 4000, dtype=np.float32).astype(np.uint16), (4000, 1))
    Image.fromarray(a).save(tmp_path/'big16.png'); del a
    tracemalloc.start()
    im = open_image(tmp_path/'big16.png', 'L', size=64)
    peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert im.size[0] < 200 and peak < 100e6, peak                               # windowing in float64 at full size took 432 MB

# --------------------------------------------------------------------- clear messages

@pytest.mark.parametrize('args,fragment', [
    (['--bs', '0'], '--bs'), (['--arch', 'nope'], '--arch'), (['--epochs', '0'], '--epochs')])
def test_train_bad_args(tmp_path, capsys, args, fragment):
    one_line_error(capsys, main(['train', '--out', str(tmp_path/'o')] + args), fragment)
    assert not any(tmp_path.iterdir())

def test_one_image_per_class(tmp_path, capsys):
    for c in ('a', 'b'): (tmp_path/'d'/c).mkdir(parents=True); synthetic_xray(seed=ord(c)).save(tmp_path/'d'/c/f'{c}1.png')
    one_line_error(capsys, main(['train', '--task', 'folder', '--data', str(tmp_path/'d'), '--size', '32',
                                 '--arch', 'basenet', '--out', str(tmp_path/'o')]), 'at least 2 groups per class')
    assert not (tmp_path/'o').exists()

def test_out_naming_existing_file(env, tmp_path, capsys):
    root, data, learns, js = env
    img = tmp_path/'good.png'; synthetic_xray().save(img); before = img.read_bytes()
    one_line_error(capsys, main(['predict', str(js), str(img), '--out', str(img)]), '.csv')
    one_line_error(capsys, main(['predict', str(js), str(img), '--out', str(tmp_path)]), 'is a folder')
    one_line_error(capsys, main(['train', '--out', str(img)]), 'existing file')
    one_line_error(capsys, main(['evaluate', str(js), str(data/'test'), '--out', str(img)]), 'existing file')
    assert img.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ['good.png']

def test_empty_weights_file(env, tmp_path, capsys):
    root, data, learns, js = env
    d = tmp_path/'m'; d.mkdir(); (d/'model.json').write_text(js.read_text()); (d/'model.pth').write_bytes(b'')
    one_line_error(capsys, main(['predict', str(d), str(data/'test'), '--out', str(tmp_path/'p.csv')]), '0 bytes')
    assert not (tmp_path/'p.csv').exists()

@pytest.mark.parametrize('change,fragment', [
    (dict(format_version='2'), 'format_version'), (dict(image={'mode': 'L'}), "lacks 'resize'"),
    (dict(image={'resize': {}}), "lacks 'mode'")])
def test_bad_json_fields(env, tmp_path, capsys, change, fragment):
    root, data, learns, js = env
    one_line_error(capsys, main(['predict', str(resign(js, tmp_path/'m', **change)), str(data/'test'),
                                 '--out', str(tmp_path/'p.csv')]), fragment)

def test_deeply_nested_json(env, tmp_path, capsys):
    root, data, learns, js = env
    (tmp_path/'m').mkdir(); (tmp_path/'m'/'model.json').write_text('[' * 100_000 + ']' * 100_000)
    (tmp_path/'m'/'model.pth').write_bytes(js.with_suffix('.pth').read_bytes())
    one_line_error(capsys, main(['predict', str(tmp_path/'m'), str(data/'test'), '--out', str(tmp_path/'p.csv')]), 'model.json')

def test_permission_denied_named(env, tmp_path, monkeypatch):
    root, data, learns, js = env
    img = sorted((data/'test').rglob('*.jpeg'))[0]
    monkeypatch.setattr(os, 'access', lambda p, m: False if str(p) == str(img) else True)
    with pytest.raises(Exception) as e: open_image(img)
    assert 'permission denied' in str(e.value) and 'corrupt' not in str(e.value)

def test_kermany_extra_class(env, tmp_path, capsys):
    root, data, learns, js = env
    import shutil
    d = tmp_path/'xr'; shutil.copytree(data, d); shutil.copytree(d/'train'/'NORMAL', d/'train'/'COVID')
    one_line_error(capsys, main(['train', '--data', str(d), '--size', '32', '--arch', 'basenet', '--out', str(tmp_path/'o')]),
                   '--task folder')

def test_offline_pretrained_names_cli_flag(env, tmp_path):
    "--pretrained auto fetches nothing (weights not on the machine: from scratch, said); --pretrained yes offline: one line naming the flags"
    root, data, learns, js = env
    offline = {'TORCH_HOME': str(tmp_path/'hub'), 'no_proxy': '*', 'https_proxy': 'http://127.0.0.1:9', 'http_proxy': 'http://127.0.0.1:9'}
    args = ('train', '--data', data, '--size', '32', '--arch', 'resnet18', '--epochs', '1', '--bs', '8')
    r = run_cli(*args, '--out', tmp_path/'auto', env=offline)
    assert r.returncode == 0 and 'ImageNet weights for resnet18 are not on this machine, so training starts from scratch' in r.stdout, r.stderr[-2000:]
    assert not (tmp_path/'hub').exists() or not any((tmp_path/'hub').rglob('*.pth'))          # nothing downloaded
    r = run_cli(*args, '--pretrained', 'yes', '--out', tmp_path/'o', env=offline)
    assert r.returncode == 1 and '--pretrained no' in r.stderr and 'pretrained=False' not in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and not (tmp_path/'o').exists()
