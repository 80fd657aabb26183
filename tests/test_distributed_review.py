"Launched runs on 2 CPU processes (gloo) through the Python API: gathered predictions in order, each process's own random stream, the main process alone after `distrib_ctx`, launcher variables without a launcher."
import json, os, socket, subprocess, sys
from pathlib import Path
import pytest

pytest.importorskip('accelerate')
BIN = Path(sys.executable).parent
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND='Agg', PYTHONWARNINGS='ignore', ACCELERATE_USE_CPU='1')

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _run(cmd, tmp, timeout=240, **env):
    return subprocess.run([str(c) for c in cmd], cwd=tmp, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **ENV, 'MEDFAST_HOME': str(tmp/'home'), **env})

SCRIPT = '''
import json, random, sys, hashlib
from pathlib import Path
import numpy as np, torch
from fastai.vision.all import *
from medfast.synthetic import synthetic_xrays
from medfast.data import pneumonia_dls
from medfast.learner import medfast_learner, StopOnDivergence
from medfast.evaluation import get_preds_labelled
from medfast.distributed import (init_distributed, main_process_first, distrib_kwargs, RankRecorder, gather_objects,
                                 is_main_process, distributed_now)
init_distributed()
with main_process_first(): dls = pneumonia_dls(synthetic_xrays(sys.argv[1], n=30, size=32, seed=0), size=32, bs=2)
class FirstDraw(Callback):                      # what each process draws at its first training batch
    order = 100
    def before_batch(self):
        if self.training and self.iter == 0 and not hasattr(self, 'draw'): self.draw = float(torch.rand(1))
rec = FirstDraw()
learn = medfast_learner(dls, 'resnet18', pretrained=False, cbs=[rec, RankRecorder()])
import medfast.learner as ml                                 # one process would measure a bfloat16 gain, the other not
cpm = next((c for c in learn.cbs if isinstance(c, ml.CPUMixedPrecision)), None)
if cpm is not None: cpm.min_px, ml.bf16_pays_off = 16, (lambda: rank_distrib() == 1)
with learn.distrib_ctx(**distrib_kwargs()):
    learn.fit(1, 1e-3)
    inside = get_preds_labelled(learn, dls.valid)             # every process: gathered from the shards
    now = distributed_now(learn)
after = get_preds_labelled(learn, dls.valid)                  # every process, each on the whole loader
learn.model.eval()
with torch.no_grad(): direct = torch.cat([learn.model(x).softmax(1) for x, _ in dls.valid]).numpy()   # no fastai at all
res = dict(rank=rank_distrib(), now=now, after_now=distributed_now(learn), draws=gather_objects(rec.draw),
           n_valid=len(dls.valid_ds), valid_bs=dls.valid.bs, items=[str(o) for o in dls.valid_ds.items],
           inside_items=[str(o) for o in inside.items], inside=inside.probs.tolist(), inside_targets=inside.targets.tolist(),
           after=after.probs.tolist(), after_targets=after.targets.tolist(), direct=direct.tolist(),
           record=learn.distributed_record, train_bs=dls.train.bs, bf16_used=None if cpm is None else cpm.bf16_used)
if is_main_process():                                         # the main process alone: no collective may wait for the other
    learn.remove_cbs([c for c in learn.cbs if isinstance(c, StopOnDivergence)])   # its own all-reduce is medfast.learner's
    res['alone_valid_loss'] = float(learn.validate()[0])
Path(f'res-{rank_distrib()}.json').write_text(json.dumps(res))
'''

@pytest.fixture(scope='module')
def launched_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp_api')
    (tmp/'api.py').write_text(SCRIPT)
    r = _run([BIN/'torchrun', '--nproc_per_node', 2, '--master_port', _port(), 'api.py', tmp/'data'], tmp, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return [json.loads((tmp/f'res-{i}.json').read_text()) for i in (0, 1)]

def test_gathered_predictions_in_loader_order(launched_run):
    "Several batches per process: the gathered rows are the loader's files in order, each once, as one process predicts them"
    np = pytest.importorskip('numpy')
    for res in launched_run:
        assert res['n_valid'] > 2 * res['valid_bs']                       # more than one batch per process
        assert res['inside_items'] == res['items'] and len(res['inside']) == res['n_valid']
        np.testing.assert_allclose(res['inside'], res['direct'], atol=1e-5)
        assert res['inside_targets'] == res['after_targets']

def test_predictions_after_distrib_ctx_are_each_process_own(launched_run):
    "After `distrib_ctx`, every process predicting the whole loader gets every row once (nothing gathered)"
    np = pytest.importorskip('numpy')
    for res in launched_run:
        assert res['now'] and not res['after_now']
        np.testing.assert_allclose(res['after'], res['direct'], atol=1e-5)

def test_each_process_draws_its_own_randomness(launched_run):
    draws = launched_run[0]['draws']
    assert len(draws) == 2 and draws[0] != draws[1]

def test_record_counts_items_trained_on(launched_run):
    res = launched_run[0]
    d = res['record']
    assert d['weights_sha256'][0] == d['weights_sha256'][1]
    for ep in d['epochs']:
        assert ep['rank_items'] == [b * res['train_bs'] for b in ep['rank_batches']]   # the last incomplete batch is dropped
        assert ep['items'] == sum(ep['rank_items']) - ep['repeated']

def test_main_process_alone_after_distrib_ctx(launched_run):
    "RankRecorder runs no collective once the learner is not distributed: validating on rank 0 alone neither hangs nor fails"
    assert 'alone_valid_loss' in launched_run[0] and 'alone_valid_loss' not in launched_run[1]

def test_launcher_variables_without_a_launcher(tmp_path, cli):
    "WORLD_SIZE without MASTER_ADDR: one line, at once; a RANK left in one process: it trains and writes as the main one"
    from conftest import run_python
    env = {**os.environ, **ENV, 'MEDFAST_HOME': str(tmp_path/'home')}
    r = cli('train', '--n-synthetic', 20, '--epochs', 1, '--size', 32, '--bs', 4, '--out', tmp_path/'run', '--quiet',
            env={**env, 'WORLD_SIZE': '2', 'MASTER_ADDR': ''})
    assert r.returncode != 0 and 'MASTER_ADDR is not set' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    script = tmp_path/'rank.py'
    script.write_text("import warnings\n"
                      "from medfast.distributed import is_main_process, init_distributed\n"
                      "assert is_main_process()\n"
                      "with warnings.catch_warnings(record=True) as w: warnings.simplefilter('always'); init_distributed()\n"
                      "print([str(o.message) for o in w])\n")
    r = run_python(script, cwd=tmp_path, timeout=120, env={**env, 'RANK': '1', 'PYTHONWARNINGS': ''})
    assert r.returncode == 0 and 'unset RANK' in r.stdout, r.stdout + r.stderr[-2000:]

def test_too_few_training_images_per_process(tmp_path):
    "22 training images on 2 processes: the default batch becomes each process's share (11); a typed --bs 16 would leave each process nothing to train on: refused"
    r = _run([BIN/'torchrun', '--nproc_per_node', 2, '--master_port', _port(), '-m', 'medfast', 'train', '--n-synthetic', 24,
              '--epochs', 1, '--size', 32, '--quiet', '--out', tmp_path/'ok'], tmp_path, timeout=180)
    assert r.returncode == 0 and 'over 2 processes: batches of 11 rather than 16' in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]
    assert (tmp_path/'ok'/'model.pth').is_file()
    r = _run([BIN/'torchrun', '--nproc_per_node', 2, '--master_port', _port(), '-m', 'medfast', 'train', '--n-synthetic', 24,
              '--epochs', 1, '--size', 32, '--bs', 16, '--out', tmp_path/'run'], tmp_path, timeout=180)
    assert r.returncode != 0 and 'use a batch size of at most 11 (--bs)' in r.stderr, r.stdout[-2000:] + r.stderr[-3000:]
    assert not (tmp_path/'run').exists() or not any((tmp_path/'run').iterdir())      # no model of an untrained network

def test_processes_agree_on_bf16(launched_run):
    "Processes that measure bfloat16 differently train alike: in float32 unless every one of them gains"
    assert [res['bf16_used'] for res in launched_run] == [False, False]
