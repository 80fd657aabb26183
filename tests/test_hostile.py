"Hostile input: every odd or broken file gives a correct image/prediction or a clear error naming the file; nothing hangs"
import os, signal, sys
from pathlib import Path
import numpy as np, pytest
from PIL import Image, ImageFile

from medfast.core import BadImageError, DataLayoutError, MissingPathError
from medfast.images import open_image, image_files, unreadable_images, check_images, set_max_pixels, MedImage
from medfast.inference import inference_learner, predict

@pytest.fixture(autouse=True)
def no_hang():
    "Fail (instead of hanging the suite) if a test takes over 120 s"
    if not hasattr(signal, 'SIGALRM'): yield; return
    def boom(*_): raise TimeoutError("hostile-input test hung")
    old = signal.signal(signal.SIGALRM, boom); signal.alarm(120)
    try: yield
    finally: signal.alarm(0); signal.signal(signal.SIGALRM, old)

@pytest.fixture(scope='module')
def model():
    "An untrained tiny inference learner (no data needed): enough to check every input reaches a prediction"
    spec = dict(arch='basenet', n_in=3, classes=['NORMAL', 'PNEUMONIA'], model_kwargs={}, normalize=None,
                image=dict(mode='RGB', resize=dict(tfm='Resize', size=[32, 32], method='squish', pad_mode='reflection')))
    return inference_learner(spec, device='cpu')

def ramp(h=48, w=64, hi=255, dtype=np.uint8):
    return (np.linspace(0, hi, h*w).reshape(h, w)).astype(dtype)

# --------------------------------------------------------------------- files that must load correctly

def test_grayscale(tmp_path):
    a = ramp(); Image.fromarray(a).save(tmp_path/'g.png')
    im = open_image(tmp_path/'g.png')
    assert im.mode == 'RGB' and im.size == (64, 48)
    rgb = np.asarray(im)
    assert (rgb[..., 0] == a).all() and (rgb[..., 1] == a).all() and (rgb[..., 2] == a).all()
    assert (np.asarray(open_image(tmp_path/'g.png', 'L')) == a).all()

def test_rgba_composited_on_black_by_default(tmp_path):
    a = np.zeros((20, 20, 4), np.uint8); a[..., :3] = (200, 100, 50); a[:10, ..., 3] = 255   # top half opaque
    Image.fromarray(a, 'RGBA').save(tmp_path/'rgba.png')
    rgb = np.asarray(open_image(tmp_path/'rgba.png'))
    assert tuple(rgb[0, 0]) == (200, 100, 50) and tuple(rgb[-1, -1]) == (0, 0, 0)
    assert tuple(np.asarray(open_image(tmp_path/'rgba.png', background=255))[-1, -1]) == (255, 255, 255)
    Image.fromarray(a, 'RGBA').convert('LA').save(tmp_path/'la.png')
    assert open_image(tmp_path/'la.png', None).mode == 'L'

def test_palette(tmp_path):
    im = Image.new('P', (8, 8)); im.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0]*759)
    im.putpixel((0, 0), 1); im.putpixel((7, 7), 2); im.save(tmp_path/'p.png')
    rgb = open_image(tmp_path/'p.png')
    assert rgb.getpixel((0, 0)) == (255, 0, 0) and rgb.getpixel((7, 7)) == (0, 0, 255) and rgb.getpixel((3, 3)) == (0, 0, 0)
    im.info['transparency'] = 0; im.save(tmp_path/'pt.png', transparency=0)                 # palette with transparency
    assert open_image(tmp_path/'pt.png').getpixel((0, 0)) == (255, 0, 0)

def test_one_bit(tmp_path):
    im = Image.new('1', (8, 8), 0); im.putpixel((1, 1), 1); im.save(tmp_path/'b.png')
    assert open_image(tmp_path/'b.png').getpixel((1, 1)) == (255, 255, 255)

def test_cmyk_jpeg(tmp_path):
    im = Image.new('CMYK', (32, 32), (0, 0, 0, 0)); im.paste((255, 0, 0, 0), (0, 0, 16, 32))   # left half cyan
    im.save(tmp_path/'cmyk.jpeg', quality=95)
    assert Image.open(tmp_path/'cmyk.jpeg').mode == 'CMYK'
    rgb = np.asarray(open_image(tmp_path/'cmyk.jpeg')).astype(int)
    assert np.abs(rgb[16, 4] - (0, 255, 255)).max() < 20      # cyan, not inverted
    assert np.abs(rgb[16, 28] - (255, 255, 255)).max() < 20   # white

@pytest.mark.parametrize('fmt', ['png', 'tiff'])
def test_16_bit_windowed(tmp_path, fmt):
    a = ramp(hi=4095, dtype=np.uint16)            # a 12-bit detector stored in 16 bits: /256 would be nearly black
    a[0, 0] = 65535                                # one hot pixel must not squash the window
    Image.fromarray(a).save(tmp_path/f'x16.{fmt}')
    assert Image.open(tmp_path/f'x16.{fmt}').mode.startswith('I;16')
    g = np.asarray(open_image(tmp_path/f'x16.{fmt}', 'L')).astype(int)
    assert g.min() == 0 and g.max() == 255
    assert abs(g[24, 32] - 128) <= 3               # mid-ramp maps to mid-grey
    assert (np.diff(g.ravel()[1:]) >= 0).all()      # monotonic: order of grey levels kept

def test_float_and_int32_tiff(tmp_path):
    Image.fromarray(ramp(hi=1, dtype=np.float32)).save(tmp_path/'f.tiff')
    Image.fromarray(ramp(hi=100000, dtype=np.int32)).save(tmp_path/'i.tiff')
    for f in ('f.tiff', 'i.tiff'):
        g = np.asarray(open_image(tmp_path/f, 'L'))
        assert g.dtype == np.uint8 and g.min() == 0 and g.max() == 255

def test_exif_rotation(tmp_path):
    a = np.zeros((48, 64), np.uint8); a[:12, :12] = 255                 # bright top-left corner
    exif = Image.Exif(); exif[0x0112] = 6                                 # display rotated 90 degrees clockwise
    Image.fromarray(a).save(tmp_path/'rot.jpeg', exif=exif, quality=95)
    im = np.asarray(open_image(tmp_path/'rot.jpeg', 'L'))
    assert im.shape == (64, 48)                                           # upright: width and height swapped
    assert im[:12, -12:].mean() > 200 and im[:12, :12].mean() < 50        # the corner moved to the top right

def test_multiframe_first_frame(tmp_path):
    frames = [Image.new('L', (8, 8), v) for v in (10, 200)]
    frames[0].save(tmp_path/'m.tiff', save_all=True, append_images=frames[1:])
    assert open_image(tmp_path/'m.tiff', 'L').getpixel((0, 0)) == 10

def test_large_jpeg_size_hint(tmp_path):
    big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (2000, 1600), dtype=np.uint8))
    big.save(tmp_path/'big.jpeg', quality=85)
    full, small = open_image(tmp_path/'big.jpeg'), open_image(tmp_path/'big.jpeg', size=224)   # speed: bench/decode.py
    assert full.size == (1600, 2000)
    assert small.size[0] >= 224 and small.size[1] >= 224 and small.size[0] < 800   # decoded reduced, never below target
    assert abs(small.size[0] / small.size[1] - 0.8) < 0.01                          # aspect ratio kept

# --------------------------------------------------------------------- files that must fail clearly

def test_zero_byte(tmp_path):
    (tmp_path/'empty.jpeg').write_bytes(b'')
    with pytest.raises(BadImageError, match=r'empty\.jpeg is empty \(0 bytes\)'): open_image(tmp_path/'empty.jpeg')

def test_truncated_jpeg(tmp_path):
    Image.fromarray(ramp()).convert('RGB').save(tmp_path/'ok.jpeg', quality=90)
    data = (tmp_path/'ok.jpeg').read_bytes()
    for n in (300, len(data)//2, len(data) - 10):
        (tmp_path/'cut.jpeg').write_bytes(data[:n])
        with pytest.raises(BadImageError, match=r'cut\.jpeg is truncated or corrupt'): open_image(tmp_path/'cut.jpeg')
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False

def test_text_named_jpeg(tmp_path):
    (tmp_path/'notes.jpeg').write_text('patient list, do not share\n')
    with pytest.raises(BadImageError, match=r'notes\.jpeg is not an image.*looks like text'): open_image(tmp_path/'notes.jpeg')
    (tmp_path/'page.jpeg').write_text('<html><body>403 Forbidden</body></html>')
    with pytest.raises(BadImageError, match='HTML'): open_image(tmp_path/'page.jpeg')

def test_random_bytes_named_png(tmp_path):
    (tmp_path/'noise.png').write_bytes(np.random.default_rng(0).integers(0, 255, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(BadImageError, match=r'noise\.png'): open_image(tmp_path/'noise.png')

def test_corrupt_png_body(tmp_path):
    Image.fromarray(ramp()).save(tmp_path/'ok.png')
    b = bytearray((tmp_path/'ok.png').read_bytes()); b[60:80] = b'\x00' * 20
    (tmp_path/'bad.png').write_bytes(bytes(b))
    with pytest.raises(BadImageError, match=r'bad\.png'): open_image(tmp_path/'bad.png')

@pytest.mark.parametrize('limit', [2000, 1000])     # 64x48=3072 px: over the limit (warning zone), over twice it (error)
def test_decompression_bomb(tmp_path, monkeypatch, limit):
    Image.fromarray(ramp()).save(tmp_path/'bomb.png')
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', limit)
    with pytest.raises(BadImageError, match=r'bomb\.png.*decompression-bomb limit.*set_max_pixels'):
        open_image(tmp_path/'bomb.png')
    old = set_max_pixels(10_000)                    # the documented way to raise the limit
    try: assert open_image(tmp_path/'bomb.png').size == (64, 48)
    finally: set_max_pixels(old)

def test_missing_path(tmp_path):
    with pytest.raises(MissingPathError, match=r'nope\.png'): open_image(tmp_path/'nope.png')
    with pytest.raises(MissingPathError, match='nowhere'): image_files(tmp_path/'nowhere')

def test_folder_with_no_images(tmp_path):
    (tmp_path/'d').mkdir(); (tmp_path/'d'/'readme.txt').write_text('x'); (tmp_path/'d'/'.DS_Store').write_bytes(b'x')
    with pytest.raises(DataLayoutError, match=r'No image files in .*d.*readme\.txt'): image_files(tmp_path/'d')
    with pytest.raises(BadImageError, match='is a folder'): open_image(tmp_path/'d')

def test_dicom_without_pydicom(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'pydicom', None)                    # as if the extra were not installed
    (tmp_path/'chest.dcm').write_bytes(b'\0'*128 + b'DICM' + b'\0'*64)
    with pytest.raises(BadImageError, match=r'chest\.dcm is a DICOM file.*pip install "medfast\[dicom\]"'):
        open_image(tmp_path/'chest.dcm')
    (tmp_path/'IM0001').write_bytes(b'\0'*128 + b'DICM' + b'\0'*64)     # no extension: found by its magic bytes
    with pytest.raises(BadImageError, match='DICOM'): open_image(tmp_path/'IM0001')
    assert tmp_path/'chest.dcm' in image_files(tmp_path)

# --------------------------------------------------------------------- all together: checking and predicting

@pytest.fixture
def zoo(tmp_path):
    "A folder with every kind of file: name -> expected to be readable?"
    d = tmp_path/'zoo'; d.mkdir()
    Image.fromarray(ramp()).save(d/'grey.png')
    Image.fromarray(np.dstack([ramp()]*3 + [np.full((48, 64), 255, np.uint8)]), 'RGBA').save(d/'rgba.png')
    Image.new('CMYK', (40, 40), (30, 0, 200, 10)).save(d/'cmyk.jpeg')
    Image.fromarray(ramp(hi=4095, dtype=np.uint16)).save(d/'x16.png')
    Image.fromarray(ramp(hi=4095, dtype=np.uint16)).save(d/'x16.tif')
    Image.fromarray(ramp()).convert('P').save(d/'pal.png')
    (d/'empty.jpeg').write_bytes(b'')
    (d/'cut.jpeg').write_bytes((d/'cmyk.jpeg').read_bytes()[:150])
    (d/'text.jpeg').write_text('hello')
    (d/'scan.dcm').write_bytes(b'\0'*128 + b'DICM')
    return d, {'grey.png', 'rgba.png', 'cmyk.jpeg', 'x16.png', 'x16.tif', 'pal.png'}   # scan.dcm is fake: unreadable

def test_verify_images_never_deletes(zoo):
    d, good = zoo
    with pytest.warns(UserWarning, match='unreadable'): bad = check_images(d)
    assert {p.name for p in bad} == {'empty.jpeg', 'cut.jpeg', 'text.jpeg', 'scan.dcm'}
    assert all(p.name in reason for p, reason in bad.items())            # each reason names its file
    assert len(list(d.iterdir())) == 10
    assert unreadable_images([d/'grey.png', d/'missing.png'], warn=False).keys() == {d/'missing.png'}

def test_predict_table_on_hostile_folder(zoo, model, tmp_path):
    d, good = zoo
    (tmp_path/'empty_dir').mkdir()
    t = predict(model, [d, tmp_path/'empty_dir', tmp_path/'missing.png'], bs=3, progress=False)
    names = t.file.map(lambda f: Path(f).name)
    assert len(t) == 12 and names.is_unique
    ok = t.error.isna()
    assert set(names[ok]) == good
    assert t.loc[ok, 'label'].isin(['NORMAL', 'PNEUMONIA']).all()
    np.testing.assert_allclose(t.loc[ok, ['prob_NORMAL', 'prob_PNEUMONIA']].sum(axis=1), 1, rtol=1e-5)
    errors = dict(zip(names[~ok], t.error[~ok]))
    assert '0 bytes' in errors['empty.jpeg'] and 'truncated' in errors['cut.jpeg'] and 'not an image' in errors['text.jpeg']
    assert 'pydicom' in errors['scan.dcm'] or 'DICOM' in errors['scan.dcm']
    assert 'No image files' in errors['empty_dir'] and 'not found' in errors['missing.png']

def test_predict_single_bad_file_raises_clearly(zoo, model):
    d, _ = zoo
    with pytest.raises(BadImageError, match=r'text\.jpeg'): predict(model, d/'text.jpeg')
    assert predict(model, d/'x16.png').label in ('NORMAL', 'PNEUMONIA')

def test_medimage_in_datablock(zoo):
    from fastai.vision.all import DataBlock, CategoryBlock, ImageBlock, Resize, RandomSplitter
    d, good = zoo
    items = [d/n for n in sorted(good)]
    dls = DataBlock(blocks=(ImageBlock(cls=MedImage), CategoryBlock), get_y=lambda p: p.suffix,
                    splitter=RandomSplitter(0.2, seed=0), item_tfms=Resize(24)).dataloaders(items, bs=2, num_workers=0)
    x, y = dls.one_batch()
    assert x.shape == (2, 3, 24, 24)

def _write_dicom(path, arr, photometric='MONOCHROME2', slope=1, intercept=0):
    "A minimal 12-bit greyscale DICOM file (needs pydicom)"
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid, SecondaryCaptureImageStorage
    meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(); meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = arr.shape; ds.SamplesPerPixel = 1; ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = arr.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)

def test_dicom_with_pydicom(tmp_path):
    pytest.importorskip('pydicom')
    a = ramp(hi=4095, dtype=np.uint16)
    _write_dicom(tmp_path/'x.dcm', a); _write_dicom(tmp_path/'inv.dcm', a, 'MONOCHROME1')
    g = np.asarray(open_image(tmp_path/'x.dcm', 'L')).astype(int)
    assert g.shape == (48, 64) and g[0, 0] == 0 and g[-1, -1] == 255 and abs(g[24, 32] - 128) <= 3
    inv = np.asarray(open_image(tmp_path/'inv.dcm', 'L'))
    assert inv[0, 0] == 255 and inv[-1, -1] == 0                       # MONOCHROME1: high values are dark
    assert open_image((tmp_path/'x.dcm').read_bytes()).size == (64, 48)  # an upload (bytes)
    (tmp_path/'bad.dcm').write_bytes(b'\0'*128 + b'DICM' + b'junk'*10)
    with pytest.raises(BadImageError, match=r'bad\.dcm: cannot read DICOM'): open_image(tmp_path/'bad.dcm')

# --------------------------------------------------------------------- broken data files and output folders

def _one_line(r):
    "The CLI refused with one line naming the problem: no traceback"
    assert r.returncode in (1, 2) and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr

def test_corrupt_npz_never_suggests_pickle(tmp_path):
    from medfast.medmnist import load_medmnist
    from medfast.synthetic import synthetic_medmnist
    good = synthetic_medmnist(tmp_path/'good.npz', n=16)
    (tmp_path/'x.npz').write_bytes(b'x'); (tmp_path/'cut.npz').write_bytes(good.read_bytes()[:3000])
    np.save(tmp_path/'arr.npy', np.zeros(3))
    for f in ('x.npz', 'cut.npz', 'arr.npy'):
        with pytest.raises(DataLayoutError, match=rf'{f} is not a valid NumPy \.npz file') as e: load_medmnist(tmp_path/f)
        assert 'pickle' not in str(e.value)
    np.savez(tmp_path/'obj.npz', **{k: np.array([None], object) for k in ('train_images', 'train_labels')})
    with pytest.raises(DataLayoutError, match=r'train_images in .*obj\.npz.*never unpickles') as e:
        load_medmnist(tmp_path/'obj.npz', splits=('train',))
    assert 'allow_pickle' not in str(e.value)
    import gc, warnings
    del e
    with warnings.catch_warnings(record=True) as w:          # the refused file is closed, not left to the garbage collector
        warnings.simplefilter('always', ResourceWarning)
        with pytest.raises(DataLayoutError): load_medmnist(tmp_path/'obj.npz', splits=('train',))
        gc.collect()
    assert not [x for x in w if issubclass(x.category, ResourceWarning)], [str(x.message) for x in w]

def test_npz_with_one_training_class_refused(tmp_path):
    from medfast.medmnist import medmnist_dls
    from medfast.synthetic import synthetic_medmnist
    arrs = dict(np.load(synthetic_medmnist(tmp_path/'two.npz', n=16)))
    arrs['train_labels'] = np.zeros_like(arrs['train_labels']); np.savez(tmp_path/'one.npz', **arrs)
    with pytest.raises(DataLayoutError, match=r'train_labels in .*one\.npz never holds class\(es\) \[1\] of 0\.\.1'):
        medmnist_dls(tmp_path/'one.npz')

def test_class_folders_under_pneumonia_task_point_to_folder_task(tmp_path):
    from medfast.data import kermany_split
    for c in ('basophil', 'platelet'): (tmp_path/c).mkdir(); Image.fromarray(ramp()).save(tmp_path/c/'a.png')
    with pytest.raises(DataLayoutError, match=r"No 'train' folder.*use `--task folder` \(`folder_dls` in Python\)"):
        kermany_split(tmp_path)

def test_output_folder_that_cannot_be_made(tmp_path):
    from medfast.core import MedfastError, claim_folder, atomic_write
    (tmp_path/'metrics.csv').write_text('x')
    for f in (lambda: claim_folder(tmp_path/'metrics.csv'/'sub'),
              lambda: atomic_write(tmp_path/'metrics.csv'/'sub'/'a.txt', lambda tmp: tmp.write_text('a'))):
        with pytest.raises(MedfastError, match=r'metrics\.csv.*part of the path is a file.*choose an output folder you can write to'): f()
    if Path('/proc/self').is_dir():                           # Linux: nothing can be created in /proc
        with pytest.raises(MedfastError, match=r'/proc/medfast-x .*choose an output folder'): claim_folder('/proc/medfast-x')

def test_cli_broken_npz_and_output_path_one_line(tmp_path, cli):
    from medfast.synthetic import synthetic_medmnist
    (tmp_path/'bad.npz').write_bytes(b'x')
    err = _one_line(cli('train', '--data', tmp_path/'bad.npz', '--epochs', 1, '--out', tmp_path/'r', cwd=tmp_path))
    assert 'bad.npz is not a valid NumPy .npz file' in err and 'pickle' not in err
    (tmp_path/'metrics.csv').write_text('x')
    err = _one_line(cli('train', '--data', synthetic_medmnist(tmp_path/'s.npz', n=16), '--epochs', 1, '--size', 32,
                        '--pretrained', 'no', '--out', tmp_path/'metrics.csv'/'sub', cwd=tmp_path))
    assert 'metrics.csv/sub' in err and 'choose an output folder you can write to' in err

def test_pr_curve_of_one_class_test_set_draws_no_empty_legend():
    import warnings
    from medfast.plots import plot_pr
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    with warnings.catch_warnings(): warnings.simplefilter('error'); ax = plot_pr(probs, np.zeros(3, int), ['NORMAL', 'PNEUMONIA']).axes[0]
    assert ax.get_legend() is None

def test_cli_class_with_one_image_refused_before_training(tmp_path, cli):
    "A class of one image cannot be held out: validation could not score it nor choose epochs or a threshold, so one line says so"
    from medfast.synthetic import synthetic_xray
    for k, (c, n) in enumerate((('A', 12), ('B', 12), ('C', 1))):
        (tmp_path/'d'/c).mkdir(parents=True)
        for i in range(n): synthetic_xray(seed=100*k + i).save(tmp_path/'d'/c/f'{i}.png')
    r = cli('train', '--task', 'folder', '--data', tmp_path/'d', '--pretrained', 'no', '--epochs', 1, '--size', 32, '--bs', 4,
            '--quiet', '--out', tmp_path/'run', cwd=tmp_path)
    assert r.returncode == 1 and 'No validation image of class(es) C' in _one_line(r) and not (tmp_path/'run').exists()

@pytest.mark.parametrize('layout, says', [
    ({'A': 6, 'B': 6, 'B/scanner2': 4}, "'scanner2' would become a class"),
    ({'A': 6, 'B': 6, 'test/A': 2, 'test/B': 2}, 'split folder(s) (test) beside its class folders')])
def test_cli_folder_layouts_that_would_mislabel_refused(tmp_path, cli, layout, says):
    "A folder inside a class folder, or a test/ folder beside the classes: refused, never trained on under a wrong label"
    for rel, n in layout.items():
        (tmp_path/'d'/rel).mkdir(parents=True, exist_ok=True)
        for i in range(n): Image.fromarray(ramp(hi=100 + 10*i)).save(tmp_path/'d'/rel/f'{i}.png')
    r = cli('train', '--task', 'folder', '--data', tmp_path/'d', '--pretrained', 'no', '--epochs', 1, '--size', 32,
            '--out', tmp_path/'run', cwd=tmp_path)
    assert r.returncode == 1 and says in _one_line(r)

def test_cli_multi_label_npz_refused_in_one_line(tmp_path, cli):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 28, 28)).astype(np.uint8), rng.integers(0, 2, (40, 3))
    np.savez(tmp_path/'ml.npz', train_images=x, train_labels=y, val_images=x[:10], val_labels=y[:10], test_images=x[:10], test_labels=y[:10])
    r = cli('train', '--data', tmp_path/'ml.npz', '--size', 32, '--bs', 8, '--epochs', 1, '--out', tmp_path/'run', cwd=tmp_path)
    assert r.returncode == 1 and 'multi-label' in _one_line(r) and not (tmp_path/'run').exists()

def test_predict_array_of_nan_pixels_is_an_error(model):
    with pytest.raises(BadImageError, match='NaN or infinite'): predict(model, np.full((40, 40), np.nan))

def test_cli_out_inside_data_refused(tmp_path, cli):
    for c in ('A', 'B'): (tmp_path/'d'/c).mkdir(parents=True); Image.fromarray(ramp()).save(tmp_path/'d'/c/'a.png')
    err = _one_line(cli('train', '--task', 'folder', '--data', tmp_path/'d', '--out', tmp_path/'d'/'run', cwd=tmp_path))
    assert 'is inside --data' in err and not (tmp_path/'d'/'run').exists()

@pytest.mark.skipif(not hasattr(signal, 'SIGTERM') or os.name != 'posix', reason='POSIX signals')
def test_cli_terminated_train_leaves_no_output_folder(tmp_path):
    "kill (SIGTERM) stops `medfast train` as Ctrl-C does: the folder it claimed, still empty, is removed"
    import subprocess, sys
    p = subprocess.Popen([sys.executable, '-m', 'medfast', 'train', '--n-synthetic', '400', '--epochs', '50', '--size', '32',
                          '--out', str(tmp_path/'run')], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'MEDFAST_HOME': str(tmp_path/'home'), 'PYTHONUNBUFFERED': '1'})
    for line in p.stdout:
        if line.startswith('Outputs:'): break
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM and 'Terminated.' in err and 'Traceback' not in err, err[-2000:]
    assert not (tmp_path/'run').exists()
