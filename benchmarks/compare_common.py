"""What the parts of benchmarks/compare.py share: the shapes, the optional contenders (torch,
onnxruntime), the log and the formatting of times, and the description of the machine."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

import fusedrnn as fr
from fusedrnn._timing import GRID, Measurement, Shape, gemm_flops, optional

torch = optional("torch")


ort = optional("onnxruntime")


# Beyond the grid: the stacked bidirectional path (layer 1 reads both directions of layer 0).
EXTRA_SHAPES = (Shape("medium-2l-bi", 50, 64, 512, 512, num_layers=2, bidirectional=True),)


SHAPES = {s.name: s for s in GRID + EXTRA_SHAPES}


CONTENDERS = ("fusedrnn", "torch", "onnxruntime", "reference")


REFERENCE_LIMIT_S = 2.0


def log(message):
    print(message, flush=True)


def describe(m):
    if m.seconds is None:
        return m.note
    return f"{format_ms(m.seconds * 1e3)} ms ({m.calls} calls, spread {m.spread:.2f})"


def format_ms(ms):
    for limit, digits in ((100, 0), (10, 1), (1, 2), (0.1, 3)):
        if ms >= limit:
            return f"{ms:.{digits}f}"
    return f"{ms:.4f}"


def speedup(row, other):
    """other's time / fusedrnn's time, or None."""
    a, b = row["fusedrnn"].seconds, row.get(other, Measurement()).seconds
    return None if a is None or b is None else b / a


def gflops(row, name, cell, shape, mode):
    s = row.get(name, Measurement()).seconds
    return None if s is None else gemm_flops(cell, shape, mode) / s / 1e9


def cell_text(m):
    if m.seconds is None:
        return m.note.replace("|", "\\|")
    return format_ms(m.seconds * 1e3) + (" †" if m.unstable else "")


def ratio_text(value):
    return "" if value is None else f"{value:.2f}×"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions():
    found = {"python": platform.python_version(), "fusedrnn": fr.__version__, "numpy": np.__version__}
    found["torch"] = torch.__version__ if torch is not None else "not installed"
    found["onnxruntime"] = ort.__version__ if ort is not None else "not installed"
    return ", ".join(f"{k} {v}" for k, v in found.items())


def load_average():
    return ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def machine_line(threads):
    info = fr.cpu_info()
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return (
        f"{cpu_model()}, {cores} logical CPUs ({usable} usable); fusedrnn isa `{info.get('isa')}`, "
        f"microkernel `{info.get('microkernel_float32')}`, OpenMP {'on' if info.get('openmp') else 'off'}; "
        f"CPU features: {', '.join(info.get('cpu_features', []))}"
    )
