"""The reduced-precision comparison of benchmarks/compare.py (--reduced): layer.quantized("int8" /
"bf16") against float32 and torch's int8 and bf16, forward only, its table and targets."""

from __future__ import annotations

import copy
import warnings

import numpy as np
from compare_common import SHAPES, cell_text, describe, log, ratio_text, torch

import fusedrnn as fr
from fusedrnn._timing import make_problem, measure, timing_context

REDUCED_SHAPES = ("keras-seed", "energy", "char-lstm", "stream-b1", "medium")


# The reduced-precision targets: (cell, shape, contender A, contender B, required B's time / A's time).
# "Never slower than our own fp32" is read as >= 0.95: where the size rule keeps a layer float32 the two
# time the same kernels, and medians of the same code differ by a few percent between turns.
REDUCED_TARGETS = (
    ("lstm", "stream-b1", "fusedrnn int8", "torch int8", 2.0),
    ("lstm", "stream-b1", "fusedrnn int8", "torch", 4.0),
    ("lstm", "stream-b1", "fusedrnn bf16", "torch", 3.0),
    ("lstm", "medium", "fusedrnn int8", "torch int8", 1.3),
    ("lstm", "medium", "fusedrnn bf16", "fusedrnn", 1.3),
    ("lstm", "energy", "fusedrnn int8", "fusedrnn", 0.95),
    ("lstm", "energy", "fusedrnn bf16", "fusedrnn", 0.95),
    ("lstm", "keras-seed", "fusedrnn int8", "fusedrnn", 0.95),
    ("lstm", "keras-seed", "fusedrnn bf16", "fusedrnn", 0.95),
)


REDUCED_ERROR_BOUNDS = {"int8": 0.03, "bf16": 0.005}  # max |Δy| vs float32, the README's


class _TorchWrapper(torch.nn.Module if torch is not None else object):
    """quantize_dynamic swaps children only: the recurrent module must sit inside another."""

    def __init__(self, module):
        super().__init__()
        self.rnn = module

    def forward(self, x):
        return self.rnn(x)


def reduced_calls(p):
    """{contender: (callable, y of one call as float64 NumPy, or None)} for the inference comparison."""
    calls = {}
    layer = p.layer.eval()
    calls["fusedrnn"] = lambda: layer(p.x)
    for fmt in ("int8", "bf16"):
        q = layer.quantized(fmt)
        calls[f"fusedrnn {fmt}"] = lambda q=q: q(p.x)
    if p.module is not None:
        x = torch.from_numpy(p.x)
        calls["torch"] = lambda: p.module(x)
        if p.cell in ("lstm", "gru"):  # torch's dynamic quantisation has no vanilla RNN
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its deprecation notice
                quantized = torch.ao.quantization.quantize_dynamic(
                    _TorchWrapper(p.module), {type(p.module)}, dtype=torch.qint8
                )
            calls["torch int8"] = lambda: quantized(x)
        halved = copy.deepcopy(p.module).to(torch.bfloat16)
        x16 = x.to(torch.bfloat16)
        calls["torch bf16"] = lambda: halved(x16)
    return calls


def _output(value):
    y = value[0]
    return y.float().numpy().astype(np.float64) if torch is not None and isinstance(y, torch.Tensor) else y


def run_reduced(args, threads):
    """(cell, shape) -> (Measurements, {contender: max |Δy| vs fusedrnn fp32}, layer formats)."""
    out = {}
    for cell in args.cells:
        for name in (s for s in REDUCED_SHAPES if s in args.shapes):
            shape = SHAPES[name]
            log(f"reduced precision: {cell.upper()} {name}")
            p = make_problem(cell, shape)
            calls = reduced_calls(p)
            with timing_context(p, "forward"):
                y = calls["fusedrnn"]()[0].astype(np.float64)
                errors = {
                    n: float(np.max(np.abs(_output(c()) - y))) for n, c in calls.items() if n != "fusedrnn"
                }
            row = measure(p, calls, "forward", args.min_time, args.slice_ms / 1000)
            formats = p.layer.quantized("int8").layer_formats
            out[cell, name] = (row, errors, formats)
            log("  " + "  ".join(f"{n} {describe(m)}" for n, m in row.items()))
    return out


def _times(row, a, b):
    if a not in row or b not in row or row[a].seconds is None or row[b].seconds is None:
        return None
    return row[b].seconds / row[a].seconds


def reduced_section(reduced):
    names = ["fusedrnn", "fusedrnn int8", "fusedrnn bf16", "torch", "torch int8", "torch bf16"]
    ratios = [
        ("fusedrnn int8", "torch int8"),
        ("fusedrnn int8", "torch"),
        ("fusedrnn bf16", "torch"),
        ("fusedrnn int8", "fusedrnn"),
        ("fusedrnn bf16", "fusedrnn"),
    ]
    short = {
        "fusedrnn": "fr",
        "fusedrnn int8": "fr int8",
        "fusedrnn bf16": "fr bf16",
        "torch": "torch",
        "torch int8": "torch int8",
        "torch bf16": "torch bf16",
    }
    header = (
        ["cell", "shape"]
        + [f"{n} ms" for n in names]
        + [f"{short[a]} vs {short[b]}" for a, b in ratios]
        + [f"max \\|Δy\\| {short[n]}" for n in names[1:]]
        + ["our layers run"]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (cell, name), (row, errors, formats) in reduced.items():
        cells = [cell.upper(), name]
        cells += [cell_text(row[n]) if n in row else "n/a" for n in names]
        cells += [ratio_text(_times(row, a, b)) or "n/a" for a, b in ratios]
        cells += [f"{errors[n]:.1e}" if n in errors else "n/a" for n in names[1:]]
        cells.append(", ".join(formats))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    targets = ["| target | measured | status |", "|---|---|---|"]
    for cell, name, a, b, required in REDUCED_TARGETS:
        if (cell, name) not in reduced:
            continue
        value = _times(reduced[cell, name][0], a, b)
        text = "n/a" if value is None else f"{value:.2f}×"
        status = "not evaluated" if value is None else ("met" if value >= required else "**NOT MET**")
        targets.append(f"| {cell.upper()} {name}: {a} ≥ {required:g}× faster than {b} | {text} | {status} |")
    for fmt, bound in REDUCED_ERROR_BOUNDS.items():
        worst = [
            errors[f"fusedrnn {fmt}"]
            for (cell, _), (_, errors, formats) in reduced.items()
            if cell == "lstm" and formats != ["fp32"]
        ]
        if worst:
            status = "met" if max(worst) <= bound else "**NOT MET**"
            targets.append(
                f"| LSTM max \\|Δy\\| of {fmt} vs float32 ≤ {bound:g} (shapes it runs on) | "
                f"{max(worst):.1e} | {status} |"
            )
    return (
        "## Reduced precision (inference)\n\n"
        'layer.quantized("int8" | "bf16") against the float32 layer and torch (float32, '
        "torch.ao.quantization.quantize_dynamic int8 for LSTM and GRU, bfloat16 modules), forward only, "
        "the same round robin; errors are max |y - y_fusedrnn_fp32| on PyTorch's default init. Layers under "
        '8,192 weights stay float32 in a quantized layer ("our layers run"), so there the formats time '
        f"the float32 kernels. Reduced kernels: {fr.cpu_info()['reduced_precision']}.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(targets)
    )
