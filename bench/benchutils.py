"""Shared helpers for the medfast benchmark scripts (not part of the library, not tests)."""
from __future__ import annotations
import atexit, contextlib, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from medfast.core import cpu_model, cpu_has_fast_bf16   # cpu_has_fast_bf16 re-exported for the scripts
from medfast.learner import CPUMixedPrecision, GPUMixedPrecision, gpu_amp_mode   # re-exported for the scripts
from medfast.learner import medfast_learner, bf16_pays_off
from medfast.metrics import log_loss as log_loss_score, brier_score   # re-exported for the scripts
from medfast.medmnist import medmnist_dls
from fastai.metrics import accuracy, RocAucBinary

def scratch_dir(prefix:str='medfast-bench-') -> Path:
    "A new temporary folder, removed when the script exits (benchmarks leave nothing behind in the temp folder)"
    d = Path(tempfile.mkdtemp(prefix=prefix)); atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d

@contextlib.contextmanager
def kept_or_temp(keep=None):
    "The new folder `keep`, claimed atomically (exits if it exists: never mixed with an earlier run), or a temporary one removed at the end"
    if keep is None:
        with tempfile.TemporaryDirectory() as tmp: yield Path(tmp)
        return
    try: Path(keep).mkdir(parents=True)
    except FileExistsError: sys.exit(f"--keep {keep} already exists; name a new folder.")
    yield Path(keep)

def machine() -> str:
    "One line describing the machine a figure was measured on"
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return (f"{cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"bf16 native: {cpu_has_fast_bf16()}, bf16 autocast used (measured; from 64 px, below per network): {bf16_pays_off()}, load avg {load:.1f}"
            + (f"; GPU {torch.cuda.get_device_name(0)}, mixed precision {gpu_amp_mode()}" if torch.cuda.is_available() else "; no GPU"))

def rate(fn, x, n_calls, pause=0.):
    "Images/s of `n_calls` calls of `fn(x)`, after `pause` seconds idle (the other runtime's threads stop spinning) and one untimed call"
    time.sleep(pause); fn(x)
    t0 = time.perf_counter()
    for _ in range(n_calls): fn(x)
    return n_calls * len(x) / (time.perf_counter() - t0)

def halvings(y, n_splits:int=100, seed:int=0):
    "Masks `(fit, score)` of `n_splits` random halvings of labels `y`, stratified by class, each yielded both ways round"
    rng = np.random.default_rng(seed)
    for _ in range(n_splits):
        a = np.zeros(len(y), bool)
        for c in np.unique(y):
            i = np.nonzero(y == c)[0]; a[rng.permutation(i)[:len(i)//2]] = True
        yield a, ~a
        yield ~a, a

def loadavg() -> float: return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')

def medfast_cli(*args, echo:bool=False, prelude:str='') -> tuple[str, float]:
    "Run `python -m medfast ARGS` as a user would (after the Python code `prelude`, for an experiment): its stdout and wall seconds; exits with the output's tail if it fails"
    run = ['-c', f"{prelude}\nimport sys; from medfast.cli import main; sys.exit(main())"] if prelude else ['-m', 'medfast']
    cmd = [sys.executable, *run, *map(str, args)]
    if echo: print('medfast ' + ' '.join(cmd[3:]), flush=True)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: sys.exit(f"medfast {args[0]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout, time.perf_counter() - t0

def print_lines(text:str, prefixes:tuple):
    "Print the lines of `text` that start with one of `prefixes` (the plan and per-model lines of `medfast train`)"
    print('\n'.join(l for l in text.splitlines() if l.startswith(prefixes)))

def precision_accuracy(npz, modes:dict, size:int, bs:int, epochs:int, seeds:int, device=None) -> dict:
    "Train a ResNet-18 from scratch on `npz` per seed in each precision (`modes`: name -> `medfast_learner` kwargs), order alternating; print and return val accuracy, AUC, seconds"
    print(f"\nAccuracy check on {Path(npz).name}: resnet18 from scratch, {epochs} epochs one-cycle at {size} px, "
          f"validation split, seeds {list(range(seeds))}:\n| mode | seed | val accuracy | val ROC AUC | seconds |\n|---|---|---|---|---|")
    res = {}
    for seed in range(seeds):
        for m in (list(modes) if seed % 2 == 0 else list(modes)[::-1]):
            dls = medmnist_dls(npz, size=size, bs=bs, seed=seed, device=device)
            learn = medfast_learner(dls, 'resnet18', pretrained=False, seed=seed, metrics=[accuracy, RocAucBinary()], **modes[m])
            t0 = time.perf_counter()
            with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 3e-3)
            secs = time.perf_counter() - t0
            acc, auc = learn.recorder.values[-1][2:4]
            res.setdefault(m, []).append((acc, auc, secs))
            print(f"| {m} | {seed} | {acc:.4f} | {auc:.4f} | {secs:.1f} |", flush=True)
    for m, rows in res.items():
        print(f"  {m}: mean val accuracy {np.mean([r[0] for r in rows]):.4f}, mean AUC {np.mean([r[1] for r in rows]):.4f}, "
              f"mean {np.mean([r[2] for r in rows]):.1f} s")
    return res
