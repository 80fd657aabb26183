"`medfast train --data labels.csv`: a label table (image ids, a patient column, test rows) trained on as a user would, and its argument errors."
import json, shutil
import pandas as pd
from pathlib import Path

def _table(tmp, cols=('image_id', 'dx', 'patient_id', 'split')):
    "A HAM10000-style table: image ids without extension and without patient ids in them, a label, a patient and a `split` column (named `cols`); images in their own folder"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import kermany_items, kermany_label, patient_id
    src = synthetic_xrays(tmp/'src', n=60, size=48, seed=0)
    images = tmp/'proj'/'images'; images.mkdir(parents=True)
    rows = []
    for i, f in enumerate(sorted(kermany_items(src, ('train', 'test')))):
        shutil.copy(f, images/f'ISIC_{i:05d}{f.suffix}')
        rows.append(dict(zip(cols, (f'ISIC_{i:05d}', kermany_label(f).lower(), 'P' + patient_id(f), 'test' if 'test' in f.parts else ''))))
    pd.DataFrame(rows).to_csv(tmp/'proj'/'meta.csv', index=False)
    return tmp/'proj'/'meta.csv', images, src

def test_train_from_label_table(cli, tmp_path):
    "Columns named on the command line; the split by the table's patients (the file names carry none); test rows, then evaluate on the table and on class folders"
    table, images, src = _table(tmp_path, cols=('Image', 'Finding', 'Ref', 'Set'))
    cols = ('--file-col', 'Image', '--label-col', 'Finding', '--patient-col', 'Ref', '--split-col', 'Set')
    r = cli('train', '--data', table, '--images', images, *cols, '--epochs', 1, '--size', 32, '--pretrained', 'no',
            '--out', tmp_path/'proj'/'runs'/'a', env={'MEDFAST_HOME': str(tmp_path/'home')})   # --out beside the table: only listed files are read
    assert r.returncode == 0, r.stdout + r.stderr
    n_test = int((pd.read_csv(table).Set == 'test').sum())
    assert f"; {n_test} test rows held out" in r.stdout and 'Split (patient-grouped, ' in r.stdout and 'test metrics (meta.csv)' in r.stdout
    m = pd.read_csv(tmp_path/'proj'/'runs'/'a'/'metrics.csv')
    assert set(m.split) == {'valid', 'test'} and int(m[(m.split == 'test') & (m.metric == 'n')].value.iloc[0]) == n_test
    rec = json.loads((tmp_path/'proj'/'runs'/'a'/'run.json').read_text())
    assert rec['cli_args']['task'] == 'csv' and rec['grouping'].startswith('patient-grouped')      # chosen for the .csv; the table's patients
    r = cli('evaluate', tmp_path/'proj'/'runs'/'a', src/'test', '--n-boot', 0, '--top-losses', 0, '--out', tmp_path/'ev')
    assert r.returncode == 0, r.stderr                                                   # scored on class folders as well
    r = cli('evaluate', tmp_path/'proj'/'runs'/'a', table, '--images', images, *cols, '--n-boot', 0, '--top-losses', 0, '--out', tmp_path/'ev2')
    assert r.returncode == 0 and f"({n_test} images: " in r.stdout, r.stdout + r.stderr   # and on the table's test rows alone
    pd.read_csv(table).assign(Set='').to_csv(trained := tmp_path/'proj'/'trained.csv', index=False)
    r = cli('evaluate', tmp_path/'proj'/'runs'/'a', trained, '--images', images, *cols, '--out', tmp_path/'ev3')
    assert r.returncode == 1 and 'marks no row test' in r.stderr and 'Traceback' not in r.stderr, r.stderr   # rows it trained on
    r = cli('evaluate', tmp_path/'proj'/'runs'/'a', table, '--out', tmp_path/'ev3')
    assert r.returncode == 1 and 'has no label column' in r.stderr and 'pass --label-col NAME' in r.stderr, r.stderr   # columns not named
    r = cli('evaluate', tmp_path/'proj'/'runs'/'a', src/'test', '--label-col', 'Finding', '--out', tmp_path/'ev3')
    assert r.returncode == 1 and 'go with a .csv TEST' in r.stderr

def test_label_table_argument_errors(cli, tmp_path):
    table, images, _ = _table(tmp_path)
    for args, msg in ((('--task', 'folder'), 'is a label table: pass --task csv'),
                      (('--cache', ''), '--cache copies image folders'),
                      ((), 'image file(s) listed in'),                                         # ids relative to the table's folder
                      (('--images', tmp_path/'nope'), '--images')):
        r = cli('train', '--data', table, '--pretrained', 'no', '--out', tmp_path/'x', *args)
        assert r.returncode == 1 and msg in r.stderr and 'Traceback' not in r.stderr, (args, r.stderr)
    r = cli('train', '--data', images, '--images', images, '--task', 'folder', '--out', tmp_path/'x')
    assert r.returncode == 1 and 'they go with --task csv' in r.stderr
    r = cli('train', '--task', 'csv', '--out', tmp_path/'x')
    assert r.returncode == 1 and '--task csv needs --data' in r.stderr

def test_compare_on_a_test_table(cli, tmp_path):
    "`medfast compare --test labels.csv`: the column options name the test table's columns; its test rows scored, the record names the table"
    table, images, src = _table(tmp_path, cols=('Image', 'Finding', 'Ref', 'Set'))
    cols = ('--images', images, '--file-col', 'Image', '--label-col', 'Finding', '--split-col', 'Set')
    r = cli('compare', 'resnet18', '--data', src, '--test', table, *cols, '--epochs', 1, '--size', 32, '--n-boot', 0,
            '--pretrained', 'no', '--quiet', '--out', tmp_path/'cmp', env={'MEDFAST_HOME': str(tmp_path/'home')})
    assert r.returncode == 0, r.stdout + r.stderr
    n_test = int((pd.read_csv(table).Set == 'test').sum())
    m = pd.read_csv(tmp_path/'cmp'/'test_metrics.csv')
    assert int(m[m.metric == 'n'].value.iloc[0]) == n_test                               # the table's test rows, not its folder
    assert json.loads((tmp_path/'cmp'/'compare.json').read_text())['test'] == f"{table} (its test rows), {n_test} images"
    r = cli('compare', 'resnet18', '--data', src, '--test', table, '--out', tmp_path/'x')   # columns not named: the option to pass
    assert r.returncode == 1 and 'pass --label-col NAME' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    r = cli('compare', 'resnet18', '--data', src, '--label-col', 'Finding', '--out', tmp_path/'x')
    assert r.returncode == 1 and 'they go with --task csv or a .csv --test' in r.stderr, r.stderr
