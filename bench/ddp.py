"""Images/s of `medfast_learner` training on 1 vs N processes (DDP through fastai's DistributedTrainer) and the
scaling efficiency. CPU processes talk gloo (the CPU cores are split between them); with `--device cuda` each
process gets one GPU and NCCL. Every run trains on the same synthetic images with the same per-process batch size.

    python bench/ddp.py                          # 1 vs 2 CPU processes
    python bench/ddp.py --device cuda --procs 1 2 4 8
    python bench/ddp.py --smoke                  # tiny, checks that it runs
"""
from __future__ import annotations
import argparse, json, os, socket, subprocess, sys, tempfile, time
from pathlib import Path

def _port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def worker(a):
    "One process of a launched run: train `a.epochs` epochs, rank 0 prints a JSON line of images/s per epoch"
    import torch
    from fastai.vision.all import Callback, find_bs
    from medfast.data import pneumonia_dls
    from medfast.learner import medfast_learner
    from medfast.distributed import init_distributed, distribute, gather_objects, is_main_process, dist_info
    init_distributed()
    class Throughput(Callback):
        order = 99
        def before_fit(self): self.rows = []
        def before_train(self): self.n, self.t0 = 0, time.perf_counter()
        def after_batch(self):
            if self.training: self.n += find_bs(self.yb)
        def after_train(self): self.rows.append((self.n, time.perf_counter() - self.t0))
    dls = pneumonia_dls(a.data, size=a.size, bs=a.bs, seed=0)
    tp = Throughput()
    learn = medfast_learner(dls, a.arch, pretrained=False, cbs=tp, seed=0)
    distribute(learn)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, 1e-3)
    per_rank = gather_objects(tp.rows)
    if is_main_process():
        ips = [sum(r[e][0] for r in per_rank) / max(r[e][1] for r in per_rank) for e in range(a.epochs)]
        info = dist_info()
        print(json.dumps(dict(procs=info['world_size'], backend=info['backend'], threads=torch.get_num_threads(),
                              device=str(next(learn.model.parameters()).device), ips=ips)), flush=True)

def launch(a, procs, data) -> dict:
    "Run `procs` processes with torchrun and return rank 0's JSON line"
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    if a.device == 'cpu':
        env.update(ACCELERATE_USE_CPU='1', OMP_NUM_THREADS=str(a.threads or max(1, (a.cores or os.cpu_count()) // procs)))
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(procs), '--master_port', str(_port()),
           __file__, '--worker', '--data', str(data), '--size', str(a.size), '--bs', str(a.bs), '--epochs', str(a.epochs),
           '--arch', a.arch]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith('{"procs"')]
    if r.returncode or not lines: sys.exit(f"{procs} process(es) failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return json.loads(lines[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--procs', type=int, nargs='+', default=[1, 2], help="process counts to compare (first = baseline)")
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    p.add_argument('--cores', type=int, default=None, help="CPU cores shared by the processes (default: all)")
    p.add_argument('--threads', type=int, default=None, help="CPU threads per process (default: cores / processes)")
    p.add_argument('--rounds', type=int, default=1, help="repeat the comparison, alternating, against load drift")
    p.add_argument('--n', type=int, default=256, help="training images")
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--bs', type=int, default=32, help="batch size per process")
    p.add_argument('--epochs', type=int, default=3, help="the first is a warm-up and is not counted")
    p.add_argument('--arch', default='resnet18')
    p.add_argument('--data', default=None)
    p.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--smoke', action='store_true', help="tiny run: checks that the script works")
    a = p.parse_args()
    if a.worker: return worker(a)
    if a.smoke: a.n, a.size, a.bs, a.epochs = 24, 32, 4, 2
    sys.path.insert(0, str(Path(__file__).parent))
    from benchutils import machine
    from medfast.synthetic import synthetic_xrays
    with tempfile.TemporaryDirectory() as d:
        data = synthetic_xrays(Path(d)/'xrays', n=a.n, size=max(128, a.size), seed=0)
        print(f"Machine: {machine()}")
        print(f"{a.arch}, {a.n} synthetic images of {a.size} px, batch {a.bs} per process, {a.epochs - 1} timed epoch(s)"
              f" after a warm-up, device {a.device}")
        runs = [launch(a, n, data) for _ in range(a.rounds) for n in a.procs]
    res = []
    for n in a.procs:                                        # pool the timed epochs of every round
        rs = [r for r in runs if r['procs'] == n]
        res.append({**rs[0], 'ips': [rs[0]['ips'][0]] + [v for r in rs for v in (r['ips'][1:] or r['ips'])]})
    print(f"Load average after the runs: {os.getloadavg()[0]:.1f}")
    first = None
    print(f"\n| processes | backend | threads/process | images/s (median epoch) | speed-up | scaling efficiency |")
    print("|---|---|---|---|---|---|")
    for r in res:
        timed = sorted(r['ips'][1:] or r['ips'])
        ips = timed[len(timed)//2]
        first = first or ips
        speedup = ips / first
        print(f"| {r['procs']} | {r['backend'] or '-'} | {r['threads']} | {ips:.1f} | {speedup:.2f}x | "
              f"{speedup / (r['procs'] / res[0]['procs']):.0%} |")

if __name__ == '__main__': main()
