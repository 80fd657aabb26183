"`medfast train --data labels.csv`: a label table (image ids, a patient column, test rows) trained on as a user would, and its argument errors."
import json, shutil
import pandas as pd
from pathlib import Path

def _table(tmp):
    "A HAM10000-style table: image ids without extension, `dx`, `patient_id`, a `split` column; images in their own folder"
    from medfast.synthetic import synthetic_xrays
    from medfast.data import kermany_items, kermany_label, patient_id
    src = synthetic_xrays(tmp/'src', n=60, size=48, seed=0)
    images = tmp/'proj'/'images'; images.mkdir(parents=True)
    rows = []
    for f in sorted(kermany_items(src, ('train', 'test'))):
        shutil.copy(f, images/f.name)
        rows.append(dict(image_id=f.stem, dx=kermany_label(f).lower(), patient_id=patient_id(f), split='test' if 'test' in f.parts else ''))
    pd.DataFrame(rows).to_csv(tmp/'proj'/'meta.csv', index=False)
    return tmp/'proj'/'meta.csv', images, src

def test_train_from_label_table(cli, tmp_path):
    table, images, src = _table(tmp_path)
    r = cli('train', '--data', table, '--images', images, '--epochs', 1, '--size', 32, '--pretrained', 'no',
            '--out', tmp_path/'proj'/'runs'/'a', env={'MEDFAST_HOME': str(tmp_path/'home')})   # --out beside the table: only listed files are read
    assert r.returncode == 0, r.stdout + r.stderr
    n_test = int((pd.read_csv(table).split == 'test').sum())
    assert f"; {n_test} test rows held out" in r.stdout and 'Split (patient-grouped, ' in r.stdout and 'test metrics (meta.csv)' in r.stdout
    m = pd.read_csv(tmp_path/'proj'/'runs'/'a'/'metrics.csv')
    assert set(m.split) == {'valid', 'test'} and int(m[(m.split == 'test') & (m.metric == 'n')].value.iloc[0]) == n_test
    assert json.loads((tmp_path/'proj'/'runs'/'a'/'run.json').read_text())['cli_args']['task'] == 'csv'   # chosen for the .csv
    r = cli('evaluate', tmp_path/'proj'/'runs'/'a', src/'test', '--n-boot', 0, '--top-losses', 0, '--out', tmp_path/'ev')
    assert r.returncode == 0, r.stderr                                                   # scored on class folders as well

def test_label_table_argument_errors(cli, tmp_path):
    table, images, _ = _table(tmp_path)
    for args, msg in ((('--task', 'folder'), 'is a label table: pass --task csv'),
                      (('--cache', ''), '--cache copies image folders'),
                      ((), 'image file(s) listed in'),                                         # ids relative to the table's folder
                      (('--images', tmp_path/'nope'), '--images')):
        r = cli('train', '--data', table, '--pretrained', 'no', '--out', tmp_path/'x', *args)
        assert r.returncode == 1 and msg in r.stderr and 'Traceback' not in r.stderr, (args, r.stderr)
    r = cli('train', '--data', images, '--images', images, '--task', 'folder', '--out', tmp_path/'x')
    assert r.returncode == 1 and 'it goes with --task csv' in r.stderr
    r = cli('train', '--task', 'csv', '--out', tmp_path/'x')
    assert r.returncode == 1 and '--task csv needs --data' in r.stderr
