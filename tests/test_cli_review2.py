"`medfast` as a user at a terminal meets it: typos, arguments in the wrong order, output piped into `head`, Ctrl-C, a second run into the same folder, and the examples each command's -h shows."
import os, shlex, shutil, signal, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest
from conftest import tiny_exported_basenet
from medfast.cli import _EXAMPLES

EXE = [str(Path(sys.executable).parent/'medfast')] if (Path(sys.executable).parent/'medfast').exists() else \
      [sys.executable, '-c', 'import sys; from medfast.cli import main; sys.exit(main())']
TINY = ['--pretrained', 'no', '--size', '32', '--arch', 'basenet', '--epochs', '1', '--quiet']   # a few seconds on a CPU

def one_line(r, code=1):
    "The command refused with exit code `code` and one line on stderr: no traceback, no usage block"
    assert r.returncode == code and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (r.returncode, r.stderr)
    return r.stderr

@pytest.fixture(scope='module')
def model(tmp_path_factory):
    "A tiny exported model in a folder whose name has a space, and a folder of many copies of one image"
    tmp = tmp_path_factory.mktemp('rev2')
    js, data = tiny_exported_basenet(tmp)
    folder = tmp/'my model'; folder.mkdir()
    for f in ('model.json', 'model.pth'): shutil.copy(tmp/f, folder/f)
    many = tmp/'many scans'; many.mkdir()
    img = sorted((data/'test').rglob('*.jpeg'))[0].read_bytes()
    for i in range(1200): (many/f'{i:03d}.jpeg').write_bytes(img)   # at --bs 1, far more than a stop takes to arrive
    return folder, many, data

def test_misspelt_command_or_option_is_one_line(cli, model, tmp_path):
    folder, many, _ = model
    assert "did you mean 'medfast train'?" in one_line(cli('trian'), 2)
    assert "did you mean 'medfast predict'?" in one_line(cli('Predict'), 2)
    assert 'the command comes first' in one_line(cli('--data', 'x', 'train'), 2)
    err = one_line(cli('train', '--ephocs', '2', cwd=tmp_path), 2)
    assert '--ephocs' in err and 'did you mean --epochs?' in err and "'medfast train -h' lists the options" in err
    err = one_line(cli('predict', folder, many, '--ouut', tmp_path/'p.csv', cwd=tmp_path), 2)
    assert 'did you mean --out?' in err
    assert 'required: model, test' in one_line(cli('evaluate'), 2)
    assert 'invalid choice' in one_line(cli('train', '--task', 'folders'), 2)
    assert list(tmp_path.iterdir()) == []                      # nothing was written

def test_model_and_images_the_other_way_round(cli, model, tmp_path):
    folder, many, data = model
    err = one_line(cli('predict', many, folder, '--out', tmp_path/'p.csv'))
    assert 'the model comes first' in err and f"medfast predict {shlex.quote(str(folder))} {shlex.quote(str(many))}" in err
    err = one_line(cli('evaluate', data/'test', folder, '--out', tmp_path/'ev'))
    assert 'the model comes first' in err and f"medfast evaluate {shlex.quote(str(folder))}" in err
    assert 'Model not found' in one_line(cli('predict', tmp_path/'nothing', many))   # no model anywhere: the plain error
    assert list(tmp_path.iterdir()) == []

def test_train_data_that_is_a_file(cli, model, tmp_path):
    _, many, _ = model
    err = one_line(cli('train', '--data', many/'000.jpeg', '--out', tmp_path/'r'))
    assert f'--data {many/"000.jpeg"} is a file' in err and '.csv' in err and '.npz' in err
    assert not (tmp_path/'r').exists()

def test_train_into_a_folder_that_holds_results(cli, tmp_path):
    "`~`, a space in the name, a user's file in --out: a sibling, said why; --overwrite writes into it and keeps the user's file"
    home = tmp_path/'home'; out = home/'my runs'/'r'; out.mkdir(parents=True); (out/'notes.txt').write_text('mine')
    args = ('train', '--n-synthetic', 20, *TINY, '--out', '~/my runs/r')
    r = cli(*args, env={'HOME': str(home)}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"Outputs: {out}-2 (not {out}, which holds results or is claimed by a run in progress; --overwrite writes into it)" in r.stdout
    assert (out/'notes.txt').read_text() == 'mine' and sorted(p.name for p in out.iterdir()) == ['notes.txt']
    assert (home/'my runs'/'r-2'/'model.json').exists()
    for f in ('predictions.csv', 'roc_curve.png', 'model.onnx', 'model.onnx.json'): (out/f).write_text('an earlier run')
    r = cli(*args, '--overwrite', env={'HOME': str(home)}, cwd=tmp_path)
    assert r.returncode == 0 and f"Outputs: {out}\n" in r.stdout, r.stderr[-2000:]
    assert (out/'notes.txt').read_text() == 'mine' and (out/'model.json').exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith('.')) == [   # no old export or plots beside the new model
        'confusion_matrix.png', 'earlier-results', 'metrics.csv', 'model.json', 'model.pth', 'notes.txt', 'run.json']
    assert sorted(p.name for p in (out/'earlier-results').iterdir()) == ['model.onnx', 'model.onnx.json', 'predictions.csv', 'roc_curve.png']
    assert 'the files of an earlier run that this one does not write: model.onnx, model.onnx.json, predictions.csv, roc_curve.png' in r.stderr
    assert 'notes.txt, which medfast does not write: left as they are' in r.stderr
    assert not (tmp_path/'~').exists()

def _stop_after_first_line(args, cwd, stop):
    "Run `medfast ARGS` in a new process, read its first line of progress, then `stop(proc)`; its exit code and stderr"
    p = subprocess.Popen(EXE + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # Ctrl-C counts even where pytest-xdist ignores it
    try:
        line = p.stdout.readline()
        assert 'file(s) predicted' in line, line + p.stderr.read()
        stop(p)
        err = p.stderr.read()
        return p.wait(60), err
    finally:
        if p.poll() is None: p.kill()

def _close_pipe(p): p.stdout.close()

@pytest.mark.parametrize('stop, code, says', [(_close_pipe, 141, ''), (lambda p: p.send_signal(signal.SIGINT), 130, 'Interrupted.')],
                         ids=['piped-into-head', 'ctrl-c'])
def test_predict_stopped_midway_says_how_to_resume(cli, model, tmp_path, stop, code, says):
    "`| head` or Ctrl-C in the middle of a predict: no traceback, the partial CSV named with --resume, which finishes it"
    folder, many, _ = model
    args = ['predict', folder, many, '--out', 'p.csv']
    rc, err = _stop_after_first_line(args + ['--bs', 1, '--workers', 1], tmp_path, stop)
    assert rc == code and 'Traceback' not in err and says in err, (rc, err)
    assert 'p.partial.csv keeps the rows predicted so far: the same command with --resume continues from there.' in err
    assert not (tmp_path/'p.csv').exists() and (tmp_path/'p.partial.csv').exists()
    r = cli(*args, '--resume', '--quiet', cwd=tmp_path)
    assert r.returncode == 0 and 'Resuming' in r.stdout, r.stderr[-2000:]
    t = pd.read_csv(tmp_path/'p.csv')
    assert len(t) == 1200 and t.file.is_unique and t.error.isna().all()

@pytest.mark.parametrize('argv', [['-h'], ['--version'], ['train', '-h'], ['predict', '--merge', '-h']])
def test_help_into_a_closed_pipe_is_quiet(argv):
    p = subprocess.Popen(EXE + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                                           # the reader has gone before anything was written
    err = p.stderr.read().decode(); p.wait(60)
    assert p.returncode in (0, 141) and err == '', (p.returncode, err)

def _examples(cmd): return [shlex.split(line) for line, _ in _EXAMPLES[cmd]]

def test_help_examples_run(cli, tmp_path):
    "The examples each command's -h ends with, run as shown from an empty folder, on a tiny synthetic chest_xray (plus speed flags); compare's runs in nbs/11_cli.ipynb"
    from medfast.synthetic import synthetic_xrays
    synthetic_xrays(tmp_path/'chest_xray', n=24, size=32, seed=0)
    shutil.copytree(tmp_path/'chest_xray'/'test', tmp_path/'scans')
    n = len(list((tmp_path/'scans').rglob('*.jpeg')))
    r = cli('train', '-h')
    assert 'examples:\n  medfast train  ' in r.stdout and '# a Kermany folder' in r.stdout
    def run(argv, *extra):
        assert argv[0] == 'medfast'
        r = cli(*argv[1:], *extra, cwd=tmp_path)
        assert r.returncode == 0, (argv, r.stdout[-1500:], r.stderr[-1500:])
        return r
    train = [a for a in _examples('train') if 'chest_xray' in a][0]
    run(train, *TINY, '--bs', 8)
    assert (tmp_path/'runs'/'cxr'/'model.json').exists()
    ev = [a for a in _examples('evaluate') if 'chest_xray/test' in a][0]
    run(ev, '--n-boot', 0, '--top-losses', 0, '--quiet')
    assert (tmp_path/'runs'/'eval'/'metrics.csv').exists()
    pred = _examples('predict')
    run(pred[0], '--quiet'); run(pred[1], '--quiet')           # --resume on a finished CSV: nothing left to do
    assert len(pd.read_csv(tmp_path/'predictions.csv')) == n
    first, merge = _examples('predict --merge')
    (tmp_path/'predictions.csv').unlink()
    run(first, '--quiet'); run([a.replace('0/2', '1/2') for a in first], '--quiet'); run(merge)
    assert len(pd.read_csv(tmp_path/'predictions.csv')) == n
    pytest.importorskip('onnxruntime')
    run(_examples('export')[0])
    run(pred[2], '--quiet')
    assert len(pd.read_csv(tmp_path/'onnx.csv')) == n

def test_predict_expands_a_wildcard_no_shell_expanded(cli, model, tmp_path):
    "A quoted pattern (or one typed in Windows' cmd) names the files it matches; one that matches nothing gets its error row"
    folder, many, _ = model
    r = cli('predict', folder, str(many/'00*.jpeg'), str(many/'nothing*.png'), '--out', tmp_path/'p.csv', '--quiet')
    assert r.returncode == 0, r.stderr[-2000:]
    t = pd.read_csv(tmp_path/'p.csv')
    assert sorted(Path(f).name for f in t.file[t.error.isna()]) == [f'{i:03d}.jpeg' for i in range(10)]
    assert t.file[t.error.notna()].tolist() == [str(many/'nothing*.png')] and 'not found' in t.error.dropna().iloc[0]

@pytest.mark.parametrize('value', ['two', ''])
def test_train_with_a_launcher_variable_not_a_number(cli, tmp_path, value):
    "WORLD_SIZE=two (or set to nothing) in the shell: one line naming it and the fix, not int()'s ValueError"
    r = cli('train', '--n-synthetic', 20, *TINY, '--out', str(tmp_path/'r'), cwd=tmp_path, env={'WORLD_SIZE': value})
    assert 'WORLD_SIZE' in one_line(r) and 'unset it' in r.stderr
    assert not (tmp_path/'r').exists()

def test_a_broken_pipe_elsewhere_is_not_hidden(tmp_path):
    "Only a closed stdout ends a command quietly (exit 141): a pipe broken elsewhere (a worker's) still shows"
    code = ("import sys, medfast.cli as c\ndef boom(argv): raise BrokenPipeError(32, 'Broken pipe')\n"
            "c._dispatch = boom\nsys.exit(c.main(['train']))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 1 and 'BrokenPipeError' in r.stderr, (r.returncode, r.stderr[-500:])

def test_train_without_accelerate(tmp_path):
    "The README's `pip install -e . && medfast train`: a base install has no accelerate, and one process needs none"
    code = ("import sys; sys.modules['accelerate'] = None\nfrom medfast.cli import main\n"
            f"sys.exit(main(['train', '--n-synthetic', '20', *{TINY!r}, '--out', 'r']))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                       env={**os.environ, 'MEDFAST_HOME': str(tmp_path/'home')})
    assert r.returncode == 0 and (tmp_path/'r'/'model.json').exists(), r.stderr[-1500:]

def test_sigterm_handler_put_back(tmp_path):
    "An in-process command (a notebook, a test) installed its SIGTERM handler for good: a later kill of that process, or of a child it forks, raised SystemExit there"
    from medfast.cli import main
    def mine(signum, frame): pass
    old = signal.signal(signal.SIGTERM, mine)
    try:
        assert main(['train', '--data', str(tmp_path/'no-such-folder')]) == 1
        assert signal.getsignal(signal.SIGTERM) is mine
    finally: signal.signal(signal.SIGTERM, old)
