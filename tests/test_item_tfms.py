"A registered item transform (the blood-cell study's cell-centred crop) travels with an exported model into a fresh process"
import json, warnings
import pandas as pd, pytest


@pytest.fixture(scope='module')
def blood_model(tmp_path_factory):
    "A tiny blood-cell model trained on images whose cells sit off centre (so the crop matters), exported, and its Learner"
    from PIL import Image, ImageDraw
    from medfast.studies.blood import blood_cell_learner, synthetic_blood_cells, CellCentreCrop
    from medfast.inference import export
    tmp = tmp_path_factory.mktemp('blood')
    cells = synthetic_blood_cells(tmp/'cells', n=8, size=(120, 90), seed=0)
    off = tmp/'off'; off.mkdir()
    for k, (x, y) in enumerate([(20, 20), (95, 60), (30, 70)]):          # a violet "nucleus" far from the centre
        im = Image.new('RGB', (120, 90), (236, 214, 206)); ImageDraw.Draw(im).ellipse([x-10, y-10, x+10, y+10], fill=(90, 50, 150))
        im.save(off/f'off_{k}.png')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        learn = blood_cell_learner(cells, 'basenet', pretrained=False, size=32, bs=8, frac='auto', seed=0, num_workers=0)
        learn.fit(1, 1e-3)
    assert any(isinstance(t, CellCentreCrop) for t in learn.dls.after_item.fs)
    return learn, export(learn, tmp/'model'/'model'), off


def test_crop_recorded_with_its_module(blood_model):
    _, js, _ = blood_model
    spec = json.loads(js.read_text())
    assert spec['image']['before_resize'] == [dict(tfm='CellCentreCrop', module='medfast.studies.blood', args=dict(frac=1.0))]
    assert spec['format_version'] == 7


def test_fresh_process_predicts_as_the_learner(blood_model, cli, tmp_path):
    "`medfast predict` in a process that never imported the blood study crops as training did: the Learner's probabilities"
    from medfast.inference import predict
    learn, js, off = blood_model
    r = cli('predict', str(js), str(off), '--out', str(tmp_path/'p.csv'), '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'not reproduced' not in r.stderr
    got = pd.read_csv(tmp_path/'p.csv').sort_values('file')
    cols = [f'prob_{c}' for c in learn.dls.vocab]
    ref = predict(learn, sorted(off.iterdir()), progress=False)
    assert list(got.file.map(lambda f: f.rsplit('/', 1)[-1])) == [p.name for p in sorted(off.iterdir())]
    assert abs(got[cols].values - ref[cols].values).max() < 1e-4


def test_onnx_export_warns_it_drops_the_crop(blood_model, tmp_path):
    pytest.importorskip('onnx')
    from medfast.onnx import export_onnx
    _, js, _ = blood_model
    with pytest.warns(UserWarning, match=r"\['CellCentreCrop'\] are not part of the ONNX preprocessing contract"):
        out = export_onnx(js, tmp_path/'m')
    assert 'before_resize' not in json.loads(out.read_text())['image']
