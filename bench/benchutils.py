"""Shared helpers for the medfast benchmark scripts (not part of the library, not tests)."""
from __future__ import annotations
import os, platform
import torch
from medfast.learner import CPUMixedPrecision, cpu_has_fast_bf16   # re-exported for the scripts
from medfast.recipes import bf16_pays_off

def machine() -> str:
    "One line describing the machine a figure was measured on"
    name = platform.processor() or platform.machine()
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): name = line.split(':', 1)[1].strip(); break
    except OSError: pass
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return (f"{name}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"bf16 native: {cpu_has_fast_bf16()}, bf16 autocast used (measured): {bf16_pays_off()}, load avg {load:.1f}")

def loadavg() -> float: return os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
