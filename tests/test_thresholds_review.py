"`choose_threshold(method='binormal')`, the recipes' rule, on small validation sets: real PneumoniaMNIST predictions and the CLI"
import json, warnings
import numpy as np, pytest
from medfast.metrics import choose_threshold, balanced_acc, _binormal_threshold
from medfast.synthetic import synthetic_medmnist

@pytest.fixture(scope='module')
def val_preds(shared_data):
    "P(pneumonia) of PneumoniaMNIST's 524 validation films from a tiny model (logistic regression on 7x7-pooled pixels) and their labels"
    from sklearn.linear_model import LogisticRegression
    d = np.load(shared_data/'pneumoniamnist_28.npz')
    pool = lambda a: a.reshape(len(a), 7, 4, 7, 4).mean((2, 4)).reshape(len(a), -1) / 255.
    m = LogisticRegression(C=1., max_iter=2000).fit(pool(d['train_images']), d['train_labels'].ravel())   # 90% pneumonia: 0.5 is far off
    return m.predict_proba(pool(d['val_images']))[:, 1], d['val_labels'].ravel().astype(int)

def _small_sets(p, y, n_neg, n_pos, n_sets=100, seed=0):
    "Thresholds (shared spread, as shipped; two spreads, as before) chosen on `n_sets` sets of `n_neg` + `n_pos` films, balanced accuracy on the rest"
    rng, res = np.random.default_rng(seed), {'shared': [], 'two': []}
    for _ in range(n_sets):
        fit = np.zeros(len(y), bool)
        fit[rng.choice(np.nonzero(y == 0)[0], n_neg, replace=False)] = fit[rng.choice(np.nonzero(y == 1)[0], n_pos, replace=False)] = True
        with warnings.catch_warnings(): warnings.simplefilter('ignore'); shared = choose_threshold(p[fit], y[fit], method='binormal')
        two = _binormal_threshold(p[fit], y[fit] == 1, min_cases=2) or choose_threshold(p[fit], y[fit])
        for k, t in (('shared', shared), ('two', two)): res[k].append((t, balanced_acc(p[~fit], y[~fit], t)))
    return {k: np.array(v) for k, v in res.items()}

@pytest.mark.parametrize('n_neg', [2, 4])
def test_sixteen_film_validation_sets_steadier(val_preds, n_neg):
    "16-film validation sets: the shared spread's threshold moves less and its worst cases score better on the other films"
    r = _small_sets(*val_preds, n_neg, 16 - n_neg)
    logit = lambda t: np.log(t) - np.log1p(-t)
    assert logit(r['shared'][:, 0]).std() < logit(r['two'][:, 0]).std()
    assert np.quantile(r['shared'][:, 1], 0.05) > np.quantile(r['two'][:, 1], 0.05)
    assert r['shared'][:, 1].min() > r['two'][:, 1].min()

def test_whole_validation_unchanged(val_preds):
    "135 normal and 389 pneumonia films: the two-spread fit as before, and no warning"
    p, y = val_preds
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); t = choose_threshold(p, y, method='binormal')
    assert t == _binormal_threshold(p, y == 1, min_cases=2) and not [m for m in w if 'validation case' in str(m.message)]

def test_cli_says_when_the_threshold_rests_on_few_cases(cli, tmp_path):
    "`medfast train --recipe` on a tiny set: the threshold is printed and one warning line says why it is the midpoint"
    npz = synthetic_medmnist(tmp_path/'tiny.npz', n=64, size=28, seed=0)
    r = cli('train', '--data', npz, '--recipe', 'small_image', '--arch', 'xresnet18_half', '--size', 32, '--epochs', 1, '--quiet', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    thr = json.loads((tmp_path/'run'/'model.json').read_text())['threshold']
    said = [l for l in r.stderr.splitlines() if 'validation case(s) of class' in l]
    assert f"decision threshold {thr:.3f} chosen on valid" in r.stdout
    assert len(said) == 1 and f"'binormal' threshold {thr:.3f} is the midpoint" in said[0], r.stderr
