"""Losses: each ``loss(pred, target) -> (value, d_pred)`` with the mean over all elements (or samples),
as Keras computes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# A loss: (prediction, target) -> (the mean loss, its gradient with respect to the prediction).
Loss = Callable[[NDArray[Any], ArrayLike], tuple[float, NDArray[Any]]]

__all__ = [
    "LOSSES",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "mae",
    "mse",
    "sparse_categorical_crossentropy",
]

# Keras's epsilon: probabilities are clipped to [eps, 1 - eps] before their logarithm.
_EPSILON = 1e-7


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


def categorical_crossentropy(prob: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Cross-entropy of probabilities [..., K] (a softmax output) against one-hot (or soft) targets of the
    same shape, as Keras computes it without from_logits: the rows normalised to sum 1, clipped to
    [1e-7, 1 - 1e-7], ``-sum(target * log(p))`` averaged over the rows."""
    t = np.asarray(target, prob.dtype)
    if t.shape != prob.shape:
        raise ValueError(f"target: expected one-hot targets of shape {prob.shape}, got {t.shape}")
    return _probability_crossentropy(prob, t)


def sparse_categorical_crossentropy_from_probabilities(
    prob: NDArray[Any], labels: ArrayLike
) -> tuple[float, NDArray[Any]]:
    """`categorical_crossentropy` of probabilities [..., K] against integer labels [...] (or [..., 1])."""
    return _probability_crossentropy(prob, _one_hot(prob, labels))


def _one_hot(pred: NDArray[Any], labels: ArrayLike) -> NDArray[Any]:
    labels = np.asarray(labels)
    if labels.ndim == pred.ndim and labels.shape[-1:] == (1,):
        labels = labels[..., 0]  # Keras accepts [N, 1] labels too
    K = pred.shape[-1]
    if labels.dtype.kind not in "iu" or labels.shape != pred.shape[:-1]:
        raise ValueError(
            f"target: expected integer labels of shape {pred.shape[:-1]}, got {labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"target: expected labels in [0, {K}), got {labels.min()}..{labels.max()}")
    return (labels[..., None] == np.arange(K)).astype(pred.dtype)


def _probability_crossentropy(prob: NDArray[Any], t: NDArray[Any]) -> tuple[float, NDArray[Any]]:
    total = prob.sum(axis=-1, keepdims=True)
    q = prob / total
    clipped = np.clip(q, _EPSILON, 1 - _EPSILON)
    rows = q.size // q.shape[-1]
    value = -np.sum(t * np.log(clipped)) / rows
    # d/dq, zero where the clip holds; then through q = p / sum(p).
    dq = np.where((q > _EPSILON) & (q < 1 - _EPSILON), -t / clipped, 0) / rows
    grad = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / total
    return float(value), grad.astype(prob.dtype)


def _binary_from_logits(logits: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
    t = np.asarray(target, logits.dtype).reshape(logits.shape)
    # log(1 + e^z) - t z, computed without overflow; its gradient is sigmoid(z) - t.
    value = np.mean(np.logaddexp(0, logits) - t * logits)
    e = np.exp(-np.abs(logits))
    sigmoid = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    return float(value), ((sigmoid - t) / logits.size).astype(logits.dtype)


def binary_crossentropy(prob: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
    """Cross-entropy of probabilities (a sigmoid output) against 0/1 targets."""
    eps = 1e-7
    p = np.clip(prob, eps, 1 - eps)
    t = np.asarray(target, prob.dtype).reshape(prob.shape)
    value = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    grad = (p - t) / (p * (1 - p)) / p.size
    return float(value), grad.astype(prob.dtype)


class Crossentropy:
    """A cross-entropy that takes probabilities (from_logits=False, Keras's default) or logits."""

    name = ""

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = bool(from_logits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"

    def __call__(self, pred: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
        raise NotImplementedError


class CategoricalCrossentropy(Crossentropy):
    """Keras's ``CategoricalCrossentropy(from_logits=False)``: one-hot targets [..., K]."""

    name = "categorical_crossentropy"

    def __call__(self, pred: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
        if self.from_logits:
            # Softmax cross-entropy of logits: the labels are the one-hot rows' argmax when one-hot,
            # otherwise the soft targets' product with the log-probabilities.
            t = np.asarray(target, pred.dtype)
            if t.shape != pred.shape:
                raise ValueError(f"target: expected one-hot targets of shape {pred.shape}, got {t.shape}")
            shifted = pred - pred.max(axis=-1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            rows = pred.size // pred.shape[-1]
            value = -np.sum(t * log_p) / rows
            grad = (np.exp(log_p) * t.sum(axis=-1, keepdims=True) - t) / rows
            return float(value), grad.astype(pred.dtype)
        return categorical_crossentropy(pred, target)


class SparseCategoricalCrossentropy(Crossentropy):
    """Keras's ``SparseCategoricalCrossentropy(from_logits=False)``: integer labels [...]."""

    name = "sparse_categorical_crossentropy"

    def __call__(self, pred: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
        if self.from_logits:
            labels = np.asarray(target)
            if labels.ndim == pred.ndim and labels.shape[-1:] == (1,):
                labels = labels[..., 0]
            return sparse_categorical_crossentropy(pred, labels)
        return sparse_categorical_crossentropy_from_probabilities(pred, target)


class BinaryCrossentropy(Crossentropy):
    """Keras's ``BinaryCrossentropy(from_logits=False)``: 0/1 targets shaped like the output."""

    name = "binary_crossentropy"

    def __call__(self, pred: NDArray[Any], target: ArrayLike) -> tuple[float, NDArray[Any]]:
        return _binary_from_logits(pred, target) if self.from_logits else binary_crossentropy(pred, target)


LOSSES: dict[str, Loss] = {
    "mse": mse,
    "mean_squared_error": mse,
    "mae": mae,
    "mean_absolute_error": mae,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
}
# The cross-entropies whose name alone does not say probabilities or logits (see `get`).
_CROSSENTROPIES: dict[str, type[Crossentropy]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(loss: Loss | str, output_activation: str | None = None) -> Loss:
    """The loss `compile` uses for ``loss`` (a callable, or a name in `LOSSES`).

    By name, the categorical cross-entropies take the model's outputs as probabilities when its last
    layer ends in softmax (Keras's meaning of the name) and as logits otherwise: fr.nn's classifiers
    have always ended in a linear Dense with ``"sparse_categorical_crossentropy"``, where Keras would
    read the raw outputs as probabilities. A `CategoricalCrossentropy` / `SparseCategoricalCrossentropy`
    object says which with ``from_logits``.
    """
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in _CROSSENTROPIES:
        return _CROSSENTROPIES[loss](from_logits=output_activation != "softmax")
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    raise ValueError(f"loss: expected one of {', '.join(LOSSES)} or a callable, got {loss!r}")


def name_of(loss: Loss) -> str:
    """The name a loss is saved under (a `LOSSES` name or a cross-entropy class's), or "" for others."""
    if isinstance(loss, Crossentropy):
        return loss.name
    for key, value in LOSSES.items():
        if value is loss:
            return key
    return ""
