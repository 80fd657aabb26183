"`medfast predict --shard/--resume/--merge` on killed runs, re-saved shards and file lists that changed between shards"
import os
from pathlib import Path
import pytest

from medfast.core import read_csv_safe
from medfast.shards import shard_path
from medfast.synthetic import synthetic_xrays
from medfast.data import folder_dls
from medfast.learner import medfast_learner
from medfast.inference import export

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A tiny trained model and a folder of images with awkward names (comma, quote, newline, not UTF-8)"
    root = tmp_path_factory.mktemp('shards')
    data = synthetic_xrays(root/'xr', n=16, size=48, seed=0)
    learn = medfast_learner(folder_dls(data/'train', size=32, bs=8, seed=0, num_workers=0), 'resnet18', pretrained=False)
    learn.fit(1, 1e-3)
    export(learn, root/'run'/'model')
    imgs = root/'imgs'; imgs.mkdir()
    good = sorted((data/'test').rglob('*.jpeg'))[0].read_bytes()
    for n in ('a,b.png', 'q"uote.png', 'new\nline.png', 'plain.png', '=cmd.png', os.fsdecode(b'bad\xff.png')):
        (imgs/n).write_bytes(good)
    return root, imgs

def _files(csv): return sorted(read_csv_safe(csv, dtype=str, keep_default_na=False).file)

def _ok(r): assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stdout + r.stderr[-3000:]

def test_resume_after_kill_inside_quoted_newline(run, cli):
    "A shard killed while writing the row of a name holding a newline resumes (no pandas traceback) and merges every file once"
    root, imgs = run
    out = root/'k'/'p.csv'
    for i in (0, 1): _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', f'{i}/2', '--quiet'))
    done = sorted(str(p) for p in imgs.iterdir())
    i = next(i for i in (0, 1) if b'new\n' in shard_path(out, i, 2).read_bytes())
    b = shard_path(out, i, 2).read_bytes()
    shard_path(out, i, 2, partial=True).write_bytes(b[:b.index(b'new\n') + 4])      # the kill, inside the quoted name
    shard_path(out, i, 2).unlink()
    _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', f'{i}/2', '--resume', '--quiet'))
    _ok(cli('predict', '--merge', '--out', out))
    assert _files(out) == done

def test_merge_resaved_shard_and_changed_list(run, cli):
    "A shard re-saved with a BOM, CRLF and no final newline merges row by row; shards cut from different lists are refused"
    root, imgs = run
    out = root/'m'/'p.csv'
    for i in (0, 1): _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', f'{i}/2', '--quiet'))
    s0 = shard_path(out, 0, 2)
    s0.write_bytes(b'\xef\xbb\xbf' + s0.read_bytes().replace(b'\n', b'\r\n').rstrip(b'\r\n'))    # as a Windows tool saves it
    _ok(cli('predict', '--merge', '--out', out))
    assert _files(out) == sorted(str(p) for p in imgs.iterdir())
    for n in ('zz1.png', 'zz2.png'): (imgs/n).write_bytes((imgs/'plain.png').read_bytes())   # the folder grew: shard 0 now ends later
    try:
        _ok(cli('predict', root/'run', imgs, '--out', out, '--shard', '0/2', '--quiet', '--overwrite'))
        r = cli('predict', '--merge', '--out', out, '--overwrite')
    finally:
        for n in ('zz1.png', 'zz2.png'): (imgs/n).unlink()
    assert r.returncode != 0 and 'Traceback' not in r.stderr and 'is in both' in r.stderr, r.stderr[-3000:]
    assert 'different file lists' in r.stderr.strip().splitlines()[-1]
