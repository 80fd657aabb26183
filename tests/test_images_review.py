"DICOM reading in `open_image` (needs the optional pydicom; skipped without it): photometric handling and the pixel limit"
import warnings
import numpy as np, pytest
from medfast.core import BadImageError
from medfast import images
from medfast.images import open_image, set_max_pixels

pydicom = pytest.importorskip('pydicom')
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid, SecondaryCaptureImageStorage

def _dicom(fn, arr, photometric='MONOCHROME2', spp=1, **kw):
    "Write `arr` as an uncompressed secondary-capture DICOM file `fn`"
    meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(); meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta; ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PhotometricInterpretation, ds.SamplesPerPixel = photometric, spp
    ds.Rows, ds.Columns = arr.shape[:2]
    bits = arr.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if spp == 3: ds.PlanarConfiguration = 0
    for k, v in kw.items(): setattr(ds, k, v)
    ds.PixelData = arr.tobytes()
    ds.save_as(fn, enforce_file_format=True)
    return fn

RAMP = np.tile(np.linspace(0, 4095, 16), (8, 1)).astype(np.uint16)    # dark on the left, bright on the right

def test_monochrome1_inverted(tmp_path):
    a2 = np.asarray(open_image(_dicom(tmp_path/'m2.dcm', RAMP), 'L'))
    a1 = np.asarray(open_image(_dicom(tmp_path/'m1.dcm', RAMP, 'MONOCHROME1'), 'L'))
    assert (a2[0, 0], a2[0, -1]) == (0, 255) and (a1[0, 0], a1[0, -1]) == (255, 0)

def test_palette_color_looked_up(tmp_path):
    "A PALETTE COLOR image is its colour table's colours, not its indices windowed as grey"
    idx = np.tile(np.arange(2, dtype=np.uint8), (8, 4))
    lut = dict(RedPaletteColorLookupTableData=np.array([0, 65535], np.uint16).tobytes(),
               GreenPaletteColorLookupTableData=np.array([0, 0], np.uint16).tobytes(),
               BluePaletteColorLookupTableData=np.array([65535, 0], np.uint16).tobytes(),
               **{f'{c}PaletteColorLookupTableDescriptor': [2, 0, 16] for c in ('Red', 'Green', 'Blue')})
    im = open_image(_dicom(tmp_path/'pal.dcm', idx, 'PALETTE COLOR', **lut))
    assert (im.getpixel((0, 0)), im.getpixel((1, 0))) == ((0, 0, 255), (255, 0, 0))

def test_rgb_over_8_bits_scaled(tmp_path):
    "16-bit RGB is scaled by its bit depth, not clipped to 255"
    rgb = np.zeros((8, 8, 3), np.uint16); rgb[..., 0] = 65535; rgb[..., 2] = 32768
    assert open_image(_dicom(tmp_path/'rgb16.dcm', rgb, 'RGB', 3)).getpixel((0, 0)) == (255, 0, 128)
    rgb8 = np.zeros((8, 8, 3), np.uint8); rgb8[..., 0] = 200
    assert open_image(_dicom(tmp_path/'rgb8.dcm', rgb8, 'RGB', 3)).getpixel((0, 0)) == (200, 0, 0)

def test_dicom_pixel_limit(tmp_path):
    "Rows x Columns over the decompression-bomb limit is refused before the pixel data is decoded"
    fn = _dicom(tmp_path/'big.dcm', RAMP)
    old = set_max_pixels(100)
    try:
        with pytest.raises(BadImageError, match='decompression-bomb'): open_image(fn)
    finally: set_max_pixels(old)

def test_multiframe_reads_the_first_frame_only(tmp_path, monkeypatch):
    "A multi-frame file gives its first frame, rescaled, and (pydicom 3) no other frame is decoded"
    frames = np.stack([RAMP, RAMP[:, ::-1], RAMP[:, ::-1]])                # frame 0 bright on the right, the others reversed
    fn = _dicom(tmp_path/'cine.dcm', frames[0], NumberOfFrames=3, RescaleSlope=2, RescaleIntercept=-100)
    ds = pydicom.dcmread(fn); ds.PixelData = frames.tobytes(); ds.save_as(fn)
    monkeypatch.setattr(images, '_told_frames', [])
    with pytest.warns(UserWarning, match=r'cine.dcm holds 3 frames; medfast reads the first frame'): a = np.asarray(open_image(fn, 'L'))
    assert a.shape == (8, 16) and (a[0, 0], a[0, -1]) == (0, 255)
    with warnings.catch_warnings(): warnings.simplefilter('error'); open_image(fn, 'L')   # told once a process, not once a file
    from importlib import import_module
    if hasattr(import_module('pydicom.pixels'), 'pixel_array'):
        monkeypatch.setattr(pydicom.dataset.Dataset, 'pixel_array', property(lambda self: 1/0))   # decoding every frame fails
        assert np.array_equal(np.asarray(open_image(fn, 'L')), a)
