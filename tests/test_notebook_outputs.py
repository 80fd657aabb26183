"The notebooks are the manual: their saved outputs read on GitHub and in the docs as they did in Jupyter."
import json, sys
from conftest import ROOT
sys.path.insert(0, str(ROOT/'tools'))
from shrink_outputs import joined, settle_returns

def test_settle_returns():
    assert settle_returns('█\repoch  loss  \n0  0.5\n') == 'epoch  loss\n0  0.5\n'
    assert settle_returns('ab\rc') == 'cb'                       # a shorter redraw leaves the rest of the line
    assert settle_returns('plain  \nline') == 'plain  \nline'    # lines without a carriage return are untouched

def test_no_progress_redraws_saved():
    "Console progress bars are saved as their last frame (`python tools/shrink_outputs.py nbs/*.ipynb` after `nbdev-test --save`)"
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        for i, c in enumerate(json.loads(nb.read_text())['cells']):
            for o in c.get('outputs', []):
                if o.get('output_type') == 'stream':
                    assert '\r' not in joined(o['text']), f"{nb.name} cell {i}: run python tools/shrink_outputs.py {nb.name}"
