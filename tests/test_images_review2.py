"Reading images as users bring them: 16-bit colour TIFFs, DICOM files without a preamble or without pixel data"
import struct, warnings
import numpy as np, pytest
from medfast.core import BadImageError
from medfast.images import open_image

def _tiff_rgb16(fn, a, order='<'):
    "Write `a` (h, w, 3; uint16) as an uncompressed TIFF of 16 bits per channel, byte `order` '<' (II) or '>' (MM)"
    h, w, _ = a.shape
    data = a.astype(f'{order}u2').tobytes()
    tags = [(256, 3, w), (257, 3, h), (258, 3, None), (259, 3, 1), (262, 3, 2), (273, 4, None), (277, 3, 3), (278, 3, h),
            (279, 4, len(data)), (284, 3, 1)]
    bps_at = 8 + 2 + 12*len(tags) + 4
    out = (b'II*\0' if order == '<' else b'MM\0*') + struct.pack(f'{order}I', 8) + struct.pack(f'{order}H', len(tags))
    for tag, typ, v in tags:
        if tag == 258: out += struct.pack(f'{order}HHII', tag, typ, 3, bps_at)
        elif tag == 273: out += struct.pack(f'{order}HHII', tag, typ, 1, bps_at + 6)
        elif typ == 3: out += struct.pack(f'{order}HHIHH', tag, typ, 1, v, 0)
        else: out += struct.pack(f'{order}HHII', tag, typ, 1, v)
    fn.write_bytes(out + struct.pack(f'{order}I', 0) + struct.pack(f'{order}HHH', 16, 16, 16) + data)
    return fn

@pytest.mark.parametrize('order', ['<', '>'])
def test_colour_tiff_of_12_bits_warned(tmp_path, order):
    "A microscope's 12-bit colour TIFF (16 bits per channel) reads nearly black in Pillow: said, as for a PNG"
    twelve = np.random.default_rng(0).integers(0, 4096, (8, 8, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always'); im = open_image(_tiff_rgb16(tmp_path/'rgb12.tif', twelve, order))
    assert np.asarray(im).max() < 16
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1 and 'rgb12.tif is a colour TIFF of 16 bits per channel' in msgs[0] and 'low 12 bits' in msgs[0]
    with warnings.catch_warnings():                                  # values over the whole 16 bits: read right, no warning
        warnings.simplefilter('error')
        assert np.asarray(open_image(_tiff_rgb16(tmp_path/'rgb16.tif', twelve * 16, order))).max() > 200

pydicom = pytest.importorskip('pydicom')
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid, SecondaryCaptureImageStorage

RAMP = np.tile(np.linspace(0, 4095, 16), (8, 1)).astype(np.uint16)    # dark on the left, bright on the right

def _raw_dicom(fn, arr=RAMP, implicit=True, pixels=True, **kw):
    "Write `arr` as a DICOM dataset with no 128-byte preamble, no 'DICM' and no file meta (an ACR-NEMA-style export)"
    ds = Dataset(); ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds.PhotometricInterpretation, ds.SamplesPerPixel = 'MONOCHROME2', 1
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for k, v in kw.items(): setattr(ds, k, v)
    if pixels: ds.PixelData = arr.tobytes()
    ds.save_as(fn, implicit_vr=implicit, little_endian=True)
    assert fn.read_bytes()[128:132] != b'DICM'
    return fn

@pytest.mark.parametrize('implicit', [True, False])
def test_dicom_without_preamble_read(tmp_path, implicit):
    "A .dcm without preamble and file meta is read by its content, rescaled and inverted as any other"
    a = np.asarray(open_image(_raw_dicom(tmp_path/'raw.dcm', implicit=implicit), 'L'))
    assert (a[0, 0], a[0, -1]) == (0, 255)
    m1 = np.asarray(open_image(_raw_dicom(tmp_path/'m1.dcm', implicit=implicit, PhotometricInterpretation='MONOCHROME1',
                                          RescaleSlope='2', RescaleIntercept='-1024'), 'L'))
    assert (m1[0, 0], m1[0, -1]) == (255, 0)

def test_dicom_without_pixels_named(tmp_path):
    "A DICOM object with no pixel data (a report, a DICOMDIR), or text named .dcm, is one error saying it holds no image"
    for fn in (_raw_dicom(tmp_path/'report.dcm', pixels=False), tmp_path/'notes.dcm'):
        if fn.name == 'notes.dcm': fn.write_text('patient notes, not an image\n' * 10)
        with warnings.catch_warnings():
            warnings.simplefilter('error')                           # pydicom's guesses at a non-DICOM file stay quiet
            with pytest.raises(BadImageError, match=f'{fn.name}: cannot read DICOM pixel data: it holds none'): open_image(fn)

def test_dicom_without_preamble_as_bytes_or_stream(tmp_path):
    "An upload of such a file (bytes named .dcm, or an open file) is read as DICOM too, not refused as a non-image"
    fn = _raw_dicom(tmp_path/'upload.dcm')
    assert np.asarray(open_image(fn.read_bytes(), 'L', name='upload.dcm'))[0, -1] == 255
    with open(fn, 'rb') as f: assert np.asarray(open_image(f, 'L'))[0, -1] == 255
    with pytest.raises(BadImageError, match='not an image file'): open_image(fn.read_bytes(), name='upload.png')
