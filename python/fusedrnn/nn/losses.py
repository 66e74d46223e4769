"""Losses: each ``loss(pred, target) -> (value, d_pred)`` with the mean over all elements (or samples),
as Keras computes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# A loss: (prediction, target) -> (the mean loss, its gradient with respect to the prediction).
Loss = Callable[[NDArray[Any], ArrayLike], tuple[float, NDArray[Any]]]

__all__ = ["LOSSES", "binary_crossentropy", "mae", "mse", "sparse_categorical_crossentropy"]


def mse(pred: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Mean squared error and its gradient with respect to pred (target reshaped like pred)."""
    diff = pred - np.asarray(target, pred.dtype).reshape(pred.shape)
    return float(np.mean(diff**2)), (2 * diff / diff.size).astype(pred.dtype)


def mae(pred: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Mean absolute error and its (sub)gradient with respect to pred (target reshaped like pred)."""
    diff = pred - np.asarray(target, pred.dtype).reshape(pred.shape)
    return float(np.mean(np.abs(diff))), (np.sign(diff) / diff.size).astype(pred.dtype)


def sparse_categorical_crossentropy(logits: NDArray[Any], labels: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Softmax cross-entropy of logits [..., K] against integer labels [...] (classes, or per step)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"target: expected integer labels of shape {logits.shape[:-1]}, got {labels.dtype} {labels.shape}"
        )
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    grad = np.exp(log_p)
    index = labels[..., None]
    np.put_along_axis(grad, index, np.take_along_axis(grad, index, axis=-1) - 1, axis=-1)
    return float(-picked.mean()), (grad / picked.size).astype(logits.dtype)


def binary_crossentropy(prob: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Cross-entropy of probabilities (a sigmoid output) against 0/1 targets."""
    eps = 1e-7
    p = np.clip(prob, eps, 1 - eps)
    t = np.asarray(target, prob.dtype).reshape(prob.shape)
    value = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    grad = (p - t) / (p * (1 - p)) / p.size
    return float(value), grad.astype(prob.dtype)


LOSSES: dict[str, Loss] = {
    "mse": mse,
    "mean_squared_error": mse,
    "mae": mae,
    "mean_absolute_error": mae,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
}
