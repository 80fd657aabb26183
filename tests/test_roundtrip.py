"Round trip: a tiny trained learner exported safe and pickled, reloaded in a fresh process, gives identical probabilities"
import json, subprocess, sys, textwrap
from functools import partial
from pathlib import Path
import numpy as np, pytest, torch

from fastai.vision.all import (DataBlock, CategoryBlock, Normalize, Resize, ResizeMethod, RandomSplitter,
                               parent_label, imagenet_stats)
from medfast.core import ModelMismatchError
from medfast.synthetic import synthetic_xrays
from medfast.data import folder_dls
from medfast.images import MedImageBW, MedImageBlock, image_files
from medfast.learner import medfast_learner
from medfast.inference import export, load, predict, spec_sha256

PROBE = textwrap.dedent("""
    import sys, json, numpy as np
    from medfast.inference import load, predict
    models, files, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    probs, info = {}, {}
    for i, model in enumerate(models):
        learn = load(model, device='cpu', trust_pickle=model.endswith('.pkl'))
        table = predict(learn, files, bs=3, progress=False)
        assert table.error.isna().all(), table.error.tolist()
        probs[str(i)] = table.filter(like='prob_').to_numpy()
        info[model] = dict(classes=[str(c) for c in learn.dls.vocab], arch=learn.arch_name, labels=table.label.tolist())
    np.savez(out, **probs)
    print(json.dumps(info))
""")

def probe(models, files, out):
    "Load each of `models` in one fresh Python process; return ([probabilities], [info]) for `files`"
    models = [str(m) for m in models]
    r = subprocess.run([sys.executable, '-c', PROBE, json.dumps(models), json.dumps([str(f) for f in files]), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    arrays, info = np.load(out), json.loads(r.stdout.strip().splitlines()[-1])
    return [arrays[str(i)] for i in range(len(models))], [info[m] for m in models]

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return synthetic_xrays(tmp_path_factory.mktemp('rt')/'xr', n=16, size=48, seed=0)

@pytest.fixture(scope='module')
def rgb_learner(data):
    "resnet18 on RGB 32 px images, with ImageNet normalisation (as a pretrained model would have)"
    dls = folder_dls(data/'train', size=32, bs=8, seed=0, num_workers=0)
    dls.add_tfms([Normalize.from_stats(*imagenet_stats)], 'after_batch')
    learn = medfast_learner(dls, 'resnet18', pretrained=False)
    learn.fit(1, 1e-3)
    return learn

@pytest.fixture(scope='module')
def grey_learner(data):
    "A from-scratch registry CNN on 1-channel, non-square (40x32) images"
    dls = DataBlock(blocks=(MedImageBlock(MedImageBW), CategoryBlock), get_items=image_files, get_y=parent_label,
                    splitter=RandomSplitter(seed=0), item_tfms=Resize((40, 32), ResizeMethod.Squish)
                    ).dataloaders(data/'train', bs=8, num_workers=0)
    learn = medfast_learner(dls, 'basenet', pretrained=False)
    learn.fit(1, 1e-3)
    return learn

@pytest.mark.parametrize('which', ['rgb_learner', 'grey_learner'])
def test_roundtrip_fresh_process(which, data, tmp_path, request):
    learn = request.getfixturevalue(which)
    files = sorted(image_files(data/'test'))
    assert len(files) >= 4
    here = predict(learn, files, bs=3, progress=False)
    expected = here.filter(like='prob_').to_numpy()
    js = export(learn, tmp_path/'safe'/'model')
    pkl = export(learn, tmp_path/'pickled'/'model', format='pickle')
    assert {p.name for p in js.parent.iterdir()} == {'model.json', 'model.pth'}
    assert pkl.name == 'model.pkl'
    spec = json.loads(js.read_text())
    assert spec['arch'] == learn.arch_name and spec['classes'] == list(learn.dls.vocab)
    (safe_p, pkl_p, dir_p), (safe_info, pkl_info, _) = probe([js, pkl, tmp_path/'safe'], files, tmp_path/'p.npz')
    same = np.testing.assert_array_equal if not torch.cuda.is_available() else \
           partial(np.testing.assert_allclose, rtol=0, atol=1e-6)   # a GPU may pick another (exact float32) kernel in a new process
    same(safe_p, expected)
    same(pkl_p, expected)
    same(dir_p, expected)                                   # the run folder loads the same model
    assert safe_info == pkl_info == dict(classes=list(learn.dls.vocab), arch=learn.arch_name, labels=here.label.tolist())

def test_safe_format_details(rgb_learner, grey_learner, tmp_path):
    spec = json.loads(export(rgb_learner, tmp_path/'a').read_text())
    assert spec['normalize']['mean'] == pytest.approx(list(imagenet_stats[0]))
    assert spec['image'] == dict(mode='RGB', resize=dict(tfm='Resize', size=[32, 32], method='squish', pad_mode='reflection'),
                                 grey_to_rgb=False, fast_decode=True)
    g = json.loads(export(grey_learner, tmp_path/'g').read_text())
    assert (g['n_in'], g['image']['mode'], g['image']['resize']['size']) == (1, 'L', [40, 32])
    assert g['image']['fast_decode'] is False                  # MedImageBlock without a size hint: full-size decoding
    # weights are tensors only: loadable with weights_only=True
    sd = torch.load(tmp_path/'a.pth', weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in sd.values())

def test_export_refuses_overwrite(rgb_learner, tmp_path):
    export(rgb_learner, tmp_path/'m')
    export(rgb_learner, tmp_path/'m', format='pickle')
    before = (tmp_path/'m.pth').read_bytes()
    with pytest.raises(FileExistsError, match='already exists'): export(rgb_learner, tmp_path/'m')
    with pytest.raises(FileExistsError, match='already exists'): export(rgb_learner, tmp_path/'m', format='pickle')
    assert (tmp_path/'m.pth').read_bytes() == before
    export(rgb_learner, tmp_path/'m', overwrite=True)

def test_model_mismatch(rgb_learner, tmp_path):
    js = export(rgb_learner, tmp_path/'m')
    pkl = export(rgb_learner, tmp_path/'m', format='pickle')
    for path in (js, pkl):
        t = dict(trust_pickle=True) if path == pkl else {}
        assert load(path, classes=['NORMAL', 'PNEUMONIA'], arch='resnet18', **t).arch_name == 'resnet18'
        with pytest.raises(ModelMismatchError, match='predicts classes'): load(path, classes=['NORMAL', 'COVID'], **t)
        with pytest.raises(ModelMismatchError, match='different order'): load(path, classes=['PNEUMONIA', 'NORMAL'], **t)
        with pytest.raises(ModelMismatchError, match="is a 'resnet18' model"): load(path, arch='resnet34', **t)
    # a JSON describing a different architecture than the weights were trained with
    spec = json.loads(js.read_text()); spec.update(arch='resnet34'); spec['spec_sha256'] = spec_sha256(spec)
    js.write_text(json.dumps(spec))
    with pytest.raises(ModelMismatchError, match='do not fit'): load(js)
    spec.update(arch='no_such_net'); spec['spec_sha256'] = spec_sha256(spec); js.write_text(json.dumps(spec))
    with pytest.raises(ModelMismatchError, match='Unknown architecture'): load(js)
    # refusing a wrong arch name at export time, before anything is written
    with pytest.raises(ModelMismatchError, match='different network'): export(rgb_learner, tmp_path/'x', arch='resnet34')
    assert not (tmp_path/'x.pth').exists()
