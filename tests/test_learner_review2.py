"Second review of the zoo and the learner as users work: settings changed within one session, seeds from NumPy, class weights by name, arguments that are not what they look like"
import json, os, subprocess, sys, textwrap
from pathlib import Path
import numpy as np, pytest

@pytest.fixture(scope='module')
def xrays(tmp_path_factory):
    from medfast.synthetic import synthetic_xrays
    return synthetic_xrays(tmp_path_factory.mktemp('h2')/'chest_xray', n=24, size=64, seed=0)/'train'

def _dls(path, size=32):
    from medfast.data import folder_dls
    return folder_dls(path, size=size, bs=4, seed=0)

def test_bf16_setting_counts_within_a_session(xrays, tmp_path):
    "MEDFAST_BF16 set in a running notebook after a first training decides the next one (it was read once per process for 64 px and up)"
    import torch
    if torch.cuda.is_available(): pytest.skip('MEDFAST_BF16 decides CPU training; a GPU trains in its own mixed precision')
    script = tmp_path/'s.py'
    script.write_text(textwrap.dedent(f"""
        import os, json
        from medfast.data import folder_dls
        from medfast.learner import medfast_learner, train, training_precision
        out = []
        for v in ('0', '1', '0'):
            os.environ['MEDFAST_BF16'] = v
            learn = medfast_learner(folder_dls({str(xrays)!r}, size=64, bs=4, seed=0), 'basenet', pretrained=False)
            with learn.no_bar(), learn.no_logging(): train(learn, 1)
            out.append(training_precision(learn))
        print(json.dumps(out))
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                       env={k: v for k, v in {**os.environ, 'OMP_NUM_THREADS': '1'}.items() if k != 'MEDFAST_BF16'})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == ['float32', 'bfloat16 autocast (CPU)', 'float32']

def test_numpy_seed_repeats(xrays):
    "A sweep over np.arange(...) seeds: the learner takes a NumPy integer (it failed deep in random.Random) and repeats the run"
    from medfast.learner import medfast_learner, train
    def losses(seed):
        learn = medfast_learner(_dls(xrays), 'basenet', pretrained=False, seed=seed, fast_cpu=False)
        with learn.no_bar(), learn.no_logging(): train(learn, 1)
        assert type(learn.medfast_args['seed']) is int
        return [r['train_loss'] for r in learn.run_log]
    seeds = np.arange(2)
    assert losses(seeds[1]) == losses(1)

def test_class_weights_by_name(xrays, tmp_path):
    "Weights as 1 / class_counts(dls) (a Series by class name) or a dict are used in the order of the vocab, and land in the run record"
    from medfast.data import class_counts
    from medfast.learner import medfast_learner, save_run_record
    dls = _dls(xrays)
    learn = medfast_learner(dls, 'basenet', pretrained=False, class_weights={'PNEUMONIA': 4, 'NORMAL': 1})
    assert learn.loss_func.func.weight.tolist() == [1., 4.]
    inverse = (1 / class_counts(dls))[::-1]                       # any order
    learn = medfast_learner(dls, 'basenet', pretrained=False, class_weights=inverse)
    assert learn.loss_func.func.weight.tolist() == pytest.approx([1 / class_counts(dls)[str(c)] for c in dls.vocab])
    rec = json.loads(save_run_record(learn, tmp_path/'run.json').read_text())
    assert rec['args']['class_weights'] == pytest.approx(learn.loss_func.func.weight.tolist())
    with pytest.raises(ValueError, match=r"names the classes \['NORMAL'\], but dls has \['NORMAL', 'PNEUMONIA'\]"):
        medfast_learner(dls, 'basenet', class_weights={'NORMAL': 1})
    with pytest.raises(ValueError) as e: medfast_learner(dls, 'basenet', class_weights=class_counts(dls) * 0)
    assert '\n' not in str(e.value)                               # one line, not a Series' repr

@pytest.mark.parametrize('kw, msg', [
    (dict(arch=None), "Unknown architecture None; choose one of"),
    (dict(arch='resnet18', concat_pol=True), "did you mean 'concat_pool'?"),
    (dict(arch='basenet', batch_nrom=True), "did you mean 'batch_norm'?"),
    (dict(arch='basenet', pretrained='no'), "pretrained must be True or False, not 'no'"),
    (dict(arch='basenet', fast_cpu='no'), "fast_cpu must be True or False or None, not 'no'"),
])
def test_wrong_arguments_one_line(xrays, kw, msg):
    "Arguments that are not what they look like fail at once, in one line naming the fix, not deep inside fastai"
    from medfast.learner import medfast_learner
    kw = dict(pretrained=False, **kw) if 'pretrained' not in kw else kw
    with pytest.raises((ValueError, TypeError)) as e: medfast_learner(_dls(xrays), **kw)
    assert msg in str(e.value) and '\n' not in str(e.value)

def test_own_splitter_on_a_scratch_network(xrays):
    "splitter= for a from-scratch network replaced the registered one in vision networks but broke scratch ones (multiple values)"
    from fastai.vision.all import trainable_params
    from medfast.learner import medfast_learner, train
    learn = medfast_learner(_dls(xrays), 'basenet', pretrained=False, splitter=trainable_params, fast_cpu=False)
    with learn.no_bar(), learn.no_logging(): train(learn, 1)
    assert len(learn.opt.param_groups) == 1 and len(learn.run_log) == 1

def test_numeric_targets_refused(xrays):
    "A DataBlock with numeric targets trained with cross-entropy on one output without a word (multi-label failed at the first batch)"
    from fastai.vision.all import DataBlock, ImageBlock, RegressionBlock, get_image_files, Resize
    from medfast.core import DataLayoutError
    from medfast.learner import medfast_learner
    dls = DataBlock((ImageBlock, RegressionBlock), get_items=get_image_files, get_y=lambda f: float(len(f.name)),
                    item_tfms=Resize(32)).dataloaders(xrays, bs=4)
    with pytest.raises(DataLayoutError, match='numeric .regression. targets'): medfast_learner(dls, 'basenet')

def test_train_stops_once_when_the_frozen_epoch_diverges(xrays, tmp_path):
    "train on a pretrained network: a divergence in the frozen epoch (NaN pixels) was said twice, fine_tune's unfrozen fit running again into it"
    import warnings, torch, torchvision
    from fastai.vision.all import Callback
    from medfast.learner import medfast_learner, train
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path/'r18.pth')     # stands in for the ImageNet file: no download
    class NaNPixels(Callback):
        def before_batch(self):
            if self.training: self.learn.xb = (self.xb[0] * float('nan'),)
    def build(): return medfast_learner(_dls(xrays), 'resnet18', weights_path=tmp_path/'r18.pth', fast_cpu=False)
    learn = build()
    with learn.no_bar(), learn.no_logging(): train(learn, 1)
    assert [r['phase'] for r in learn.run_log] == [1, 2] and not learn.diverged      # a healthy run: frozen, then unfrozen
    learn = build(); learn.add_cb(NaNPixels())
    with warnings.catch_warnings(record=True) as w, learn.no_bar(), learn.no_logging():
        warnings.simplefilter('always'); train(learn, 2)
    assert learn.diverged and sum('Training diverged' in str(o.message) for o in w) == 1
    assert not any(type(c).__name__ == '_NoFitAfterDivergence' for c in learn.cbs)   # nothing of train's left on the learner
