"The pneumonia study recipe on real files, as a student uses it: the Kaggle train/val/test layout, PneumoniaMNIST, a predictor"
import warnings
from collections import defaultdict
import pytest
from PIL import Image

@pytest.fixture(scope='module')
def kaggle(tmp_path_factory, shared_data):
    "Kaggle's layout from real films: train/, a 16-film val/ (8 + 8) and test/, each patient in one folder"
    from medfast.data import patient_id
    root = tmp_path_factory.mktemp('kaggle')/'chest_xray'
    for c, n_test, n_val, n_train in (('NORMAL', 12, 8, 30), ('PNEUMONIA', 12, 8, 40)):
        by_pid = defaultdict(list)
        for f in sorted((shared_data/'chest_xray_224'/'train'/c).iterdir()): by_pid[patient_id(f)].append(f)
        singles = [fs[0] for fs in by_pid.values() if len(fs) == 1]          # one film per patient: exact counts
        cuts = {'test': singles[:n_test], 'val': singles[n_test:n_test+n_val], 'train': singles[n_test+n_val:n_test+n_val+n_train]}
        for split, fs in cuts.items():
            (root/split/c).mkdir(parents=True)
            for f in fs: (root/split/c/f.name).symlink_to(f)
    return root

def test_kaggle_layout_pools_val_and_keeps_test(kaggle):
    "The 16-film val/ joins the pool, the official test/ is the test side, and only the study's split puts patients on two sides"
    from medfast.studies.pneumonia import pneumonia_study_dls
    with warnings.catch_warnings(): warnings.simplefilter('error'); dls = pneumonia_study_dls(kaggle, size=32, bs=8, seed=0, verify=False)
    s = dls.split_info
    assert s['sizes']['train'] + s['sizes']['valid'] == 70 + 16 and s['sizes']['test'] == 24
    assert s['patient_leaks'] == 0 and s['identical_test_files'] == 0 and 'official test/' in s['rule']
    assert dls.test_path == kaggle/'test' and {f.name for f in dls.test_items} == {f.name for f in (kaggle/'test').rglob('*.jpeg')}
    assert any(f.parent.parent.name == 'val' for f in dls.train_ds.items + dls.valid_ds.items)
    with pytest.raises(ValueError, match='bs must be a whole number'): pneumonia_study_dls(kaggle, size=32, bs=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'tfms'"): pneumonia_study_dls(kaggle, size=32, tfms=[])
    with pytest.warns(UserWarning, match=r"whose val/ and test/ are left out: pass .* \(test/ as the test set\)"):
        only = pneumonia_study_dls(kaggle/'train', size=32, bs=8, seed=0, verify=False)   # train/ given: its siblings said
    assert 'no test/ folder' in only.split_info['rule']

def test_predictor_on_a_new_film(kaggle, tmp_path):
    "Trained on the Kaggle layout, exported, loaded: a new greyscale PNG with a non-ASCII name is predicted as the Learner predicts it"
    from medfast.studies.pneumonia import pneumonia_study
    from medfast.inference import export, load, predict
    learn, results = pneumonia_study(kaggle, 'basenet', epochs=1, pretrained=False, size=32, bs=16, seed=0, verify=False)
    assert results.query("metric == 'n'").value.item() == 24
    model = load(export(learn, tmp_path/'model'))
    film = next((kaggle/'test'/'PNEUMONIA').iterdir())
    new = tmp_path/'radiografía nueva.png'; Image.open(film).convert('L').save(new)
    pred = predict(model, new)
    probs, _ = learn.get_preds(dl=learn.dls.test_dl([new], with_labels=False))
    assert pred.label in ('NORMAL', 'PNEUMONIA') and abs(pred.probs['PNEUMONIA'] - probs[0, 1].item()) < 1e-4
    with pytest.raises(FileExistsError, match='overwrite=True'): export(learn, tmp_path/'model')   # a saved model is not replaced silently

def test_pneumoniamnist_refuses_folder_arguments(shared_data):
    "A PneumoniaMNIST file keeps its own splits: the study protocol or a splitter is refused, not silently ignored"
    from fastai.vision.all import RandomSplitter
    from medfast.studies.pneumonia import pneumonia_study_dls
    npz = shared_data/'pneumoniamnist_28.npz'
    with pytest.raises(ValueError, match=r'so protocol \(for Kermany image folders\) cannot apply'):
        pneumonia_study_dls(npz, size=32, protocol='study')
    with pytest.raises(ValueError, match='so valid_pct, splitter '):
        pneumonia_study_dls(npz, size=32, splitter=RandomSplitter(0.2), valid_pct=0.3)
    dls = pneumonia_study_dls(npz, size=32, bs=64, num_workers=0)
    assert dls.split_info['sizes'] == {'train': 3882, 'val': 524, 'test': 624}
