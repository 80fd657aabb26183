"Smoke test of bench/archs.py: it runs on a tiny setting and prints a well-formed table (no timing assertions)"
import json, subprocess, sys
from pathlib import Path
from conftest import run_python

ROOT = Path(__file__).resolve().parent.parent

def run_bench(*args, timeout=300):
    return run_python(ROOT/'bench'/'archs.py', *args, timeout=timeout, cwd=ROOT)

def test_bench_archs_tiny(tmp_path):
    out = tmp_path/'rows.json'
    r = run_bench('--size', 32, '--archs', 'resnet18,basenet', '--reps', 1, '--bs', 2, '--json', out)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith('|')]
    assert lines[0].startswith('| arch | kind | params_M | groups | input_px | bench_px | ms_per_img |')
    assert len(lines) == 4 and lines[2].startswith('| resnet18 | transfer') and lines[3].startswith('| basenet | scratch')
    rows = json.loads(out.read_text())['rows']
    assert [r['groups'] for r in rows] == [3, 3]
    assert rows[1]['params_M'] < 0.1 < rows[0]['params_M']

def test_bench_archs_unknown():
    r = run_bench('--archs', 'nonet', '--reps', 0)
    assert r.returncode != 0 and 'unknown arch' in r.stderr
