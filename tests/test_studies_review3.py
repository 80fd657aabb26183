"Studies 1, 2 and 4 as users meet them: one volunteer's clicks on touching cells, PBC folders of 3 and 5 classes, run settings refused before any image is read, three-class Kermany names"
import shutil, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image, ImageDraw
from medfast.core import DataLayoutError

def _touching_cells(root):
    "One 200 px field with two touching cells 30 px apart (centres (80, 100) and (110, 100)), saved as PNG"
    (root/'images').mkdir(parents=True)
    im = Image.new('L', (200, 200), 50)
    for x in (80, 110): ImageDraw.Draw(im).ellipse([x-13, 87, x+13, 113], fill=200)
    im.save(root/'images'/'field.png')
    return root/'images'

def test_one_volunteer_touching_cells_are_two_crops(tmp_path):
    "A lone volunteer's clicks 30 px apart (under the 35 px radius) are two cells with their own crops, not one crop between them; a double click stays one cell"
    from medfast.studies.crops import write_crops, merge_clicks
    src = _touching_cells(tmp_path/'lab')
    one = pd.DataFrame(dict(image='field.png', x=[80., 110.], y=[100., 100.], label=['alive', 'dead'], user='u1'))
    out = write_crops(src, one, tmp_path/'crops', size=32)
    cells = pd.read_csv(out/'cells.csv')
    assert sorted(zip(cells.x, cells.label)) == [(80., 'alive'), (110., 'dead')]
    assert sorted(p.parent.name for p in out.rglob('*.png')) == ['alive', 'dead']
    more = pd.concat([one, pd.DataFrame(dict(image='field.png', x=[81., 82., 111.], y=[101., 99., 100.],
                                             label=['alive', 'alive', 'dead'], user=['u1', 'u2', 'u2']))])   # u1 clicked (80, 100) twice
    m = merge_clicks(more).sort_values('x')
    assert m[['n_clicks', 'n_users', 'label', 'agreement']].values.tolist() == [[3, 2, 'alive', 1.], [2, 2, 'dead', 1.]]
    assert m.x.round(2).tolist() == [81., 110.5]

@pytest.fixture(scope='module')
def pbc(shared_data, tmp_path_factory):
    "Real PBC cells, 30 per class, linked into a folder per class"
    root = tmp_path_factory.mktemp('pbc')
    for c in ('basophil', 'eosinophil', 'lymphocyte', 'monocyte', 'neutrophil'):
        (root/c).mkdir()
        for f in [f for f in sorted((shared_data/'pbc_sample'/c).iterdir()) if f.name not in TWINS][:30]: (root/c/f.name).symlink_to(f)
    return root

TWINS = ('EO_225902.jpg', 'BNE_191112.jpg')     # the PBC sample's one cell filed twice: eosinophil and neutrophil, byte-identical

def test_pbc_cell_filed_under_two_classes(shared_data, tmp_path):
    "The sample's eosinophil EO_225902.jpg is byte for byte its neutrophil BNE_191112.jpg: named in a warning, counted when on two sides"
    from medfast.studies.blood import blood_dls
    for c, twin in zip(('eosinophil', 'neutrophil'), TWINS):
        (tmp_path/c).mkdir()
        fs = [f for f in sorted((shared_data/'pbc_sample'/c).iterdir()) if f.name != twin][:19] + [shared_data/'pbc_sample'/c/twin]
        for f in fs: (tmp_path/c/f.name).symlink_to(f)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); dls = blood_dls(tmp_path, size=32, bs=4, seed=0, n_train=12, n_valid=4, n_test=4)
    msgs = [str(o.message) for o in w]
    assert any('filed under two classes' in m and all(t in m for t in TWINS) for m in msgs), msgs
    sides = [s for s, v in dict(train=dls.train_ds.items, valid=dls.valid_ds.items, test=dls.test_items).items()
             if any(Path(o).name in TWINS for o in v)]
    assert dls.split_info['identical_files'] == (len(set(sides)) > 1)

@pytest.mark.parametrize('n', [3, 5])
def test_pbc_folders_of_three_and_five_classes(pbc, tmp_path, n):
    "A folder of 3 or 5 PBC classes (not the study's 4): that many classes, balanced sides, no warning"
    from medfast.studies.blood import blood_dls
    root = tmp_path/'cells'
    for d in sorted(pbc.iterdir())[:n]: shutil.copytree(d, root/d.name, symlinks=True)
    with warnings.catch_warnings(): warnings.simplefilter('error'); dls = blood_dls(root, size=32, bs=8, seed=0)
    assert dls.vocab == sorted(p.name for p in root.iterdir()) and len(dls.vocab) == n
    assert dls.split_info['per_class'] == {'train': 18, 'valid': 6, 'test': 6}          # 1000/300/300 fitted to 30 per class
    assert dls.split_info['sizes'] == {'train': 18*n, 'valid': 6*n, 'test': 6*n}
    x, y = dls.one_batch()
    assert tuple(x.shape) == (8, 3, 32, 32) and int(y.max()) < n

def test_pbc_odd_folder_and_batch_size(pbc, tmp_path):
    "A fifth folder that is no cell class is named in a warning; a batch size of 0 is refused in one line, not fastai's ZeroDivisionError"
    from medfast.studies.blood import blood_dls
    root = tmp_path/'cells'
    for d in sorted(pbc.iterdir())[:4]: shutil.copytree(d, root/d.name, symlinks=True)
    shutil.copytree(pbc/'neutrophil', root/'Plasma cells', symlinks=True)
    with pytest.warns(UserWarning, match='Plasma cells are not blood-cell classes'): dls = blood_dls(root, size=32, bs=8, seed=0)
    assert 'plasma_cells' in dls.vocab
    with pytest.raises(ValueError, match='bs must be a whole number of at least 1, not 0'): blood_dls(root, size=32, bs=0)

@pytest.mark.parametrize('protocol', ['medfast', 'study'])
def test_blood_run_settings_refused_before_reading(tmp_path, protocol):
    "epochs=0 (which the study protocol used to run as no training at all) or lr=0: refused before the folder is even looked at"
    from medfast.studies.blood import blood_study
    with pytest.raises(ValueError, match='epochs must be a whole number of at least 1, not 0'):
        blood_study(tmp_path/'absent', 'basenet', epochs=0, pretrained=False, protocol=protocol)
    with pytest.raises(ValueError, match='lr must be a number above 0'):
        blood_study(tmp_path/'absent', 'basenet', lr=0, pretrained=False, protocol=protocol)

def test_cell_split_needs_a_seed(tmp_path):
    "seed=None would draw another split of the source images each call: refused, as a batch size of 0 is"
    from medfast.studies.crops import split_by_source, cell_dls, write_crops
    fake = [f"img{i}__c{j:04d}.png" for i in range(20) for j in range(3)]
    assert split_by_source(fake, seed=3) == split_by_source(fake, seed=3)
    with pytest.raises(ValueError, match='seed must be a whole number'): split_by_source(fake, seed=None)
    src = _touching_cells(tmp_path/'lab')
    crops = write_crops(src, pd.DataFrame(dict(image='field.png', x=[80., 110.], y=100., label=['alive', 'dead'])), tmp_path/'c', size=16)
    with pytest.raises(ValueError, match='bs must be a whole number'): cell_dls(crops, bs=0)

def test_three_class_name_checked_before_training(shared_data, tmp_path, monkeypatch):
    "Real Kermany films in train/ and test/: a test film named without _bacteria/_virus stops a three-class run before it trains"
    import medfast.studies.pneumonia as pn
    root = tmp_path/'chest_xray'
    src = shared_data/'chest_xray_224'/'train'
    for split, sl in (('train', slice(0, 16)), ('test', slice(16, 20))):
        for c in ('NORMAL', 'PNEUMONIA'):
            (root/split/c).mkdir(parents=True)
            fs = sorted((src/c).iterdir())
            if c == 'PNEUMONIA': fs = [f for f in fs if '_virus' in f.name][:10] + [f for f in fs if '_bacteria' in f.name][:10]
            for f in fs[sl] if c == 'NORMAL' else (fs[:8] + fs[10:18] if split == 'train' else fs[8:10] + fs[18:20]):
                (root/split/c/f.name).symlink_to(f)
    film = sorted((root/'test'/'PNEUMONIA').iterdir())[0]
    film.rename(film.with_name('scan 0001.jpeg'))
    monkeypatch.setattr(pn, 'train', lambda *a, **k: pytest.fail('trained before the names were checked'))
    with pytest.raises(DataLayoutError, match=r"1 pneumonia image\(s\) say neither .*scan 0001\.jpeg"):
        pn.pneumonia_study(root, 'basenet', epochs=1, pretrained=False, size=32, bs=8, three_class=True, verify=False)
    dls = pn.pneumonia_study_dls(root, size=32, bs=8, verify=False)          # two classes: the name is not needed
    assert len(dls.test_items) == 8

def test_clicks_as_fractions_refused(tmp_path):
    "A click CSV exported with x, y as fractions of the image size (0-1) is refused, naming the fix, and writes nothing; one cell per image would follow otherwise"
    from medfast.studies.crops import write_crops
    src = _touching_cells(tmp_path/'lab')
    pd.DataFrame(dict(image='field.png', x=[.4, .55], y=[.5, .5], label=['alive', 'dead'], user=['a', 'a'])).to_csv(tmp_path/'clicks.csv', index=False)
    with pytest.raises(DataLayoutError, match='look like fractions of the image size'): write_crops(src, tmp_path/'clicks.csv', tmp_path/'crops', size=32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clicks.csv', 'lab']

def test_one_volunteers_chain_of_clicks_keeps_its_cells():
    "A volunteer's chain of clicks, each within a double-click (9 px at radius 35) of the next, stays one cell, though its end lies nearer the next cell's centre"
    from medfast.studies.crops import merge_clicks
    clicks = pd.DataFrame(dict(image='f.png', x=[100., 108., 116., 124., 133.], y=100., label='alive', user='u1'))
    m = merge_clicks(clicks, radius=35).sort_values('x')
    assert m[['x', 'n_clicks']].values.tolist() == [[112., 4], [133., 1]], m      # 124 is 9 px from 133, 12 from 112: it stays
