"PIL images straight from `Image.open` (file-backed JPEG/PNG, already in the model's mode) work in predict, gradcam and the app"
import numpy as np, pytest
from PIL import Image, ImageFile
from medfast.synthetic import synthetic_xrays
from medfast.data import folder_dls
from medfast.learner import medfast_learner
from medfast.inference import predict
from medfast.explain import gradcam, plot_gradcam
from medfast.app import explain_image

@pytest.fixture(scope='module')
def learn(tmp_path_factory):
    "An RGB resnet18 on 32 px synthetic X-rays (untrained: only the plumbing is tested)"
    path = synthetic_xrays(tmp_path_factory.mktemp('pil')/'xr', n=16, size=48, seed=0)
    return medfast_learner(folder_dls(path/'train', size=32, bs=4, seed=0, num_workers=0), 'resnet18', pretrained=False)

@pytest.fixture(scope='module', params=['JPEG', 'PNG'])
def rgb_file(request, tmp_path_factory):
    "An RGB image file, so `Image.open` gives a file-backed image already in the model's mode"
    rng = np.random.default_rng(0)
    f = tmp_path_factory.mktemp('img')/f"x.{request.param.lower()}"
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), 'RGB').save(f, request.param)
    with Image.open(f) as im: assert im.mode == 'RGB' and isinstance(im, ImageFile.ImageFile)
    return f

def test_predict(learn, rgb_file):
    im = Image.open(rgb_file)
    test = predict(learn, im)
    assert test.label in learn.dls.vocab
    np.testing.assert_allclose(list(test.probs.values()), list(predict(learn, rgb_file).probs.values()), atol=1e-6)
    assert type(im).__name__ in ('JpegImageFile', 'PngImageFile')        # the caller's image is left as it was

def test_gradcam(learn, rgb_file):
    heat = gradcam(learn, Image.open(rgb_file))
    assert heat.shape == (32, 32) and 0 <= heat.min() <= heat.max() <= 1
    np.testing.assert_allclose(heat, gradcam(learn, rgb_file), atol=1e-6)
    assert plot_gradcam(learn, [Image.open(rgb_file)]) is not None

def test_explain_image(learn, rgb_file):
    res = explain_image(learn, Image.open(rgb_file))
    assert res['error'] is None and res['cam_error'] is None, res
    assert res['label'] in learn.dls.vocab and res['heatmap'].shape == (32, 32)
