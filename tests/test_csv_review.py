"Label tables as researchers export them: HAM10000 ids (fast for big tables), NIH and ISIC layouts, Excel on Windows, blank patients; a CSV-trained model scored on its test rows and on class folders."
import shutil, time, warnings
import pandas as pd, pytest
from pathlib import Path

def _ham(tmp, n=60):
    "A HAM10000-style table: `lesion_id`, `image_id` (no extension, no patient in the name), `dx`, `split`; images in their own folder"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import kermany_items, kermany_label, patient_id
    src = synthetic_xrays(tmp/'src', n=n, size=48, seed=0)
    images = tmp/'ham'/'images'; images.mkdir(parents=True)
    rows = []
    for i, f in enumerate(sorted(kermany_items(src, ('train', 'test')))):
        shutil.copy(f, images/f'ISIC_{i:07d}.jpg')
        rows.append(dict(lesion_id='HAM_' + patient_id(f), image_id=f'ISIC_{i:07d}', dx=kermany_label(f).lower(),
                         split='test' if 'test' in f.parts else ''))
    pd.DataFrame(rows).to_csv(tmp/'ham'/'HAM10000_metadata.csv', index=False)
    return tmp/'ham'/'HAM10000_metadata.csv', images, src

def test_image_ids_read_fast(tmp_path):
    "20,000 image ids without extension: each folder listed once (it tried every image extension of every id, 2.9 ms a row)"
    from medfast.data import read_label_csv
    (img := tmp_path/'img').mkdir()
    n = 20_000
    for i in range(n): (img/f'ISIC_{i:07d}.jpg').write_bytes(b'')
    pd.DataFrame(dict(image_id=[f'ISIC_{i:07d}' for i in range(n)], dx=['nv', 'mel']*(n//2))).to_csv(tmp_path/'meta.csv', index=False)
    t = time.perf_counter(); tab = read_label_csv(tmp_path/'meta.csv', folder=img); secs = time.perf_counter() - t
    assert len(tab) == n and tab.file[5] == img/'ISIC_0000005.jpg'
    assert secs < 20, f"{secs:.1f} s to read {n:,} image ids"

def test_blank_patients_and_split_sides(tmp_path):
    "Blank lesion ids: each image a group of its own (they were one group 'nan', with a false test-leak warning); lesions on one side"
    from medfast.data import csv_dls, check_split
    table, images, _ = _ham(tmp_path)
    df = pd.read_csv(table, dtype=str, keep_default_na=False)
    df.loc[df.index % 3 == 0, 'lesion_id'] = ''
    df.loc[df.index % 3 == 1, 'lesion_id'] = df.lesion_id.str.lower() + ' '         # 'HAM_IM-0001' and 'ham_im-0001 ': one lesion
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); dls = csv_dls(df, folder=images, size=32, bs=8, seed=0)
    msgs = [str(o.message) for o in w]
    assert any('rows of the table name no patient' in m for m in msgs) and not any('rows marked test' in m for m in msgs), msgs
    gf = dls.split.source['group_fn']
    sides = [{gf(o) for o in items} for items in (dls.train_ds.items, dls.valid_ds.items, dls.test_items)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert 'nan' not in set().union(*sides)
    assert len(check_split(dls)) == 0

def test_csv_model_scored_on_test_rows_and_folders(tmp_path):
    "The python route: csv_dls, train, evaluate on the held-out rows and on a class-folder test set"
    from medfast.data import csv_dls, labelled_dl
    from medfast.learner import medfast_learner, train
    from medfast.evaluation import evaluate
    table, images, src = _ham(tmp_path)
    dls = csv_dls(table, folder=images, size=32, bs=8, seed=0)
    learn = medfast_learner(dls, 'resnet18', pretrained=False)
    with learn.no_logging(), learn.no_bar(): train(learn, 1, freeze_epochs=0)
    n_test = int((pd.read_csv(table).split == 'test').sum())
    for src_, n in ((dls.test_items, n_test), (src/'test', len(list((src/'test').rglob('*.jpeg'))))):
        m = evaluate(learn, labelled_dl(dls, src_), n_boot=0)
        assert int(m[m.metric == 'n'].value.iloc[0]) == n

def _cli_fails(cli, tmp_path, table, images, msg):
    r = cli('train', '--data', table, '--images', images, '--epochs', 1, '--size', 32, '--pretrained', 'no', '--out', tmp_path/'run')
    assert r.returncode == 1 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_cli_tables_researchers_export(cli, tmp_path):
    "NIH multi-label and ISIC one-hot tables refused in one line; an Excel (Windows-1252) table with blank patients trains"
    table, images, _ = _ham(tmp_path)
    df = pd.read_csv(table, dtype=str, keep_default_na=False)
    nih = df.rename(columns={'image_id': 'Image Index', 'dx': 'Finding Labels', 'lesion_id': 'Patient ID'})
    nih.loc[2, 'Finding Labels'] = 'Effusion|Infiltration'
    nih.to_csv(tmp_path/'nih.csv', index=False)
    _cli_fails(cli, tmp_path, tmp_path/'nih.csv', images, "list several findings, e.g. 'Effusion|Infiltration' (row 4 of")
    onehot = pd.DataFrame(dict(image=df.image_id, NORMAL=(df.dx == 'normal').astype(float), PNEUMONIA=(df.dx != 'normal').astype(float)))
    onehot.to_csv(tmp_path/'isic.csv', index=False)
    _cli_fails(cli, tmp_path, tmp_path/'isic.csv', images, "hold 0/1 flags, one column per class (one-hot)")
    df.assign(lesion_id=[p + ' é' if i % 5 else '' for i, p in enumerate(df.lesion_id)]).to_csv(tmp_path/'excel.csv', index=False, encoding='cp1252')
    r = cli('train', '--data', tmp_path/'excel.csv', '--images', images, '--epochs', 1, '--size', 32, '--pretrained', 'no', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'read as Windows-1252' in r.stderr and 'name no patient' in r.stderr and 'rows marked test' not in r.stderr, r.stderr

def test_chexpert_patients_in_paths(tmp_path):
    "A CheXpert-style table (`Path` = .../patientNNNNN/studyK/view1_frontal.jpg, no patient column): split by the patient folders, not by image"
    from PIL import Image
    from medfast.data import csv_dls, split_grouping, patient_id
    rows = []
    for p in range(12):
        for s in (1, 2, 3):
            f = tmp_path/'CheXpert-v1.0-small'/'train'/f'patient{p:05d}'/f'study{s}'/'view1_frontal.jpg'
            f.parent.mkdir(parents=True); Image.new('L', (40, 40), 20 * p + s).save(f)
            rows.append(dict(Path=str(f.relative_to(tmp_path)), Label='effusion' if p % 2 else 'none'))
    pd.DataFrame(rows).to_csv(tmp_path/'train.csv', index=False)
    dls = csv_dls(tmp_path/'train.csv', size=32, bs=4, seed=0)
    trn, val = ({patient_id(f) for f in ds.items} for ds in (dls.train_ds, dls.valid_ds))
    assert trn and val and not trn & val                                                 # no patient on both sides
    assert split_grouping(list(dls.train_ds.items) + list(dls.valid_ds.items)) == 'patient-grouped, 12 patients'
