"MedMNIST files as students meet them: other sets' layouts refused in one line by `medfast train`, names that belong to another task refused, the real file read in order"
import numpy as np, pytest
from medfast.core import DataLayoutError
from medfast.synthetic import synthetic_medmnist

def _one_line(r):
    "The CLI refused with one line naming the problem: no traceback"
    assert r.returncode in (1, 2) and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr

def _saved(path, **change):
    "A MedMNIST-style file made from a small synthetic one, with arrays replaced by `change`"
    arrs = dict(np.load(synthetic_medmnist(path.with_name('base.npz'), n=16, seed=0)))
    np.savez(path, **{**arrs, **{k: v(arrs) if callable(v) else v for k, v in change.items()}})
    return path

def test_train_refuses_one_hot_and_3d_files_in_one_line(tmp_path, cli):
    hot = _saved(tmp_path/'hot.npz', **{f'{s}_labels': (lambda a, s=s: np.eye(2, dtype=np.uint8)[a[f'{s}_labels'][:, 0]])
                                       for s in ('train', 'val', 'test')})
    err = _one_line(cli('train', '--data', hot, '--epochs', 1, '--out', tmp_path/'r1', cwd=tmp_path))
    assert 'are one-hot' in err and 'argmax' in err and 'multi-label, like ChestMNIST' not in err
    vol = _saved(tmp_path/'organ3d.npz', **{f'{s}_images': (lambda a, s=s: np.repeat(a[f'{s}_images'][:, None], 28, 1))
                                            for s in ('train', 'val', 'test')})
    err = _one_line(cli('train', '--data', vol, '--epochs', 1, '--out', tmp_path/'r2', cwd=tmp_path))
    assert 'organ3d.npz' in err and '3-D volumes' in err
    assert not (tmp_path/'r1').exists() and not (tmp_path/'r2').exists()      # no output folder left behind

def test_blood_names_on_a_two_class_file_refused(shared_data):
    "BloodMNIST's eight names on PneumoniaMNIST used to label normal 'basophil' and pneumonia 'eosinophil', with an 8-way head"
    from medfast.studies.blood import blood_dls
    with pytest.raises(DataLayoutError, match=r'2 classes \(0\.\.1\) but 8 name\(s\)'):
        blood_dls(shared_data/'pneumoniamnist_28.npz', size=28, bs=64)

def test_real_file_rows_and_labels_in_order(shared_data):
    import torch
    from medfast.medmnist import medmnist_dls, medmnist_test_dl
    f = shared_data/'pneumoniamnist_28.npz'
    raw = np.load(f)
    dls = medmnist_dls(f, bs=256, classes=['normal', 'pneumonia'], n_channels=1, stats=([0.], [1.]))
    for split, dl in (('val', dls.valid), ('test', medmnist_test_dl(dls)), ('val', medmnist_test_dl(dls, split='val'))):
        x, y = map(torch.cat, zip(*[(xb.cpu(), yb.cpu()) for xb, yb in dl]))
        assert (y.numpy() == raw[f'{split}_labels'][:, 0]).all()
        assert np.abs(x[:, 0].numpy()*255 - raw[f'{split}_images']).max() < 1e-3
    assert np.bincount(raw['test_labels'][:, 0]).tolist() == [234, 390]     # the official test split, as the README says
