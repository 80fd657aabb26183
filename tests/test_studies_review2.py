"Blastocyst study as its users meet it with their own copies: the study's scratch network and runs, images copied across sides (synthetic data)"
import shutil, warnings
import pandas as pd, pytest
from torch import nn

@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    from medfast.studies.blastocyst import synthetic_blastocyst_folders
    return synthetic_blastocyst_folders(tmp_path_factory.mktemp('b')/'f', n_train=8, n_test=3, size=48, seed=3)

def _fits(learn, monkeypatch):
    "The epochs `blastocyst_fit` would train for, without training"
    from medfast.studies.blastocyst import blastocyst_fit
    got = []
    monkeypatch.setattr(learn, 'fit', lambda n, lr=None, **kw: got.append((n, lr)))
    blastocyst_fit(learn)
    return got[0]

def test_seed_cnn_study_runs_are_the_studys_networks(folders, monkeypatch):
    "protocol='study' with seed_cnn: §5.1 at 250 px is the study's 11,317,441-parameter network (no dropout, no augmentation, 30 epochs); §5.2 adds both, 100 epochs"
    from fastai.vision.all import RandTransform
    from medfast.models import count_params
    from medfast.studies.blastocyst import blastocyst_learner
    s1 = blastocyst_learner(folders, 'seed_cnn', pretrained=False, protocol='study', bs=4, seed=0, num_workers=0)
    assert s1.study_run == 'initial' and s1.dls.one_batch()[0].shape[-1] == 250
    assert count_params(s1.model) == 11_317_441 + 513            # Keras' Dense(1) sigmoid is two softmax outputs here
    assert not any(isinstance(m, nn.Dropout) for m in s1.model.modules())
    assert not any(isinstance(t, RandTransform) for t in s1.dls.after_batch.fs)
    assert _fits(s1, monkeypatch) == (30, 1e-4)
    s2 = blastocyst_learner(folders, 'seed_cnn', pretrained=False, protocol='study', run='augmented', size=64, bs=4, seed=0, num_workers=0)
    assert [type(m).__name__ for m in s2.model[1]][:4] == ['AdaptiveAvgPool2d', 'Flatten', 'Dropout', 'Linear']
    assert s2.model[1][3].in_features == 128*2*2                  # 64 px: a 2x2 last map, read whole
    assert any(isinstance(t, RandTransform) for t in s2.dls.after_batch.fs)
    assert _fits(s2, monkeypatch) == (100, 1e-4)

def test_network_arguments_reach_the_network(folders):
    "A scratch network's own arguments (seed_cnn's grid and p, basenet's batch_norm) are taken, not refused as unknown"
    from medfast.studies.blastocyst import blastocyst_learner
    l = blastocyst_learner(folders, 'seed_cnn', pretrained=False, size=48, bs=4, grid=3, p=0., num_workers=0)
    assert l.model[1][2].in_features == 128*3*3
    b = blastocyst_learner(folders, 'basenet', pretrained=False, size=32, bs=4, batch_norm=True, num_workers=0)
    assert any(isinstance(m, nn.BatchNorm2d) for m in b.model.modules())
    with pytest.raises(TypeError, match="unexpected keyword argument 'gird'; did you mean 'grid'"):
        blastocyst_learner(folders, 'seed_cnn', pretrained=False, gird=13)
    with pytest.raises(ValueError, match="run must be one of fine_tune, features for a transfer network, not 'initial'"):
        blastocyst_learner(folders, 'vgg16', pretrained=False, protocol='study', run='initial')

def test_folder_copies_stay_on_one_side_and_test_copies_are_named(folders, tmp_path):
    "One embryo saved under several names in train/ never straddles train and valid; a copy in test/ is named in a warning"
    from medfast.studies.blastocyst import blastocyst_dls, blastocyst_folder_split, read_blastocyst_folders
    f = tmp_path/'f'; shutil.copytree(folders, f)
    src = sorted((f/'train'/'poor').glob('*.png'))[0]
    for k in range(5): shutil.copy(src, f/'train'/'poor'/f'again_{k}.png')
    for seed in range(6):
        t = blastocyst_folder_split(read_blastocyst_folders(f), seed=seed)
        assert t[t.image.map(lambda p: p.name.startswith('again_') or p == src)].split.nunique() == 1
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        blastocyst_dls(f, size=32, bs=4, seed=0, num_workers=0)        # copies inside train/ alone: nothing to warn about
    assert not any('byte-identical' in str(o.message) for o in w)
    shutil.copy(src, f/'test'/'poor'/'zz_same_embryo.png')
    with pytest.warns(UserWarning, match=r'byte-identical on two sides of the split \(test, \w+: .*zz_same_embryo.png'):
        dls = blastocyst_dls(f, size=32, bs=4, seed=0, num_workers=0)
    assert dls.split.info['identical_files'] == 1

def test_csv_export_copy_across_patients_named(tmp_path):
    "A CSV export whose test patient's image is a copy of a training patient's: named in a warning"
    from medfast.studies.blastocyst import blastocyst_dls, synthetic_blastocysts
    emb = synthetic_blastocysts(tmp_path/'emb', n=36, size=32, seed=0, n_patients=9)
    t = blastocyst_dls(emb/'labels.csv', size=32, bs=4, seed=0, num_workers=0).split.source['table']
    a, b = t.image[t.split == 'test'].iloc[0], t.image[t.split == 'train'].iloc[0]
    shutil.copy(a, b)                                                   # the same picture under a training patient's name
    with pytest.warns(UserWarning, match=f"byte-identical on two sides.*{b.name}"):
        blastocyst_dls(emb/'labels.csv', size=32, bs=4, seed=0, num_workers=0)

def test_grade_folders_mapped_like_csv_grades(tmp_path):
    "An export sorted into grade folders (train/A ... test/D) trains good vs poor by default, not four classes; grade_map=None keeps them"
    from medfast.studies.blastocyst import ASEBIR_GRADES, blastocyst_dls, synthetic_blastocyst
    for side, n in (('train', 5), ('test', 2)):
        for g in ASEBIR_GRADES:
            (tmp_path/side/g.lower()).mkdir(parents=True)                # folder names in lower case too
            for k in range(n): synthetic_blastocyst(g, 32, seed=k + 100*(side == 'test')).save(tmp_path/side/g.lower()/f'{g}_{k}.png')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        dls = blastocyst_dls(tmp_path, size=32, bs=4, seed=0, num_workers=0, grade_map={'A': 'good', 'B': 'good', 'C': 'poor', 'D': None})
    assert not any('Ignored' in str(o.message) for o in w)               # the grade_map was used
    t = dls.split.source['table']
    assert dls.vocab == ['good', 'poor'] and set(t.grade) == {'A', 'B', 'C'} and len(dls.test_items) == 6
    assert list(blastocyst_dls(tmp_path, size=32, bs=4, seed=0, num_workers=0, grade_map=None).vocab) == ['a', 'b', 'c', 'd']

@pytest.mark.parametrize('arch', ['seed_cnn', 'vgg16'])
def test_study_batch_larger_than_a_small_copy_one_line(folders, arch):
    "The study's batch of 20 on a copy with fewer training images: medfast's one-line error, not fastai's 'no batches'"
    from medfast.core import MedfastError
    from medfast.studies.blastocyst import blastocyst_learner
    with pytest.raises(MedfastError, match='A batch size of 20 is more than the 16 training images'):
        blastocyst_learner(folders, arch, pretrained=False, protocol='study', size=64, num_workers=0)
