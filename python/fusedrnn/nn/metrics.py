"""Metrics for ``compile(metrics=[...])``: each ``metric(pred, target) -> float``, the mean over all
elements (so an epoch's value, the batches' values weighted by their sizes, is Keras's, computed on
the same predictions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# A metric: (prediction, target) -> its mean over the batch.
Metric = Callable[[NDArray[Any], ArrayLike], float]

__all__ = ["METRICS", "Metric", "get"]


def _like(pred: NDArray[Any], target: ArrayLike) -> NDArray[Any]:
    t = np.asarray(target)
    if t.size != pred.size:
        raise ValueError(f"target: expected {pred.size} values like the output {pred.shape}, got {t.shape}")
    return t.reshape(pred.shape)


def mean_squared_error(pred: NDArray[Any], target: ArrayLike) -> float:
    """Mean of (pred - target)^2."""
    return float(np.mean((pred - _like(pred, target).astype(pred.dtype)) ** 2))


def mean_absolute_error(pred: NDArray[Any], target: ArrayLike) -> float:
    """Mean of |pred - target|."""
    return float(np.mean(np.abs(pred - _like(pred, target).astype(pred.dtype))))


def binary_accuracy(pred: NDArray[Any], target: ArrayLike) -> float:
    """Share of outputs on the target's side of 0.5 (Keras's threshold, for probabilities)."""
    return float(np.mean((pred > 0.5) == (_like(pred, target) > 0.5)))


def categorical_accuracy(pred: NDArray[Any], target: ArrayLike) -> float:
    """Share of rows whose largest output is the one-hot target's class."""
    t = np.asarray(target)
    if t.shape != pred.shape:
        raise ValueError(f"target: expected one-hot targets of shape {pred.shape}, got {t.shape}")
    return float(np.mean(pred.argmax(axis=-1) == t.argmax(axis=-1)))


def sparse_categorical_accuracy(pred: NDArray[Any], target: ArrayLike) -> float:
    """Share of rows whose largest output is the integer label's class."""
    labels = np.asarray(target)
    if labels.ndim == pred.ndim and labels.shape[-1:] == (1,):
        labels = labels[..., 0]
    if labels.shape != pred.shape[:-1]:
        raise ValueError(f"target: expected labels of shape {pred.shape[:-1]}, got {labels.shape}")
    return float(np.mean(pred.argmax(axis=-1) == labels))


METRICS: dict[str, Metric] = {
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
}


def accuracy(pred: NDArray[Any], target: ArrayLike) -> float:
    """Keras's "accuracy": binary for one output, sparse categorical when the targets are labels (one
    rank less than the output, or a last axis of 1), categorical otherwise."""
    t = np.asarray(target)
    if pred.shape[-1] == 1:
        return binary_accuracy(pred, t)
    if t.ndim < pred.ndim or t.shape[-1] == 1:
        return sparse_categorical_accuracy(pred, t)
    return categorical_accuracy(pred, t)


METRICS["accuracy"] = METRICS["acc"] = accuracy


def get(metric: str | Metric) -> tuple[str, Metric]:
    """(the key in the logs, the function): a name in `METRICS` is its own key; a callable's key is its
    ``__name__`` (or its class's name)."""
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"metrics: expected names in {', '.join(METRICS)} or callables, got {metric!r}")
        return metric, METRICS[metric]
    if callable(metric):
        return str(getattr(metric, "__name__", type(metric).__name__)), metric
    raise ValueError(f"metrics: expected names in {', '.join(METRICS)} or callables, got {metric!r}")
