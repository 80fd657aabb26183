#!/usr/bin/env python3
"""Keep notebook outputs small and readable: shrink wide PNGs, and show text the way a terminal left it.

Jupyter's inline backend embeds retina (2x) PNGs; the notebooks are the manual on GitHub and in the docs, where a
1x image reads the same at a quarter of the size, so PNG outputs wider than `--max-width` px (default 720) are
re-encoded at that width. Progress bars printed to a console redraw their line with carriage returns; Jupyter
shows only the final line, but GitHub and the docs show every redraw, so each line of a text output is replaced
by what a terminal would display. Run after executing notebooks (`nbdev-test --save`):

    python tools/shrink_outputs.py nbs/*.ipynb
"""
import argparse, base64, io, json
from pathlib import Path
from PIL import Image

def shrink_png(data:bytes, max_width:int) -> bytes:
    "`data` re-encoded at most `max_width` px wide (unchanged if already narrower)"
    im = Image.open(io.BytesIO(data))
    if im.width <= max_width: return data
    im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
    if im.mode not in ('RGB', 'RGBA', 'L', 'P'): im = im.convert('RGBA')
    out = io.BytesIO(); im.save(out, format='PNG', optimize=True)
    return out.getvalue() if out.tell() < len(data) else data

def joined(field) -> str:
    "A notebook field as one string: nbformat stores text and base64 data as a string or a list of lines"
    return ''.join(field) if isinstance(field, list) else field

def settle_returns(text:str) -> str:
    "`text` as a terminal displays it: on each line, what follows a carriage return overwrites from the first column"
    def settle(line):
        shown = ''
        for part in line.split('\r'): shown = part + shown[len(part):]
        return shown.rstrip() if '\r' in line else line
    return '\n'.join(settle(l) for l in text.split('\n'))

def shrink_notebook(path, max_width:int=720) -> int:
    "Shrink the PNG outputs and settle the carriage returns of the text outputs of notebook `path` in place; returns how many changed"
    nb, n = json.loads(Path(path).read_text()), 0
    for c in nb['cells']:
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream':
                text = joined(o['text'])
                if '\r' in text:
                    o['text'] = settle_returns(text).splitlines(keepends=True); n += 1
            d = o.get('data', {})
            if 'image/png' not in d: continue
            raw = joined(d['image/png'])
            old = base64.b64decode(raw); new = shrink_png(old, max_width)
            if new is not old and new != old:
                d['image/png'] = base64.b64encode(new).decode() + '\n'
                o.get('metadata', {}).pop('image/png', None)     # drop retina width/height hints
                n += 1
    if n: Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    return n

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='+'); ap.add_argument('--max-width', type=int, default=720)
    a = ap.parse_args()
    for p in a.notebooks:
        n = shrink_notebook(p, a.max_width)
        if n: print(f"{p}: {n} output(s) shrunk or settled")
