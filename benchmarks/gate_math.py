"""Accuracy and cost of the float32 gate math (sigmoid, tanh of csrc/simd/vec_math.h) on every SIMD path
this machine supports: the table of docs/gate-math.md.

For each path (fusedrnn._core._select_isa) and function:
  - max ulp against float64 math over every 257th float32 bit pattern of both signs (16.7 million values,
    the whole range) and over every 64th float32 in [-20, 20] (where the functions bend); results below the
    smallest normal float (sigmoid(x < -87.3)) only have to be <= that;
  - where the result reaches its limits (the smallest |x| from which sigmoid is exactly 0 or 1 and tanh
    exactly +-1), and what NaN, +-inf and -0 give;
  - ns per element: the median of 41 calls over 32768 values in [-8, 8] (128 KB: in L2, one call is
    long enough for the Python call around it not to count), single-threaded, in CPU time
    (time.process_time: a busy machine that deschedules the process does not count).

Run it against two builds (PYTHONPATH=<other build> python benchmarks/gate_math.py) to compare them: the
printed table is the same.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fusedrnn as fr

TINY = np.finfo(np.float32).tiny


def apply(name: str, values: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(values).copy()
    fr._core._activation(name, out)
    return out


def exact(name: str, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-x))
    return np.tanh(x)


def max_ulp(name: str, x: np.ndarray) -> tuple[float, float, bool]:
    """(max ulp, the x where it is, every subnormal result within the smallest normal)."""
    got, want = apply(name, x), exact(name, x)
    subnormal = np.abs(want) < TINY
    sub_ok = bool(np.all(np.abs(got[subnormal]) <= TINY))
    x, got, want = x[~subnormal], got[~subnormal], want[~subnormal]
    spacing = np.spacing(np.maximum(np.abs(want), TINY).astype(np.float32)).astype(np.float64)
    err = np.abs(got.astype(np.float64) - want) / spacing
    return float(err.max()), float(x[err.argmax()]), sub_ok


def saturation(name: str) -> str:
    """The smallest x (in float32 steps from 4 to 120) from which f(x), and f(-x), are the limit."""
    low_limit = 0.0 if name == "sigmoid" else -1.0
    start, stop = np.float32(4).view(np.int32), np.float32(120).view(np.int32)
    one_from = low_from = np.float32(4)
    for lo in range(int(start), int(stop), 1 << 22):
        pos = np.arange(lo, min(lo + (1 << 22), int(stop)), dtype=np.int32).view(np.float32)
        not_one = np.nonzero(apply(name, pos) != 1.0)[0]
        not_low = np.nonzero(apply(name, -pos) != low_limit)[0]
        if not_one.size:
            one_from = np.nextafter(pos[not_one[-1]], np.float32(np.inf))
        if not_low.size:
            low_from = np.nextafter(pos[not_low[-1]], np.float32(np.inf))
    return f"= 1 for x >= {one_from:.7g}, = {low_limit:g} for x <= -{low_from:.7g}"


def specials(name: str) -> str:
    x = np.array([np.nan, np.inf, -np.inf, -0.0], np.float32)
    y = apply(name, x)
    zero = "-0" if np.signbit(y[3]) and y[3] == 0 else f"{y[3]:g}"
    return f"NaN -> {y[0]:g}, +inf -> {y[1]:g}, -inf -> {y[2]:g}, -0 -> {zero}"


def ns_per_element(name: str, repeats: int = 41) -> float:
    x = np.random.default_rng(0).uniform(-8, 8, 32768).astype(np.float32)
    buf = x.copy()
    times = []
    for _ in range(repeats):
        buf[:] = x
        t0 = time.process_time()
        fr._core._activation(name, buf)
        times.append(time.process_time() - t0)
    return float(np.median(times)) / x.size * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-accuracy", action="store_true", help="time only")
    args = parser.parse_args()
    fr.set_num_threads(1)
    top = np.int64(np.float32(np.inf).view(np.int32))
    pos = np.arange(0, top, 509, dtype=np.int64).astype(np.int32).view(np.float32)
    whole = np.concatenate([-pos[::-1], pos])
    bend = np.arange(0, np.float32(20).view(np.int32), 64, dtype=np.int32).view(np.float32)
    dense = np.concatenate([-bend[::-1], bend])
    previous = fr.cpu_info()["isa"]
    print(f"fusedrnn {fr.__file__}")
    print(
        "| path | function | max ulp, whole range (at x) | max ulp, [-20, 20] | limits | NaN, inf, -0 "
        "| ns/element |"
    )
    print("|---|---|---|---|---|---|---|")
    try:
        for isa in fr.cpu_info()["supported_isas"]:
            fr._core._select_isa(isa)
            for name in ("sigmoid", "tanh"):
                cost = ns_per_element(name)
                if args.no_accuracy:
                    print(f"| {isa} | {name} | | | | | {cost:.3f} |")
                    continue
                w, wx, sub_ok = max_ulp(name, whole)
                d, _, sub_ok2 = max_ulp(name, dense)
                sub = "" if sub_ok and sub_ok2 else " (subnormal results off!)"
                print(
                    f"| {isa} | {name} | {w:.2f} ({wx:.6g}){sub} | {d:.2f} | {saturation(name)} | "
                    f"{specials(name)} | {cost:.3f} |"
                )
    finally:
        fr._core._select_isa(previous)


if __name__ == "__main__":
    main()
