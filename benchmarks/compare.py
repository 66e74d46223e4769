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
    process keeps a core busy, <= 1.1x): the LSTM training step on `energy` and the forward on
    `mnist-row`, fusedrnn at 1 and at 2
    threads (fr.set_num_threads), and torch likewise (torch.set_num_threads) when installed, first on
    the quiet machine, then alongside one busy process (a Python interpreter spinning in `while True:
    pass`, not pinned to a core, started before and killed after). Each setting runs >= 2 s in a round
    robin of 0.25 s turns; the "## Busy machine" table gives the four medians per contender and the
    ratio 2-thread / 1-thread in each condition, and beside them the means (which count the calls a
    descheduled thread stalls at a barrier) and their ratio. The target is evaluated on both. It takes
    50-80 s with torch (about 22 s without; the busy 2-thread settings stall the longest), over the
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

Parts
    compare.py is the grid runner and the command line: the contenders' calls, the round robin over
    (cell, shape, mode), the results. Beside it: compare_common.py (shapes, optional contenders, log and
    time formatting, the machine), compare_peak.py (the FMA peak), compare_busy.py (--busy),
    compare_reduced.py (--reduced), and compare_report.py (the markdown report with the targets, and the
    plot).

Dependencies: numpy and fusedrnn; matplotlib for the plot; torch and onnxruntime when installed.
"""

from __future__ import annotations

import os

# The NumPy reference's BLAS runs single-threaded: OpenBLAS workers keep spinning long after a call and,
# on 2 cores, stalled the next contender's per-step barriers (fusedrnn's stream-b1 LSTM forward measured
# 7.9 ms right after reference turns, 4.2 ms without). The reference is the oracle, not a target.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from compare_busy import BUSY_CASES, Busy, run_busy
from compare_common import (
    CONTENDERS,
    REFERENCE_LIMIT_S,
    SHAPES,
    describe,
    load_average,
    log,
    machine_line,
    ort,
    torch,
    versions,
)
from compare_peak import FmaPeak, measure_fma_peak, peak_line
from compare_reduced import REDUCED_SHAPES, run_reduced
from compare_report import plot, report

import fusedrnn as fr
from fusedrnn._timing import (
    GATES,
    MODES,
    Unavailable,
    fusedrnn_call,
    make_problem,
    measure,
    onnxruntime_session,
    torch_call,
)
from fusedrnn._timing import reference_call as _reference_call


def max_abs_diff_vs_torch(p):
    """max |y_fusedrnn - y_torch| of the forward in eval mode, or None without torch."""
    if p.module is None:
        return None
    y_fr, _ = p.layer.eval()(p.x)
    with torch.inference_mode():
        y_torch, _ = p.module(torch.from_numpy(p.x))
    return float(np.max(np.abs(y_fr.astype(np.float64) - y_torch.numpy())))


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
        help="also time LSTM calls ("
        + ", ".join(f"{mode} on {shape}" for shape, mode in BUSY_CASES)
        + ") at 1 and 2 threads, quiet and with one busy process (50-80 s)",
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
