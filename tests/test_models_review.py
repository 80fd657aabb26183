"The architecture zoo as users meet it from a shell: networks at MedMNIST's own 28 px, ImageNet weights asked for offline"
import os, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest

NPZ = Path(__file__).resolve().parents[2]/'shared'/'data'/'pneumoniamnist_28.npz'   # ../shared beside the clone
OFFLINE = {k: 'http://127.0.0.1:9' for k in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy')}   # refused at once

def _run(args, tmp_path, env=None, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})})

def _small_npz(src, dest, n=(48, 16, 16)):
    "A few images of each class of every split of the MedMNIST file `src`, written to `dest`"
    d, out = np.load(src), {}
    for split, k in zip(('train', 'val', 'test'), n):
        y = d[f'{split}_labels'][:, 0]
        idx = np.concatenate([np.flatnonzero(y == c)[:k // 2] for c in (0, 1)])
        out[f'{split}_images'], out[f'{split}_labels'] = d[f'{split}_images'][idx], d[f'{split}_labels'][idx]
    np.savez(dest, **out)
    return dest

@pytest.mark.skipif(not NPZ.exists(), reason='needs the real PneumoniaMNIST file')
def test_resnet18_trains_at_28px(tmp_path):
    "MedMNIST's published baseline is ResNet-18 at 28 px: medfast must not refuse that size (it asked for 32 px)"
    npz = _small_npz(NPZ, tmp_path/'small.npz')
    r = _run(['-m', 'medfast', 'train', '--data', str(npz), '--arch', 'resnet18', '--size', '28', '--epochs', '1',
              '--pretrained', 'no', '--bs', '16', '--out', 'out', '--quiet'], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'needs images of at least' not in r.stderr and (tmp_path/'out'/'model.json').exists()

@pytest.mark.parametrize('arch', ['resnet18', 'inception_v3'])
def test_pretrained_offline_fails_fast(tmp_path, arch):
    "ImageNet weights asked for with an empty cache and no network: a one-line MissingWeightsError, quickly, nothing saved"
    t0 = time.perf_counter()
    r = _run(['-c', f"from medfast.models import create_model; create_model({arch!r}, pretrained=True)"], tmp_path,
             env={'TORCH_HOME': str(tmp_path/'torch'), **OFFLINE}, timeout=120)
    assert time.perf_counter() - t0 < 90
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode != 0 and last.startswith('medfast.core.MissingWeightsError'), r.stderr[-2000:]
    assert 'weights_path=' in last and 'pretrained=False' in last
    assert not any((tmp_path/'torch').rglob('*.pth'))           # no half-written checkpoint left in the cache
