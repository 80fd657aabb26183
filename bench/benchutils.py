"""Shared helpers for the medfast benchmark scripts (not part of the library, not tests)."""
from __future__ import annotations
import os, platform, subprocess, sys, time
from contextlib import nullcontext
import torch
from fastai.vision.all import Callback, to_float

def cpu_flags() -> set:
    "CPU feature flags from /proc/cpuinfo (empty set where unavailable)"
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('flags'): return set(line.split(':', 1)[1].split())
    except OSError: pass
    return set()

def cpu_has_fast_bf16() -> bool:
    "True when the CPU runs bfloat16 matmuls natively (AMX or AVX512-BF16), where CPU autocast pays off"
    return bool(cpu_flags() & {'amx_bf16', 'avx512_bf16'})

def machine() -> str:
    "One line describing the machine a figure was measured on"
    name = platform.processor() or platform.machine()
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): name = line.split(':', 1)[1].strip(); break
    except OSError: pass
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return (f"{name}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"bf16 native: {cpu_has_fast_bf16()}, load avg {load:.1f}")

def loadavg() -> float: return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')

class CPUAutocast(Callback):
    "bfloat16 autocast (and optionally channels_last) for fastai training/inference on CPU"
    order = 10
    def __init__(self, bf16:bool=True, channels_last:bool=True): self.bf16, self.channels_last, self.ctx = bf16, channels_last, None
    def before_fit(self):
        if self.channels_last: self.learn.model.to(memory_format=torch.channels_last)
    def before_batch(self):
        if self.channels_last and self.xb[0].dim() == 4:
            self.learn.xb = (self.xb[0].contiguous(memory_format=torch.channels_last), *self.xb[1:])
        if self.bf16:
            self.ctx = torch.autocast('cpu', dtype=torch.bfloat16); self.ctx.__enter__()
    def after_pred(self):
        if self.bf16: self.learn.pred = to_float(self.pred)
    def _exit(self):
        if self.ctx is not None: self.ctx.__exit__(None, None, None); self.ctx = None
    def after_loss(self): self._exit()
    def after_batch(self): self._exit()
    def after_cancel_batch(self): self._exit()
