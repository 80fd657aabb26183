"Studies 1-3 (pneumonia, blood cells, blastocyst) on real files: full-size synthetic layouts and the shared real data"
import warnings
from collections import Counter
from pathlib import Path
import numpy as np, pytest
from PIL import Image

DATA = Path(__file__).resolve().parent.parent.parent/'shared'/'data'

def _need(p):
    if not p.exists(): pytest.skip(f'real data not available at {p}')
    return p

def test_blood_full_size_layout(tmp_path):
    "The study's 1200x900 pathology-folder layout, read through the CSV map and centre-square crop"
    from medfast.studies.blood import synthetic_blood_cells, blood_dls, BLOOD4
    path = synthetic_blood_cells(tmp_path/'cells', n=4, size=(1200, 900), seed=1)
    assert Image.open(next((path/'CLL').iterdir())).size == (1200, 900)
    dls = blood_dls(path, size=32, bs=4, frac='auto', seed=0)
    assert dls.vocab == list(BLOOD4)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 3, 32, 32)
    assert dls.split_info['per_class'] == {'train': 2, 'valid': 1, 'test': 1}

def test_pbc_sample_real(tmp_path):
    "PBC 8-class folders (real images): balanced split, a batch and a one-epoch scratch run evaluated on the test side"
    from medfast.studies.blood import blood_study, BLOOD8
    path = _need(DATA/'pbc_sample')
    learn, results = blood_study(path, 'basenet', epochs=1, pretrained=False, size=32, bs=16,
                                 n_train=8, n_valid=4, n_test=4, seed=0)
    assert learn.dls.vocab == list(BLOOD8)
    assert len(learn.dls.test_items) == 32
    assert results.query("metric == 'n'").value.item() == 32

def test_chest_xray_224_real():
    "Real Kermany train/ copy (no test/): patient-grouped test and validation sides, no patient or duplicate leak"
    from medfast.studies.pneumonia import pneumonia_study_dls, split_leaks
    from medfast.data import class_counts
    path = _need(DATA/'chest_xray_224')
    dls = pneumonia_study_dls(path, size=32, bs=16, test_pct=0.15, seed=0, verify=False)
    sizes = dls.split_info['sizes']
    assert sum(sizes.values()) == 5216 and dls.test_path is None
    assert 0.12 < sizes['test']/5216 < 0.18
    sides = dict(train=dls.train_ds.items, valid=dls.valid_ds.items, test=dls.test_items)
    assert len(split_leaks(sides, check_bytes=True)) == 0      # the 24 duplicate sets stay with their patient
    counts = class_counts(dls)
    assert counts['PNEUMONIA'] > 2*counts['NORMAL']
    assert dls.one_batch()[0].shape == (16, 3, 32, 32)

def test_pneumoniamnist_real():
    "PneumoniaMNIST .npz: official splits, held-out test arrays"
    from medfast.studies.pneumonia import pneumonia_study_dls
    from medfast.medmnist import held_out_dl
    npz = _need(DATA/'pneumoniamnist_28.npz')
    dls = pneumonia_study_dls(npz, size=32, bs=64, seed=0)
    assert dls.vocab == ['normal', 'pneumonia']
    assert len(held_out_dl(dls).dataset) == 624

def test_blastocyst_csv_errors(tmp_path):
    "A clinic-style export with a bad grade and a missing file fails naming both"
    from medfast.studies.blastocyst import synthetic_blastocysts, read_blastocyst_csv
    from medfast.core import DataLayoutError, MissingPathError
    path = synthetic_blastocysts(tmp_path/'emb', n=12, size=32, seed=0, n_patients=4)
    rows = (path/'labels.csv').read_text().splitlines()
    (path/'bad.csv').write_text('\n'.join(rows[:3] + [rows[3].replace(',A,', ',F,').replace(',B,', ',F,')
                                                      .replace(',C,', ',F,').replace(',D,', ',F,')]))
    with pytest.raises(DataLayoutError, match='row 4'): read_blastocyst_csv(path/'bad.csv')
    (path/'gone.csv').write_text('\n'.join(rows[:2] + ['images/missing.png,A,P001,C1']))
    with pytest.raises(MissingPathError, match='missing.png'): read_blastocyst_csv(path/'gone.csv')
