#!/usr/bin/env python3
"""Render the landing notebook `index.ipynb` to `README.md` (GitHub markdown) without Quarto.

`nbdev-readme` needs Quarto, which cannot be installed on machines without internet; this renderer produces the
same content: markdown cells verbatim, code cells (except `#| hide`) as ```python blocks, and their stream or
text outputs as plain blocks. `--check` exits 1 if README.md is out of date.
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def _src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def _directives(src):
    return [l[3:].strip() for l in src.splitlines() if l.startswith('#| ')]

def render(nb_path=root/'index.ipynb') -> str:
    nb, parts = json.loads(Path(nb_path).read_text()), []
    for c in nb['cells']:
        src = _src(c)
        if c['cell_type'] == 'markdown': parts.append(src.strip()); continue
        dirs = _directives(src)
        if any(d.startswith(('hide', 'default_exp')) for d in dirs): continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#| ')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for o in c.get('outputs', []):
            txt = o.get('text') or o.get('data', {}).get('text/plain')
            if txt: parts.append("```\n" + (''.join(txt) if isinstance(txt, list) else txt).rstrip() + "\n```")
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    out, txt = root/'README.md', render()
    if '--check' in sys.argv:
        ok = out.exists() and out.read_text() == txt
        print('README.md is up to date' if ok else 'README.md is stale: run python tools/render_readme.py')
        sys.exit(0 if ok else 1)
    out.write_text(txt); print(f'wrote {out}')
