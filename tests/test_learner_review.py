"Reviews of medfast.learner as users work: lr_find before training must leave the learner exportable"
import warnings
from pathlib import Path
import pytest

def test_lr_find_then_export(tmp_path):
    "The study's own workflow (lr_find, then train): lr_find's deliberately exploding loss is no divergence, so export works"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import folder_dls
    from medfast.learner import medfast_learner, train
    from medfast.inference import export
    path = synthetic_xrays(tmp_path/'chest_xray', n=24, size=32, seed=0)
    learn = medfast_learner(folder_dls(path/'train', size=32, bs=4, seed=0), 'resnet18', pretrained=False, fast_cpu=False, path=tmp_path)
    with warnings.catch_warnings(record=True) as w, learn.no_logging(), learn.no_bar():
        warnings.simplefilter('always')
        learn.lr_find(end_lr=1e3, num_it=40, stop_div=False, show_plot=False)          # to a learning rate that surely explodes the loss
        assert not learn.diverged and not any('diverged' in str(o.message) for o in w)
        train(learn, 1, lr=1e-3)
    assert not learn.diverged
    out = export(learn, tmp_path/'model')
    assert out.exists() and out.stat().st_size > 1000
