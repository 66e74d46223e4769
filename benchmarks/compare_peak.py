"""The machine's float32 FMA peak for benchmarks/compare.py: measured once at the start, on 1 thread and
on all threads, the denominator of every % peak."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from compare_common import log

import fusedrnn as fr

PEAK_SETTLE_S = 0.5  # pause before the FMA peak, after the imports' thread pools started


PEAK_CALL_S = 0.1  # one _fma_peak_gflops call is sized to about this long


PEAK_CALLS = 5  # the peak is their median


PEAK_MIN_SCALING = 0.8  # of the 1-thread peak per thread; below it the header warns (a busy machine)


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
