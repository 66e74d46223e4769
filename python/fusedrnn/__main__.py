"""``python -m fusedrnn``: what this install is, whether it computes correctly, and how fast it is.

    python -m fusedrnn              # version, CPU path, threads, self-check, timing table
    python -m fusedrnn --quick      # the same without the timing table
    python -m fusedrnn --threads 1  # with one kernel thread
    python -m fusedrnn demo --list  # the lecture notes' examples; demo NAME runs one, demo all every one

The self-check runs a small stacked bidirectional LSTM forward and backward through `fusedrnn.LSTM`
and compares every output and gradient with the pure-NumPy oracle `fusedrnn.reference`, given the
same parameters and evaluated in float64. The timing table compares fusedrnn with that reference
on the small shapes of the DESIGN.md benchmark grid (LSTM, float32, one layer).

Exit status: 0 when every self-check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

import fusedrnn
from fusedrnn import reference

# Self-check: a stack small enough to run instantly, big enough to cross layers and directions.
CHECK_T, CHECK_N, CHECK_C, CHECK_H, CHECK_LAYERS = 7, 3, 5, 8, 2
# Largest accepted max|fusedrnn - reference| / max|reference|, per kernel dtype.
TOLERANCES = {np.float64: 1e-10, np.float32: 1e-4}

# Timing: the DESIGN.md section 5 shapes that take seconds, not minutes, on 2 cores.
GRID = [  # name, T, N, C, H
    ("keras-seed", 3, 1, 1, 50),
    ("energy", 33, 32, 1, 64),
    ("mnist-row", 28, 128, 28, 128),
    ("char-lstm", 100, 64, 128, 256),
]
GATES = 4  # LSTM
# Measured time per implementation and cell, but at least MIN_REPS calls: a call slower than
# BUDGET_SECONDS / MIN_REPS (the char-lstm training reference, say) runs exactly MIN_REPS times.
BUDGET_SECONDS = 0.2
MIN_REPS = 3
# The two implementations alternate in this many blocks of calls, so slow drift in the machine's
# load hits both. Not call by call: on 2 cores, a thread pool still spinning after the other
# implementation's call roughly doubled per-call times (energy shape, measured).
ROUNDS = 4
SETTLE_SECONDS = 0.05
# On a quiet 2-core machine the table takes about 15 s. On a busy one, where thread pools fight for
# the cores and calls can be 10-100x slower, the remaining cells are skipped past this point.
TIME_LIMIT_SECONDS = 30


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

    pairs = [("y", y, ry), ("h_n", h_n, rh_n), ("c_n", c_n, rc_n),
             ("dx", dx, rdx), ("dh0", dh0, rdh0), ("dc0", dc0, rdc0)]  # fmt: skip
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


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_times(fused, ref):
    """Median seconds per call of two functions, run in alternating blocks so machine noise hits both."""
    # The first call of each is a warm-up (weight packing, page faults, BLAS threads starting) and
    # sizes the run.
    counts = [max(MIN_REPS, int(BUDGET_SECONDS / max(_seconds(fn), 1e-9))) for fn in (fused, ref)]
    rounds = min(ROUNDS, *counts)
    per_round = [math.ceil(count / rounds) for count in counts]
    samples = ([], [])
    for _ in range(rounds):
        for fn, k, out in zip((fused, ref), per_round, samples, strict=True):
            # A pause, then one untimed call: the other implementation's worker threads (NumPy's
            # BLAS pool spins long after a call) would otherwise steal the cores at every per-step
            # barrier (mnist-row forward measured 8.3 ms that way, 4.5 ms with the pause).
            time.sleep(SETTLE_SECONDS)
            fn()
            out.extend(_seconds(fn) for _ in range(k))
    return statistics.median(samples[0]), statistics.median(samples[1])


def timed_calls(T, N, C, H):
    """{mode: (fusedrnn call, reference call, GEMM flops per call)} for one grid shape."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, C)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    inference = fusedrnn.LSTM(C, H, seed=0).eval()
    training = fusedrnn.LSTM(C, H, seed=0)
    params = training.state_dict()

    def fused_train():
        training(x)
        training.backward(dy)

    def reference_train():
        _, _, cache = reference.lstm(x, params)
        reference.lstm_backward(cache, dy)

    forward_flops = 2 * T * N * GATES * H * (C + H)
    return {
        "forward (eval)": (lambda: inference(x), lambda: reference.lstm(x, params), forward_flops),
        "training step": (fused_train, reference_train, 3 * forward_flops),
    }


def _duration(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def run_timings():
    print("\n## Timing: LSTM, float32, one layer; median time per call\n")
    print("| shape | T×N×C×H | mode | fusedrnn | GF/s | reference | GF/s | speed-up |")
    print("|---|---|---|---:|---:|---:|---:|---:|", flush=True)
    start = time.perf_counter()
    for name, T, N, C, H in GRID:
        shape = f"{T}×{N}×{C}×{H}"
        for mode, (fused, ref, flops) in timed_calls(T, N, C, H).items():
            if time.perf_counter() - start > TIME_LIMIT_SECONDS:
                _row(name, shape, mode, f"skipped ({TIME_LIMIT_SECONDS} s limit)", "", "", "", "")
                continue
            t_fused, t_ref = median_times(fused, ref)
            _row(
                name, shape, mode,
                _duration(t_fused), f"{flops / t_fused / 1e9:.3g}",
                _duration(t_ref), f"{flops / t_ref / 1e9:.3g}",
                f"{t_ref / t_fused:.2f}×",
            )  # fmt: skip
    print(
        "\nGF/s counts GEMM flops: forward 2·T·N·4·H·(C+H), training step 3× that. "
        "speed-up = reference time / fusedrnn time (> 1: fusedrnn is faster).\n"
        "The reference is the NumPy oracle (fusedrnn.reference), with NumPy's BLAS on "
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'its default number of')} thread(s)."
    )


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
    """``python -m fusedrnn demo [--list] [--smoke] [NAME ... | all]``: the lecture notes' examples."""
    from . import demos

    parser = argparse.ArgumentParser(prog="python -m fusedrnn demo", description=run_demos.__doc__)
    parser.add_argument("names", nargs="*", default=["all"], help=f"{', '.join(demos.DEMOS)} or all")
    parser.add_argument("--list", action="store_true", help="list the demos")
    parser.add_argument("--smoke", action="store_true", help="a few epochs only (a check that they run)")
    parser.add_argument("--plots", metavar="DIR", help="write PNG plots there (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.list:
        for name, what in demos.DEMOS.items():
            print(f"{name:20s} {what}")
        return 0
    names = list(demos.DEMOS) if args.names == ["all"] else args.names
    for name in names:
        if name not in demos.DEMOS:
            parser.error(f"unknown demo {name!r}; --list shows them")
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
    for name in names:
        demos.run(name, smoke=args.smoke, plot_dir=args.plots)
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
