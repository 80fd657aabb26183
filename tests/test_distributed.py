"Launched runs on 2 CPU processes (gloo): `medfast train` under accelerate, a divergence on one rank, sharded and resumed prediction."
import json, os, socket, subprocess, sys, textwrap
from pathlib import Path
import pandas as pd
import pytest

pytest.importorskip('accelerate')
BIN = Path(sys.executable).parent
ENV = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND='Agg', PYTHONWARNINGS='ignore')

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _run(cmd, tmp, timeout=240, **env):
    return subprocess.run([str(c) for c in cmd], cwd=tmp, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **ENV, 'MEDFAST_HOME': str(tmp/'home'), **env})

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "One `medfast train` on 2 CPU processes launched by accelerate (what a user types, `--multi_gpu` spawns them)"
    tmp = tmp_path_factory.mktemp('ddp')
    r = _run([BIN/'accelerate', 'launch', '--multi_gpu', '--num_processes', 2, '--num_machines', 1, '--mixed_precision', 'no',
              '--dynamo_backend', 'no', '--main_process_port', _port(), '-m', 'medfast', 'train', '--n-synthetic', 24,
              '--epochs', 1, '--size', 32, '--bs', 4, '--out', tmp/'run'], tmp, ACCELERATE_USE_CPU='1')
    return tmp, r

def test_train_two_processes(trained):
    tmp, r = trained
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert 'Processes: 2 (gloo)' in r.stdout and r.stdout.count('Outputs:') == 1
    assert 'Grad strides do not match' not in r.stderr                  # channels_last set before DDP wrapped the model
    assert sorted(p.name for p in tmp.iterdir() if p.name != 'home') == ['run']       # one output folder
    assert sorted(p.name for p in (tmp/'run').glob('model.*')) == ['model.json', 'model.pth']
    rec = json.loads((tmp/'run'/'run.json').read_text())
    d = rec['distributed']
    assert d['world_size'] == 2 and d['backend'] == 'gloo'
    for ep in d['epochs']:                                               # disjoint halves (fastai pads to an even count)
        assert ep['rank_items'][0] == ep['rank_items'][1] and ep['items'] <= rec['split']['train']
        assert sum(ep['rank_items']) == ep['items'] + ep['repeated'] and ep['repeated'] < 2
        assert ep['rank_batches'][0] == ep['rank_batches'][1] > 0
        assert ep['rank_items'][0] == 4 * ep['rank_batches'][0]           # items trained on: each process drops its last incomplete batch
    assert len(d['weights_sha256']) == 2 and d['weights_sha256'][0] == d['weights_sha256'][1]
    assert len(pd.read_csv(tmp/'run'/'metrics.csv'))

DIVERGE = '''
import json, sys
from pathlib import Path
from fastai.vision.all import *
from medfast.synthetic import synthetic_xrays
from medfast.data import pneumonia_dls
from medfast.learner import medfast_learner
from medfast.distributed import init_distributed, main_process_first, distrib_kwargs, RankRecorder
init_distributed()
with main_process_first(): dls = pneumonia_dls(synthetic_xrays(sys.argv[1], n=24, size=32, seed=0), size=32, bs=4)
class BreakOnRank1(Callback):
    order = 40                                           # before StopOnDivergence
    def after_loss(self):
        if self.training and rank_distrib() == 1 and self.iter == 1: self.learn.loss = self.learn.loss_grad = self.loss*float('nan')
learn = medfast_learner(dls, 'resnet18', pretrained=False, cbs=[BreakOnRank1(), RankRecorder()])
with learn.distrib_ctx(**distrib_kwargs()): learn.fit(3, 1e-3)
Path(f'res-{rank_distrib()}.json').write_text(json.dumps(dict(rank=rank_distrib(), diverged=learn.diverged,
                                                            at=[learn.epoch, learn.iter])))
'''

def test_divergence_on_one_rank_stops_both(tmp_path):
    (tmp_path/'diverge.py').write_text(DIVERGE)
    r = _run([BIN/'torchrun', '--nproc_per_node', 2, '--master_port', _port(), 'diverge.py', tmp_path/'data'], tmp_path,
             timeout=180)                                # a hang would fail here
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    res = [json.loads((tmp_path/f'res-{i}.json').read_text()) for i in (0, 1)]
    assert [o['rank'] for o in res] == [0, 1] and all(o['diverged'] for o in res)
    assert res[0]['at'] == res[1]['at'] == [0, 1]        # both stopped at the same batch
    assert 'another process' in r.stdout and 'the loss became nan' in r.stdout

def _predict(*args):
    from medfast.cli import predict_main
    assert predict_main([str(a) for a in args] + ['--quiet', '--bs', '3']) == 0

def test_predict_shards_merge_and_resume(trained, tmp_path):
    tmp, r = trained
    assert r.returncode == 0, r.stderr[-2000:]
    model, data = tmp/'run', tmp/'home'/'synthetic'/'xrays-n24-seed0'
    paths = [data/'test', data/'val']
    _predict(model, *paths, '--out', tmp_path/'full.csv')
    full = pd.read_csv(tmp_path/'full.csv')
    for i in (1, 0): _predict(model, *paths, '--out', tmp_path/'s.csv', '--shard', f'{i}/2')
    shards = [pd.read_csv(tmp_path/f's.shard-{i}-of-2.csv') for i in (0, 1)]
    assert abs(len(shards[0]) - len(shards[1])) <= 1 and not set(shards[0].file) & set(shards[1].file)
    from medfast.cli import predict_main
    assert predict_main(['--merge', '--out', str(tmp_path/'s.csv')]) == 0
    merged = pd.read_csv(tmp_path/'s.csv')
    assert list(merged.file) == list(full.file) and list(merged.label) == list(full.label)
    pd.testing.assert_frame_equal(merged, full, atol=1e-5)   # float32 rounding differs with the batch composition
    # a run killed after 5 rows, in the middle of the 6th: --resume finishes it
    lines = (tmp_path/'full.csv').read_text().splitlines(keepends=True)
    (tmp_path/'killed.csv').write_text(''.join(lines[:6]) + lines[6][:20])
    _predict(model, *paths, '--out', tmp_path/'killed.csv', '--resume')
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path/'killed.csv'), full, atol=1e-5)
    # an unfinished shard is resumed, a finished one is left alone; merge refuses while one is missing
    (tmp_path/'s.shard-1-of-2.csv').rename(tmp_path/'s.shard-1-of-2.partial.csv')
    with pytest.raises(FileNotFoundError, match='partial'): predict_main(['--merge', '--out', str(tmp_path/'s.csv'), '--shards', '2', '--overwrite'])
    _predict(model, *paths, '--out', tmp_path/'s.csv', '--shard', '1/2', '--resume')
    assert (tmp_path/'s.shard-1-of-2.csv').exists() and not (tmp_path/'s.shard-1-of-2.partial.csv').exists()

def test_merge_says_which_shards_are_missing(tmp_path):
    "No launcher needed: merge names the shards that never started apart from those left unfinished"
    from medfast.core import MedfastError
    from medfast.shards import merge_shards, parse_shard, shard_path
    import medfast.distributed as md                      # where they were first: still importable from there
    assert (md.merge_shards, md.parse_shard, md.shard_path) == (merge_shards, parse_shard, shard_path)
    out = tmp_path/'p.csv'
    shard_path(out, 0, 3).write_text('file,label\na.png,x\n')
    shard_path(out, 1, 3, partial=True).write_text('file,label\n')
    with pytest.raises(MedfastError) as e: merge_shards(out)
    msg = str(e.value)
    assert 'never started: 2/3' in msg and 'p.shard-2-of-3' not in msg and 'not finished: ' + str(shard_path(out, 1, 3, partial=True)) in msg
    with pytest.raises(MedfastError, match='--shards N'): merge_shards(tmp_path/'none.csv')
    for bad in ('2/2', 'x', '1/0'):
        with pytest.raises(MedfastError, match='--shard .*0 <= I < N'): parse_shard(bad)

def test_launched_predict_speaks_once(trained, tmp_path):
    "`torchrun ... medfast predict`: each process predicts its shard, the main one merges them, and only it prints"
    tmp, r = trained
    model, data = tmp/'run', tmp/'home'/'synthetic'/'xrays-n24-seed0'/'test'
    r = _run([BIN/'torchrun', '--nproc_per_node', 2, '--master_port', _port(), '-m', 'medfast', 'predict', model, data,
              '--out', tmp_path/'p.csv', '--quiet'], tmp_path, ACCELERATE_USE_CPU='1')
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    lines = [l for l in r.stdout.splitlines() if l.startswith('Predicted')]
    assert len(lines) == 1 and "in this process's shard (1 of 2, all merged)" in lines[0], r.stdout
    assert len(pd.read_csv(tmp_path/'p.csv')) == len([p for p in data.rglob('*') if p.is_file()])
