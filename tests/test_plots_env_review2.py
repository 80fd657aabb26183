"A second review as users would: fastai's `distrib_ctx` under torchrun (2 CPU processes with gloo, then 1), launcher variables a user left wrong, and medfast's figures in a notebook next to the user's own pyplot figures."
import json, os, subprocess, sys
from pathlib import Path
import pytest
from conftest import run_python

BIN = Path(sys.executable).parent
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND='Agg', PYTHONWARNINGS='ignore', ACCELERATE_USE_CPU='1')

TINY = '''
import json
from pathlib import Path
import torch
from fastai.vision.all import *
from medfast.distributed import init_distributed, distrib_kwargs, dist_info, launched, is_main_process, gather_objects
info = init_distributed()                             # joins the job under torchrun; {} in one process
torch.manual_seed(0)
x = torch.linspace(-1, 1, 40)[:, None]; y = (x[:, 0] > 0).long()
ds = list(zip(x, y))
dls = DataLoaders(TfmdDL(ds[:24], bs=4, shuffle=True, drop_last=True), TfmdDL(ds[24:], bs=3))
learn = Learner(dls, nn.Linear(1, 2), loss_func=CrossEntropyLossFlat(), lr=0.1)
with learn.no_bar(), learn.no_logging(), learn.distrib_ctx(**distrib_kwargs()):
    learn.fit(2)
    preds, targs = learn.get_preds()
res = dict(info=info, launched=launched(), main=is_main_process(), dist=dist_info(), preds=preds.tolist(), weights=gather_objects(learn.model.weight.flatten().tolist()))
Path(f"res-{dist_info()['rank']}.json").write_text(json.dumps(res))
'''

def _torchrun(tmp, n:int):
    "Run TINY under torchrun with `n` CPU processes in a new folder `tmp`; the results of each process"
    tmp.mkdir(); (tmp/'tiny.py').write_text(TINY)
    r = subprocess.run([str(BIN/'torchrun'), '--nproc_per_node', str(n), '--standalone', 'tiny.py'], cwd=tmp,   # --standalone: the rendezvous picks a free port itself
                       capture_output=True, text=True, timeout=240, env={**os.environ, **ENV})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return [json.loads((tmp/f'res-{i}.json').read_text()) for i in range(n)]

def test_distrib_ctx_two_processes_then_one(tmp_path):
    "fastai's distrib_ctx with medfast's arguments: 2 gloo processes agree on the weights and gather every validation row once; under `torchrun --nproc_per_node 1` nothing is distributed"
    pytest.importorskip('accelerate')
    two = _torchrun(tmp_path/'two', 2)
    assert [r['dist'] for r in two] == [dict(world_size=2, rank=i, local_rank=i, backend='gloo') for i in (0, 1)]
    assert [r['main'] for r in two] == [True, False] and all(r['launched'] for r in two)
    assert two[0]['weights'][0] == two[0]['weights'][1]                    # DDP kept the processes in step
    assert all(len(r['preds']) == 16 for r in two)                          # gathered: each of the 16 rows once
    one = _torchrun(tmp_path/'one', 1)[0]
    assert one['info'] == {} and not one['launched'] and one['main'] and one['dist']['backend'] is None
    assert len(one['preds']) == 16 and len(one['weights']) == 1

BAD = '''
from medfast.distributed import init_distributed
init_distributed()
'''

@pytest.mark.parametrize('env, says', [
    (dict(WORLD_SIZE='two'), "WORLD_SIZE='two' is not a whole number"),
    (dict(WORLD_SIZE=''), "WORLD_SIZE='' is not a whole number"),          # `export WORLD_SIZE=` in a job script
    (dict(RANK='first'), "RANK='first' is not a whole number"),
    (dict(WORLD_SIZE='2', RANK='0', MASTER_ADDR='localhost', LOCAL_RANK='gpu0'), "LOCAL_RANK='gpu0' is not a whole number")])
def test_bad_launcher_variable_says_which(tmp_path, env, says):
    "A launcher variable that is not a number: medfast's one line naming it and the fix, not int()'s ValueError from inside fastai"
    pytest.importorskip('accelerate')
    (tmp_path/'bad.py').write_text(BAD)
    clean = {k: v for k, v in os.environ.items() if k not in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR')}
    r = run_python(tmp_path/'bad.py', cwd=tmp_path, timeout=120, env={**clean, **ENV, **env})
    assert r.returncode != 0 and 'invalid literal for int()' not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('medfast.core.MedfastError: ') and says in last and 'unset it' in last, last

SHELL = '''
import json, matplotlib.pyplot as plt
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.pylabtools import select_figure_formats
ip = InteractiveShell.instance()
select_figure_formats(ip, {'retina'})                 # %config InlineBackend.figure_formats = ['retina'], set before medfast
import numpy as np
from medfast.plots import plot_confusion
fmt = ip.display_formatter.formatters['image/png']
mine, ax = plt.subplots(figsize=(4, 3), dpi=100); ax.plot([0, 1], [0, 1])
theirs = plot_confusion(np.array([[.9, .1], [.2, .8], [.6, .4]]), [0, 1, 1], classes=['NORMAL', 'PNEUMONIA'])
import base64, io
from PIL import Image
def size(out):
    "Pixel size of a PNG printer's answer: bytes, base64 text, or (either, metadata)"
    data = out[0] if isinstance(out, tuple) else out
    return Image.open(io.BytesIO(data if isinstance(data, bytes) else base64.b64decode(data))).size
print(json.dumps(dict(mine=size(fmt(mine)), theirs=size(fmt(theirs)), theirs_inches=list(theirs.get_size_inches()))))
'''

def test_user_pyplot_figures_keep_their_notebook_settings(tmp_path):
    "Importing medfast.plots in a notebook shows medfast's figures as compact PNGs but leaves the user's own pyplot figures as the notebook draws them (here retina: twice their pixels)"
    pytest.importorskip('IPython')
    (tmp_path/'shell.py').write_text(SHELL)
    r = run_python(tmp_path/'shell.py', cwd=tmp_path, timeout=120, env={**os.environ, **ENV})
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res['mine'][0] >= 700, res                  # 4 in at 100 dpi, retina: about 800 px wide (at 72 dpi it was 288)
    assert res['theirs'][0] < 80 * res['theirs_inches'][0], res          # medfast's own: 72 dpi (not the notebook's 2 x 100)
