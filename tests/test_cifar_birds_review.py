"CIFAR-100 and CUB readers as users meet them: pickles only with an opt-in, the binary release, odd folders, non-ASCII paths"
import os, pickle, subprocess, sys, tarfile
import numpy as np, pytest, torch
from pathlib import Path
from medfast.core import UnsafeFileError, DataLayoutError, MissingPathError
from medfast.studies.cifar import (synthetic_cifar100, read_cifar100, cifar_dls, cifar_basenet_learner, cifar_release,
                                   select_classes, CIFAR100_FINE, CIFAR_DIR, CIFAR_BIN_DIR)
from medfast.studies.birds import synthetic_cub, cub_table, cub_root, birds_learner, birds_fit

class _Payload:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f"touch '{self.marker}'",))

def _evil_release(tmp_path):
    root = tmp_path/'mirror ü'/CIFAR_DIR; root.mkdir(parents=True)
    for f in ('train', 'test', 'meta'): (root/f).write_bytes(pickle.dumps({b'data': _Payload(tmp_path/'ran')}, protocol=2))
    return root.parent

def test_python_release_needs_opt_in_one_line(tmp_path):
    p = synthetic_cifar100(tmp_path/'c', n_per_class=4, classes=2, seed=0)
    with pytest.raises(UnsafeFileError) as e: read_cifar100(p)
    msg = str(e.value)
    assert '\n' not in msg and 'trust_pickle=True' in msg and 'cifar-100-binary' in msg
    for call in (lambda: cifar_dls(p, classes=2), lambda: cifar_basenet_learner(p, classes=2, num_workers=0)):
        with pytest.raises(UnsafeFileError, match='trust_pickle=True'): call()
    assert read_cifar100(p, trust_pickle=True).x.shape == (8, 32, 32, 3)

def test_crafted_pickle_never_runs(tmp_path):
    evil = _evil_release(tmp_path)
    with pytest.raises(UnsafeFileError): read_cifar100(evil)                        # default: not even opened
    with pytest.raises(DataLayoutError, match=r'refusing to load (posix|nt)\.system'): read_cifar100(evil, trust_pickle=True)
    assert not (tmp_path/'ran').exists()

def test_crafted_pickle_in_a_fresh_process(tmp_path):
    "The whole CLI-like path in a new interpreter: the payload does not run, the error is one line"
    evil = _evil_release(tmp_path)
    code = ("import sys\nfrom medfast.studies.cifar import cifar_dls\n"
            "try: cifar_dls(sys.argv[1], classes=2, trust_pickle=True)\n"
            "except Exception as e: print(type(e).__name__, e); sys.exit(3)")
    r = subprocess.run([sys.executable, '-c', code, str(evil)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3 and r.stdout.count('\n') == 1 and 'DataLayoutError' in r.stdout, r.stdout + r.stderr
    assert not (tmp_path/'ran').exists()

def test_binary_release_matches_python_release(tmp_path):
    p = synthetic_cifar100(tmp_path/'py ñ', n_per_class=6, classes=3, seed=1)
    b = synthetic_cifar100(tmp_path/'bin ñ', n_per_class=6, classes=3, seed=1, release='binary')
    assert (cifar_release(p), cifar_release(b)) == ('python', 'binary')
    for split in ('train', 'test'):
        a, c = read_cifar100(p, split, trust_pickle=True), read_cifar100(b/CIFAR_BIN_DIR, split)
        assert np.array_equal(a.x, c.x) and np.array_equal(a.y, c.y) and np.array_equal(a.coarse, c.coarse)
        assert a.names == c.names == CIFAR100_FINE and a.coarse_names == c.coarse_names
    d1 = cifar_dls(b, classes=3, bs=4, seed=0, num_workers=0)
    d2 = cifar_dls(p, classes=3, bs=4, seed=0, num_workers=0, trust_pickle=True)
    assert d1.valid_ds.items == d2.valid_ds.items and d1.split.source['stats'] == d2.split.source['stats']

def test_both_releases_present_reads_binary_without_opt_in(tmp_path):
    p = synthetic_cifar100(tmp_path/'both', n_per_class=4, classes=2, seed=0)
    b = synthetic_cifar100(tmp_path/'b', n_per_class=4, classes=2, seed=0, release='binary')
    os.replace(b/CIFAR_BIN_DIR, p/CIFAR_BIN_DIR)
    assert cifar_release(p) == 'binary' and len(read_cifar100(p).y) == 8

def test_release_folder_in_odd_places(tmp_path):
    p = synthetic_cifar100(tmp_path/'c', n_per_class=4, classes=2, seed=0)
    dl = tmp_path/'downloads'; dl.mkdir()
    with tarfile.open(dl/'cifar-100-python.tar.gz', 'w:gz') as t: t.add(p/CIFAR_DIR, arcname=CIFAR_DIR)
    with pytest.raises(DataLayoutError, match=r'cifar-100-python.tar.gz is here: extract it first'): read_cifar100(dl)
    with pytest.raises(DataLayoutError, match='is a file; extract it first'): read_cifar100(dl/'cifar-100-python.tar.gz')
    renamed = tmp_path/'CIFAR100 données'; os.replace(p/CIFAR_DIR, renamed)      # the release folder renamed
    assert len(read_cifar100(renamed, trust_pickle=True).y) == 8
    with pytest.raises(DataLayoutError, match='one file of the CIFAR-100 release'): read_cifar100(renamed/'train')
    with pytest.raises(MissingPathError): read_cifar100(tmp_path/'nowhere')

def test_class_subsets_users_type():
    with pytest.raises(DataLayoutError, match="did you mean 'aquarium_fish'"): select_classes(CIFAR100_FINE, ['aquarium fish', 'apple'])
    with pytest.raises(DataLayoutError, match='superclass'): select_classes(CIFAR100_FINE, ['vehicles_1', 'apple'])
    with pytest.raises(TypeError, match='whole number or a list'): select_classes(CIFAR100_FINE, 25.0)
    assert select_classes(CIFAR100_FINE, np.array(['bee', 'apple'])) == [6, 0]

@pytest.mark.parametrize('release', ['2011', '2010'])
def test_cub_non_ascii_extra_files_and_missing_images(tmp_path, release):
    p = synthetic_cub(tmp_path/'Vögel ñ', n_classes=2, n_per_class=4, size=32, seed=0, release=release)
    root = cub_root(p)
    (root/'bounding_boxes.txt').write_text(''.join(f'{i} 1.0 2.0 20.0 20.0\n' for i in range(1, 9)))   # extras the recipe ignores
    (root/'annotations-mat').mkdir(); (p/'attributes.txt').write_text('1 has_bill_shape::curved\n')
    tab = cub_table(p)
    assert len(tab) == 8 and tab.is_train.sum() == 4
    os.remove(tab.file.iloc[0])
    with pytest.raises(MissingPathError, match=r'1 image\(s\) listed in .* are not on disk'): cub_table(p)
    assert len(cub_table(p, verify=False)) == 8

def test_cub_index_cannot_point_outside_images(tmp_path):
    p = synthetic_cub(tmp_path/'cub', n_classes=2, n_per_class=2, size=32, seed=0)
    r = p/'CUB_200_2011'
    (r/'images.txt').write_text((r/'images.txt').read_text().replace(' 001.', ' ../../../001.', 1))
    with pytest.raises(UnsafeFileError, match='lies outside'): cub_table(p)
    p10 = synthetic_cub(tmp_path/'c10', n_classes=2, n_per_class=2, size=32, release='2010')
    with pytest.raises(DataLayoutError, match='the release folder'): cub_table(p10/'images')

def test_study_features_run_keeps_imagenet_bn_statistics(tmp_path):
    p = synthetic_cub(tmp_path/'cub', n_classes=2, n_per_class=6, size=32, seed=0, release='2010')
    lf = birds_learner(p, 'resnet18', pretrained=False, protocol='study', run='features', size=32, bs=2, num_workers=0)
    bns = [m for m in lf.model[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in bns]
    with lf.no_bar(), lf.no_logging(): birds_fit(lf, epochs=1)
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, bns))
    lr = birds_learner(p, 'resnet18', pretrained=False, protocol='study', run='retrain', size=32, bs=2, num_workers=0)
    assert not any(type(c).__name__ == 'BnFreeze' for c in lr.cbs)              # the retrained run updates batch norm
