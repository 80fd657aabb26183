"The import graph runs one way: a module imports only modules of lower-numbered notebooks; no study imports another."
import ast, re
from pathlib import Path
from conftest import ROOT

PKG = ROOT/'medfast'

def _notebook(path) -> str|None:
    m = re.search(r'File to edit: \.\./(?:\.\./)?nbs/(\S+)\.ipynb', path.read_text())
    return m.group(1) if m else None

def _modules():
    return {'.'.join(p.relative_to(ROOT).with_suffix('').parts): p for p in PKG.rglob('*.py')
            if _notebook(p) is not None}

def _imports(path, modname):
    "Every medfast module `path` imports, at module level or inside functions"
    pkg = modname.rsplit('.', 1)[0]
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom):
            if n.level: base = '.'.join(pkg.split('.')[:len(pkg.split('.')) - n.level + 1] + ([n.module] if n.module else []))
            else: base = n.module or ''
            if base.startswith('medfast'): yield base
        elif isinstance(n, ast.Import):
            yield from (a.name for a in n.names if a.name.startswith('medfast'))

def test_imports_run_down():
    mods = _modules(); bad = []
    for name, path in mods.items():
        nb = _notebook(path)
        for imp in _imports(path, name):
            if imp in mods and _notebook(mods[imp]) > nb: bad.append(f"{name} ({nb}) imports {imp} ({_notebook(mods[imp])})")
    assert not bad, bad

def test_no_study_imports_another():
    mods = _modules()
    bad = [f"{n} imports {i}" for n, p in mods.items() if n.startswith('medfast.studies.')
           for i in _imports(p, n) if i.startswith('medfast.studies.') and i != n]
    assert not bad, bad

def test_metrics_needs_no_torch_or_fastai():
    "Scoring saved probabilities (`medfast.metrics`) imports only NumPy and pandas, never fastai or torch"
    import subprocess, sys
    code = ("import sys, numpy as np, medfast.metrics as m\n"
            "m.metrics_table(np.array([[.8, .2], [.3, .7], [.6, .4]]), [0, 1, 1], n_boot=20)\n"
            "print(sorted(k for k in ('fastai', 'torch') if k in sys.modules))")
    r = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == '[]', r.stdout

def test_bad_arguments_fail_before_torch(tmp_path):
    "A flag out of range, a data folder or model that does not exist, or a folder with no model, is a one-line error before torch or fastai is imported"
    import subprocess, sys
    cases = [['train', '--data', str(tmp_path/'nope')], ['train', '--crop', '1.5'], ['train', '--budget', '0'],
             ['evaluate', str(tmp_path/'no_model'), str(tmp_path)], ['evaluate', str(tmp_path), str(tmp_path/'no_test')],
             ['predict', str(tmp_path/'no_model'), str(tmp_path), '--out', str(tmp_path/'p.csv')],
             ['predict', str(tmp_path/'empty_run'), str(tmp_path), '--out', str(tmp_path/'p.csv')]]
    (tmp_path/'empty_run').mkdir()                  # a folder that holds no model
    code = ("import io, sys, contextlib, json\nfrom medfast.cli import main\nres = []\n"
            f"for argv in {cases!r}:\n"
            "    err = io.StringIO()\n"
            "    with contextlib.redirect_stderr(err): rc = main(argv)\n"
            "    res.append([rc, err.getvalue()])\n"
            "print(json.dumps([res, sorted(k for k in ('fastai', 'torch') if k in sys.modules)]))")
    r = subprocess.run([sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    res, heavy = json.loads(r.stdout)
    for argv, (rc, err) in zip(cases, res):
        assert rc == 1 and err.count('\n') == 1 and 'Traceback' not in err, (argv, err)
    assert [w in e for w, (_, e) in zip(['nope', '--crop', '--budget', 'no_model', 'no_test', 'no_model', 'No model in folder'], res)] == [True]*7, res
    assert heavy == [], heavy
