"Core guarantees under real processes: concurrent claims (a dead run's lock too), signals mid-write, full and read-only disks"
import errno, multiprocessing as mp, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pandas as pd, pytest
from medfast.core import *
from medfast.core import _claims

def _claim(args):
    d, go = args
    while time.time() < go: pass
    p = claim_folder(d)
    _claims.clear()                 # keep the lock, as a run still writing would
    return str(p)

@pytest.mark.parametrize('stale', [False, True])
def test_concurrent_claims_never_share(tmp_path, stale):
    "Eight processes claiming one folder at the same moment get eight folders, also when a dead run's lock is there to take over"
    for trial in range(12):
        d = tmp_path/f't{trial}'/'run'
        if stale: d.mkdir(parents=True); lock_path(d, 'claim-').write_text('999999999 1\n')   # no such process
        go = time.time() + 0.3
        with mp.get_context('fork').Pool(8, initializer=_default_sigterm) as pool: got = pool.map(_claim, [(d, go)]*8)
        for g in set(got): lock_path(g, 'claim-').unlink(missing_ok=True)
        assert len(set(got)) == 8, got

def _default_sigterm():
    "In a forked child: SIGTERM kills, whatever handler the test process had (a fork inherits it; the pool ends its workers by SIGTERM)"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

def _writer(path, go):
    _default_sigterm()
    def slow(tmp):
        tmp.write_text('half'); go.set(); time.sleep(30)
    atomic_write(path, slow)

def test_sigterm_mid_write_keeps_old_file(tmp_path):
    "A run killed (SIGTERM, no handler) while writing leaves the old result whole"
    p = tmp_path/'metrics.csv'; p.write_text('old')
    go = mp.get_context('fork').Event()
    proc = mp.get_context('fork').Process(target=_writer, args=(p, go)); proc.start()
    assert go.wait(20); os.kill(proc.pid, signal.SIGTERM); proc.join(20)
    assert p.read_text() == 'old'

def test_ctrl_c_in_cli_process_keeps_old_file(tmp_path):
    "Ctrl-C (SIGINT) in a separate Python process mid-write: the old file is intact and no temporary file is left"
    p = tmp_path/'r.json'; p.write_text('{"old": 1}')
    code = textwrap.dedent(f"""
        import time, sys
        from medfast.core import atomic_write
        def slow(tmp): tmp.write_text('half'); print('writing', flush=True); time.sleep(30)
        atomic_write({str(p)!r}, slow)""")
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True,   # Ctrl-C as a terminal sends it,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # even where pytest-xdist ignores it
    assert proc.stdout.readline().strip() == 'writing'
    proc.send_signal(signal.SIGINT); proc.wait(20)
    assert p.read_text() == '{"old": 1}'
    assert sorted(f.name for f in tmp_path.iterdir()) == ['r.json']

def test_full_disk_is_one_line(tmp_path):
    "A disk that fills up mid-write: a MedfastError naming the folder, the old file intact, no temporary file"
    p = tmp_path/'preds.csv'; p.write_text('old')
    def full(tmp): tmp.write_text('x'); raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(MedfastError, match=f"Cannot write in {tmp_path} \\(no space left on device\\)"): atomic_write(p, full)
    with pytest.raises(MedfastError, match='no space left'):
        with atomic_open(p) as f: raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert p.read_text() == 'old' and sorted(f.name for f in tmp_path.iterdir()) == ['preds.csv']

def test_read_only_disk(tmp_path, monkeypatch):
    "A read-only disk (simulated: root writes anywhere): one line naming the folder, for results and output folders"
    def ro(*a, **k): raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr('medfast.core.tempfile.mkstemp', ro)
    with pytest.raises(MedfastError, match=f"Cannot write in {tmp_path} \\(read-only file system\\); choose an output folder"):
        write_csv(pd.DataFrame({'a': [1]}), tmp_path/'x.csv')
    monkeypatch.setattr(Path, 'mkdir', ro)
    with pytest.raises(MedfastError, match='Cannot create the output folder .*read-only file system'): claim_folder(tmp_path/'run')
    assert not lock_path(tmp_path/'run', 'claim-').exists()

def test_csv_formula_round_trip(tmp_path):
    "Every formula-like text cell is escaped on disk and comes back exactly; numbers stay numbers"
    names = ['=1+1', '+x', '-0.5', '@SUM(A1)', '\tTab', '\rcr', "'=quoted", "''+two", "'plain", 'ok', 'résumé ü 漢字', '']
    df = pd.DataFrame({'file': names, '=col': range(len(names)), 'p': [-0.5]*len(names)})
    p = write_csv(df, tmp_path/'p.csv')
    raw = pd.read_csv(p, keep_default_na=False, dtype=str)
    assert not any(v[:1] and v[:1] in '=+-@\t\r' for v in list(raw['file']) + list(raw.columns))
    back = read_csv_safe(p, keep_default_na=False)
    assert list(back.columns) == ['file', '=col', 'p']
    assert list(back.file) == names and list(back.p) == [-0.5]*len(names)
