"""``python -m fusedrnn``: what this install is, whether it computes correctly, and how fast it is.

    python -m fusedrnn              # version, CPU path, threads, self-check, timing table
    python -m fusedrnn --quick      # the same without the timing table
    python -m fusedrnn --threads 1  # with one kernel thread
    python -m fusedrnn demo --list  # the lecture notes' examples; demo NAME runs one, demo all every one

The self-check runs a small stacked bidirectional LSTM forward and backward through `fusedrnn.LSTM`
and compares every output and gradient with the pure-NumPy oracle `fusedrnn.reference`, given the
same parameters and evaluated in float64. The timing table compares fusedrnn with that reference,
and with PyTorch and onnxruntime when they are installed, on the small shapes of the benchmark grid
(LSTM, float32, one layer); a legend under it says what each row and column stands for, and a † marks
a median that did not repeat itself (a busy machine).

Exit status: 0 when every self-check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import textwrap
import time

import numpy as np

import fusedrnn
from fusedrnn import _timing, reference

# Self-check: a stack small enough to run instantly, big enough to cross layers and directions.
CHECK_T, CHECK_N, CHECK_C, CHECK_H, CHECK_LAYERS = 7, 3, 5, 8, 2
# Largest accepted max|fusedrnn - reference| / max|reference|, per kernel dtype.
TOLERANCES = {np.float64: 1e-10, np.float32: 1e-4}

# Timing: the shapes of the benchmark grid that take seconds, not minutes, on 2 cores.
GRID = [s for s in _timing.GRID if s.name in ("keras-seed", "energy", "mnist-row", "char-lstm")]
MODES = {"forward": "inference", "training": "training step"}
CELL = "lstm"
# Each contender runs >= MIN_TIME_S per case, in REPEATS or more turns of >= SLICE_S alternating with the
# other contenders', so slow drift in the machine's load reaches all of them alike (and shows as
# disagreeing repeats, see _timing.spread). Not call by call: on 2 cores, a thread pool still spinning
# after the other implementation's call roughly doubled per-call times (energy shape, measured).
MIN_TIME_S = 0.2
SLICE_S = MIN_TIME_S / _timing.REPEATS
REFERENCE_LIMIT_S = 1.0  # the NumPy reference is skipped where one call would take longer
# On a quiet 2-core machine the table takes about 16 s. On a busy one, where thread pools fight for
# the cores and calls can be 10-100x slower, the timing stops at the end of the round in progress past
# this point, and the remaining rows are skipped.
TIME_LIMIT_SECONDS = 25
# A row is flagged when a contender's repeats disagree (_timing.UNSTABLE_SPREAD) or when this process's
# threads were kept waiting for a core more than this fraction of the row's time.
WAIT_LIMIT = 0.1
# The optional contenders and what each needs installed.
OPTIONAL = {"torch": ("torch",), "onnxruntime": ("onnxruntime", "onnx")}
LEGEND_WIDTH = 100


# -- about this install ------------------------------------------------------------------------------


def print_environment():
    print(
        f"fusedrnn {fusedrnn.__version__} "
        f"(numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()})"
    )
    info = fusedrnn.cpu_info()
    width = max(map(len, info))
    print("CPU path (fusedrnn.cpu_info()):")
    for key, value in info.items():
        print(f"  {key:<{width}}  {_readable(value)}")
    print(f"threads (fusedrnn.get_num_threads()): {fusedrnn.get_num_threads()}")


def _row(*cells):
    """Prints one markdown table row."""
    print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def _readable(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


# -- self-check --------------------------------------------------------------------------------------


def self_check(dtype):
    """(quantity, max abs error, max |reference|) for one LSTM forward + backward in `dtype`.

    The reference runs in float64 on the very numbers the kernel saw (inputs and parameters in
    `dtype`, upcast exactly), so the error measured is the kernel's own.
    """
    T, N, C, H, L, D = CHECK_T, CHECK_N, CHECK_C, CHECK_H, CHECK_LAYERS, 2
    rng = np.random.default_rng(2024)

    def normal(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, h0, c0 = normal(T, N, C), normal(L * D, N, H), normal(L * D, N, H)
    dy, dh_n, dc_n = normal(T, N, D * H), normal(L * D, N, H), normal(L * D, N, H)

    lstm = fusedrnn.LSTM(C, H, num_layers=L, bidirectional=True, dtype=dtype, seed=0)
    y, (h_n, c_n) = lstm(x, (h0, c0))
    dx, (dh0, dc0) = lstm.backward(dy, (dh_n, dc_n))

    def f64(a):
        return a.astype(np.float64)

    params = {name: f64(value) for name, value in lstm.state_dict().items()}
    hx = (f64(h0), f64(c0))
    ry, (rh_n, rc_n), cache = reference.lstm(f64(x), params, hx, num_layers=L, bidirectional=True)
    rdx, (rdh0, rdc0), rgrads = reference.lstm_backward(cache, f64(dy), (f64(dh_n), f64(dc_n)))

    pairs = [
        ("y", y, ry),
        ("h_n", h_n, rh_n),
        ("c_n", c_n, rc_n),
        ("dx", dx, rdx),
        ("dh0", dh0, rdh0),
        ("dc0", dc0, rdc0),
    ]
    grad_pairs = [(f"grad {name}", lstm.grads[name], rgrads[name]) for name in rgrads]
    pairs.append(max(grad_pairs, key=lambda p: _relative(_max_abs(p[1] - p[2]), _max_abs(p[2]))))
    return [(name, _max_abs(got - want), _max_abs(want)) for name, got, want in pairs]


def _max_abs(a):
    return float(np.max(np.abs(a)))


def _relative(err, scale):
    return err / max(scale, np.finfo(np.float64).tiny)


def run_self_checks():
    """Prints one markdown table row per quantity and dtype; returns True when all pass."""
    print(
        f"\n## Self-check: {CHECK_LAYERS}-layer bidirectional LSTM, T={CHECK_T} N={CHECK_N} C={CHECK_C} "
        f"H={CHECK_H}, forward + backward vs fusedrnn.reference (float64)\n"
    )
    print("| dtype | quantity | max abs error | max abs reference | relative | tolerance | result |")
    print("|---|---|---:|---:|---:|---:|---|")
    all_ok = True
    for dtype, tol in TOLERANCES.items():
        for name, err, scale in self_check(dtype):
            rel = _relative(err, scale)
            ok = rel <= tol  # False for NaN too
            all_ok &= ok
            dtype_name, verdict = np.dtype(dtype).name, "PASS" if ok else "**FAIL**"
            _row(dtype_name, name, f"{err:.2e}", f"{scale:.3g}", f"{rel:.2e}", f"{tol:.0e}", verdict)
    print(f"\nself-check: {'PASS' if all_ok else 'FAIL'}", flush=True)
    return all_ok


# -- timing ------------------------------------------------------------------------------------------


def contenders():
    """(the contenders that get columns, the packages whose install would add the missing ones)."""
    names, missing = ["fusedrnn", "reference"], []
    for name, packages in OPTIONAL.items():
        absent = [p for p in packages if _timing.optional(p) is None]
        if absent:
            missing += absent
        else:
            names.append(name)
    return names, missing


def onnxruntime_call(problem, mode, threads, directory):
    """A session of the layer as fusedrnn.onnx.export writes it (inference only)."""
    if mode != "forward":
        raise _timing.Unavailable("–")
    from fusedrnn import onnx

    path = os.path.join(directory, f"{problem.cell}-{problem.shape.name}.onnx")
    onnx.export(problem.layer, path)
    session = _timing.onnxruntime_session(path, threads)
    feed = {"x": problem.x}
    return lambda: session.run(None, feed)


def make_calls(problem, mode, names, threads, directory):
    """{contender: zero-argument callable, or the note to show instead of a time}."""
    builders = {
        "fusedrnn": lambda: _timing.fusedrnn_call(problem, mode),
        "reference": lambda: _timing.reference_call(problem, mode, REFERENCE_LIMIT_S),
        "torch": lambda: _timing.torch_call(problem, mode),
        "onnxruntime": lambda: onnxruntime_call(problem, mode, threads, directory),
    }
    calls = {}
    for name in names:
        try:
            calls[name] = builders[name]()
        except _timing.Unavailable as why:
            calls[name] = str(why)
    return calls


def unstable(row):
    """Whether any contender's median in `row` ({contender: Measurement}) is unstable."""
    return any(m.seconds is not None and m.unstable for m in row.values())


def busy(row, waited):
    """Whether a row's times are not to be trusted: a contender's repeats disagree (see _timing.spread),
    or this process's threads spent more than WAIT_LIMIT of the time waiting for a core (waited: that
    fraction, None where the system does not say)."""
    return unstable(row) or (waited is not None and waited > WAIT_LIMIT)


def timed_row(problem, calls, mode, deadline):
    """({contender: Measurement}, the fraction of the time this process's threads waited for a core)."""
    start, wait = time.perf_counter(), _timing.core_wait_seconds()
    row = _timing.measure(problem, calls, mode, MIN_TIME_S, SLICE_S, deadline)
    if wait is None:
        return row, None
    return row, (_timing.core_wait_seconds() - wait) / (time.perf_counter() - start)


def measure_row(problem, calls, mode, deadline):
    """({contender: Measurement}, flagged): a busy row is timed once more (unless the time.perf_counter()
    deadline has passed, which also cuts a timing short), and the second timing kept: a passing burst of
    load is then gone, lasting load is flagged."""
    row, waited = timed_row(problem, calls, mode, deadline)
    if busy(row, waited) and time.perf_counter() < deadline:
        row, waited = timed_row(problem, calls, mode, deadline)
    return row, busy(row, waited)


def _duration(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def time_text(m):
    return m.note if m.seconds is None else _duration(m.seconds)


def ratio_text(row, name):
    """name's time / fusedrnn's, or "" when either has none."""
    mine, theirs = row["fusedrnn"].seconds, row[name].seconds
    return "" if mine is None or theirs is None else f"{theirs / mine:.2f}×"


def table_row(shape, mode, row, flagged):
    """The cells of one table row: shape (with † when flagged), mode, fusedrnn's time and GF/s, then each
    other contender's time and how many times faster fusedrnn is."""
    fused = row["fusedrnn"]
    cells = [shape.name + (" †" if flagged else ""), MODES[mode], time_text(fused)]
    cells.append(
        f"{_timing.gemm_flops(CELL, shape, mode) / fused.seconds / 1e9:.3g}" if fused.seconds else ""
    )
    for name in list(row)[1:]:
        cells += [time_text(row[name]), ratio_text(row, name)]
    return cells


def legend(names, missing, threads, flagged):
    """What the table's rows and columns mean, for someone who has not read the benchmark docs."""
    width = max(len(s.name) for s in GRID)
    shapes = [f"  {s.name:<{width}}  {s.about} (T={s.T} N={s.N} C={s.C} H={s.H})" for s in GRID]
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    columns = [
        "Columns: the median time per call of each implementation, timed in turns that alternate between "
        f"them (each >= {MIN_TIME_S:g} s in >= {_timing.REPEATS} turns). GF/s: fusedrnn's GEMM flops per "
        "second (forward 2·T·N·4·H·(C+H), training step 3× that). vs X = X's time / fusedrnn's time: how "
        "many times faster fusedrnn is than X (higher: fusedrnn is faster; below 1: X is faster).",
        "reference: fusedrnn.reference, the pure-NumPy oracle of the self-check above (NumPy's BLAS on "
        f"{_threads(blas) if blas else 'its default number of threads'}).",
    ]
    if "torch" in names:
        columns.append(f"torch: torch.nn.LSTM with the same weights, torch.set_num_threads({threads}).")
    if "onnxruntime" in names:
        columns.append(
            f"onnxruntime: the layer as fusedrnn.onnx.export writes it, {_threads(threads)}; inference only."
        )
    paragraphs = [  # each a list of entries, every entry wrapped on its own
        [
            "Rows: one LSTM layer (float32) on a shape of the benchmark grid, T steps of N sequences with C "
            "input features and H hidden units:",
            *shapes,
        ],
        [
            "inference = one call over the whole sequence in eval mode; training step = that forward plus "
            "the backward (the gradients with respect to the input and every weight)."
        ],
        columns,
    ]
    if flagged:
        paragraphs.append(
            [
                "† the machine was busy: another program took the cores while this row was timed (timed "
                f"in {_timing.REPEATS} parts, the slowest part's median was more than "
                f"{_timing.UNSTABLE_SPREAD:g}× the fastest's, or this process waited for a core more than "
                f"{WAIT_LIMIT:.0%} of the time), also when timed a second time, so the row's times and "
                "ratios mean little. Rerun `python -m fusedrnn` when the machine is quiet."
            ]
        )
    if missing:
        paragraphs.append([f"(install {' / '.join(missing)} for more columns)"])
    print("\n" + "\n\n".join("\n".join(map(_wrap, entries)) for entries in paragraphs))


def _threads(count):
    return f"{count} thread{'' if str(count) == '1' else 's'}"


def _wrap(text):
    """`text` in lines of at most LEGEND_WIDTH; an indented entry (a shape) stays as it is."""
    if text.startswith(" "):
        return text
    return "\n".join(textwrap.wrap(text, LEGEND_WIDTH, break_on_hyphens=False))


def run_timings():
    names, missing = contenders()
    threads = fusedrnn.get_num_threads()
    if "torch" in names:
        import torch

        torch.set_num_threads(threads)
    print(f"\n## Timing: LSTM, float32, one layer, {_threads(threads)}; median time per call\n")
    header = ["shape", "mode", "fusedrnn", "GF/s"]
    for name in names[1:]:
        header += [name, f"vs {name}"]
    print("| " + " | ".join(header) + " |")
    print("|---|---|" + "---:|" * (len(header) - 2), flush=True)
    deadline, flagged = time.perf_counter() + TIME_LIMIT_SECONDS, False
    with tempfile.TemporaryDirectory() as directory:
        for shape in GRID:
            problem = _timing.make_problem(CELL, shape, with_torch="torch" in names)
            for mode in MODES:
                if time.perf_counter() > deadline:
                    _row(
                        shape.name,
                        MODES[mode],
                        f"skipped ({TIME_LIMIT_SECONDS} s limit)",
                        *[""] * (len(header) - 3),
                    )
                    continue
                calls = make_calls(problem, mode, names, threads, directory)
                row, busy_row = measure_row(problem, calls, mode, deadline)
                flagged |= busy_row
                _row(*table_row(shape, mode, row, busy_row))
    legend(names, missing, threads, flagged)


# -- command line ------------------------------------------------------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a thread count >= 1, got {value}")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m fusedrnn",
        description="Show the fusedrnn install, check it against the NumPy reference, and time it.",
    )
    parser.add_argument("--quick", action="store_true", help="self-check only, no timing")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help="kernel threads (set_num_threads)")
    return parser.parse_args(argv)


def _with_one_blas_thread(argv):
    """Re-runs this command with NumPy's BLAS on one thread (POSIX; once). The BLAS pool spins for a
    while after each reference call and takes the cores from fusedrnn's threads, which then (rightly)
    fall back to one thread: with it, char-lstm forward measured 25-28 ms instead of 14.7 ms. The
    benchmark script pins the reference's BLAS the same way."""
    if os.name != "posix" or "OPENBLAS_NUM_THREADS" in os.environ or argv is not None:
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "fusedrnn", *sys.argv[1:]])


def run_demos(argv):
    """``python -m fusedrnn demo [--list] [--smoke] [--data SET] [--compute-dtype D] [NAME ... | all]``:
    the lecture notes' examples."""
    from . import demos

    parser = argparse.ArgumentParser(prog="python -m fusedrnn demo", description=run_demos.__doc__)
    parser.add_argument("names", nargs="*", default=["all"], help=f"{', '.join(demos.DEMOS)} or all")
    parser.add_argument("--list", action="store_true", help="list the demos")
    parser.add_argument("--smoke", action="store_true", help="a few epochs only (a check that they run)")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots there (needs matplotlib)")
    parser.add_argument(
        "--compute-dtype",
        choices=("float32", "bfloat16"),
        help=f"the LSTM's products: bfloat16 trains with bf16 products ({', '.join(demos.COMPUTE_DTYPES)})",
    )
    sets = "; ".join(f"{name}: {', '.join(choices)}" for name, choices in demos.DATA_SETS.items())
    parser.add_argument(
        "--data", metavar="SET", help=f"run on this data set ({sets}; sunspots, co2 need [data])"
    )
    args = parser.parse_args(argv)
    if args.list:
        for name, what in demos.DEMOS.items():
            print(f"{name:20s} {what}")
        return 0
    names = list(demos.DEMOS) if args.names == ["all"] else args.names
    for name in names:
        if name not in demos.DEMOS:
            parser.error(f"unknown demo {name!r}; --list shows them")
        if args.data is not None and args.data not in demos.DATA_SETS.get(name, ()):
            parser.error(f"demo {name!r} has no data set {args.data!r} ({sets})")
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
    for name in names:
        if args.compute_dtype is not None and name not in demos.COMPUTE_DTYPES:
            parser.error(f"demo {name!r} has no --compute-dtype ({', '.join(demos.COMPUTE_DTYPES)} have)")
    for name in names:
        demos.run(
            name, smoke=args.smoke, plot_dir=args.plots, data_set=args.data, compute_dtype=args.compute_dtype
        )
    return 0


def main(argv=None):
    raw = sys.argv[1:] if argv is None else argv
    if raw[:1] == ["demo"]:
        return run_demos(raw[1:])
    args = parse_args(argv)
    if not args.quick:
        _with_one_blas_thread(argv)
    if args.threads is not None:
        fusedrnn.set_num_threads(args.threads)
    print_environment()
    ok = run_self_checks()
    if not args.quick:
        run_timings()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
