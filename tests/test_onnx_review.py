"ONNX export as a user ships it: a runtime written from the .onnx.json alone answers as PyTorch does on real files"
import io, json, math, pickle, sys
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image, ImageOps
from conftest import run_python

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')
from medfast.core import ModelMismatchError, UnsafeFileError
from medfast.data import folder_dls
from medfast.learner import medfast_learner
from medfast.inference import export, load, predict, build_model, spec_sha256
from medfast.onnx import export_onnx, predict_onnx, load_onnx, ort_session
from medfast.recipes import DihedralMean, Ensemble

DATA = Path(__file__).resolve().parents[2]/'shared'/'data'
if not (DATA/'chest_xray_224').is_dir() or not (DATA/'pbc_sample').is_dir(): pytest.skip('needs /work/shared/data', allow_module_level=True)

# --- a runtime that knows only the .onnx.json: PIL, numpy and onnxruntime, no medfast and no torch ---
def contract_input(path, spec):
    "The model-ready (C, H, W) array of image file `path`, made by following `spec`'s preprocessing contract"
    img = spec['image']; r = img['resize']
    dec = None
    if img.get('fast_decode'):                                   # 'open with PIL; a JPEG at reduced scale ...'
        dec = r.get('detail') or r['size']
        if r.get('crop'): dec = [math.ceil(s / r['crop']) for s in dec]
    dh, dw = dec or (None, None)
    im = Image.open(path)
    if dec and im.format == 'JPEG': im.draft(None, (dh, dw) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (dw, dh))
    im = ImageOps.exif_transpose(im)
    if im.mode in ('I', 'F', 'I;16', 'I;16L', 'I;16B', 'I;16N'):  # block mean, then the 0.5-99.5 percentile window
        a = np.asarray(im).astype(np.float32)
        f = min(a.shape[1] // dw, a.shape[0] // dh) if dec else 1
        if f >= 2:
            h, w = a.shape[0] // f * f, a.shape[1] // f * f
            a = a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3), dtype=np.float32)
        lo, hi = np.percentile(a, (0.5, 99.5))
        im = Image.fromarray(np.rint(np.clip((a - lo) * (255 / (hi - lo)), 0, 255)).astype(np.uint8), 'L')
    if im.mode in ('P', 'RGBA', 'LA'):                           # transparent pixels on black
        im = Image.alpha_composite(Image.new('RGBA', im.size, (0, 0, 0, 255)), im.convert('RGBA'))
    im = im.convert(img['mode'])
    if dec and (f := min(im.size[0] // dw, im.size[1] // dh)) >= 2: im = im.reduce(f)
    if r.get('crop'):
        W, H = im.size; cw, ch = max(1, round(W*r['crop'])), max(1, round(H*r['crop']))
        im = im.crop(((W-cw)//2, (H-ch)//2, (W-cw)//2 + cw, (H-ch)//2 + ch))
    if r.get('detail'): im = im.resize(r['detail'][::-1], Image.Resampling.BICUBIC)
    im = im.resize(r['size'][::-1], Image.Resampling.BILINEAR)
    a = np.asarray(im, np.float32) / 255.
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if img.get('grey_to_rgb'): a = np.repeat(a, 3, 0)
    if (n := spec.get('normalize')): a = (a - np.float32(n['mean'])[:, None, None]) / np.float32(n['std'])[:, None, None]
    return a.astype(np.float32)

def contract_predict(js, files):
    "Probabilities and labels of `files` by the contract, the network and the decision rule in description `js`"
    spec = json.loads(Path(js).read_text()); out = spec['output']
    sess = ort.InferenceSession(str(Path(js).parent/spec['onnx']), providers=['CPUExecutionProvider'])
    z = sess.run(None, {spec['input']['name']: np.stack([contract_input(f, spec) for f in files])})[0].astype(np.float64)
    if out['activation'] == 'sigmoid': p = 1 / (1 + np.exp(-z))
    else: e = np.exp(z - z.max(1, keepdims=True)); p = e / e.sum(1, keepdims=True)
    t, cs = out['threshold'], out['classes']
    return p, [cs[int(q[1] >= t)] if t is not None and len(cs) == 2 else cs[int(np.argmax(q))] for q in p]

def _copy(src, dst, n):
    for c in sorted(p for p in src.iterdir() if p.is_dir()):
        (dst/c.name).mkdir(parents=True)
        for f in sorted(c.iterdir())[:n]: (dst/c.name/f.name).write_bytes(f.read_bytes())
    return dst

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "Real chest films and blood-cell photos, and what users also hand in: 16-bit, EXIF-turned, transparent, palette, grey"
    root = tmp_path_factory.mktemp('onnx_review')
    xr, pbc = _copy(DATA/'chest_xray_224'/'train', root/'xr', 8), _copy(DATA/'pbc_sample', root/'pbc', 4)
    odd = root/'odd'; odd.mkdir()
    film = Image.open(next((xr/'PNEUMONIA').iterdir())).convert('L')
    rng = np.random.default_rng(0)
    a16 = (np.asarray(film.resize((300, 260)), np.float32) * 9 + 400 + rng.normal(0, 30, (260, 300))).clip(0, 65535).astype(np.uint16)
    Image.fromarray(a16).save(odd/'sixteen.png')
    cell = Image.open(next((pbc/'basophil').iterdir()))
    ex = cell.resize((200, 120)).getexif(); ex[0x0112] = 6
    cell.resize((200, 120)).save(odd/'turned.jpg', exif=ex, quality=92)
    rgba = cell.convert('RGBA'); rgba.putalpha(Image.linear_gradient('L').resize(cell.size)); rgba.save(odd/'alpha.png')
    cell.convert('P', palette=Image.Palette.ADAPTIVE).save(odd/'palette.png')
    film.save(odd/'grey.jpg', quality=90)
    return dict(root=root, xr=xr, pbc=pbc, odd=odd,
                all=sorted(xr.rglob('*.jpeg')) + sorted(pbc.rglob('*.jpg')) + sorted(odd.iterdir()))

def _check_same(learn, files, tmp, name):
    "Export `learn` both ways: PyTorch, medfast's onnxruntime path and the contract runtime agree within 1e-4, labels too"
    js = export_onnx(learn, tmp/name, overwrite=True)
    eager = predict(load(export(learn, tmp/f'{name}_torch', overwrite=True)), files, progress=False)
    cols = [c for c in eager.columns if c.startswith('prob_')]
    assert eager.error.isna().all(), eager.error.dropna().tolist()
    fast = predict_onnx(js, files, progress=False, bs=5)
    p, labels = contract_predict(js, files)
    assert np.abs(eager[cols].values - fast[cols].values).max() < 1e-4
    assert np.abs(eager[cols].values - p).max() < 1e-4, json.loads(js.read_text())['input']['steps']
    assert eager.label.tolist() == fast.label.tolist() == labels
    return js, eager

def test_contract_reproduces_torch_on_real_files(files, tmp_path):
    "Fast-decoded JPEGs (draft), 16-bit windowing, EXIF, alpha, crop, detail: each model, each file, within 1e-4"
    torch.manual_seed(0)
    cells = medfast_learner(folder_dls(files['pbc'], size=48, crop=0.7, bs=4, seed=0, num_workers=0), 'xresnet18_half', pretrained=False)
    cells.model = DihedralMean(cells.model)                      # the cells recipe's averaging over flips and turns
    js, _ = _check_same(cells, files['all'], tmp_path, 'cells')
    spec = json.loads(js.read_text())
    assert spec['image']['fast_decode'] and spec['input']['steps'][0].startswith('open with PIL; a JPEG at reduced scale: im.draft(None, (69, 69))')
    xr = medfast_learner(folder_dls(files['xr'], size=48, detail=28, bs=4, seed=0, num_workers=0), 'resnet18_small', pretrained=False)
    _check_same(xr, files['all'], tmp_path, 'xr')
    plain = medfast_learner(folder_dls(files['xr'], size=40, bs=4, seed=0, num_workers=0, fast_decode=False), 'resnet18_small', pretrained=False)
    js, _ = _check_same(plain, files['all'], tmp_path, 'plain')
    assert 'squish to 40x40 px (PIL bilinear, antialiased; the aspect ratio is not kept)' in json.loads(js.read_text())['input']['steps']

def test_medmnist_grey_model_and_threshold(files, tmp_path):
    "A grey MedMNIST model (mode L, grey to RGB, normalised) on every kind of file; the saved threshold decides both ways"
    from medfast.synthetic import synthetic_medmnist
    from medfast.medmnist import medmnist_dls
    torch.manual_seed(1)
    learn = medfast_learner(medmnist_dls(synthetic_medmnist(tmp_path/'t.npz', n=16, size=28, seed=0), size=32, bs=8), 'resnet18_small', pretrained=False)
    _, eager = _check_same(learn, files['all'], tmp_path, 'grey')
    p1 = np.sort(eager.iloc[:, 3].values)                         # P(second class)
    learn.medfast_threshold = float((p1[len(p1)//2 - 1] + p1[len(p1)//2]) / 2)   # between two images: half go each way
    js, eager = _check_same(learn, files['all'], tmp_path, 'grey_t')
    assert eager.label.nunique() == 2
    assert json.loads(js.read_text())['output']['decision'].endswith(f">= {learn.medfast_threshold!r} else classes[0]")

def test_ensemble_and_dynamic_batches(files, tmp_path):
    "A two-member ensemble exports as one graph; any batch size gives the answers one image at a time gives"
    torch.manual_seed(2)
    learn = medfast_learner(folder_dls(files['xr'], size=32, bs=4, seed=0, num_workers=0), 'resnet18_small', pretrained=False)
    learn.model = Ensemble([learn.model, build_model('resnet18_small', 2, 3)])
    js, _ = _check_same(learn, files['all'][:12], tmp_path, 'ens')
    assert json.loads(js.read_text())['model_kwargs']['ensemble'] == 2
    sess, x = ort_session(tmp_path/'ens.onnx', threads=1), np.random.default_rng(0).normal(size=(17, 3, 32, 32)).astype(np.float32)
    one = np.concatenate([sess.run(None, {'input': x[i:i+1]})[0] for i in range(17)])
    for bs in (3, 17): assert np.abs(np.concatenate([sess.run(None, {'input': x[i:i+bs]})[0] for i in range(0, 17, bs)]) - one).max() < 1e-5

@pytest.fixture(scope='module')
def small(tmp_path_factory, files):
    "A small exported PyTorch model, and its learner"
    d = tmp_path_factory.mktemp('small')
    learn = medfast_learner(folder_dls(files['xr'], size=32, bs=4, seed=0, num_workers=0), 'resnet18_small', pretrained=False)
    return d, learn, export(learn, d/'torch')

def test_safetensors_weights_are_the_models(small):
    "OUT.safetensors holds the very tensors of the model (a safe file: no pickle), and they rebuild the network"
    from safetensors.torch import load_file
    d, learn, safe = small
    js = export_onnx(safe, d/'st', safetensors=True)
    spec = json.loads(js.read_text())
    w = load_file(str(d/spec['safetensors']))
    ref = torch.load(d/'torch.pth', weights_only=True)
    assert sorted(w) == sorted(ref) and all(torch.equal(w[k], ref[k]) for k in ref)
    build_model(spec['arch'], len(spec['classes']), spec['n_in'], **spec['model_kwargs']).load_state_dict(w)

def test_existing_files_kept_unless_overwrite(small):
    "A second export to the same name is refused and leaves the first intact; --overwrite replaces the pair together"
    d, learn, safe = small
    js = export_onnx(learn, d/'keep')
    before = (d/'keep.onnx').read_bytes(), js.read_bytes()
    with pytest.raises(FileExistsError, match='overwrite'): export_onnx(learn, d/'keep.onnx')
    assert ((d/'keep.onnx').read_bytes(), js.read_bytes()) == before
    with torch.no_grad(): first(learn.model.parameters()).add_(1.)
    export_onnx(learn, d/'keep', overwrite=True)
    assert (d/'keep.onnx').read_bytes() != before[0]
    load_onnx(js)                                                  # the new pair matches

def first(it): return next(iter(it))

def test_refused_with_reasons(small, files):
    "An ONNX learner re-exported, a description of another network, a missing description, a network with no image input"
    import onnx
    from onnx import helper, TensorProto
    d, learn, safe = small
    js = export_onnx(learn, d/'a')
    with pytest.raises(ModelMismatchError, match='is an ONNX model already'): export_onnx(load_onnx(js), d/'b')
    assert not list(d.glob('b.*'))
    (d/'lonely.onnx').write_bytes((d/'a.onnx').read_bytes())
    with pytest.raises(Exception, match='copy the pair together'): load_onnx(d/'lonely.onnx')
    (d/'lonely.onnx.json').write_bytes(js.read_bytes())            # a's description, renamed
    with pytest.raises(ModelMismatchError, match='describes the network a.onnx, not lonely.onnx'): load_onnx(d/'lonely.onnx')
    g = helper.make_graph([helper.make_node('Constant', [], ['logits'], value=helper.make_tensor('v', TensorProto.FLOAT, [1, 2], [0., 1.]))],
                          'c', [], [helper.make_tensor_value_info('logits', TensorProto.FLOAT, [1, 2])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]), d/'const.onnx')
    spec = json.loads(js.read_text())
    import hashlib
    spec.update(onnx='const.onnx', onnx_sha256=hashlib.sha256((d/'const.onnx').read_bytes()).hexdigest()); spec['spec_sha256'] = spec_sha256(spec)
    (d/'const.onnx.json').write_text(json.dumps(spec))
    with pytest.raises(ModelMismatchError, match='not an image classifier medfast can run'): load_onnx(d/'const.onnx')

def test_nothing_unpickled(small, files, monkeypatch):
    "Loading and running an ONNX model never unpickles; exporting a pickle needs the opt-in"
    d, learn, safe = small
    js = export_onnx(learn, d/'np')
    export(learn, d/'pk', format='pickle')
    def refuse(*a, **k): raise AssertionError('unpickled')
    monkeypatch.setattr(pickle, 'load', refuse); monkeypatch.setattr(pickle, 'loads', refuse)
    monkeypatch.setattr(torch, 'load', refuse)
    predict_onnx(js, files['all'][:3], progress=False)
    with pytest.raises(UnsafeFileError, match='trust_pickle=True'): export_onnx(d/'pk.pkl', d/'fromp')
    assert not list(d.glob('fromp*'))

def test_cli_without_onnxruntime_says_how_to_install(small, files, tmp_path):
    "medfast predict MODEL.onnx where onnxruntime is missing: one line naming the extra, exit 1, no traceback"
    d, learn, safe = small
    js = export_onnx(learn, d/'cli')
    script = tmp_path/'noort.py'
    script.write_text("import sys; sys.modules['onnxruntime'] = None\nfrom medfast.cli import main\n"
                      f"sys.exit(main(['predict', {str(d/'cli.onnx')!r}, {str(files['odd'])!r}, '--out', {str(tmp_path/'p.csv')!r}]))")
    r = run_python(script, cwd=tmp_path, fresh=True)
    assert r.returncode == 1 and 'pip install "medfast[onnx]"' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path/'p.csv').exists()

@pytest.mark.parametrize('models, says', [('nope:48', "Unknown architecture 'nope'"), ('resnet18_small:4', 'PX must be a whole number')])
def test_bench_onnx_refuses_bad_models_first(models, says):
    "bench/onnx.py --models with a misspelt network or size: a usage error before any timing, no traceback"
    r = run_python(Path(__file__).resolve().parents[1]/'bench'/'onnx.py', '--models', models, timeout=120)
    assert r.returncode == 2 and says in r.stderr and 'Traceback' not in r.stderr and 'ceiling' not in r.stdout, r.stderr[-2000:]
