"README.md is rendered from nbs/index.ipynb, holds the two commands CI relies on, and its Python is the notebook nbdev-test runs."
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

def test_readme_python_is_the_landing_notebook():
    """Every ```python block of the README is, in order, a code cell of nbs/index.ipynb, and that notebook has no hidden
    or setup cell: `nbdev-test` runs exactly the README's Python, top to bottom, in a fresh kernel (in a fresh clone, with
    no data beside it), so running it here a second time would add a minute and no check"""
    import json
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    cells = [''.join(c['source']).strip() for c in nb['cells'] if c['cell_type'] == 'code']
    assert not [c for c in cells if c.startswith('#|')], "index.ipynb has a cell the README does not show"
    blocks = [b.strip() for b in re.findall(r"```python\n(.*?)```", (ROOT/'README.md').read_text(), flags=re.S)]
    assert blocks and 'from medfast import' in blocks[0] and blocks == cells
