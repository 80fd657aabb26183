"Data layer, second review: in-memory DataLoaders checked by their pixels (the real PneumoniaMNIST has copies across its splits), missing values written as text and joined labels in label tables refused by `medfast train` in one line."
import shutil, warnings
import pandas as pd, pytest

def test_real_pneumoniamnist_copies_named(shared_data):
    "check_split on MedMNIST DataLoaders stopped with a TypeError (row numbers read as paths); the real file has 8 images copied from train into val: warned (its split is published), never refused"
    from medfast.data import check_split
    from medfast.medmnist import medmnist_dls
    dls = medmnist_dls(shared_data/'pneumoniamnist_28.npz', bs=64)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); leaks = check_split(dls)
    assert len(leaks) == 8 and set(leaks.kind) == {'identical image'} and set(leaks.sides) == {'train, valid'}
    assert all('val_images[' in f and 'train_images[' in f for f in leaks.files)
    msgs = [str(o.message) for o in w]
    assert len(msgs) == 1 and msgs[0].startswith("8 image(s) are byte-identical on two sides of pneumoniamnist_28.npz's own split (train, valid: train_images[")
    assert 'keeps a published split' in msgs[0]

def _table(tmp):
    "A label table (file, label, patient, split) over the synthetic X-rays, images in one folder"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import kermany_items, kermany_label, patient_id
    src = synthetic_xrays(tmp/'src', n=40, size=48, seed=0)
    images = tmp/'images'; images.mkdir()
    rows = []
    for f in sorted(kermany_items(src, ('train', 'test'))):
        shutil.copy(f, images/f.name)
        rows.append(dict(file=f.name, label=kermany_label(f).lower(), patient=patient_id(f), split='test' if 'test' in f.parts else ''))
    return pd.DataFrame(rows), images

@pytest.mark.parametrize('label, msg', [('nan', "('nan', a missing value)"), ('#N/A', "('#N/A', a missing value)"),
                                        ('normal, pneumonia', "list several findings, e.g. 'normal, pneumonia'")])
def test_train_refuses_text_missing_and_joined_labels(cli, tmp_path, label, msg):
    "`df.astype(str).to_csv` writes a missing label as 'nan' (Excel: '#N/A'), and multi-label tables join labels: each was trained on as a class of its own"
    df, images = _table(tmp_path)
    df.loc[3, 'label'] = label
    df.to_csv(tmp_path/'labels.csv', index=False)
    r = cli('train', '--data', tmp_path/'labels.csv', '--images', images, '--epochs', 1, '--size', 32, '--pretrained', 'no',
            '--out', tmp_path/'run')
    assert r.returncode == 1 and msg in r.stderr and 'row 5 of' in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path/'run').exists()

def test_text_missing_patients_split_apart(tmp_path):
    "Patients written 'nan' (pandas) or 'NA' (R) were one patient 'nan' holding all of those images, on one side of the split"
    from medfast.data import csv_dls
    df, images = _table(tmp_path)
    df['patient'] = ['nan' if i % 3 == 0 else 'NA' if i % 3 == 1 else p for i, p in enumerate(df.patient)]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); dls = csv_dls(df, folder=images, size=32, bs=4, seed=0)
    assert any('name no patient' in str(o.message) for o in w)
    gf = dls.split.source['group_fn']
    groups = [gf(o) for o in list(dls.train_ds.items) + list(dls.valid_ds.items)]
    assert not {'nan', 'na'} & set(groups)
    assert len(set(groups)) > len(df) // 2          # each of those images a patient of its own

def test_patient_named_files_split_by_patient(tmp_path):
    "CAMUS/ACDC-style names (patient0001_2CH_ED.png): each image was its own group, so a patient's views went to both sides of the split"
    from PIL import Image
    from medfast.data import folder_dls, split_grouping, patient_id
    for p in range(10):
        for view in ('2CH_ED', '2CH_ES', '4CH_ED', '4CH_ES'):
            (d := tmp_path/('poor' if p % 2 else 'good')).mkdir(exist_ok=True)
            Image.new('L', (40, 40), 20*p + len(view)).save(d/f'patient{p:04d}_{view}.png')
    dls = folder_dls(tmp_path, size=32, bs=4, seed=0)
    trn, val = ({patient_id(o) for o in ds.items} for ds in (dls.train_ds, dls.valid_ds))
    assert trn and val and not trn & val
    assert dls.split_info['rule'].startswith('patient-grouped, 10 patients')
