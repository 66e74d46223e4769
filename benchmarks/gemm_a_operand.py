"""The input projection's GEMM with A read in place or packed: median ms per call of fusedrnn._core._gemm
at the shapes the forward runs (one chunk of steps: [Tc*N, C] x [C, 4H], B pre-packed as the plan keeps
it) and the backward's dx ([T*N, 4H] x [4H, C]), fp32, on the active ISA.

A row-major A (the forward's x, the backward's dG) is read in place by the direct-A microkernel; the same
matrix stored transposed can only be packed, so the two columns compare the two ways of reading one A
in one build (the transposed layout packs along columns, which costs about what packing rows did).
Run it against two builds (PYTHONPATH=<other build>) for a before / after of the same column. Times are
the process's CPU time (time.process_time), so a busy machine that deschedules the process does not count;
use one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fusedrnn as fr

# name: (m, k, n) of C[m, n] = A[m, k] B[k, n]; forward chunks hold about 2^21 outputs.
SHAPES = {
    "char-lstm fwd": (2048, 128, 1024),
    "medium fwd": (1024, 512, 2048),
    "large fwd": (512, 1024, 4096),
    "medium dx": (3200, 2048, 512),
}


def median_ms(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, threads: int, prepack: bool, seconds: float
) -> float:
    """Median CPU ms of _gemm(a, b) into c over `seconds` (at least 5 calls, after one untimed)."""
    fr._core._gemm(a, b, c, threads=threads, prepack_b=prepack)
    times = []
    end = time.process_time() + seconds
    while time.process_time() < end or len(times) < 5:
        t0 = time.process_time()
        fr._core._gemm(a, b, c, threads=threads, prepack_b=prepack)
        times.append(time.process_time() - t0)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"fusedrnn {fr.__file__}, isa {fr.cpu_info()['isa']}, {args.threads} thread(s)")
    print("| shape | m | k | n | row-major A ms | GF/s | transposed A ms | GF/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (m, k, n) in SHAPES.items():
        a = rng.standard_normal((m, k), dtype=np.float32)
        a_t = np.ascontiguousarray(a.T).T
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        prepack = name.endswith("fwd")
        row = median_ms(a, b, c, args.threads, prepack, args.seconds)
        col = median_ms(a_t, b, c, args.threads, prepack, args.seconds)
        flops = 2 * m * n * k
        rates = f"{row:.3f} | {flops / row / 1e6:.1f} | {col:.3f} | {flops / col / 1e6:.1f}"
        print(f"| {name} | {m} | {k} | {n} | {rates} |")


if __name__ == "__main__":
    main()
