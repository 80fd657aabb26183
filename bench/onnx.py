#!/usr/bin/env python
"""Images/s of PyTorch eager vs onnxruntime on the CPU, at batch 1 and batch 32, side by side in one process.

Both run the same exported network on the same model-ready tensors (preprocessing excluded): eager as
`medfast.inference.predict` runs it (float32, channels_last, inference mode), ONNX Runtime with full graph
optimisation and the same number of threads. Rounds alternate the order; medians and ratios are reported. Each rate
is also given as a share of a ceiling: the GFLOP/s of this CPU's best float32 matrix product (the same BLAS and
oneDNN kernels convolutions use), so a ratio that cannot reach 1.5x shows why (eager already near the ceiling).

    python bench/onnx.py                     # resnet18_small and xresnet18_half at 48 px, resnet18 at 224 px
    python bench/onnx.py --models xresnet18_half:80 resnet18:224    # any NAME:PX pairs
    python bench/onnx.py --bf16              # adds eager in bfloat16 autocast (as `medfast predict --bf16` runs it)
    python bench/onnx.py --int8              # adds ONNX Runtime on the int8 network (as `medfast export --onnx --int8` writes it)
    python bench/onnx.py --smoke             # seconds
"""
from __future__ import annotations
import argparse, statistics, sys, tempfile, time
from functools import partial
from pathlib import Path
_here = Path(__file__).resolve().parent                            # this script is named onnx.py: keep it from
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != _here]   # shadowing the onnx package
import onnx, numpy as np, torch
sys.path.append(str(_here))
from benchutils import machine, rate
from medfast.core import ModelMismatchError, check_size
from medfast.inference import build_model
from medfast.onnx import ort_session, _quantize_int8
import medfast.recipes                                            # registers resnet18_small and xresnet18_half

def export(model, size, path):
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path), input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=17, dynamo=False)

def gflop_per_image(model, size) -> float:
    "Forward GFLOP of `model` for one `size`-px image (torch's FLOP counter)"
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc, torch.no_grad(): model(torch.zeros(1, 3, size, size))
    return fc.get_total_flops() / 1e9

def matmul_ceiling(n=2048, reps=10) -> float:
    "GFLOP/s of the best of `reps` float32 n x n matrix products on this CPU: what its kernels reach at best"
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3): a @ b
    best = float('inf')
    for _ in range(reps): t0 = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9

def bench(arch, size, batches, rounds, n_images, d, bf16=False, pause=0.5, int8=False):
    torch.manual_seed(0)
    model = build_model(arch, 2, 3).eval()
    onnx_file = Path(d)/f'{arch}_{size}.onnx'
    import warnings
    with warnings.catch_warnings(): warnings.simplefilter('ignore'); export(model, size, onnx_file)
    sess = ort_session(onnx_file); name = sess.get_inputs()[0].name
    cl = model.to(memory_format=torch.channels_last)
    def eager(x, bf16=False):                                      # as medfast.inference._Prep.probs runs it
        with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            return cl(x.contiguous(memory_format=torch.channels_last)).float().softmax(-1)
    def ort(x, s=sess): return torch.from_numpy(s.run(None, {name: x.numpy()})[0]).softmax(-1)
    fns = dict(eager=eager, ort=ort, **(dict(bf16=partial(eager, bf16=True)) if bf16 else {}))
    if int8:                                                       # as `medfast export --onnx --int8` writes it, scaled on random inputs
        _quantize_int8(onnx_file, Path(d)/f'{arch}_{size}_int8.onnx', torch.randn(64, 3, size, size, generator=torch.Generator().manual_seed(1)).numpy())
        fns['int8'] = partial(ort, s=ort_session(Path(d)/f'{arch}_{size}_int8.onnx'))
    rows, gflop = [], gflop_per_image(model, size)
    for bs in batches:
        x = torch.randn(bs, 3, size, size)
        ref = eager(x)                                               # also the warm-ups
        diff = float((ref - ort(x)).abs().max())
        diff16 = float((ref - fns['bf16'](x)).abs().max()) if bf16 else float('nan')
        n_calls = max(1, n_images // bs)
        res = {k: [] for k in fns}
        for r in range(rounds):                                      # each round turns the order by one
            order = list(fns)[r % len(fns):] + list(fns)[:r % len(fns)]
            for k in order: res[k].append(rate(fns[k], x, n_calls, pause))
        e, o = statistics.median(res['eager']), statistics.median(res['ort'])
        b = statistics.median(res['bf16']) if bf16 else float('nan')
        i = statistics.median(res['int8']) if int8 else float('nan')
        rows.append((arch, size, bs, e, o, o / e, diff, gflop, b, diff16, i))
    return rows

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--images', type=int, default=256, help='images per timing at each batch size')
    p.add_argument('--pause', type=float, default=0.5, help="seconds idle before each timing, so the threads the other runtime "
                   "leaves spinning (ONNX Runtime's pool, PyTorch's OpenMP team) do not slow it: in a user's process only one runs")
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--models', nargs='+', default=['resnet18_small:48', 'xresnet18_half:48', 'resnet18:224'], metavar='NAME:PX',
                   help="networks and image sizes: the small-image recipe's network, the light network CPUs train for "
                        "X-rays (48 px) and cells (80 px), ResNet-18 at its own size")
    p.add_argument('--bf16', action='store_true', help="also time eager PyTorch in bfloat16 autocast, as `medfast predict --bf16` "
                   "runs it (its probabilities differ from float32 by the last column)")
    p.add_argument('--int8', action='store_true', help="also time ONNX Runtime on the int8 network `medfast export --onnx --int8` "
                   "writes (scaled here on random inputs: the networks are untrained, so its probability differences mean little; "
                   "bench/int8.py measures them on a trained model)")
    p.add_argument('--smoke', action='store_true')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    try: configs = [(m.split(':')[0], int(m.split(':')[1])) for m in a.models]
    except (IndexError, ValueError): p.error(f"--models takes NAME:PX pairs such as xresnet18_half:48, not {' '.join(a.models)}")
    if a.smoke: configs, a.rounds, a.images = [('resnet18_small', 32)], 2, 8
    for arch, size in configs:                                    # a misspelt name fails now, not after the first timings
        try: check_size(size, 'PX'); build_model(arch, 2, 3)
        except (ModelMismatchError, ValueError) as e: p.error(f"--models {arch}:{size}: {e}")
    from medfast.core import cpu_has_fast_bf16
    from medfast.learner import bf16_pays_off, measure_bf16_speedup
    print(f"machine: {machine()}")
    print(f"bf16: native {cpu_has_fast_bf16()}, measured fp32/bf16 training-step ratio "
          f"{measure_bf16_speedup() if not a.smoke else float('nan'):.2f}, medfast uses bf16: {bf16_pays_off()}")
    n = 512 if a.smoke else 2048
    ceiling = matmul_ceiling(n)
    print(f"ceiling: float32 matrix product {ceiling:.0f} GFLOP/s (best of 10, {n} x {n})")
    print(f"rounds {a.rounds} (alternating), {a.images} images per timing after {a.pause:g} s idle and one untimed call, medians\n")
    b16 = (" eager bf16 img/s | bf16 / eager | bf16 / ORT | bf16 max prob diff |", "---|---|---|---|") if a.bf16 else ("", "")
    i8 = (" ORT int8 img/s | int8 / eager | int8 / ORT |", "---|---|---|") if a.int8 else ("", "")
    print("| model | px | batch | torch eager img/s | onnxruntime img/s | ORT / eager | eager / ORT, % of ceiling | max prob diff |"
          f"{b16[0]}{i8[0]}\n|---|---|---|---|---|---|---|---|{b16[1]}{i8[1]}")
    short = []
    with tempfile.TemporaryDirectory() as d:
        for arch, size in configs:
            for r in bench(arch, size, (1, 32), a.rounds, a.images, d, a.bf16, 0. if a.smoke else a.pause, a.int8):
                pe, po = (100 * v * r[7] / ceiling for v in r[3:5])
                extra = f" {r[8]:.1f} | {r[8]/r[3]:.2f}x | {r[8]/r[4]:.2f}x | {r[9]:.1e} |" if a.bf16 else ""
                extra += f" {r[10]:.1f} | {r[10]/r[3]:.2f}x | {r[10]/r[4]:.2f}x |" if a.int8 else ""
                print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.2f}x | {pe:.0f}% / {po:.0f}% | {r[6]:.1e} |{extra}", flush=True)
                if r[5] < 1.5: short.append(f"{r[0]} {r[1]} px batch {r[2]}: 1.5x eager would run at {1.5*pe:.0f}% of the ceiling")
    for line in short: print(line)
    return 0

if __name__ == '__main__': sys.exit(main())
