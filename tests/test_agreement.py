"One preprocessing path: `evaluate`, `predict` and the app give the same probabilities for one saved model on large JPEGs."
import numpy as np
from PIL import Image
from medfast.synthetic import synthetic_xrays
from medfast.data import pneumonia_dls
from medfast.learner import medfast_learner
from medfast.inference import export, load, predict
from medfast.evaluation import get_preds_labelled
from medfast.app import explain_image

def test_evaluate_predict_app_agree(tmp_path):
    data = synthetic_xrays(tmp_path/'xr', n=24, size=64, seed=0)
    learn = medfast_learner(pneumonia_dls(data, size=32, bs=8, seed=0), 'basenet', pretrained=False, seed=0)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    js = export(learn, tmp_path/'model')
    big = tmp_path/'test'
    for cls in ('NORMAL', 'PNEUMONIA'):                       # large JPEGs, where reduced-scale decoding matters
        (big/cls).mkdir(parents=True)
        for f in sorted((data/'test'/cls).iterdir())[:3]:
            Image.open(f).convert('L').resize((1536, 1280)).save(big/cls/f.name, quality=90)
    model = load(js)
    assert model.medfast_spec['image'].get('fast_decode')
    lp = get_preds_labelled(model, big)                       # what `evaluate` and `medfast evaluate` score
    by_file = dict(zip(map(str, lp.items), np.asarray(lp.probs)))
    table = predict(js, big, progress=False)                  # what `medfast predict` writes
    for _, row in table.iterrows():
        p_pred = row[[c for c in table.columns if c.startswith('prob_')]].to_numpy(float)
        np.testing.assert_allclose(p_pred, by_file[row.file], atol=1e-5)
        app = explain_image(js, row.file, cam=False)          # what the notebook app shows
        np.testing.assert_allclose(list(app['probs'].values()), p_pred, atol=1e-5)
