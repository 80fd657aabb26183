"Blood-cell study as a haematology researcher uses it: their own folder of real PBC cells, exported and predicted"
import shutil, warnings
from collections import Counter
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image

CLASSES = ('basophil', 'eosinophil', 'lymphocyte', 'platelet')

@pytest.fixture(scope='module')
def own_folder(shared_data, tmp_path_factory):
    "Real PBC cells saved the ways users' folders hold them: TIFF with a non-ASCII name, 16-bit grey and RGBA PNG, one class in two folders"
    src, root = shared_data/'pbc_sample', tmp_path_factory.mktemp('own')/'cells'
    for c in CLASSES:
        for i, f in enumerate(sorted((src/c).iterdir())[:20]):
            im, d = Image.open(f), root/('Platelet' if c == 'platelet' and i % 2 else c)   # a class in two cases
            d.mkdir(parents=True, exist_ok=True)
            if c == 'basophil': im.save(d/f"célula {i}.tif")
            elif c == 'eosinophil' and i % 2: Image.fromarray(np.asarray(im.convert('L')).astype(np.uint16)*257).save(d/f"e{i}.png")
            elif c == 'eosinophil': im.convert('RGBA').save(d/f"e{i}.png")
            else: shutil.copy(f, d/f.name)
    return root

def test_own_folder_classes_and_formats(own_folder):
    "Folder names in two cases are one class; TIFF, 16-bit and RGBA cells load as 8-bit RGB batches"
    from medfast.studies.blood import blood_dls
    with warnings.catch_warnings(): warnings.simplefilter('error'); dls = blood_dls(own_folder, size=64, bs=8, seed=0)
    assert dls.vocab == list(CLASSES)
    assert Counter(dls.train_ds.vocab[int(y)] for _, y in dls.train_ds) == {c: 12 for c in CLASSES}
    x, _ = dls.one_batch()
    assert tuple(x.shape) == (8, 3, 64, 64) and x.std() > 0.05

def test_tiny_class_warns(own_folder, tmp_path):
    "One class of 3 cells: frac='auto' warns naming it; balance='augment' keeps the others' images"
    from medfast.studies.blood import blood_dls
    root = tmp_path/'few'; shutil.copytree(own_folder, root); shutil.rmtree(root/'Platelet')
    for f in sorted((root/'platelet').iterdir())[3:]: f.unlink()
    with pytest.warns(UserWarning, match=r"fitted the split to class 'platelet' \(3 images\)"):
        dls = blood_dls(root, size=32, bs=4, seed=0)
    assert dls.split_info['per_class'] == {'train': 1, 'valid': 1, 'test': 1}
    aug = blood_dls(root, size=32, bs=4, seed=0, balance='augment')
    assert aug.split_info['per_class']['train'] == 12 and aug.split_info['train_originals']['basophil'] == 12

def test_export_and_predict_new_cell(own_folder, shared_data, tmp_path, cli):
    "A trained blood learner exports in the safe format; `medfast predict` labels new real cells (JPEG, 16-bit TIFF)"
    from medfast.studies.blood import blood_study
    from medfast.inference import export, load, predict
    learn, _ = blood_study(own_folder, 'basenet', epochs=1, pretrained=False, size=32, bs=8, seed=0, classes=CLASSES)
    js = export(learn, tmp_path/'model')
    new = tmp_path/'new'; new.mkdir()
    src = sorted((shared_data/'pbc_sample'/'lymphocyte').iterdir())[-1]              # a cell the folder does not hold
    shutil.copy(src, new/'nouvelle cellule.jpg')
    Image.fromarray(np.asarray(Image.open(src).convert('L')).astype(np.uint16)*257).save(new/'cell16.tif')
    p = predict(load(js), new/'nouvelle cellule.jpg')
    assert p.label in CLASSES and abs(sum(p.probs.values()) - 1) < 1e-4
    r = cli('predict', str(js), str(new), '--out', str(tmp_path/'pred.csv'), '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    df = pd.read_csv(tmp_path/'pred.csv')
    assert len(df) == 2 and df['label'].isin(CLASSES).all() and df['error'].isna().all()
