"""Architecture table for medfast's zoo: parameters, layer groups, preferred input size and measured CPU
forward+backward time per image.

Each network is built exactly as `medfast.models.model_learner` trains it (random weights, `--n-out` classes: a fastai
body+head for transfer archs, the complete network for scratch archs). Timing: `--warmup` untimed then `--reps` timed
forward+backward passes of a random batch of `--bs` images at `--size` px (or the arch's smallest accepted size if
larger); the median is reported in milliseconds per image. This is a benchmark, not a test: on a shared machine the
times are noisy, read them as relative.

    python bench/archs.py                                   # all archs, 224 px, batch 4, 2 reps, 1 thread
    python bench/archs.py --size 32 --archs resnet18,basenet --reps 1
"""
from __future__ import annotations
import argparse, json, os, statistics, sys, time
from pathlib import Path
import torch

def time_fwd_bwd(model, size:int, bs:int, reps:int, warmup:int=1) -> float:
    "Median seconds of one forward+backward pass of a random `bs`x3x`size`x`size` batch through `model`"
    model.train()
    x = torch.randn(bs, 3, size, size)
    times = []
    for i in range(warmup + reps):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        model(x).float().sum().backward()
        if i >= warmup: times.append(time.perf_counter() - t0)
    return statistics.median(times)

def arch_row(name:str, size:int, bs:int, reps:int, warmup:int, n_out:int) -> dict:
    "One table row for architecture `name`"
    from medfast.models import ARCHS, create_model, count_params
    spec = ARCHS[name]
    model = create_model(name, n_out=n_out, pretrained=False)
    px = max(size, spec.min_size)
    secs = time_fwd_bwd(model, px, bs, reps, warmup) if reps > 0 else float('nan')
    return dict(arch=name, kind=spec.kind, params_M=round(count_params(model)/1e6, 2),
                groups=len(spec.splitter(model)), input_px=spec.size, bench_px=px,
                ms_per_img=round(secs/bs*1000, 1))

def markdown(rows:list[dict]) -> str:
    "Rows as a GitHub markdown table"
    cols = list(rows[0])
    out = ['| ' + ' | '.join(cols) + ' |', '|' + '|'.join('---' for _ in cols) + '|']
    out += ['| ' + ' | '.join(str(r[c]) for c in cols) + ' |' for r in rows]
    return '\n'.join(out)

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--archs', default='all', help="comma-separated registry names, or 'all' (default)")
    p.add_argument('--size', type=int, default=224, help='input size in px (default 224)')
    p.add_argument('--bs', type=int, default=4, help='batch size (default 4)')
    p.add_argument('--reps', type=int, default=2, help='timed repetitions (default 2; 0 = no timing)')
    p.add_argument('--warmup', type=int, default=1, help='untimed warm-up passes (default 1)')
    p.add_argument('--threads', type=int, default=1,
                   help='torch CPU threads (default 1: stable on a shared CPU; use the core count on a quiet machine)')
    p.add_argument('--n-out', type=int, default=2, help='classes in the head (default 2)')
    p.add_argument('--json', type=Path, default=None, help='also write the rows to this JSON file')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from medfast.models import arch_names
    names = arch_names() if args.archs == 'all' else [a.strip() for a in args.archs.split(',') if a.strip()]
    unknown = [n for n in names if n not in arch_names()]
    if unknown: p.error(f"unknown arch(s) {unknown}; choose from {', '.join(arch_names())}")
    try:
        sys.path.insert(0, str(Path(__file__).parent)); from benchutils import machine
        where = machine()
    except Exception: where = f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    print(f"# medfast architecture table: fwd+bwd at {args.size} px, batch {args.bs}, {args.warmup} warm-up + "
          f"{args.reps} timed reps, {args.threads} thread(s)\n# machine: {where}", flush=True)
    rows = []
    for name in names:
        rows.append(arch_row(name, args.size, args.bs, args.reps, args.warmup, args.n_out))
        print(f"# {name}: {rows[-1]['ms_per_img']} ms/img", file=sys.stderr, flush=True)
    print(markdown(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(args={k: str(v) for k,v in vars(args).items()}, machine=where, rows=rows), indent=2))
    return 0

if __name__ == '__main__': sys.exit(main())
