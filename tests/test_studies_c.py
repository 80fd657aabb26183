"Studies: blastocyst folders and protocol, CIFAR ladder, CUB 2010/2011, baselines, new archs (synthetic data, tiny runs)"
import sys, warnings
from unittest.mock import patch
import pytest, torch
from torch import nn
from fastai.vision.all import Learner, Resize, SGD, Adam, RandomSplitter

warnings.filterwarnings('ignore')

@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    from medfast.studies.blastocyst import synthetic_blastocyst_folders
    return synthetic_blastocyst_folders(tmp_path_factory.mktemp('b')/'emb', n_train=8, n_test=3, size=32, seed=1)

def test_blastocyst_folders_default_keeps_test_aside(folders):
    from medfast.studies.blastocyst import blastocyst_dls
    dls = blastocyst_dls(folders, size=32, bs=4, seed=0, num_workers=0)
    assert len(dls.test_items) == 6 and not set(dls.valid_ds.items) & set(dls.test_items)
    assert all('/train/' in str(f) for f in dls.train_ds.items + dls.valid_ds.items)

def test_blastocyst_study_protocol_validates_on_test(folders):
    from medfast.studies.blastocyst import blastocyst_dls
    dls = blastocyst_dls(folders, size=32, bs=4, seed=0, protocol='study', num_workers=0)
    assert set(dls.valid_ds.items) == set(dls.test_items) and 'optimistic' in dls.split_info['rule']

def test_blastocyst_kwargs_routing(folders):
    from medfast.studies.blastocyst import blastocyst_learner
    learn = blastocyst_learner(folders, 'basenet', pretrained=False, size=32, bs=4, wd=0., opt_func=SGD,
                               item_tfms=Resize(24), num_workers=0)
    assert (learn.wd, learn.opt_func) == (0., SGD) and learn.dls.one_batch()[0].shape[-1] == 24
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        blastocyst_learner(folders, 'basenet', pretrained=False, bogus=3)

def test_blastocyst_study_fit_one_epoch(folders):
    from medfast.studies.blastocyst import blastocyst_learner, blastocyst_fit
    learn = blastocyst_learner(folders, 'basenet', pretrained=False, protocol='study', size=32, bs=4, num_workers=0)
    blastocyst_fit(learn, epochs=1)
    assert len(learn.recorder.values) == 1

def test_blastocyst_study_keeps_learner_when_evaluation_fails(folders, tmp_path):
    "A test image that breaks after the up-front check (here: verify=False) fails evaluation, not the training"
    import shutil
    from medfast.core import BadImageError
    from medfast.studies.blastocyst import blastocyst_study, blastocyst_dls
    broken = tmp_path/'broken'; shutil.copytree(folders, broken)
    (broken/'test'/'poor'/'zz_broken.png').write_bytes(b'\x89PNG\r\n\x1a\njunk')
    with pytest.raises(BadImageError, match='zz_broken.png'): blastocyst_dls(broken, size=32, bs=4, num_workers=0)
    with pytest.raises(BadImageError) as e:
        blastocyst_study(broken, 'basenet', epochs=1, pretrained=False, size=32, bs=4, seed=0, verify=False, num_workers=0)
    assert isinstance(e.value.learn, Learner) and len(e.value.learn.recorder.values) == 1     # trained, and kept

def test_cyclic_lr_with_fit(folders):
    from medfast.studies.blastocyst import blastocyst_learner
    from medfast.baselines import CyclicLR, clr
    learn = blastocyst_learner(folders, 'basenet', pretrained=False, size=32, bs=4, num_workers=0)
    learn.fit(1, cbs=CyclicLR(1e-4, 6e-4, step_size=1, policy='exp_range', gamma=0.9))
    assert learn.recorder.lrs == pytest.approx([clr(i, 1e-4, 6e-4, 1, 'exp_range', 0.9) for i in range(len(learn.recorder.lrs))])

def test_features_svm_kernels(folders):
    from medfast.studies.blastocyst import blastocyst_dls
    from medfast.baselines import features_svm
    dls = blastocyst_dls(folders, size=32, bs=4, seed=0, num_workers=0)
    for k in ('linear', 'rbf', 'poly'):
        r = features_svm(dls, 'basenet', kernel=k, pretrained=False)
        assert 0 <= r['valid_acc'] <= 1 and r['n_valid'] == len(dls.valid_ds)
    with pytest.raises(ValueError, match='kernel'): features_svm(dls, 'basenet', kernel='sigmoid', pretrained=False)

def test_cifar_study_protocol_and_ladder(tmp_path):
    from medfast.studies.cifar import synthetic_cifar100, cifar_basenet_learner, cifar_fit, BASENET_LADDER
    path = synthetic_cifar100(tmp_path/'c', n_per_class=10, classes=3, seed=0, release='binary')   # no pickle: no opt-in needed
    learn = cifar_basenet_learner(path, classes=3, protocol='study', bs=8, deeper=True, batch_norm=True, num_workers=0)
    assert learn.arch_name == 'basenet_deep' and len(learn.dls.valid_ds) == 6 and learn.opt_func is Adam
    assert isinstance(learn.model[0][1][1], nn.BatchNorm2d)                   # BN after the ReLU
    cifar_fit(learn, 1)
    assert [r[2] for r in BASENET_LADDER] == [22.68, 39.88, 41.32, 49.48, 54.48, 52.52, 55.6]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"): cifar_basenet_learner(path, classes=3, bogus=1)
    lk = cifar_basenet_learner(path, classes=3, bs=4, splitter=RandomSplitter(0.5, seed=0), opt_func=SGD, num_workers=0)
    assert len(lk.dls.valid_ds) == 15 and lk.opt_func is SGD

def test_cub_2010_and_study_runs(tmp_path):
    from medfast.studies.birds import synthetic_cub, cub_table, birds_learner, birds_fit
    p = synthetic_cub(tmp_path/'cub', n_classes=2, n_per_class=6, size=32, seed=0, release='2010')
    tab = cub_table(p)
    assert len(tab) == 12 and tab.is_train.sum() == 6 and (p/'lists'/'files.txt').exists()
    lf = birds_learner(p, 'resnet18', pretrained=False, protocol='study', run='features', size=32, bs=2, num_workers=0)
    assert not any(q.requires_grad for q in lf.model[0].parameters())
    birds_fit(lf, epochs=1)
    lr = birds_learner(p, 'resnet18', pretrained=False, protocol='study', run='retrain', size=32, bs=2, num_workers=0)
    assert all(q.requires_grad for q in lr.model.parameters()) and lr.model[1][2].out_features == 2048

def test_new_archs_build_without_download():
    from medfast.models import create_model, ARCHS
    for name, size in (('vgg16', 32), ('vgg19', 32), ('inception_v4', 75), ('inception_resnet_v2', 75)):
        m = create_model(name, n_out=3, pretrained=False)
        assert m.eval()(torch.randn(1, 3, size, size)).shape == (1, 3)
        assert len(ARCHS[name].splitter(m)) == 3
    with patch.dict(sys.modules, {'timm': None}):
        with pytest.raises(ImportError, match=r'pip install "medfast\[timm\]"'): create_model('inception_v4', pretrained=False)
