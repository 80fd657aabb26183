"medfast.datasets against files served on 127.0.0.1: download once, checksum refused, offline message, archives."
import functools, http.server, tarfile, threading
from pathlib import Path
import numpy as np, pytest
from medfast.datasets import download_dataset, file_md5, DownloadError, DATASETS

@pytest.fixture
def site(tmp_path):
    root = tmp_path/'site'; root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield root, f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close()

def test_npz_download_checked_and_cached(site, tmp_path):
    root, url = site
    np.savez(root/'x.npz', a=np.arange(3))
    reg = {'x': dict(files={f'{url}/x.npz?download=1': file_md5(root/'x.npz')}, extract=False)}
    p = download_dataset('x', base=tmp_path/'cache', registry=reg)
    assert p == tmp_path/'cache'/'data'/'x.npz' and list(np.load(p)['a']) == [0, 1, 2]
    (root/'x.npz').unlink()                                  # cached: the server is not asked again
    assert download_dataset('x', base=tmp_path/'cache', registry=reg) == p

def test_checksum_mismatch_is_refused(site, tmp_path):
    root, url = site
    (root/'y.npz').write_bytes(b'<html>not the file</html>')
    reg = {'y': dict(files={f'{url}/y.npz': 'f'*32}, extract=False)}
    with pytest.raises(DownloadError, match='published MD5'): download_dataset('y', base=tmp_path, registry=reg)
    assert not (tmp_path/'data'/'y.npz').exists()            # a bad file is never left where medfast reads

def test_offline_message_names_url_and_place(tmp_path):
    reg = {'z': dict(files={'http://127.0.0.1:9/z.npz': None}, extract=False)}
    with pytest.raises(DownloadError) as e: download_dataset('z', base=tmp_path, registry=reg)
    msg = str(e.value)
    assert 'http://127.0.0.1:9/z.npz' in msg and str(tmp_path/'data'/'z.npz') in msg and '\n' not in msg

def test_archive_extracted_once(site, tmp_path):
    root, url = site
    src = tmp_path/'src'/'cifar-100-python'; src.mkdir(parents=True); (src/'meta').write_text('m')
    with tarfile.open(root/'c.tar.gz', 'w:gz') as t: t.add(src, arcname='cifar-100-python')
    reg = {'c': dict(files={f'{url}/c.tar.gz': file_md5(root/'c.tar.gz')}, extract=True)}
    out = download_dataset('c', base=tmp_path/'cache', registry=reg)
    assert (out/'cifar-100-python'/'meta').read_text() == 'm'

def test_catalogue_has_the_studies_sets():
    assert {'pneumoniamnist', 'bloodmnist', 'breastmnist', 'retinamnist', 'cifar100', 'cub200_2011', 'cub200_2010'} <= set(DATASETS)
    md5s = [m for d in DATASETS.values() for m in d['files'].values() if m not in (None, 'fastai')]
    assert all(len(m) == 32 for m in md5s)
