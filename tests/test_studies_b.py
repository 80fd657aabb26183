"Studies 1, 2 and 4 (pneumonia, blood cells, cell crops): study protocols, keyword routing, balancing, crops and splits"
import json
from collections import Counter
from functools import partial
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image, ImageDraw
from fastai.optimizer import SGD
from medfast.learner import FusedAdam

DATA = Path(__file__).resolve().parent.parent.parent/'shared'/'data'

@pytest.fixture(scope='module')
def xrays(tmp_path_factory):
    from medfast.synthetic import synthetic_xrays
    return synthetic_xrays(tmp_path_factory.mktemp('cx')/'chest_xray', n=40, size=32, seed=0)

@pytest.fixture(scope='module')
def blood(tmp_path_factory):
    from medfast.studies.blood import synthetic_blood_cells
    return synthetic_blood_cells(tmp_path_factory.mktemp('bl')/'cells', n=6, size=(120, 90), seed=0)

def test_route_kwargs():
    "First target wins, exclusions are never routed, leftovers are a TypeError naming the argument"
    from fastai.learner import Learner
    from medfast.learner import route_kwargs
    a, b = route_kwargs(dict(opt_func=SGD, bs=4, splitter=None), ('bs', 'splitter'), Learner)
    assert a == dict(bs=4, splitter=None) and b == dict(opt_func=SGD)
    with pytest.raises(TypeError, match=r"f\(\) got an unexpected keyword argument 'wdd'; did you mean 'wd'"):
        route_kwargs(dict(wdd=1), Learner, fn_name='f')
    with pytest.raises(TypeError, match="'dls'"): route_kwargs(dict(dls=1), Learner, exclude=['dls'])

def test_pneumonia_study_protocol(xrays):
    "protocol='study': image-level split, bs 20, no balance; optimiser reaches the Learner; typos raise"
    from medfast.studies.pneumonia import pneumonia_study_learner, pneumonia_study_dls
    learn = pneumonia_study_learner(xrays, 'basenet', pretrained=False, size=32, protocol='study',
                                    opt_func=partial(SGD, mom=0.9), wd=0.1)
    assert learn.opt_func.func is SGD and learn.wd == 0.1
    assert learn.dls.bs == 20 and learn.medfast_args['balance'] is None
    assert learn.dls.split_info['protocol'] == 'study' and 'image-level' in learn.dls.split_info['rule']
    default = pneumonia_study_dls(xrays, size=32)
    assert default.split_info['patient_leaks'] == 0 and set(default.test_items) == set(learn.dls.test_items)
    assert pneumonia_study_learner(xrays, 'basenet', pretrained=False, size=32).opt_func is FusedAdam   # fastai's Adam, stepped by the fused kernel
    with pytest.raises(TypeError, match="unexpected keyword argument 'opt_fun'"):
        pneumonia_study_learner(xrays, 'basenet', pretrained=False, size=32, opt_fun=SGD)

def test_blood_augment_and_routing(blood):
    "balance='augment' tops small classes up in train only; learner arguments reach the Learner"
    from medfast.studies.blood import blood_cell_learner, blood_dls
    dls = blood_dls(blood, size=32, bs=4, balance='augment', n_train=10, n_valid=2, n_test=2, seed=0)
    assert dls.split_info['per_class']['train'] == 10
    assert len(set(dls.valid_ds.items)) == len(dls.valid_ds.items)
    assert not set(dls.train_ds.items) & set(dls.test_items)
    learn = blood_cell_learner(blood, 'basenet', pretrained=False, size=32, bs=4, frac='auto', seed=0,
                               opt_func=partial(SGD, mom=0.9), wd=0.25)
    assert learn.opt_func.func is SGD and learn.wd == 0.25 and learn.dls.bs == 4
    with pytest.raises(TypeError, match="unexpected keyword argument 'lr_max'"):
        blood_cell_learner(blood, 'basenet', pretrained=False, lr_max=1e-3)

def test_blood_study_counts():
    "The study's own class sizes (Tabla 1: 1018 / 981 / 956 / 6825) work with the default quotas under balance='augment'"
    from medfast.studies.blood import augment_split
    items = [f"{c}_{i}" for c, n in dict(a=1018, b=981, c=956, d=6825).items() for i in range(n)]
    sp = augment_split(items, lambda o: o[0], seed=1)
    assert set(Counter(items[i][0] for i in sp['train']).values()) == {1000}

def test_cell_centre_crop():
    "The crop follows a stained nucleus placed off centre; a blank image falls back to the centre"
    from medfast.studies.blood import CellCentreCrop, stain_centre
    from fastai.vision.core import PILImage
    im = Image.new('RGB', (300, 200), (236, 214, 206))
    ImageDraw.Draw(im).ellipse([210, 30, 270, 90], fill=(90, 50, 150))
    x, y = stain_centre(im)
    assert abs(x - 240) < 5 and abs(y - 60) < 5
    assert np.array(CellCentreCrop(0.5)(PILImage(im))).shape == (100, 100, 3)
    assert stain_centre(Image.new('RGB', (50, 50), 'white')) is None

def test_pybossa_clicks_and_crops(tmp_path):
    "A raw PyBossa export through load_clicks; border='drop' drops edge cells; 80:10:10 split by source image"
    from medfast.studies.crops import load_clicks, merge_clicks, write_crops, split_by_source, source_image
    runs = [{'task_id': 1, 'user_id': u, 'info': {'image': 'f.png', 'alive_array': [[lbl, 5, 5], ['alive', 50, 50]]}}
            for u, lbl in [(1, 'dead'), (2, 'not_sure_alive')]]
    (tmp_path/'export.json').write_text(json.dumps(runs))
    clicks = load_clicks(tmp_path/'export.json')
    cells = merge_clicks(clicks)
    edge = cells[cells.x < 10].iloc[0]
    assert (edge.votes_dead, edge.votes_alive) == (1.5, 0.5)
    (tmp_path/'img').mkdir(); Image.new('L', (100, 100), 60).save(tmp_path/'img'/'f.png')
    kept = pd.read_csv(write_crops(tmp_path/'img', clicks, tmp_path/'crops', size=20, border='drop')/'cells.csv')
    assert len(kept) == 1 and kept.x.iloc[0] > 10
    items = [f"im{i}__c{j:04d}.png" for i in range(10) for j in range(3)]
    sides = split_by_source(items, seed=0)
    assert [len(sides[s]) for s in ('train', 'valid', 'test')] == [24, 3, 3]
    assert not {source_image(items[i]) for i in sides['test']} & {source_image(items[i]) for i in sides['train']}
