"Every public name is importable from the top level as the object it names, never as a module."
import subprocess, sys

def test_every_top_level_name_resolves_to_an_object():
    code = ("import types, medfast\n"
            "bad = [n for n in medfast.__all__ if isinstance(getattr(medfast, n), types.ModuleType)]\n"
            "print(len(medfast.__all__), bad)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    n, bad = r.stdout.split(' ', 1)
    assert int(n) > 150 and bad.strip() == '[]', r.stdout

def test_names_that_share_a_module_name():
    code = ("import medfast.metrics, medfast.evaluation, medfast.comparison\n"      # importing the modules first must not shadow
            "from medfast import evaluate, compare, pneumonia_study, blood_cell_learner, blastocyst_study, basenet_ladder, "
            "birds_learner, cell_crop_learner, crop_size_sweep, synthetic_xrays, download_dataset, data_root\n"
            "assert all(callable(f) and not isinstance(f, type(medfast)) for f in (evaluate, compare, pneumonia_study))\n"
            "print('ok')")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == 'ok', r.stderr[-2000:]

def test_import_medfast_is_light():
    code = "import sys, medfast; print(sorted(m for m in ('torch', 'fastai', 'pandas') if m in sys.modules))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.stdout.strip() == '[]', r.stdout + r.stderr

def test_no_name_shadows_fastai():
    code = "import fastai.vision.all as f, medfast; print([n for n in medfast.__all__ if hasattr(f, n)])"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == '[]', r.stdout + r.stderr[-2000:]

def test_constants_and_assigned_names_are_top_level():
    code = ("from medfast import BLOOD8, RECIPES, ARCHS, Prediction, sensitivity, xray_app, SPLIT_NAMES\n"
            "from medfast.studies.blood import BLOOD8 as b; from medfast.metrics import sensitivity as s\n"
            "assert BLOOD8 is b and sensitivity is s and 'BLOOD8' in __import__('medfast').__all__\n"
            "print('ok')")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == 'ok', r.stderr[-2000:]
