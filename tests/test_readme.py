"README.md is rendered from index.ipynb and holds exactly the two commands CI relies on."
import subprocess, sys
from conftest import ROOT

def test_readme_up_to_date():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'render_readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout

def test_readme_two_commands():
    txt = (ROOT/'README.md').read_text()
    assert 'pip install -e . && medfast train' in txt
    assert 'pip install -e ".[dev]" && nbdev-test && pytest tests/' in txt
    assert 'pip install -e ".[dev]" && nbdev-test && pytest tests/' in (ROOT/'.ci'/'run').read_text() or \
           'README.md' in (ROOT/'.ci'/'run').read_text()
