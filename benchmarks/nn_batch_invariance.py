"""The cost of fr.nn's batch-invariant Dense (its product through the package's GEMM, `_core._gemm`,
instead of NumPy's BLAS ``@``): Sequential.predict of recurrent models with a Dense head, and the head
alone, timed side by side (A/B alternated, medians) on one machine. Prints ratios, new / old.

Usage: python benchmarks/nn_batch_invariance.py [--steps T] [--min-time S]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fusedrnn import nn
from fusedrnn.reference import ACTIVATIONS

_new_forward = nn.Dense.forward


def _numpy_forward(self: nn.Dense, x: Any, training: bool) -> Any:
    """Dense's forward before: NumPy's matmul (rows depend on the batch)."""
    self.x = x
    self.y = ACTIVATIONS[self.activation][0](x @ self.W + self.b).astype(np.float32)
    return self.y


def _median(f: Callable[[], object], min_time: float) -> float:
    times: list[float] = []
    end = time.perf_counter() + min_time
    while time.perf_counter() < end or len(times) < 7:
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _ratio(f: Callable[[], object], min_time: float) -> tuple[float, float]:
    """(median new/old over 3 alternations, old seconds)."""
    ratios, olds = [], []
    for _ in range(3):
        nn.Dense.forward = _numpy_forward  # type: ignore[method-assign]
        old = _median(f, min_time)
        nn.Dense.forward = _new_forward  # type: ignore[method-assign]
        new = _median(f, min_time)
        ratios.append(new / old)
        olds.append(old)
    return float(np.median(ratios)), float(np.median(olds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    header = "| N | predict new/old | old ms | head alone new/old | head old µs |"
    print(f"| model (T={args.steps}, C=1) {header}")
    print("|---|---|---|---|---|---|")
    for sequences in (False, True):
        for units in (1, 10):
            for hidden in (32, 256):
                for rows in (64, 512, 4096):
                    model = nn.Sequential([nn.LSTM(hidden, return_sequences=sequences), nn.Dense(units)])
                    X = rng.standard_normal((rows, args.steps, 1)).astype(np.float32)
                    model.predict(X[:3])
                    whole, whole_old = _ratio(lambda m=model, x=X: m.predict(x), args.min_time)
                    head = model.layers[-1]
                    # the head sees predict's batches of at most 256 samples
                    shape = (min(rows, 256),) + ((args.steps,) if sequences else ()) + (hidden,)
                    features = rng.standard_normal(shape).astype(np.float32)
                    alone, alone_old = _ratio(lambda h=head, f=features: h.forward(f, False), args.min_time)
                    name = f"LSTM({hidden}{', seq' if sequences else ''}) + Dense({units})"
                    print(
                        f"| {name} | {rows} | {whole:.3f} | {whole_old * 1e3:.2f} | {alone:.2f} | "
                        f"{alone_old * 1e6:.1f} |"
                    )


if __name__ == "__main__":
    main()
