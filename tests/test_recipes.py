"Process-level checks of recipes and ONNX: the ONNX round trip matches PyTorch within 1e-4, the benches run, clear errors"
import os, subprocess, sys
from pathlib import Path
import numpy as np, pytest
from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join([str(ROOT), *filter(None, [os.environ.get('PYTHONPATH')])])}

def _run(*args, timeout=300):
    "`python ARGS`: a script in a fork of the test server (see conftest), `-c CODE` in a new process"
    if str(args[0]).endswith('.py'): return run_python(*args, timeout=timeout, cwd=ROOT, env=ENV)
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV)

@pytest.mark.parametrize('arch', ['resnet18_small', 'xresnet18_half'])
def test_onnx_roundtrip_matches_torch(tmp_path, arch):
    pytest.importorskip('onnxruntime')
    from PIL import Image
    from medfast.synthetic import synthetic_medmnist
    from medfast.medmnist import medmnist_dls, load_medmnist
    from medfast.learner import medfast_learner
    from medfast.inference import export, load, predict
    from medfast.onnx import export_onnx, predict_onnx
    import medfast.recipes
    npz = synthetic_medmnist(tmp_path/'t.npz', n=16, size=28, seed=1)
    learn = medfast_learner(medmnist_dls(npz, size=32, bs=8), arch, pretrained=False)
    learn.medfast_threshold = 0.4
    folder = tmp_path/'imgs'; folder.mkdir()
    for i, a in enumerate(load_medmnist(npz)['test'][0][:, 0].numpy()): Image.fromarray(a).save(folder/f'{i}.png')
    eager = predict(load(export(learn, tmp_path/'m')), folder, progress=False)
    fast = predict_onnx(export_onnx(learn, tmp_path/'m', safetensors=True), folder, progress=False)
    cols = [c for c in eager.columns if c.startswith('prob_')]
    assert np.abs(eager[cols].values - fast[cols].values).max() < 1e-4
    assert eager.label.tolist() == fast.label.tolist()
    p1 = fast[cols[1]].values
    assert (fast.label.values == np.where(p1 >= 0.4, cols[1][5:], cols[0][5:])).all()   # the saved threshold applies

def test_onnx_missing_extra_names_install():
    code = ("import sys; sys.modules['onnx'] = None\nfrom medfast.onnx import _need\n"
            "try: _need('onnx')\nexcept ImportError as e: print(e)")
    r = _run('-c', code)
    assert 'pip install "medfast[onnx]"' in r.stdout, r.stderr[-2000:]

def test_bench_onnx_smoke():
    r = _run(ROOT/'bench'/'onnx.py', '--smoke', '--bf16', '--int8')
    assert r.returncode == 0, r.stderr[-3000:]
    assert '| resnet18_small | 32 | 1 |' in r.stdout and '| resnet18_small | 32 | 32 |' in r.stdout
    assert 'eager bf16 img/s' in r.stdout and 'ORT int8 img/s' in r.stdout
    assert r.stdout.count('x |') >= 10                                       # the bf16 and int8 columns of both rows
    assert 'bf16: native' in r.stdout and 'machine:' in r.stdout

def test_bench_int8_smoke():
    pytest.importorskip('onnxruntime')
    r = _run(ROOT/'bench'/'int8.py', '--smoke')
    assert r.returncode == 0, r.stderr[-3000:]
    assert "int8 export's own check: scaled on 8, checked on 8 others" in r.stdout and 'machine:' in r.stdout
    for k in ('PyTorch eager float32', 'PyTorch eager bfloat16', 'ONNX Runtime float32', 'ONNX Runtime int8'): assert f'| {k} |' in r.stdout

def test_bench_framing_smoke():
    r = _run(ROOT/'bench'/'framing.py', '--smoke')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'machine:' in r.stdout and 'validation films' in r.stdout
    for k in ('as stored (squished whole)', 'central 80% of the height, 28 px'): assert f'| {k} |' in r.stdout

def test_bench_pneumoniamnist_smoke_val_only(tmp_path):
    r = _run(ROOT/'bench'/'pneumoniamnist.py', '--smoke', '--val-only', '--no-tta', '--json', tmp_path/'r.json')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'val over 1 bench seed(s)' in r.stdout and 'test:' not in r.stdout
    import json
    res = json.loads((tmp_path/'r.json').read_text())
    assert 'test' not in res and 0 <= res['threshold'] <= 1
