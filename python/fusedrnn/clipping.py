"""Gradient clipping, PyTorch's semantics, on the arrays of ``layer.grads`` (or any dict / list of arrays):
the lectures' remedy for exploding gradients."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["clip_grad_norm_", "clip_grad_value_"]

# What the clipping functions take: layer.grads (a dict), a list of arrays, or one array.
Gradients: TypeAlias = Mapping[str, NDArray[np.floating[Any]]] | Iterable[NDArray[np.floating[Any]]]


def _arrays(grads: Gradients, name: str = "grads") -> list[NDArray[np.floating[Any]]]:
    values: list[Any] = (
        list(grads.values())
        if hasattr(grads, "values")
        else list(grads)
        if not isinstance(grads, np.ndarray)
        else [grads]
    )
    for i, value in enumerate(values):
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise TypeError(f"{name}[{i}]: expected a float numpy array, got {type(value).__name__}")
        if not value.flags.writeable:
            raise ValueError(f"{name}[{i}]: the array is read-only (clipping writes in place)")
    return values


def clip_grad_norm_(
    grads: Gradients, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    """Scales the gradients in place so that their joint norm is at most max_norm, as
    ``torch.nn.utils.clip_grad_norm_``.

    The joint norm treats all the arrays as one vector; when max_norm / (total + 1e-6) is below 1,
    every array is multiplied by it.

    Parameters
    ----------
    grads : dict of str to numpy.ndarray, list of numpy.ndarray, or numpy.ndarray
        Writable float arrays, e.g. ``layer.grads``.
    max_norm : float
        The largest joint norm kept (>= 0).
    norm_type : float
        The order p of the norm: any p >= 1, or ``inf`` (the largest absolute value).
    error_if_nonfinite : bool
        Raise when the total norm is nan or inf (else the gradients are scaled by nan, as torch does).

    Returns
    -------
    float
        The total norm before clipping.

    Raises
    ------
    TypeError
        An element is not a float numpy array.
    ValueError
        A read-only array, or max_norm or norm_type out of range.
    RuntimeError
        error_if_nonfinite and the total norm is not finite.

    Examples
    --------
    >>> dx, (dh0, dc0) = lstm.backward(dy)
    >>> total = fr.clip_grad_norm_(lstm.grads, max_norm=1.0)
    """
    arrays = _arrays(grads)
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"max_norm: expected a number >= 0, got {max_norm}")
    if not (norm_type >= 1 or math.isinf(norm_type)):
        raise ValueError(f"norm_type: expected a p >= 1 or inf, got {norm_type}")
    if not arrays:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays)
    else:
        # Each array's norm first, then the norm of those: as torch computes it (no overflow of squares
        # of the whole set in float32: each partial norm is taken in float64).
        norms = [
            float(np.linalg.norm(a.ravel().astype(np.float64), ord=norm_type)) if a.size else 0.0
            for a in arrays
        ]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is {total}")
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1 or math.isnan(coefficient):
        for a in arrays:
            a *= a.dtype.type(coefficient)
    return total


def clip_grad_value_(grads: Gradients, clip_value: float) -> None:
    """Clips every gradient element in place to [-clip_value, clip_value], as
    ``torch.nn.utils.clip_grad_value_``.

    Parameters
    ----------
    grads : dict of str to numpy.ndarray, list of numpy.ndarray, or numpy.ndarray
        Writable float arrays, e.g. ``layer.grads``.
    clip_value : float
        The largest absolute value kept (>= 0).

    Raises
    ------
    TypeError
        An element is not a float numpy array.
    ValueError
        A read-only array, or clip_value < 0.
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_value: expected a number >= 0, got {clip_value}")
    for a in _arrays(grads):
        np.clip(a, -clip_value, clip_value, out=a)
