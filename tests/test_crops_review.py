"Cell crops as a researcher brings them: an Excel CSV of clicks, 16-bit TIFFs with non-ASCII names, absolute paths, a run cut short"
import numpy as np, pandas as pd, pytest
from PIL import Image
from medfast.core import DataLayoutError
from medfast.studies.crops import synthetic_cell_images, load_clicks, write_crops, cell_dls, source_image

NAMES = {'cells_000.png': 'célula ñ__1.tif', 'cells_001.png': 'célula ñ__2.tif', 'cells_002.png': 'Zelle ü.tif'}

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "Three 16-bit TIFFs with non-ASCII names (two holding '__') and their clicks as Excel saves a CSV: cp1252, ';', capitalised headers"
    d = tmp_path_factory.mktemp('lab')
    syn = synthetic_cell_images(d/'syn', n_images=3, seed=0)
    (d/'tiffs').mkdir()
    for a, b in NAMES.items():
        Image.fromarray(np.asarray(Image.open(syn/'images'/a)).astype(np.uint16)*200).save(d/'tiffs'/b)
    clicks = load_clicks(syn/'clicks.json')
    clicks = clicks.assign(image=clicks.image.map(NAMES)).rename(columns={'image': 'Image', 'x': 'X', 'y': 'Y', 'label': 'Label'})
    clicks.to_csv(d/'clicks.csv', index=False, sep=';', encoding='cp1252')
    return d

def test_excel_csv_16bit_tiffs(lab):
    with pytest.warns(UserWarning, match='Windows-1252'): crops = write_crops(lab/'tiffs', lab/'clicks.csv', lab/'crops', size=32)
    files = sorted(crops.rglob('*.png'))
    assert {source_image(f) for f in files} == {'célula ñ__1', 'célula ñ__2', 'Zelle ü'}   # one source per image, '__' or not
    arrs = [np.asarray(Image.open(f)) for f in files]
    assert {a.dtype for a in arrs} == {np.dtype('uint8')} and max(a.max() for a in arrs) > 100   # windowed to 8 bits, not clipped white
    dls = cell_dls(crops, bs=4, num_workers=0, seed=0)
    assert dls.split_info['images'] == {'train': 1, 'valid': 1, 'test': 1}
    with pytest.warns(UserWarning): again = write_crops(lab/'tiffs', lab/'clicks.csv', lab/'crops', size=32)   # re-run: beside it
    assert again == lab/'crops-2' and sorted(crops.rglob('*.png')) == files

def test_absolute_paths_stay_in_dest(lab, tmp_path):
    clicks = load_clicks(lab/'syn'/'clicks.json')
    before = set(tmp_path.parent.iterdir())
    out = write_crops(lab/'syn'/'images', clicks.assign(image=clicks.image.map(lambda i: str(lab/'syn'/'images'/i))),
                      tmp_path/'crops', size=16)
    tab = pd.read_csv(out/'cells.csv')
    assert all((out/f).is_file() for f in tab.crop) and len(list(out.rglob('*.png'))) == len(tab)
    assert set(tmp_path.parent.iterdir()) == before
    far = clicks.assign(image=str(lab/'tiffs'/'Zelle ü.tif'))
    with pytest.raises(DataLayoutError, match='not inside the image folder'): write_crops(lab/'syn'/'images', far, tmp_path/'far', size=16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['crops']

def test_interrupted_run_leaves_nothing(lab, tmp_path, monkeypatch):
    saved, real_save = [], Image.Image.save
    def save(self, fp, *args, **kwargs):
        if len(saved) == 5: raise KeyboardInterrupt
        saved.append(fp); return real_save(self, fp, *args, **kwargs)
    monkeypatch.setattr(Image.Image, 'save', save)
    with pytest.raises(KeyboardInterrupt): write_crops(lab/'syn'/'images', lab/'syn'/'clicks.json', tmp_path/'crops', size=16)
    assert list(tmp_path.iterdir()) == [] and not any(p.exists() for p in saved)
