import os, sys, subprocess, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent/'shared'/'data'
os.environ.setdefault('MPLBACKEND', 'Agg')
if os.environ.get('PYTEST_XDIST_WORKER_COUNT'):    # pytest -n N: the workers share the cores, so each (and what it starts) gets its share of threads
    os.environ.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT']))))

def run_cli(*args, cwd=None, env=None, timeout=600):
    "Run the `medfast` console script (or `python -m medfast.cli` if not on PATH) and return the CompletedProcess"
    exe = Path(sys.executable).parent/'medfast'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-c', 'import sys; from medfast.cli import main; sys.exit(main())']
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})

@pytest.fixture
def cli(): return run_cli

@pytest.fixture(scope='session')
def shared_data():
    if not SHARED.exists(): pytest.skip(f'real data not available at {SHARED}')
    return SHARED

@pytest.fixture(scope='session', autouse=True)
def temp_under_pytest(tmp_path_factory):
    "Temporary files of the tests, and of the processes they start, go under pytest's own temp folder (pytest keeps the last three)"
    d = tmp_path_factory.mktemp('tmp'); old = os.environ.get('TMPDIR'), tempfile.tempdir
    os.environ['TMPDIR'] = tempfile.tempdir = str(d)
    yield d
    tempfile.tempdir = old[1]
    if old[0] is None: os.environ.pop('TMPDIR', None)
    else: os.environ['TMPDIR'] = old[0]
