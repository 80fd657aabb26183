"README.md is rendered from nbs/index.ipynb, holds the two commands CI relies on, and its Python runs as written."
import os, re, subprocess, sys
from conftest import ROOT

def test_readme_up_to_date():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'render_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout

def test_readme_two_commands():
    txt = (ROOT/'README.md').read_text()
    assert 'pip install -e . && medfast train' in txt
    assert 'pip install -e ".[dev]" && nbdev-test && pytest -n 2 tests/' in txt
    assert 'README.md' in (ROOT/'.ci'/'run').read_text()

def test_readme_python_runs_verbatim(tmp_path):
    "Every ```python block of the README, in order, in a fresh interpreter in an empty folder"
    blocks = re.findall(r"```python\n(.*?)```", (ROOT/'README.md').read_text(), flags=re.S)
    assert blocks and 'from medfast import' in blocks[0]
    script = tmp_path/'readme.py'
    script.write_text('\n'.join(blocks) + "\nprint('README OK')\n")
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                       env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0 and 'README OK' in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]
