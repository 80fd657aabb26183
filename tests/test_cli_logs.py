"What the command line prints where it goes: fast help, `python -m medfast`, logs without carriage returns, --quiet."
import subprocess, sys, time

def test_help_is_fast_for_every_command(cli):
    for cmd in ['train', 'compare', 'evaluate', 'predict']:
        t = time.perf_counter(); r = cli(cmd, '-h', fresh=True); secs = time.perf_counter() - t   # a new process: its start is the point
        assert r.returncode == 0 and '--quiet' in r.stdout, cmd
        assert secs < 5, (cmd, secs)        # < 0.2 s here; the bound only catches a heavy import before parsing
    r = cli('export', '-h'); assert r.returncode == 0 and '--onnx' in r.stdout

def test_help_imports_nothing_heavy():
    code = "import sys; from medfast.cli import _evaluate_parser, _predict_parser, _train_parser, _export_parser, _compare_parser; " \
           "print(sorted(m for m in ('torch','fastai','pandas','matplotlib') if m in sys.modules))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.stdout.strip() == '[]', r.stdout + r.stderr

def test_python_dash_m():
    r = subprocess.run([sys.executable, '-m', 'medfast', '--version'], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip()

def test_piped_train_log_has_epoch_lines_and_no_carriage_returns(cli, tmp_path):
    args = ['train', '--n-synthetic', 40, '--epochs', 2, '--size', 32, '--bs', 16]
    env = {'MEDFAST_HOME': str(tmp_path/'home')}
    r = cli(*args, '--out', tmp_path/'a', env=env, fresh=True, raw=True)   # a new process (warnings at import time show too), bytes as written
    assert r.returncode == 0, r.stderr
    assert b'\r' not in r.stdout + r.stderr                 # a progress bar redrawn in place would leave carriage returns
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    lines = [l for l in r.stdout.splitlines() if l.split()[:1] in (['0'], ['1'])]
    assert len(lines) == 2, r.stdout                        # one line per epoch
    assert 'FutureWarning' not in r.stderr and 'UndefinedMetricWarning' not in r.stderr, r.stderr
    q = cli(*args, '--out', tmp_path/'b', '--quiet', env=env)
    assert q.returncode == 0 and not [l for l in q.stdout.splitlines() if l.split()[:1] == ['0']], q.stdout
