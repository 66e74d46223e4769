"""Gradient clipping, PyTorch's semantics, on the arrays of ``layer.grads`` (or any dict / list of arrays):
the lectures' remedy for exploding gradients."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _arrays(grads, name="grads"):
    values = list(grads.values()) if hasattr(grads, "values") else list(grads) if not isinstance(
        grads, np.ndarray) else [grads]  # fmt: skip
    for i, value in enumerate(values):
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise TypeError(f"{name}[{i}]: expected a float numpy array, got {type(value).__name__}")
        if not value.flags.writeable:
            raise ValueError(f"{name}[{i}]: the array is read-only (clipping writes in place)")
    return values


def clip_grad_norm_(grads, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales every gradient in place so that their joint norm (all arrays as one vector) is at most
    max_norm, as ``torch.nn.utils.clip_grad_norm_``: by max_norm / (total + 1e-6) when that is below 1.
    norm_type: any p >= 1 or ``inf``. Returns the total norm before clipping (a float).
    error_if_nonfinite: raise RuntimeError when the total norm is nan or inf (else the gradients are
    scaled by nan, as torch does)."""
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
        norms = [float(np.linalg.norm(a.ravel().astype(np.float64), ord=norm_type)) if a.size else 0.0
                 for a in arrays]  # fmt: skip
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is {total}")
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1 or math.isnan(coefficient):
        for a in arrays:
            a *= a.dtype.type(coefficient)
    return total


def clip_grad_value_(grads, clip_value):
    """Clips every gradient element in place to [-clip_value, clip_value], as
    ``torch.nn.utils.clip_grad_value_``."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_value: expected a number >= 0, got {clip_value}")
    for a in _arrays(grads):
        np.clip(a, -clip_value, clip_value, out=a)
