"Blastocyst recipe as users meet it: the study's own export (Windows paths, Spanish columns), typed ids, odd folder layouts (synthetic data)"
import shutil, unicodedata, warnings
import pandas as pd, pytest

@pytest.fixture(scope='module')
def emb(tmp_path_factory):
    from medfast.studies.blastocyst import synthetic_blastocysts
    return synthetic_blastocysts(tmp_path_factory.mktemp('b')/'emb', n=48, size=32, seed=0, n_patients=12)

def test_study_export_with_typed_patient_ids_keeps_patients_whole(emb):
    "The study's export columns (fichero with Windows paths, scoreasebir, proceso) and ids typed two ways split by patient"
    from medfast.studies.blastocyst import blastocyst_dls
    raw = pd.read_csv(emb/'labels.csv')
    raw = pd.DataFrame(dict(fichero=raw.image.str.replace('/', '\\'), scoreasebir=' ' + raw.grade.str.lower(),
                            paciente=[p.lower() + ' ' if i // 12 % 2 else p for i, p in enumerate(raw.patient)], proceso=raw.cycle))
    raw.to_csv(emb/'dexeus.csv', sep=';', index=False)
    with pytest.warns(UserWarning, match='written in more than one way'):
        dls = blastocyst_dls(emb/'dexeus.csv', size=32, bs=4, seed=0, num_workers=0)
    t = dls.split.source['table']
    assert len(t) == 48 and t.image.map(lambda p: p.is_file()).all()
    assert t.groupby(t.patient.str.strip().str.upper()).split.nunique().max() == 1
    assert dls.one_batch()[0].shape == (4, 3, 32, 32)

def test_unlisted_images_warned_and_unused(emb):
    "Images beside the listed ones that the CSV leaves out are named, not silently skipped"
    from medfast.studies.blastocyst import read_blastocyst_csv
    pd.read_csv(emb/'labels.csv').iloc[:-2].to_csv(emb/'fewer.csv', index=False)
    with pytest.warns(UserWarning, match='2 image.s. beside those fewer.csv lists are not in it'):
        assert len(read_blastocyst_csv(emb/'fewer.csv')) == 46

def test_nfd_file_names_train(emb, tmp_path):
    "Accented names decomposed on disk (macOS), composed in the CSV: found, and a batch loads"
    from medfast.studies.blastocyst import blastocyst_learner, read_blastocyst_csv
    t = read_blastocyst_csv(emb/'labels.csv')
    (tmp_path/'imágenes').mkdir()
    rows = []
    for i, r in enumerate(t.itertuples()):
        name = f'embrión_{i:02d}.png'
        shutil.copy(r.image, tmp_path/'imágenes'/unicodedata.normalize('NFD', name))
        rows.append(dict(image=f'imágenes/{name}', grade=r.grade, patient=r.patient))
    pd.DataFrame(rows).to_csv(tmp_path/'labels.csv', index=False, encoding='utf-8')
    learn = blastocyst_learner(tmp_path/'labels.csv', 'basenet', pretrained=False, size=32, bs=4, seed=0, num_workers=0)
    assert learn.dls.one_batch()[0].shape == (4, 3, 32, 32)

def test_folder_layout_in_other_case(tmp_path):
    "Train/ + Test/ are read; test/ class folders spelt differently from train/'s are an error saying what to rename"
    from medfast.core import DataLayoutError
    from medfast.studies.blastocyst import synthetic_blastocyst_folders, blastocyst_dls
    f = synthetic_blastocyst_folders(tmp_path/'f', n_train=6, n_test=3, size=32, seed=0)
    (f/'train').rename(f/'Train'); (f/'test').rename(f/'TEST')
    dls = blastocyst_dls(f, size=32, bs=4, seed=0, num_workers=0)
    assert len(dls.test_items) == 6 and dls.vocab == ['good', 'poor']
    (f/'TEST'/'good').rename(f/'TEST'/'Good')
    with pytest.raises(DataLayoutError, match='rename TEST/Good to good'): blastocyst_dls(f, size=32, bs=4, num_workers=0)

def test_cycle_ids_reused_across_patients_refused(emb):
    "Cycle ids 1, 2 repeated across patients with no patient column: an error, not a two-group split"
    from medfast.core import DataLayoutError
    from medfast.studies.blastocyst import blastocyst_dls
    pd.read_csv(emb/'labels.csv').drop(columns='patient').to_csv(emb/'cycles.csv', index=False)
    with pytest.raises(DataLayoutError, match="group='cycle' gives 2 group"):
        blastocyst_dls(emb/'cycles.csv', group='cycle', size=32, bs=4, num_workers=0)
