import os, sys, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent/'shared'/'data'
os.environ.setdefault('MPLBACKEND', 'Agg')

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
