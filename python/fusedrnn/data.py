"""Data preparation for sequence models: the lectures' "sequence creation" step.

    X, y = fr.data.sliding_windows(series, steps=33, horizon=1)
    # X [samples, 33, features], y [samples, 1, features]
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["sliding_windows"]


def sliding_windows(series, steps, horizon=1, stride=1):
    """Windows of a series for supervised learning, batch-first (Keras's layout, fusedrnn's with
    ``batch_first=True``): ``X[i] = series[i*stride : i*stride + steps]`` and ``y[i]`` the next `horizon`
    values ``series[i*stride + steps : i*stride + steps + horizon]``.

    series: [T] or [T, F] (a 1-D series gets one feature). Returns ``X [samples, steps, F]`` and
    ``y [samples, horizon, F]`` as copies (made from numpy.lib.stride_tricks.sliding_window_view, so the
    windows are not materialised twice), with samples = (T - steps - horizon) // stride + 1."""
    array = np.asarray(series)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"series: expected real numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"series: expected a [T] or [T, F] array, got shape {np.shape(series)}")
    for name, value, low in (("steps", steps, 1), ("horizon", horizon, 0), ("stride", stride, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    T = array.shape[0]
    if T < steps + horizon:
        raise ValueError(
            f"series: {T} steps are too few for windows of {steps} steps and a horizon of {horizon}"
        )
    windows = np.lib.stride_tricks.sliding_window_view(array, steps + horizon, axis=0)[::stride]
    windows = np.moveaxis(windows, -1, 1)  # [samples, steps + horizon, F]
    return np.ascontiguousarray(windows[:, :steps]), np.ascontiguousarray(windows[:, steps:])
