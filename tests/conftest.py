import atexit, json, locale, math, os, signal, sys, subprocess, tempfile, threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent/'shared'/'data'
os.environ.setdefault('MPLBACKEND', 'Agg')
if os.environ.get('PYTEST_XDIST_WORKER_COUNT'):    # pytest -n N: the workers share the cores, so each (and what it starts) gets its share of threads
    os.environ.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT']))))

# Importing torch and fastai takes about 8 s of a CPU here, which most `medfast` commands in the tests would spend again.
# So each pytest process keeps one server that has imported them, and every command runs in a fork of it: a process of
# its own (its own environment, folder, output files, exit code, atexit handlers), started in milliseconds. Tests that
# need a process started from nothing (import-time warnings, signals) pass fresh=True.
_SERVER = r"""
import atexit, json, os, runpy, signal, sys, tempfile, traceback, warnings
sys.path[:] = [p for p in sys.path if p not in ('', '.')]   # as in the console script: nothing imported from the folder a command runs in
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    import torch, fastai.vision.all, medfast.cli
def child(req):
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, req['out'], os.O_WRONLY|os.O_CREAT|os.O_TRUNC),
                            (2, req['err'], os.O_WRONLY|os.O_CREAT|os.O_TRUNC)):
        f = os.open(path, flags, 0o600); os.dup2(f, fd); os.close(f)
    os.environ.clear(); os.environ.update(req['env']); os.chdir(req['cwd']); tempfile.tempdir = None
    if os.environ.get('OMP_NUM_THREADS', '').isdigit(): torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
    signal.alarm(req['timeout'])                       # SIGALRM ends a command that runs too long
    try:
        if req['script'] is None: sys.argv = ['medfast', *req['argv']]; rc = medfast.cli.main(req['argv'])
        else:                                          # `python SCRIPT ARGS`
            sys.argv, rc = [req['script'], *req['argv']], 0
            sys.path[:0] = [os.path.dirname(os.path.abspath(req['script']))] + list(filter(None, os.environ.get('PYTHONPATH', '').split(os.pathsep)))
            if os.environ.get('PYTHONWARNINGS') == 'ignore': warnings.simplefilter('ignore')
            runpy.run_path(req['script'], run_name='__main__')
    except SystemExit as e: rc = e.code if isinstance(e.code, int) else 0 if e.code is None else (print(e.code, file=sys.stderr) or 1)
    except BaseException: traceback.print_exc(); rc = 1
    try: atexit._run_exitfuncs(); sys.stdout.flush(); sys.stderr.flush()
    finally: os._exit(rc & 0xFF)
for line in sys.stdin:
    req = json.loads(line); sys.stdout.flush()
    pid = os.fork()
    if pid == 0: child(req)
    print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
"""

class _CliServer:
    "A process that has imported torch, fastai and medfast.cli and runs each command in a fork of itself"
    def __init__(self): self.proc, self.lock = None, threading.Lock()
    def _start(self):
        self.log = Path(tempfile.mkdtemp(prefix='medfast-cli-server-'))/'stderr'
        self.proc = subprocess.Popen([sys.executable, '-c', _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.log, 'w'), text=True, cwd=ROOT, env={**os.environ, 'MPLBACKEND': 'Agg'})
    def run(self, cmd, argv, cwd, env, timeout, script=None, raw=False) -> subprocess.CompletedProcess:
        d = Path(tempfile.mkdtemp(prefix='medfast-cli-'))
        req = dict(argv=argv, cwd=str(cwd or os.getcwd()), env=env, timeout=int(math.ceil(timeout or 0)), out=str(d/'out'), err=str(d/'err'),
                   script=None if script is None else str(script))
        with self.lock:
            if self.proc is None or self.proc.poll() is not None: self._start()
            self.proc.stdin.write(json.dumps(req) + '\n'); self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line: raise RuntimeError(f"the test CLI server stopped: {self.log.read_text()[-3000:]}")
        rc = json.loads(line)
        if rc == -signal.SIGALRM and timeout: raise subprocess.TimeoutExpired(cmd, timeout)
        text = (lambda f: f.read_bytes()) if raw else lambda f: f.read_bytes().decode(locale.getpreferredencoding(False)).replace('\r\n', '\n').replace('\r', '\n')
        return subprocess.CompletedProcess(cmd, rc, stdout=text(d/'out'), stderr=text(d/'err'))
    def close(self):
        if self.proc is not None and self.proc.poll() is None: self.proc.stdin.close(); self.proc.wait(10)

_server = _CliServer()
atexit.register(_server.close)

def run_cli(*args, cwd=None, env=None, timeout=600, fresh=False, raw=False):
    "Run the `medfast` command with `args` (`env` added to the environment) and return the CompletedProcess; `fresh`: the console script itself, in a new process; `raw`: output as bytes, line ends untouched"
    exe = Path(sys.executable).parent/'medfast'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-c', 'import sys; from medfast.cli import main; sys.exit(main())']
    argv, full_env = [str(a) for a in args], {**os.environ, **(env or {})}
    if fresh or not hasattr(os, 'fork'):
        return subprocess.run(cmd + argv, cwd=cwd, capture_output=True, text=not raw, timeout=timeout, env=full_env)
    return _server.run(cmd + argv, argv, cwd, full_env, timeout, raw=raw)

def run_python(script, *args, cwd=None, env=None, timeout=600, fresh=False):
    "`python SCRIPT ARGS` (`env`: the whole environment, default this one's) as a CompletedProcess, in a fork of the server unless `fresh`"
    argv, full_env = [str(a) for a in args], dict(os.environ if env is None else env)
    cmd = [sys.executable, str(script), *argv]
    if fresh or not hasattr(os, 'fork'):
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
    return _server.run(cmd, argv, cwd, full_env, timeout, script=script)

@pytest.fixture
def cli(): return run_cli

@pytest.fixture(scope='session')
def shared_data():
    if not SHARED.exists(): pytest.skip(f'real data not available at {SHARED}')
    return SHARED

@pytest.fixture(scope='session', autouse=True)
def temp_under_pytest(tmp_path_factory):
    "Temporary files of the tests, and of the processes they start, go under pytest's own temp folder (pytest keeps the last three); so does medfast's home (synthetic sets, model notes)"
    d = tmp_path_factory.mktemp('tmp'); old = {k: os.environ.get(k) for k in ('TMPDIR', 'MEDFAST_HOME')}, tempfile.tempdir
    os.environ['TMPDIR'] = tempfile.tempdir = str(d)
    os.environ['MEDFAST_HOME'] = str(tmp_path_factory.mktemp('medfast-home'))
    yield d
    tempfile.tempdir = old[1]
    for k, v in old[0].items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

@pytest.fixture(scope='session')
def compare_xrays(tmp_path_factory):
    "A tiny synthetic Kermany set (40 px films) that the comparison tests share"
    from medfast.synthetic import synthetic_xrays
    return synthetic_xrays(tmp_path_factory.mktemp('cx')/'chest_xray', n=32, size=40, seed=0)

def compare_factory(path):
    "A `dls_factory` for `compare`: seeded, patient-grouped 32-px loaders of the Kermany folder `path`"
    from medfast.data import pneumonia_dls
    return lambda seed: pneumonia_dls(path, size=32, bs=8, seed=seed, num_workers=0)

def tiny_exported_basenet(tmp):
    "A basenet trained for one epoch on 32-px synthetic X-rays in folder `tmp`, exported in the safe format: `(model.json, data)`"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import folder_dls
    from medfast.learner import medfast_learner
    from medfast.inference import export
    data = synthetic_xrays(tmp/'chest_xray', n=24, size=32, seed=0)
    learn = medfast_learner(folder_dls(data/'train', size=32, bs=8, seed=0), 'basenet', pretrained=False, seed=0)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 3e-3)
    return export(learn, tmp/'model'), data
