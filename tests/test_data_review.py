"Splits of medfast.data on the real data in shared/data: grouped, stratified, and never a copy of one image on both sides"
import warnings
from collections import Counter
import pytest
from fastai.vision.all import parent_label
from medfast.data import class_folder_items, group_splitter, patient_id, folder_dls, check_split, split_leaks
from conftest import SHARED

KERMANY, PBC = SHARED/'chest_xray_224'/'train', SHARED/'pbc_sample'
needs = lambda p: pytest.mark.skipif(not p.is_dir(), reason=f"{p} is not here")

@needs(KERMANY)
def test_kermany_split_grouped_stratified_and_seeded():
    "No patient on both sides, each class held out at the share asked, one split per seed; its within-patient copies change nothing"
    items = class_folder_items(KERMANY, verify=False)
    splits = {s: group_splitter(patient_id, 0.2, s, parent_label, same_bytes=True)(items) for s in (42, 0)}
    for trn, val in splits.values():
        assert not {patient_id(items[i]) for i in trn} & {patient_id(items[i]) for i in val}
        n, held = Counter(map(parent_label, items)), Counter(parent_label(items[i]) for i in val)
        for c in n: assert abs(held[c]/n[c] - 0.2) < 0.01, (c, held[c], n[c])
        assert not len(split_leaks(dict(train=[items[i] for i in trn], valid=[items[i] for i in val]), group_fn=None))
    assert list(splits[42][1]) == list(group_splitter(patient_id, 0.2, 42, parent_label, same_bytes=True)(items)[1])
    assert list(splits[42][1]) != list(splits[0][1])
    assert list(splits[42][1]) == list(group_splitter(patient_id, 0.2, 42, parent_label)(items)[1])   # copies are within patients

@needs(PBC)
@pytest.mark.parametrize('seed', [0, 42])
def test_pbc_copy_under_two_classes_is_not_split_apart(seed):
    "pbc_sample files one image as both an eosinophil and a neutrophil: seed 0 used to put the copies on two sides, and check_split refused it"
    dls = folder_dls(PBC, size=16, bs=8, seed=seed, verify=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); check_split(dls)
    assert any('filed under two classes' in str(o.message) for o in w)         # the wrong label is still reported
    assert sorted(map(str, dls.train_ds.items + dls.valid_ds.items)) == sorted(map(str, class_folder_items(PBC, verify=False)))
