"End-to-end `medfast train`: the README's main job, on a tiny synthetic set, in a fresh process."
import json
import numpy as np, pandas as pd
from pathlib import Path
from PIL import Image

def test_train_synthetic_writes_outputs(cli, tmp_path):
    home = tmp_path/'home'
    r = cli('train', '--n-synthetic', 60, '--epochs', 2, '--size', 48, '--bs', 16, '--out', tmp_path/'run',
            env={'MEDFAST_HOME': str(home)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'SYNTHETIC' in r.stdout and 'test metrics' in r.stdout
    assert 'Split (patient-grouped, ' in r.stdout                  # synthetic films carry Kermany-style patient ids
    out = tmp_path/'run'
    for f in ['model.pth', 'model.json', 'metrics.csv', 'confusion_matrix.png', 'run.json']: assert (out/f).stat().st_size > 0, f
    assert Image.open(out/'confusion_matrix.png').size[0] > 100
    rec = json.loads((out/'run.json').read_text())
    assert rec['synthetic'] and rec['split']['train'] > 0 and len(rec['epochs']) == 2
    assert rec['grouping'].startswith('patient-grouped, ')          # how the split was made, kept with the run
    # every timing says what it was measured on and in: CPU model, native bfloat16, precision trained in
    assert rec['env']['cpu'] and rec['env']['bf16_native'] in (True, False, None) and rec['train_secs'] > 0
    assert rec['precision'] in ('float32', 'bfloat16 autocast (CPU)', 'bfloat16 mixed precision (GPU)', 'float16 mixed precision (GPU)')
    assert f"on {rec['env']['cpu'] if rec['env']['device'].startswith('cpu') else rec['env']['device']}, {rec['precision']}." in r.stdout
    # a second run never overwrites the first
    r2 = cli('train', '--n-synthetic', 60, '--epochs', 1, '--size', 48, '--bs', 16, '--out', out,
             env={'MEDFAST_HOME': str(home)})
    assert r2.returncode == 0, r2.stderr
    assert (tmp_path/'run-2'/'model.pth').exists()

def test_train_bad_data_is_a_clear_error(cli, tmp_path):
    r = cli('train', '--data', tmp_path/'nope')
    assert r.returncode == 1 and 'not found' in r.stderr and 'nope' in r.stderr
    (tmp_path/'one'/'train'/'NORMAL').mkdir(parents=True)
    Image.new('L', (32, 32)).save(tmp_path/'one'/'train'/'NORMAL'/'a.png')
    r = cli('train', '--data', tmp_path/'one', '--pretrained', 'no')
    assert r.returncode == 1 and 'class' in r.stderr

def test_cli_help_and_unknown(cli):
    assert cli('--help').returncode == 0
    assert cli('nonsense').returncode == 2
    r = cli('train', '-h'); assert r.returncode == 0 and '--arch' in r.stdout

def test_train_from_cache(cli, tmp_path):
    "--cache trains from resized copies, built once and reused; the run record names the original data"
    import json
    from medfast.synthetic import synthetic_xrays
    data = synthetic_xrays(tmp_path/'xr', n=24, size=96, seed=0)
    env = {'MEDFAST_CACHE': str(tmp_path/'cache')}
    args = ['train', '--data', data, '--pretrained', 'no', '--size', 32, '--epochs', 1, '--bs', 8, '--cache', '--quiet']
    r = cli(*args, '--out', tmp_path/'a', env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    copies = list((tmp_path/'cache'/'32').rglob('*.jpeg'))
    assert len(copies) == len(list(data.rglob('*.jpeg'))) and 'Cache:' in r.stdout
    stamp = {p: p.stat().st_mtime_ns for p in copies}
    assert cli(*args, '--out', tmp_path/'b', env=env).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in copies} == stamp                 # reused, not rebuilt
    rec = json.loads((tmp_path/'a'/'run.json').read_text())
    assert rec['data'] == str(data) and rec['cached_copy'].startswith(str(tmp_path/'cache'))

def test_train_timm_arch(cli, tmp_path):
    "--arch timm/<name> trains a timm network (no download: from scratch) and the saved model loads for evaluate"
    import pytest
    pytest.importorskip('timm')
    from medfast.synthetic import synthetic_xrays
    data = synthetic_xrays(tmp_path/'xr', n=24, size=48, seed=0)
    r = cli('train', '--data', data, '--arch', 'timm/resnet10t', '--pretrained', 'no', '--size', 32, '--epochs', 1,
            '--bs', 8, '--quiet', '--out', tmp_path/'t')
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli('evaluate', tmp_path/'t', data/'test', '--out', tmp_path/'e', '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli('train', '--arch', 'resnet19', '--out', tmp_path/'x')
    assert r.returncode == 1 and 'timm/<name>' in r.stderr

def test_train_kermany_folder_picks_xray_recipe(cli, tmp_path):
    "--recipe xray on a Kermany train folder: the 28-px detail and the val threshold are in the model; plain training by default"
    from medfast.synthetic import synthetic_xrays
    data = synthetic_xrays(tmp_path/'xr', n=16, size=64, seed=0)
    r = cli('train', '--data', data/'train', '--pretrained', 'no', '--recipe', 'xray', '--epochs', 1, '--size', 32, '--ensemble', 1,
            '--quiet', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    spec = json.loads((tmp_path/'run'/'model.json').read_text())
    assert spec['image']['resize']['detail'] == [28, 28] and spec['image']['resize']['size'] == [32, 32] and 'threshold' in spec
    rec = json.loads((tmp_path/'run'/'run.json').read_text())
    assert rec['cli_args']['recipe'] == 'xray' and rec['args']['epochs_trained'] == [1]
    m = pd.read_csv(tmp_path/'run'/'metrics.csv')           # the saved threshold on every row of the metrics file
    assert set(m.threshold) == {spec['threshold']} and set(m.threshold_source) == {'saved'}
    r = cli('train', '--data', data/'train', '--pretrained', 'no', '--epochs', 1, '--size', 32, '--bs', 8, '--quiet',
            '--out', tmp_path/'plain')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'detail' not in json.loads((tmp_path/'plain'/'model.json').read_text())['image']['resize']

def test_train_crop_with_cache(cli, tmp_path):
    "--crop keeps each image's centre in training and in the saved model; --cache sizes its copies for the crop and the recipe"
    from medfast.studies.blood import synthetic_blood_cells
    data = synthetic_blood_cells(tmp_path/'cells', n=6, size=(96, 96), seed=0, layout='normal8')
    env = {'MEDFAST_CACHE': str(tmp_path/'cache')}
    r = cli('train', '--task', 'folder', '--data', data, '--pretrained', 'no', '--recipe', 'cells', '--crop', '0.5',
            '--dihedral', 'no', '--size', 32, '--epochs', 1, '--bs', 8, '--cache', '--quiet', '--out', tmp_path/'run', env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path/'cache'/'64').is_dir(), list((tmp_path/'cache').iterdir())    # 32 px over the kept half: 64-px copies
    assert 'Split (by image: the file names carry no patient ids)' in r.stdout      # cell images name no patient
    spec = json.loads((tmp_path/'run'/'model.json').read_text())
    assert spec['image']['resize']['crop'] == 0.5 and spec['format_version'] == 5
    r = cli('evaluate', tmp_path/'run', data, '--out', tmp_path/'eval', '--quiet')
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli('train', '--task', 'folder', '--data', data, '--crop', '1.5', '--out', tmp_path/'bad')
    assert r.returncode in (1, 2) and '--crop' in r.stderr and 'Traceback' not in r.stderr

def test_train_medmnist_file(cli, tmp_path):
    "`medfast train --data file.npz`: the file's own train/val arrays, its test arrays scored, the split named for what it is; copies warned"
    from medfast.synthetic import synthetic_medmnist
    arrs = dict(np.load(synthetic_medmnist(tmp_path/'made.npz', n=48, size=28, seed=0)))
    arrs['val_images'][3] = arrs['train_images'][5]                       # as in PneumoniaMNIST: a copy across its own split
    np.savez(npz := tmp_path/'tiny.npz', **arrs)
    r = cli('train', '--data', npz, '--pretrained', 'no', '--epochs', 1, '--size', 32, '--bs', 8, '--quiet', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 image(s) are byte-identical on two sides of tiny.npz's own split (train, valid: train_images[5]; val_images[3])" in r.stderr
    assert 'Split (the official train/val arrays):' in r.stdout and 'official test split' in r.stdout and 'patient-grouped' not in r.stdout
    assert 'test metrics (tiny.npz' in r.stdout
    rec = json.loads((tmp_path/'run'/'run.json').read_text())
    assert rec['args']['recipe']['bs'] == 8 and rec['data'] == str(npz) and rec['split']['valid'] > 0

def test_train_argument_errors(cli, tmp_path):
    "Flags that cannot work stop with one line naming the flag, before the data are read and before --out is claimed"
    from medfast.synthetic import synthetic_medmnist
    npz = synthetic_medmnist(tmp_path/'tiny.npz', n=48, size=28, seed=0)
    for args, says in [(('--seed', -1), '--seed'), (('--recipe', 'smallimage'), 'small_image'),
                       (('--data', npz, '--balance', 'weights'), '--balance sampler'),
                       (('--budget', 5, '--balance', 'weights'), '--balance sampler')]:
        r = cli('train', *args, '--out', tmp_path/'run')
        assert r.returncode == 1 and says in r.stderr and 'Traceback' not in r.stderr, (args, r.stderr)
        assert 'Outputs:' not in r.stdout and not (tmp_path/'run').exists(), args

def test_train_batch_larger_than_training_set(cli, tmp_path):
    "A batch size above the number of training images would train nothing: refused, nothing exported"
    from medfast.synthetic import synthetic_xrays
    data = synthetic_xrays(tmp_path/'xr', n=24, size=32, seed=0)
    r = cli('train', '--data', data, '--pretrained', 'no', '--size', 32, '--epochs', 1, '--bs', 256, '--out', tmp_path/'run')
    assert r.returncode == 1 and 'batch size of 256' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'run'/'model.pth').exists()

def test_train_small_set_default_batch(cli, tmp_path):
    "Plain training on fewer images than the default batch of 16 trains them as one batch, and says so"
    from medfast.synthetic import synthetic_xrays
    data = synthetic_xrays(tmp_path/'xr', n=8, size=32, seed=0)
    r = cli('train', '--data', data, '--pretrained', 'no', '--size', 32, '--epochs', 1, '--out', tmp_path/'run')
    assert r.returncode == 0 and 'training images: batches of 9 rather than 16' in r.stdout, r.stdout + r.stderr
    assert (tmp_path/'run'/'model.pth').exists()

def test_train_classes_order_the_positive_class(cli, tmp_path):
    "--classes normal,abnormal makes abnormal the positive class (sorted, normal would be: said in a warning); refused where it cannot apply"
    for cls in ('abnormal', 'normal'):
        (tmp_path/'d'/cls).mkdir(parents=True)
        for i in range(12): Image.fromarray(np.full((32, 32), 40*i % 255 if cls == 'normal' else 255 - 20*i, np.uint8)).save(tmp_path/'d'/cls/f'{cls}{i}.png')
    args = ('train', '--task', 'folder', '--data', tmp_path/'d', '--pretrained', 'no', '--arch', 'basenet', '--epochs', 1, '--size', 32, '--bs', 4, '--quiet')
    r = cli(*args, '--out', tmp_path/'sorted')
    assert r.returncode == 0 and "The positive class is 'normal'" in r.stderr and '--classes normal,abnormal' in r.stderr, r.stderr[-2000:]
    r = cli(*args, '--classes', 'normal, abnormal', '--out', tmp_path/'ordered')
    assert r.returncode == 0 and 'positive class' not in r.stderr, r.stderr[-2000:]
    assert json.loads((tmp_path/'ordered'/'model.json').read_text())['classes'] == ['normal', 'abnormal']
    r = cli('train', '--n-synthetic', 20, '--classes', 'PNEUMONIA,NORMAL', '--out', tmp_path/'x')
    assert r.returncode == 1 and '--classes orders the classes of class folders' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]

def test_train_test_pct_holds_out_patients(cli, tmp_path):
    "--test-pct gives a folder without test/ a test side of whole patients, scored after training; refused where the data has its own"
    from medfast.synthetic import synthetic_xrays
    import shutil
    shutil.copytree(synthetic_xrays(tmp_path/'syn', n=40, size=32)/'train', tmp_path/'only'/'train')
    args = ('train', '--pretrained', 'no', '--arch', 'basenet', '--epochs', 1, '--size', 32, '--bs', 8, '--quiet')
    r = cli(*args, '--data', tmp_path/'only', '--test-pct', 0.25, '--out', tmp_path/'run')
    assert r.returncode == 0 and 'test images held out' in r.stdout and 'test metrics' in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'test' in set(pd.read_csv(tmp_path/'run'/'metrics.csv').split)
    assert 'images held out (25% asked' in json.loads((tmp_path/'run'/'run.json').read_text())['split']['rule']
    for data, says in [(tmp_path/'syn', 'has its own test folder'), (tmp_path/'only', 'between 0 and 1')]:
        r = cli(*args, '--data', data, '--test-pct', 0.25 if 'own' in says else 25, '--out', tmp_path/'no')
        assert r.returncode in (1, 2) and says in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    for extra, says in [(('--data', tmp_path/'x.npz'), 'a MedMNIST file has its own test arrays'), ((), 'the synthetic set has its own test/'),
                        (('--data', tmp_path/'only', '--test', 'none'), 'give one of the two')]:
        (tmp_path/'x.npz').write_bytes(b'')
        r = cli('compare' if '--test' in extra else 'train', *(('basenet',) if '--test' in extra else ()), *extra, '--test-pct', 0.2, '--out', tmp_path/'no2')
        assert r.returncode in (1, 2) and says in r.stderr and not (tmp_path/'no2').exists() and 'Traceback' not in r.stderr, r.stderr[-2000:]
