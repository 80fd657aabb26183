"The notebook app with models of every kind medfast makes, on real images: same label as `medfast predict`, heatmap where the model looked"
import io, shutil, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, get_image_files, parent_label, RandomSplitter, Resize
from medfast.core import UnsafeFileError
from medfast.data import folder_dls
from medfast.medmnist import medmnist_dls
from medfast.learner import medfast_learner
from medfast.inference import export, model_input
from medfast.app import predict_app, explain_image, heatmap_overlay

def _fit(learn):
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return learn

def _subset(src, dst, n, classes=None):
    for d in sorted(Path(src).iterdir()):
        if d.is_dir() and (classes is None or d.name in classes):
            (dst/d.name).mkdir(parents=True)
            for f in sorted(d.iterdir())[:n]: shutil.copy(f, dst/d.name/f.name)
    return dst

@pytest.fixture(scope='module')
def kinds(tmp_path_factory, shared_data):
    "Saved models: chest X-rays (2 classes, saved threshold; and as a pickle), blood cells (8 classes), MedMNIST 28 px; and uploads"
    root = tmp_path_factory.mktemp('app')
    cx = _subset(shared_data/'chest_xray_224'/'train', root/'cx', 8)
    learn = _fit(medfast_learner(folder_dls(cx, size=32, bs=8, seed=0, num_workers=0), 'resnet18', pretrained=False))
    learn.medfast_threshold = 0.3
    models = dict(xray=export(learn, root/'xray'/'model'), pickle=export(learn, root/'pkl'/'model', format='pickle'))
    pbc = _subset(shared_data/'pbc_sample', root/'pbc', 4)
    models['cells'] = export(_fit(medfast_learner(folder_dls(pbc, size=32, bs=8, seed=0, num_workers=0), 'resnet18', pretrained=False)),
                             root/'cells'/'model')
    d, rng = np.load(shared_data/'pneumoniamnist_28.npz'), np.random.default_rng(0)
    idx = {s: rng.choice(len(d[f'{s}_labels']), 120, replace=False) for s in ('train', 'val', 'test')}
    np.savez(root/'tiny.npz', **{f'{s}_{k}': d[f'{s}_{k}'][i] for s, i in idx.items() for k in ('images', 'labels')})
    models['mnist'] = export(_fit(medfast_learner(medmnist_dls(root/'tiny.npz', bs=32, seed=0), 'basenet', pretrained=False)),
                             root/'mnist'/'model')
    up = root/'uploads'; up.mkdir()
    for i in range(2): Image.fromarray(d['test_images'][i]).save(up/f'mnist_{i}.png')
    for src in [*sorted((shared_data/'chest_xray_224'/'train'/'NORMAL').iterdir())[-2:],
                *sorted((shared_data/'chest_xray_224'/'train'/'PNEUMONIA').iterdir())[-2:],
                *sorted((shared_data/'pbc_sample'/'platelet').iterdir())[-2:]]: shutil.copy(src, up/src.name)
    grey = np.asarray(Image.open(up/src.name).convert('L')).astype(np.uint16) * 257
    Image.fromarray(grey).save(up/'sixteen.png')                             # a 16-bit PNG
    _dicom(grey >> 4, up/'film.dcm')                                          # a 12-bit DICOM
    Image.open(up/src.name).resize((2400, 1800)).save(up/'large.jpeg', quality=90)
    return models, sorted(up.iterdir())

def _dicom(a, path):
    pydicom = pytest.importorskip('pydicom')
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    meta = FileMetaDataset(); meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1'; meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b'\0'*128)
    ds.Rows, ds.Columns = a.shape; ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelData = 1, 'MONOCHROME2', a.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)

@pytest.mark.parametrize('kind', ['xray', 'cells', 'mnist'])
def test_app_shows_what_medfast_predict_writes(kinds, kind, cli, tmp_path):
    "Every upload, one after another in one app: the label and probabilities of `medfast predict` on the same file"
    models, files = kinds
    r = cli('predict', models[kind], *files, '--out', tmp_path/'p.csv', '--quiet')
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(tmp_path/'p.csv', dtype={'label': str}).set_index('file')
    app = predict_app(models[kind])
    classes = [c[5:] for c in table.columns if c.startswith('prob_')]
    for f in files:
        res = app.show(f.read_bytes(), f.name)                               # as an upload: bytes and a name
        row = table.loc[str(f)]
        assert res['error'] is None and res['label'] == row.label, (f.name, res['error'], res['label'], row.label)
        np.testing.assert_allclose([res['probs'][c] for c in classes], row[[f'prob_{c}' for c in classes]].to_numpy(float), atol=1e-5)
        assert f"<h2>{res['label']} <small>({100*res['probs'][res['label']]:.1f}%)</small></h2>" == app.label.value
        assert app.image.value[:4] == b'\x89PNG' and app.status.value.startswith(f"{f.name}: ")
        assert ('Decision threshold' in app.probs.value) == (kind == 'xray')
        if res['heatmap'] is not None: assert res['heatmap'].shape == tuple(model_input(app.learn, f)[0].shape[-2:])

def test_pickle_only_with_opt_in(kinds):
    "A fastai pickle is refused without trust_pickle=True, warned about with it, and then predicts as the safe export"
    models, files = kinds
    with pytest.raises(UnsafeFileError, match='trust_pickle'): predict_app(models['pickle'])
    with pytest.raises(UnsafeFileError): explain_image(models['pickle'], files[0])
    with pytest.warns(UserWarning, match='trust_pickle=True'): app = predict_app(models['pickle'], trust_pickle=True)
    res, safe = app.show(files[0]), explain_image(models['xray'], files[0])
    assert (res['label'], res['threshold']) == (safe['label'], 0.3)
    np.testing.assert_allclose(list(res['probs'].values()), list(safe['probs'].values()), atol=1e-5)

def test_no_state_carried_between_uploads(kinds):
    "A bad upload after a good one clears everything shown; the good one again shows exactly what it showed first"
    models, files = kinds
    app = predict_app(models['cells'])
    first = app.show(files[0].read_bytes(), files[0].name)
    shown = (app.label.value, app.probs.value, app.image.value, app.overlay.value)
    for bad, why in [(b'', 'empty'), (b'%PDF-1.7\n', 'not an image'), (files[0].read_bytes()[:200], 'truncated')]:
        app.show(bad, 'report.png')
        assert app.result['label'] is None and why in app.status.value and 'report.png' in app.status.value
        assert (app.label.value, app.probs.value, app.image.value, app.overlay.value) == ('', '', b'', b'')
    app._on_upload({'new': ({'name': files[0].name, 'content': memoryview(files[0].read_bytes())},)})
    assert (app.label.value, app.probs.value, app.image.value, app.overlay.value) == shown
    assert app.result['probs'] == first['probs']

def test_heatmap_lands_where_a_cropping_model_looked(tmp_path, shared_data):
    "A fastai model made outside medfast with `Resize(32)` (fastai's default: centre crop) on wide images: the heatmap covers the crop"
    data = _subset(shared_data/'pbc_sample', tmp_path/'pbc', 4, classes=('basophil', 'platelet'))
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, splitter=RandomSplitter(seed=0), get_y=parent_label,
                    item_tfms=Resize(32)).dataloaders(data, bs=4, num_workers=0)
    js = export(_fit(medfast_learner(dls, 'resnet18', pretrained=False)), tmp_path/'model')
    wide = tmp_path/'wide.png'; Image.open(sorted((data/'platelet').iterdir())[0]).resize((300, 100)).save(wide)
    app = predict_app(js); res = app.show(wide)
    assert res['heat_box'] == (100, 0, 200, 100)                              # the centre square fastai's crop keeps
    x, _ = model_input(app.learn, wide); a = x[0, 0].numpy(); a = (a - a.min())/(a.max() - a.min())   # the model's input, as a heatmap
    shown = np.asarray(res['image'].convert('L'), dtype=float)[:, 100:200]
    def match(box): return np.corrcoef(np.asarray(heatmap_overlay(res['image'], a, 1., 'gray', box))[:, 100:200, 0].ravel(), shown.ravel())[0, 1]
    assert match(res['heat_box']) > 0.9 and match(None) < match(res['heat_box']) - 0.2, (match(res['heat_box']), match(None))
    assert Image.open(io.BytesIO(app.overlay.value)).size == res['image'].size
