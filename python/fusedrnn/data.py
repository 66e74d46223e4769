"""Data preparation for sequence models: the lectures' "sequence creation" step.

X, y = fr.data.sliding_windows(series, steps=33, horizon=1)
# X [samples, 33, features], y [samples, 1, features]
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["sliding_windows"]


def sliding_windows(
    series: ArrayLike, steps: int, horizon: int = 1, stride: int = 1
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Windows of a series for supervised learning, batch-first (Keras's layout, fusedrnn's with
    ``batch_first=True``).

    ``X[i] = series[i*stride : i*stride + steps]`` and ``y[i]`` the next `horizon` values
    ``series[i*stride + steps : i*stride + steps + horizon]``.

    Parameters
    ----------
    series : array_like
        [T] or [T, F] real numbers (a 1-D series gets one feature).
    steps : int
        The window length (>= 1).
    horizon : int
        How many values after each window are its target (>= 0).
    stride : int
        The steps between the starts of consecutive windows (>= 1).

    Returns
    -------
    X : numpy.ndarray
        [samples, steps, F], with samples = (T - steps - horizon) // stride + 1, in the series' dtype.
    y : numpy.ndarray
        [samples, horizon, F].
        Both are copies, made from numpy.lib.stride_tricks.sliding_window_view (the windows are not
        materialised twice).

    Raises
    ------
    TypeError
        series is not real-valued.
    ValueError
        series has more than 2 dimensions or too few steps, or an int argument is out of range.

    Examples
    --------
    >>> X, y = fr.data.sliding_windows(np.arange(10.0), steps=3)
    >>> X.shape, y.shape
    ((7, 3, 1), (7, 1, 1))
    """
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
