"""Side-by-side CPU benchmark: fusedrnn vs the NumPy reference, PyTorch and onnxruntime.

What it measures
    The median wall time per call of one fp32 recurrent layer (LSTM, GRU, RNN with tanh), all threads, on
    the benchmark grid of (T, N, C, H) in docs/benchmarks.md, each a single-layer unidirectional layer,
    followed by `medium-2l-bi`: medium's sizes as a 2-layer bidirectional stack (fr.LSTM(C, H,
    num_layers=2, bidirectional=True), the same torch.nn module, its ONNX export,
    fusedrnn.reference.lstm(..., num_layers=2, bidirectional=True)). It is not a grid shape, so the
    targets "on every shape" leave it out; --shapes selects shapes by name.

    - forward:  inference over the whole sequence (fusedrnn in eval(), torch under
      torch.inference_mode(), an onnxruntime session of the exported torch module);
    - training: one forward plus the backward of (y * dy).sum() w.r.t. x and every parameter.

    GF/s counts GEMM flops only, as docs/benchmarks.md does: forward 2*T*N*G*H*(C+H) with G = 4 (LSTM),
    3 (GRU), 1 (RNN); training three times that. A stack of L layers and D directions sums
    2*T*N*G*H*D*(C_l+H) over its layers, with C_0 = C and C_l = D*H above the first.

    % peak = GF/s / the machine's float32 FMA peak on the benchmark's thread count. The peak is
    measured once at the start, after a short settle: fusedrnn._core._fma_peak_gflops (independent
    FMA chains with the active ISA, no memory traffic), on 1 thread and on all threads, each the
    median of 5 calls sized to about 0.1 s. The report header gives both, with a warning when the
    all-thread peak is below 80 % of threads x the 1-thread one (a busy core while it was measured).

    --busy adds a busy-machine measurement (the target: 2 threads never slower than 1 when another
    process keeps a core busy, <= 1.1x): the LSTM training step on `energy`, fusedrnn at 1 and at 2
    threads (fr.set_num_threads), and torch likewise (torch.set_num_threads) when installed, first on
    the quiet machine, then alongside one busy process (a Python interpreter spinning in `while True:
    pass`, not pinned to a core, started before and killed after). Each setting runs >= 2 s in a round
    robin of 0.25 s turns; the "## Busy machine" table gives the four medians per contender and the
    ratio 2-thread / 1-thread in each condition, and beside them the means (which count the calls a
    descheduled thread stalls at a barrier) and their ratio. The target is evaluated on both. It takes
    25-40 s with torch (about 11 s without; the busy 2-thread settings stall the longest), over the
    20 s a default run may spend on it, so it runs only with --busy.

How
    Every contender gets the same weights (torch's initialisation, loaded into fusedrnn with
    load_state_dict) and the same input. Once per (cell, shape) fusedrnn's forward output is
    compared with torch's (max |dy|). For each (cell, shape, mode) the contenders are warmed up,
    then timed in round robin, so machine noise reaches all of them alike: each round gives every
    contender one turn of at least one call, and of more calls until the turn has lasted
    --slice-ms (default 20). Calls longer than that alternate call by call; shorter ones run a
    few in a row, so that microsecond and 100 ms calls progress at the same pace and the switch
    between runtimes stays out of the median: the previous contender's worker threads (libgomp,
    onnxruntime's pool) still spin for a while after its call and slow the first call of the
    next turn. With 2 ms turns that was a third of the calls on `energy` and moved the medians;
    with 20 ms turns the medians matched runs of each contender alone. A contender leaves the
    rotation once it has run at least --min-time seconds, at least 5 calls and at least 4 turns.
    Every call is timed on its own and the median is reported, with its spread: the turns, in order,
    cut into 4 groups, the slowest group's median / the fastest's (a busy machine makes them disagree).
    The NumPy reference is skipped where one call would take more than 2 s, estimated from a timed
    call on a prefix of the sequence. The timing code is fusedrnn._timing, shared with
    `python -m fusedrnn`.

Output
    A markdown report (the FMA peak in its header; one table per cell x mode with GF/s and % peak of
    fusedrnn and torch; the busy-machine table with --busy; the targets of docs/benchmarks.md evaluated
    from the measured numbers; and a "## Profile notes" section whose text is kept across reruns) and
    a PNG plot of GF/s per shape and contender, with the all-thread FMA peak as a dashed line.

    python benchmarks/compare.py --shapes keras-seed,energy,mnist-row --min-time 0.1
    python benchmarks/compare.py --shapes medium,medium-2l-bi --busy

Dependencies: numpy and fusedrnn; matplotlib for the plot; torch and onnxruntime when installed.
"""

from __future__ import annotations

import os

# The NumPy reference's BLAS runs single-threaded: OpenBLAS workers keep spinning long after a call and,
# on 2 cores, stalled the next contender's per-step barriers (fusedrnn's stream-b1 LSTM forward measured
# 7.9 ms right after reference turns, 4.2 ms without). The reference is the oracle, not a target.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import copy
import datetime
import functools
import io
import platform
import shlex
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import fusedrnn as fr
from fusedrnn._timing import (
    GATES,
    GRID,
    MIN_CALLS,
    MODES,
    REPEATS,
    SETTLE_S,
    UNSTABLE_SPREAD,
    Measurement,
    Shape,
    Unavailable,
    fusedrnn_call,
    gemm_flops,
    make_problem,
    measure,
    onnxruntime_session,
    optional,
    round_robin,
    timing_context,
    torch_call,
    warm_up,
)
from fusedrnn._timing import reference_call as _reference_call

torch = optional("torch")
ort = optional("onnxruntime")


# Beyond the grid: the stacked bidirectional path (layer 1 reads both directions of layer 0).
EXTRA_SHAPES = (Shape("medium-2l-bi", 50, 64, 512, 512, num_layers=2, bidirectional=True),)
SHAPES = {s.name: s for s in GRID + EXTRA_SHAPES}
CONTENDERS = ("fusedrnn", "torch", "onnxruntime", "reference")
COLORS = {"fusedrnn": "C0", "torch": "C1", "onnxruntime": "C2", "reference": "C3"}  # same in every panel
REFERENCE_LIMIT_S = 2.0
PEAK_SETTLE_S = 0.5  # pause before the FMA peak, after the imports' thread pools started
PEAK_CALL_S = 0.1  # one _fma_peak_gflops call is sized to about this long
PEAK_CALLS = 5  # the peak is their median
PEAK_MIN_SCALING = 0.8  # of the 1-thread peak per thread; below it the header warns (a busy machine)
BUSY_SHAPE = "energy"  # the --busy measurement: LSTM training step on this shape
BUSY_THREADS = (1, 2)
BUSY_MIN_TIME_S = 2.0  # per (condition, contender, threads)
BUSY_SLICE_S = 0.25  # turns in its round robin; long, so the 50 ms settles cost little
BUSY_SPIN = "while True: pass"  # the busy process: one interpreter keeping one core busy
BUSY_MAX_RATIO = 1.1  # the target: 2 threads never slower than 1 on a busy machine (<= 1.1x)
PROFILE_HEADING = "## Profile notes"
PROFILE_PLACEHOLDER = (
    f"{PROFILE_HEADING}\n\n"
    "_To be filled in by hand: where the time goes (perf / VTune), per shape that misses a target. "
    "This section is kept as it is when compare.py rewrites the file._\n"
)


# -- the problems ----------------------------------------------------------------------------------


def max_abs_diff_vs_torch(p):
    """max |y_fusedrnn - y_torch| of the forward in eval mode, or None without torch."""
    if p.module is None:
        return None
    y_fr, _ = p.layer.eval()(p.x)
    with torch.inference_mode():
        y_torch, _ = p.module(torch.from_numpy(p.x))
    return float(np.max(np.abs(y_fr.astype(np.float64) - y_torch.numpy())))


# -- one call of each contender -------------------------------------------------------------------


def reference_call(p, mode):
    try:
        return _reference_call(p, mode, REFERENCE_LIMIT_S)
    except Unavailable as why:
        log(f"    reference: {why}")
        raise


def onnx_model(p):
    """The torch module exported to ONNX (bytes, output y only)."""

    class OutputOnly(torch.nn.Module):
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    wrapper, x = OutputOnly(p.module).eval(), torch.from_numpy(p.x)
    errors = []
    # The TorchScript exporter (dynamo=False) emits ONNX's own LSTM/GRU/RNN ops, which onnxruntime
    # runs as fused kernels; the default (dynamo) exporter needs onnxscript. Old torch rejects the
    # dynamo keyword, then the plain call is the TorchScript exporter.
    for options in ({"dynamo": False}, {}):
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(wrapper, (x,), buffer, input_names=["x"], output_names=["y"], **options)
            return buffer.getvalue()
        except Exception as e:  # any exporter failure is reported in the table, not fatal
            errors.append(f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
    raise Unavailable(f"n/a (export failed: {'; '.join(dict.fromkeys(errors))})")


def onnxruntime_call(p, mode, threads):
    if mode != "forward":
        raise Unavailable("n/a (inference only)")
    if ort is None:
        raise Unavailable("n/a (onnxruntime not installed)")
    if p.module is None:
        raise Unavailable("n/a (torch needed for the ONNX export)")
    session = onnxruntime_session(onnx_model(p), threads)
    feed = {session.get_inputs()[0].name: p.x}
    with torch.inference_mode():
        y_torch = p.module(torch.from_numpy(p.x))[0].numpy()
    y_ort = session.run(None, feed)[0]
    log(f"    onnxruntime max |dy| vs torch: {np.max(np.abs(y_ort - y_torch)):.2e}")
    return lambda: session.run(None, feed)


def make_calls(p, mode, threads, contenders):
    """{contender: zero-argument callable doing one call, or the Unavailable note (str)}."""
    builders = {
        "fusedrnn": lambda: fusedrnn_call(p, mode),
        "torch": lambda: torch_call(p, mode),
        "onnxruntime": lambda: onnxruntime_call(p, mode, threads),
        "reference": lambda: reference_call(p, mode),
    }
    calls = {}
    for name in contenders:
        try:
            calls[name] = builders[name]()
        except Unavailable as why:
            calls[name] = str(why)
    return calls


# -- reduced precision (--reduced) ----------------------------------------------------------------

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


# -- the machine's FMA peak -----------------------------------------------------------------------


@dataclass(frozen=True)
class FmaPeak:
    """float32 GF/s of pure FMA loops with the active ISA, on 1 thread and on the benchmark's threads."""

    isa: str
    one_thread: float
    threads: int
    all_threads: float

    def fraction(self, gflops):
        return gflops / self.all_threads

    @property
    def scaled_poorly(self):
        """All threads reached less than PEAK_MIN_SCALING x threads x the 1-thread peak: another process
        most likely held a core while it was measured, and every % peak is then too high."""
        return self.threads > 1 and self.all_threads < PEAK_MIN_SCALING * self.threads * self.one_thread


def median_fma_gflops(threads):
    """The median of PEAK_CALLS calls of _core._fma_peak_gflops, each sized to about PEAK_CALL_S."""
    # Double the iterations until a call lasts 25 ms (this also warms the clocks and the thread pool),
    # then scale to the wanted length from that call's wall time.
    iterations, elapsed = 1_000_000, 0.0
    while elapsed < PEAK_CALL_S / 4:
        iterations *= 2
        start = time.perf_counter()
        fr._core._fma_peak_gflops(threads, iterations)
        elapsed = time.perf_counter() - start
    iterations = max(1, round(iterations * PEAK_CALL_S / elapsed))
    return float(np.median([fr._core._fma_peak_gflops(threads, iterations) for _ in range(PEAK_CALLS)]))


def measure_fma_peak(threads):
    """FmaPeak after a PEAK_SETTLE_S pause, or None when the extension has no _fma_peak_gflops."""
    if not hasattr(fr._core, "_fma_peak_gflops"):
        log("fusedrnn._core has no _fma_peak_gflops: no FMA peak, no % peak")
        return None
    time.sleep(PEAK_SETTLE_S)
    one = median_fma_gflops(1)
    every = one if threads == 1 else median_fma_gflops(threads)
    return FmaPeak(fr.cpu_info().get("isa"), one, threads, every)


def peak_line(peak):
    if peak is None:
        return "not measured (this fusedrnn build has no _core._fma_peak_gflops)"
    line = (
        f"(float32, isa {peak.isa}): {peak.one_thread:.0f} GF/s on 1 thread, "
        f"{peak.all_threads:.0f} GF/s on {peak.threads} threads"
    )
    if peak.scaled_poorly:
        line += (
            f" (**below {PEAK_MIN_SCALING * 100:g} % of {peak.threads}× the 1-thread peak**: another process "
            "was likely busy while it was measured, so every % peak is too high; rerun on a quiet machine)"
        )
    return line


# -- the busy machine -----------------------------------------------------------------------------


@contextlib.contextmanager
def busy_core():
    """One other process keeping a core busy for the duration of the block (no affinity: the OS places it)."""
    spinner = subprocess.Popen([sys.executable, "-c", BUSY_SPIN], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # past the interpreter's start-up, into the loop
        if spinner.poll() is not None:
            raise RuntimeError(f"the busy process exited with {spinner.returncode}")
        yield
    finally:
        spinner.kill()
        spinner.wait()


@dataclass
class Busy:
    """The --busy measurement: (condition, contender, threads) -> Measurement, its wall time and the load
    averages before it (how quiet "quiet" was)."""

    times: dict
    contenders: list
    seconds: float
    load: str

    def ratio(self, condition, name, statistic="seconds"):
        """The 2-thread median (statistic="mean": mean) / the 1-thread one."""
        one, two = (getattr(self.times[condition, name, n], statistic) for n in BUSY_THREADS)
        return two / one


BUSY_CONDITIONS = {"quiet": "quiet machine", "busy": "one busy process"}


def run_busy(threads):
    """LSTM training step on BUSY_SHAPE at each of BUSY_THREADS, without and with a busy process."""
    start, load = time.perf_counter(), load_average()
    shape = SHAPES[BUSY_SHAPE]
    log(f"busy machine: LSTM training {shape.name} ({shape.describe()}) at {BUSY_THREADS} threads")
    problem = make_problem("lstm", shape)
    steps, set_threads = {"fusedrnn": fusedrnn_call(problem, "training")}, {"fusedrnn": fr.set_num_threads}
    if problem.module is not None:
        steps["torch"], set_threads["torch"] = torch_call(problem, "training"), torch.set_num_threads
    calls = {(name, n): step for name, step in steps.items() for n in BUSY_THREADS}
    before_turn = {(name, n): functools.partial(set_threads[name], n) for name, n in calls}
    times = {}
    try:
        for condition in BUSY_CONDITIONS:
            with busy_core() if condition == "busy" else contextlib.nullcontext():
                for key, call in calls.items():
                    before_turn[key]()
                    warm_up(call)
                samples = round_robin(calls, BUSY_MIN_TIME_S, BUSY_SLICE_S, before_turn)
            for (name, n), values in samples.items():
                times[condition, name, n] = m = Measurement.of(values)
                log(f"  {condition:<6}{name} {n} thread{'s' if n > 1 else ''}: {describe(m)}")
    finally:
        fr.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
    return Busy(times, list(steps), time.perf_counter() - start, load)


def busy_table(busy):
    two_to_one = f"{BUSY_THREADS[1]}/{BUSY_THREADS[0]}"
    header = ["condition"]
    for name in busy.contenders:
        header += [f"{name} {n} thread{'s' if n > 1 else ''} ms (mean)" for n in BUSY_THREADS]
        header += [f"{name} {two_to_one}", f"{name} {two_to_one} of means"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for condition, title in BUSY_CONDITIONS.items():
        cells = [title]
        for name in busy.contenders:
            for n in BUSY_THREADS:
                m = busy.times[condition, name, n]
                cells.append(f"{cell_text(m)} ({format_ms(m.mean * 1e3)})")
            cells += [
                ratio_text(busy.ratio(condition, name)),
                ratio_text(busy.ratio(condition, name, "mean")),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def busy_section(busy):
    shape = SHAPES[BUSY_SHAPE]
    return (
        f"## Busy machine\n\nLSTM training step (forward + backward) on {shape.name} ({shape.describe()}): "
        f"median ms per call at {BUSY_THREADS[0]} and {BUSY_THREADS[1]} threads (fr.set_num_threads, "
        "torch.set_num_threads), first on the quiet machine, then alongside one busy process "
        f'(`python -c "{BUSY_SPIN}"`, not pinned to a core). All settings of a condition run in one '
        f"round robin of {BUSY_SLICE_S * 1000:g} ms turns, each ≥ {BUSY_MIN_TIME_S:g} s; "
        f"{BUSY_THREADS[1]}/{BUSY_THREADS[0]} = the {BUSY_THREADS[1]}-thread median / the "
        f"{BUSY_THREADS[0]}-thread median. The mean per call (in parentheses, and its ratio) counts the "
        "calls that a descheduled thread stalls at a barrier, which the median leaves out: it is the "
        f"time a loop of such calls takes. Run time {busy.seconds:.0f} s; load averages (1, 5, 15 min) "
        f"before it {busy.load}.\n\n{busy_table(busy)}"
    )


def evaluate_busy_target(busy):
    title = (
        f"### 2 threads never slower than 1 when another process keeps a core busy (≤ {BUSY_MAX_RATIO:g}×)"
    )
    if busy is None:
        return f"{title}\n\nNot measured in this run (needs --busy)."
    rows, verdicts = [], []
    for statistic, label in (("seconds", "median"), ("mean", "mean")):
        ratio = busy.ratio("busy", "fusedrnn", statistic)
        verdicts.append(ratio <= BUSY_MAX_RATIO)
        rows.append(
            f"| LSTM | training | {BUSY_SHAPE} | {label} | {ratio:.2f}× | ≤ {BUSY_MAX_RATIO:g}× | "
            f"{'met' if verdicts[-1] else '**NOT MET**'} |"
        )
    summary = (
        "**met**" if all(verdicts) else f"**NOT MET** ({verdicts.count(False)} of {len(verdicts)} cases)"
    )
    header = "| cell | mode | shape | time per call | measured | required | status |\n|" + "---|" * 7
    return (
        f"{title}\n\nOverall: {summary}. Measured: fusedrnn's {BUSY_THREADS[1]}-thread / "
        f"{BUSY_THREADS[0]}-thread time with one busy process (## Busy machine), of the medians and of the "
        f"means.\n\n{header}\n" + "\n".join(rows)
    )


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Results:
    cells: list
    shapes: list
    modes: list
    contenders: list
    # (cell, mode, shape name) -> {contender: Measurement}
    times: dict = field(default_factory=dict)
    # (cell, shape name) -> max |y_fusedrnn - y_torch| or None
    diffs: dict = field(default_factory=dict)
    peak: FmaPeak | None = None  # the machine's FMA peak, for % peak
    busy: Busy | None = None  # the --busy measurement
    reduced: dict | None = None  # the --reduced measurement (run_reduced)


def log(message):
    print(message, flush=True)


def run_grid(args, threads, peak):
    contenders = [c for c in CONTENDERS if not (c == "reference" and args.no_reference)]
    results = Results(args.cells, args.shapes, args.modes, contenders, peak=peak)
    for cell in args.cells:
        for shape in (SHAPES[s] for s in args.shapes):
            log(f"{cell.upper()} {shape.name} ({shape.describe()})")
            problem = make_problem(cell, shape)
            diff = results.diffs[cell, shape.name] = max_abs_diff_vs_torch(problem)
            if diff is not None:
                log(f"    fusedrnn max |dy| vs torch: {diff:.2e}")
            for mode in args.modes:
                calls = make_calls(problem, mode, threads, contenders)
                row = measure(problem, calls, mode, args.min_time, args.slice_ms / 1000)
                results.times[cell, mode, shape.name] = row
                log(f"  {mode:<9}" + "  ".join(f"{n} {describe(m)}" for n, m in row.items()))
    return results


def describe(m):
    if m.seconds is None:
        return m.note
    return f"{format_ms(m.seconds * 1e3)} ms ({m.calls} calls, spread {m.spread:.2f})"


# -- the report -----------------------------------------------------------------------------------


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


def peak_text(g, peak):
    """GF/s as % of the all-thread FMA peak ("" without one of them)."""
    return "" if g is None or peak is None else f"{100 * peak.fraction(g):.1f}"


def cell_text(m):
    if m.seconds is None:
        return m.note.replace("|", "\\|")
    return format_ms(m.seconds * 1e3) + (" †" if m.unstable else "")


def ratio_text(value):
    return "" if value is None else f"{value:.2f}×"


def shown(contenders, mode):
    """The contenders that have a column (and bars) in `mode`: onnxruntime runs inference only."""
    return [c for c in contenders if mode == "forward" or c != "onnxruntime"]


def table(results, cell, mode):
    others = [c for c in shown(results.contenders, mode) if c != "fusedrnn"]
    short = {"torch": "torch", "onnxruntime": "ort", "reference": "reference"}
    header = ["shape", "T", "N", "C", "H", "fusedrnn ms", "GF/s", "% peak"]
    for name in others:
        header += (
            [f"{name} ms"] + (["GF/s", "% peak"] if name == "torch" else []) + [f"speed-up vs {short[name]}"]
        )
    header.append("max \\|Δy\\| vs torch")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for shape in (SHAPES[s] for s in results.shapes):
        row = results.times.get((cell, mode, shape.name))
        if row is None:
            continue
        cells = [shape.name, shape.T, shape.N, shape.C, shape.H, cell_text(row["fusedrnn"])]
        g = gflops(row, "fusedrnn", cell, shape, mode)
        cells += [f"{g:.1f}", peak_text(g, results.peak)]
        for name in others:
            cells.append(cell_text(row[name]))
            if name == "torch":
                g = gflops(row, name, cell, shape, mode)
                cells += ["" if g is None else f"{g:.1f}", peak_text(g, results.peak)]
            cells.append(ratio_text(speedup(row, name)))
        diff = results.diffs.get((cell, shape.name))
        cells.append("n/a" if diff is None else f"{diff:.1e}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if mode != "forward" and "onnxruntime" in results.contenders:
        lines.append("\nonnxruntime runs inference only, so it is not in the training tables.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One target of docs/benchmarks.md: metric(cell, mode, shape) compared with `required`."""

    title: str
    cells: tuple
    modes: tuple
    shapes: tuple | None  # None: every shape of the grid
    # "speedup" (torch / fusedrnn), "peak" (fusedrnn's GF/s / the all-thread FMA peak) or "us"
    # (fusedrnn per call)
    metric: str
    required: float

    def met(self, value):
        return value <= self.required if self.metric == "us" else value >= self.required

    def describe(self, value):
        if self.metric == "peak":
            return f"{100 * value:.1f} %", f"≥ {100 * self.required:g} %"
        unit = {"speedup": "×", "us": " µs"}[self.metric]
        sign = "≤" if self.metric == "us" else "≥"
        return f"{value:.2f}{unit}", f"{sign} {self.required:g}{unit}"


TARGETS = (
    Target(
        "LSTM forward ≥ 1.15× faster than PyTorch on every shape",
        ("lstm",),
        ("forward",),
        None,
        "speedup",
        1.15,
    ),
    Target(
        "LSTM forward ≥ 85 % of the measured FMA peak on medium and large",
        ("lstm",),
        ("forward",),
        ("medium", "large"),
        "peak",
        0.85,
    ),
    Target(
        "LSTM training step ≥ 1.3× faster than PyTorch on every shape",
        ("lstm",),
        ("training",),
        None,
        "speedup",
        1.3,
    ),
    Target(
        "GRU and RNN forward and training ≥ 2.5× faster than PyTorch on keras-seed, energy, stream-b1",
        ("gru", "rnn"),
        MODES,
        ("keras-seed", "energy", "stream-b1"),
        "speedup",
        2.5,
    ),
    Target(
        "GRU and RNN forward and training ≥ 1.5× faster than PyTorch on mnist-row, char-lstm",
        ("gru", "rnn"),
        MODES,
        ("mnist-row", "char-lstm"),
        "speedup",
        1.5,
    ),
    Target(
        "GRU and RNN forward and training ≥ 85 % of the measured FMA peak on medium and large",
        ("gru", "rnn"),
        MODES,
        ("medium", "large"),
        "peak",
        0.85,
    ),
    Target("keras-seed forward ≤ 5 µs per call", tuple(GATES), ("forward",), ("keras-seed",), "us", 5.0),
)


def target_value(target, row, cell, shape, mode, peak):
    if target.metric == "speedup":
        return speedup(row, "torch")
    if target.metric == "peak":
        return None if peak is None else peak.fraction(gflops(row, "fusedrnn", cell, shape, mode))
    return row["fusedrnn"].seconds * 1e6


def evaluate_target(target, results):
    """Markdown for one target: a verdict line and one row per measured case."""
    rows, verdicts = [], []
    for cell in target.cells:
        for mode in target.modes:
            for name in target.shapes or tuple(s.name for s in GRID):
                row = results.times.get((cell, mode, name))
                if row is None:
                    continue
                value = target_value(target, row, cell, SHAPES[name], mode, results.peak)
                case = f"| {cell.upper()} | {mode} | {name} |"
                if value is None:
                    missing = "no FMA peak" if target.metric == "peak" else "no torch time"
                    rows.append(f"{case} n/a | | not evaluated ({missing}) |")
                    continue
                measured, required = target.describe(value)
                verdict = "met" if target.met(value) else "**NOT MET**"
                verdicts.append(target.met(value))
                rows.append(f"{case} {measured} | {required} | {verdict} |")
    if not rows:
        return f"### {target.title}\n\nNot measured in this run (needs {describe_scope(target)})."
    if not verdicts:
        summary = "not evaluated"
    elif all(verdicts):
        summary = f"**met** ({len(verdicts)} of {len(verdicts)} cases)"
    else:
        summary = f"**NOT MET** ({verdicts.count(False)} of {len(verdicts)} cases)"
    header = "| cell | mode | shape | measured | required | status |\n|---|---|---|---|---|---|"
    return f"### {target.title}\n\nOverall: {summary}.\n\n{header}\n" + "\n".join(rows)


def describe_scope(target):
    shapes = ", ".join(target.shapes) if target.shapes else "any grid shape"
    return f"{'/'.join(c.upper() for c in target.cells)} {' and '.join(target.modes)} on {shapes}"


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


def stacks_text():
    """How the shapes beyond the grid differ from it (for the header)."""
    return "; ".join(
        f"{s.name}: a {s.num_layers}-layer{' bidirectional' if s.bidirectional else ''} stack with "
        f"T={s.T}, N={s.N}, C={s.C}, H={s.H}"
        for s in EXTRA_SHAPES
    )


def header(args, threads, started, wall_s, load, peak):
    command = "python " + shlex.join(sys.argv)
    return "\n".join(
        [
            "# fusedrnn benchmark results",
            "",
            f"- Date: {started:%Y-%m-%d %H:%M:%S %Z}".rstrip(),
            f"- Machine: {machine_line(threads)}",
            f"- Threads: {threads} for every contender (fusedrnn.get_num_threads(); torch.set_num_threads; "
            "onnxruntime intra_op_num_threads)",
            f"- FMA peak {peak_line(peak)}",
            f"- Versions: {versions()}",
            f"- Command: `{command}`",
            f"- Run time of the grid: {wall_s:.0f} s; load averages (1, 5, 15 min) at start {load[0]}, "
            f"at end {load[1]}",
            "",
            "Median wall time per call of one fp32 layer, single-layer and unidirectional on the benchmark "
            f"grid ({stacks_text()}), contenders timed in "
            f"round robin (turns of ≥ {args.slice_ms:g} ms, each contender ≥ {args.min_time:g} s and "
            f"≥ {MIN_CALLS} calls). forward = inference; training = forward + backward of (y·dy).sum() "
            "w.r.t. x and all parameters. GF/s counts GEMM flops: forward 2·T·N·G·H·(C+H) "
            "(G = 4 LSTM, 3 GRU, 1 RNN), training 3× that; a stack of L layers and D directions sums "
            "2·T·N·G·H·D·(C_l+H) over its layers (C_0 = C, C_l = D·H). % peak = GF/s / the FMA peak "
            f"on {threads} threads above: float32 GF/s of independent FMA chains with the active ISA "
            f"(fusedrnn._core._fma_peak_gflops), measured at the start after a {PEAK_SETTLE_S:g} s pause, "
            f"the median of {PEAK_CALLS} calls of about {PEAK_CALL_S:g} s each per thread count. "
            "speed-up vs X = X's time / fusedrnn's time. "
            f"The NumPy reference is skipped where a call would take more than {REFERENCE_LIMIT_S:g} s. "
            f"† marks an unstable median (the medians of {REPEATS} consecutive groups of turns differ by "
            f"more than {UNSTABLE_SPREAD:g}×, the slowest / the fastest): on a 2-core machine another busy "
            "process stalls the OpenMP barriers of every contender, so rerun such rows on a quiet machine. "
            "Each turn starts after a "
            f"{SETTLE_S * 1000:g} ms pause with one untimed call; onnxruntime runs with "
            "session.intra_op.allow_spinning=0 and the reference's OpenBLAS with one thread, because "
            "their spinning workers otherwise slow whichever contender runs next on 2 cores.",
        ]
    )


def profile_notes(path):
    """The existing '## Profile notes' section (to the end of the file), or the placeholder."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        for line_start in _line_starts(text):
            if text.startswith(PROFILE_HEADING, line_start):
                return text[line_start:].rstrip() + "\n"
    return PROFILE_PLACEHOLDER


def _line_starts(text):
    yield 0
    index = text.find("\n")
    while index != -1:
        yield index + 1
        index = text.find("\n", index + 1)


def report(results, args, threads, started, wall_s, load):
    parts = [header(args, threads, started, wall_s, load, results.peak)]
    for cell in results.cells:
        for mode in results.modes:
            parts.append(f"## {cell.upper()} {mode}\n\n{table(results, cell, mode)}")
    if results.busy is not None:
        parts.append(busy_section(results.busy))
    parts.append(
        "## Targets\n\nThose of docs/benchmarks.md, evaluated from the numbers above "
        "(speed-ups are torch's time / fusedrnn's time; % of peak is fusedrnn's GF/s / the all-thread "
        "FMA peak). Not evaluated here: memory."
    )
    parts += [evaluate_target(t, results) for t in TARGETS]
    parts.append(evaluate_busy_target(results.busy))
    if results.reduced is not None:
        parts.append(reduced_section(results.reduced))
    parts.append(profile_notes(Path(args.out)))
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


# -- the plot -------------------------------------------------------------------------------------


def plot(results, path, threads):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return
    rows, cols = len(results.cells), len(results.modes)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.8 * rows), squeeze=False)
    names = results.shapes
    panels = [
        (r, c, cell, mode) for r, cell in enumerate(results.cells) for c, mode in enumerate(results.modes)
    ]
    for r, c, cell, mode in panels:
        ax = axes[r][c]
        contenders = shown(results.contenders, mode)
        width = 0.8 / len(contenders)
        for k, name in enumerate(contenders):
            offset = (k - (len(contenders) - 1) / 2) * width
            bars = [
                (i + offset, gflops(results.times[cell, mode, s], name, cell, SHAPES[s], mode))
                for i, s in enumerate(names)
            ]
            bars = [(x, g) for x, g in bars if g]  # skipped / unavailable: no bar
            ax.bar([x for x, _ in bars], [g for _, g in bars], width, label=name, color=COLORS[name])
        if results.peak is not None:
            ax.axhline(
                results.peak.all_threads,
                color="k",
                linestyle="--",
                linewidth=0.8,
                label=f"FMA peak, {results.peak.threads} threads",
            )
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_ylabel("GF/s (GEMM flops)")
        ax.set_title(f"{cell.upper()} {mode}")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"fusedrnn vs others: {cpu_model()}, {threads} threads, isa {fr.cpu_info().get('isa')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log(f"wrote {path}")


# -- command line ---------------------------------------------------------------------------------


def choices(all_names):
    def parse(text):
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in all_names]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"expected names from {', '.join(all_names)}; got {text!r}")
        return names

    return parse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=choices(tuple(GATES)), default=list(GATES))
    parser.add_argument("--shapes", type=choices(tuple(SHAPES)), default=list(SHAPES))
    parser.add_argument("--modes", type=choices(MODES), default=list(MODES))
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per contender (default 0.3)")
    parser.add_argument(
        "--slice-ms",
        type=float,
        default=20.0,
        help="least length of a contender's turn in the rotation; 0 = call by call (default 20)",
    )
    parser.add_argument("--out", default="benchmarks/RESULTS.md")
    parser.add_argument("--plot", default="benchmarks/results.png", help="PNG path; empty: no plot")
    parser.add_argument("--no-reference", action="store_true", help="leave out the NumPy reference")
    parser.add_argument(
        "--busy",
        action="store_true",
        help=f"also time the LSTM training step on {BUSY_SHAPE} at 1 and 2 threads, quiet and with one busy "
        "process (25-40 s)",
    )
    parser.add_argument(
        "--reduced",
        action="store_true",
        help="also time layer.quantized('int8' / 'bf16') against float32 and torch's int8 and bf16, forward, "
        f"on {', '.join(REDUCED_SHAPES)}",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    threads = fr.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    started = datetime.datetime.now().astimezone()
    load_at_start = load_average()
    log(f"{machine_line(threads)}\nthreads {threads}; {versions()}")
    peak = measure_fma_peak(threads)
    log(f"FMA peak {peak_line(peak)}")
    start = time.perf_counter()
    results = run_grid(args, threads, peak)
    wall_s = time.perf_counter() - start
    load = (load_at_start, load_average())
    if args.busy:
        results.busy = run_busy(threads)
    if args.reduced:
        results.reduced = run_reduced(args, threads)
    Path(args.out).write_text(report(results, args, threads, started, wall_s, load), encoding="utf-8")
    log(f"wrote {args.out} ({wall_s:.0f} s)")
    if args.plot:
        plot(results, args.plot, threads)


if __name__ == "__main__":
    main()
