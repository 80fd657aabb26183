"ONNX, Grad-CAM and the app, second review as a user: models made outside medfast (fastai's crop, pad and random-crop resizes) followed from the contract alone, odd uploads"
import json
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image, ImageOps

ort = pytest.importorskip('onnxruntime')
pytest.importorskip('onnx')
from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, get_image_files, parent_label, RandomSplitter, Resize, RandomResizedCrop
from medfast.synthetic import synthetic_xrays
from medfast.learner import medfast_learner
from medfast.inference import export, load, predict, model_input
from medfast.onnx import export_onnx, predict_onnx
import medfast.recipes                                   # registers resnet18_small

PADS = dict(zeros='constant', border='edge', reflection='reflect')

def contract_input(path, spec):
    "The model-ready (C, H, W) array of `path` made with PIL and numpy from `spec` alone, fastai's resizes written out as the steps say"
    img = spec['image']; r = img['resize']; (h, w) = r['size']
    im = ImageOps.exif_transpose(Image.open(path)).convert(img['mode'])
    if r['tfm'] == 'RandomResizedCrop':                  # squish with a margin, keep the centre
        m = int(np.ceil(max(h, w) * r.get('val_xtra', 0.14) / 8)) * 8
        im = im.resize((w + m, h + m), Image.Resampling.BILINEAR).crop((m // 2, m // 2, m // 2 + w, m // 2 + h))
    elif r.get('method', 'squish') == 'squish': im = im.resize((w, h), Image.Resampling.BILINEAR)
    else:                                                # the centred box of the model's aspect ratio, inside or around the image
        W, H = im.size; s = (min if r['method'] == 'crop' else max)(W / w, H / h)
        cw, ch = int(s * w), int(s * h); left, top = int((W - cw) / 2), int((H - ch) / 2)
        a = np.asarray(im)[max(0, top):min(H, top + ch), max(0, left):min(W, left + cw)]
        pads = [(max(0, -top), max(0, top + ch - H)), (max(0, -left), max(0, left + cw - W))] + [(0, 0)] * (a.ndim - 2)
        im = Image.fromarray(np.pad(a, pads, mode=PADS[r['pad_mode']])).resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(im, np.float32) / 255.
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if img.get('grey_to_rgb'): a = np.repeat(a, 3, 0)
    if (n := spec.get('normalize')): a = (a - np.float32(n['mean'])[:, None, None]) / np.float32(n['std'])[:, None, None]
    return a.astype(np.float32)

@pytest.fixture(scope='module')
def films(tmp_path_factory):
    "Synthetic chest films to train on, and uploads of odd shapes: wide, tall, odd sides, EXIF-turned"
    root = tmp_path_factory.mktemp('review2')
    data = synthetic_xrays(root/'cx', n=12, size=48, seed=0)
    up = root/'up'; up.mkdir()
    src = Image.open(sorted((data/'train'/'PNEUMONIA').iterdir())[0]).convert('RGB')
    for wh in [(97, 41), (41, 97), (64, 63), (33, 33), (200, 7)]: src.resize(wh).save(up/f'{wh[0]}x{wh[1]}.png')
    ex = Image.Exif(); ex[0x0112] = 6; src.resize((90, 50)).save(up/'turned.jpg', exif=ex, quality=95)
    return data/'train', sorted(up.iterdir())

@pytest.mark.parametrize('tfm', [Resize(32), Resize((24, 40), method='pad', pad_mode='zeros'), Resize(32, method='pad', pad_mode='border'),
                                 Resize((40, 24), method='pad'), RandomResizedCrop(32)], ids=['crop', 'pad-zeros', 'pad-border', 'pad-reflect', 'rrc'])
def test_contract_spells_out_fastai_resizes(films, tfm, tmp_path):
    "A model trained outside medfast with fastai's own resize: a runtime that follows the contract's steps gets medfast's input, and its answers"
    train, uploads = films
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, splitter=RandomSplitter(seed=0), get_y=parent_label,
                    item_tfms=tfm).dataloaders(train, bs=4, num_workers=0)
    torch.manual_seed(0)
    learn = medfast_learner(dls, 'resnet18_small', pretrained=False)
    js, safe = export_onnx(learn, tmp_path/'m'), load(export(learn, tmp_path/'t'))
    spec = json.loads(js.read_text())
    assert not any("as fastai's validation transform does" in s for s in spec['input']['steps']), spec['input']['steps']
    for f in uploads:
        np.testing.assert_allclose(contract_input(f, spec), model_input(safe, f)[0][0].numpy(), atol=1e-6, err_msg=f.name)
    sess = ort.InferenceSession(str(js.parent/spec['onnx']), providers=['CPUExecutionProvider'])
    z = sess.run(None, {'input': np.stack([contract_input(f, spec) for f in uploads])})[0]
    p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    eager = predict(safe, uploads, progress=False)
    cols = [c for c in eager.columns if c.startswith('prob_')]
    assert np.abs(eager[cols].values - p).max() < 1e-4
    assert np.abs(predict_onnx(js, uploads, progress=False)[cols].values - eager[cols].values).max() < 1e-4
