#!/usr/bin/env python3
"""Render the landing notebook `nbs/index.ipynb` to `README.md` (GitHub markdown) without Quarto.

`nbdev-readme` needs Quarto, which machines without internet cannot install; this renderer writes the same content:
markdown cells verbatim, code cells (except `#| hide`) as ```python blocks, their text outputs as plain blocks and
their images as PNG files in `README_files/`. `--check` exits 1 if README.md or its images are out of date.
"""
import base64, json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
NB, OUT, IMG = root/'nbs'/'index.ipynb', root/'README.md', root/'README_files'

def _src(x): return ''.join(x) if isinstance(x, list) else x

def _directives(src): return [l[3:].strip() for l in src.splitlines() if l.startswith('#| ')]

def render(nb_path=NB) -> tuple[str, dict]:
    "README text and {file name: PNG bytes} for the images it shows"
    nb, parts, images = json.loads(Path(nb_path).read_text()), [], {}
    for c in nb['cells']:
        src = _src(c['source'])
        if c['cell_type'] == 'markdown': parts.append(src.strip()); continue
        if any(d.startswith(('hide', 'default_exp')) for d in _directives(src)): continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#| ')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for o in c.get('outputs', []):
            data = o.get('data', {})
            if 'image/png' in data:
                name = f"figure-{len(images)+1}.png"
                images[name] = base64.b64decode(_src(data['image/png']))
                parts.append(f"![]({IMG.name}/{name})"); continue
            txt = _src(o.get('text') or data.get('text/plain') or '')
            if txt and not txt.startswith('<IPython.core.display'):
                parts.append("```\n" + txt.rstrip() + "\n```")
    return '\n\n'.join(parts) + '\n', images

def up_to_date(txt, images) -> bool:
    if not OUT.exists() or OUT.read_text() != txt: return False
    have = {p.name: p.read_bytes() for p in IMG.glob('*.png')} if IMG.exists() else {}
    return have == images

if __name__ == '__main__':
    txt, images = render()
    if '--check' in sys.argv:
        ok = up_to_date(txt, images)
        print('README.md is up to date' if ok else 'README.md is stale: run python tools/render_readme.py')
        sys.exit(0 if ok else 1)
    OUT.write_text(txt)
    if IMG.exists():
        for p in IMG.glob('*.png'):
            if p.name not in images: p.unlink()
    if images: IMG.mkdir(exist_ok=True)
    for name, data in images.items(): (IMG/name).write_bytes(data)
    print(f'wrote {OUT}' + (f' and {len(images)} image(s) in {IMG}' if images else ''))
