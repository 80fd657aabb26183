#!/usr/bin/env python3
"""Round-trip notebooks <-> a plain text form for fast authoring.

Text form: cells start with a line `%% md` or `%% code` (exactly, at column 0); everything until the next
marker is the cell source (trailing blank lines trimmed).

  nbtext.py tonb  notebook.txt  out.ipynb     # write notebook (overwrites out.ipynb)
  nbtext.py totxt notebook.ipynb out.txt      # dump notebook to text
"""
import json, sys, re
from pathlib import Path

def txt2cells(txt):
    cells, cur, kind = [], [], None
    for line in txt.splitlines():
        m = re.fullmatch(r'%% (md|code)\s*', line)
        if m:
            if kind: cells.append((kind, cur))
            kind, cur = m.group(1), []
        elif kind: cur.append(line)
    if kind: cells.append((kind, cur))
    out = []
    for kind, lines in cells:
        while lines and not lines[-1].strip(): lines.pop()
        while lines and not lines[0].strip(): lines.pop(0)
        src = '\n'.join(lines)
        src_lines = [l + '\n' for l in src.split('\n')]
        if src_lines: src_lines[-1] = src_lines[-1][:-1]
        c = dict(cell_type='markdown' if kind == 'md' else 'code', metadata={}, source=src_lines)
        if kind == 'code': c.update(execution_count=None, outputs=[])
        out.append(c)
    return out

def tonb(src, dst):
    cells = txt2cells(Path(src).read_text())
    if Path(dst).exists():   # keep existing cell ids (by position) so diffs show only real changes
        old = json.loads(Path(dst).read_text())['cells']
        for c, o in zip(cells, old):
            if 'id' in o: c['id'] = o['id']
    nb = dict(cells=cells, metadata=dict(
        kernelspec=dict(display_name='python3', language='python', name='python3')), nbformat=4, nbformat_minor=5)
    Path(dst).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

def totxt(src, dst):
    nb = json.loads(Path(src).read_text())
    parts = []
    for c in nb['cells']:
        parts.append(f"%% {'md' if c['cell_type'] == 'markdown' else 'code'}\n" + ''.join(c['source']) + '\n')
    Path(dst).write_text('\n'.join(parts))

if __name__ == '__main__':
    cmd, a, b = sys.argv[1:4]
    {'tonb': tonb, 'totxt': totxt}[cmd](a, b)
