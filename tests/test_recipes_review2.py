"`medfast train` with recipes and budgets on tiny synthetic MedMNIST files: networks that need larger images, reproducible seeds"
import json
from medfast.synthetic import synthetic_medmnist

def _spec(out): return json.loads((out/'model.json').read_text())

def test_recipe_size_raised_to_what_the_named_network_takes(cli, tmp_path):
    "The recipe's own 48 px is below alexnet's 64: the run trains at 64 px and says so, rather than failing after it started"
    npz = synthetic_medmnist(tmp_path/'grey.npz', n=64, size=28, seed=0)
    r = cli('train', '--data', npz, '--recipe', 'small_image', '--arch', 'alexnet', '--epochs', 1, '--quiet', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'alexnet needs images of at least 64 px: training at 64 px rather than 48' in r.stdout
    spec = _spec(tmp_path/'run')
    assert spec['arch'] == 'alexnet' and spec['training']['recipe']['size'] == 64

def test_budget_never_shrinks_below_the_network_minimum(cli, tmp_path):
    "A budget too tight for 64 px keeps alexnet at 64 px (it used to plan 32 px, which alexnet refuses, after measuring)"
    npz = synthetic_medmnist(tmp_path/'grey.npz', n=64, size=28, seed=0)
    r = cli('train', '--data', npz, '--arch', 'alexnet', '--budget', 0.01, '--quiet', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'Plan: 64 px' in r.stdout and 'needs images of at least' not in r.stderr
    assert _spec(tmp_path/'run')['training']['recipe']['size'] == 64

def test_recipe_ensemble_same_seed_same_model(cli, tmp_path):
    "Without a budget and with the precision fixed, a recipe run is reproducible: the same --seed gives the same weights, threshold and metrics"
    npz = synthetic_medmnist(tmp_path/'grey.npz', n=64, size=28, seed=0)
    outs = [tmp_path/f'run{i}' for i in range(2)]
    for out in outs:
        r = cli('train', '--data', npz, '--recipe', 'small_image', '--arch', 'xresnet18_half', '--size', 32, '--epochs', 1,
                '--ensemble', 2, '--seed', 7, '--precision', 'fp32', '--quiet', '--out', out)   # auto: measured, may differ
        assert r.returncode == 0, r.stdout + r.stderr
    a, b = map(_spec, outs)
    assert a['weights_sha256'] == b['weights_sha256'] and a['threshold'] == b['threshold']
    assert a['training']['seeds'] == [7, 8] and a['model_kwargs']['ensemble'] == 2
    assert (outs[0]/'metrics.csv').read_text() == (outs[1]/'metrics.csv').read_text()
