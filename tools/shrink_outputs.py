#!/usr/bin/env python3
"""Keep notebook figures small: re-encode embedded PNG outputs wider than `--max-width` px (default 720) at that width.

Jupyter's inline backend embeds retina (2x) PNGs; the notebooks are the manual on GitHub and in the docs, where a
1x image reads the same at a quarter of the size. Run after executing notebooks (`nbdev-test --save`):

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

def shrink_notebook(path, max_width:int=720) -> int:
    "Shrink the PNG outputs of notebook `path` in place; returns how many changed"
    nb, n = json.loads(Path(path).read_text()), 0
    for c in nb['cells']:
        for o in c.get('outputs', []):
            d = o.get('data', {})
            if 'image/png' not in d: continue
            raw = d['image/png']; raw = ''.join(raw) if isinstance(raw, list) else raw
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
        if n: print(f"{p}: {n} image(s) shrunk")
