"""Keras's activations by name, each with the product of its Jacobian and an upstream gradient.

The element-wise ones that fusedrnn's recurrent layers share (`fusedrnn.reference.ACTIVATIONS`: tanh,
sigmoid, relu, hard_sigmoid, linear) are those functions themselves, so a Dense layer's numbers do not
change with this table; softmax and log_softmax act on the last axis (Keras's default axis=-1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..reference import ACTIVATIONS as _ELEMENTWISE

Array = NDArray[Any]
# (z -> y, (z, y, dy) -> dz): the activation and its vector-Jacobian product.
Activation = tuple[Callable[[Array], Array], Callable[[Array, Array, Array], Array]]

__all__ = ["ACTIVATIONS", "get"]

# Keras 3's constants for selu and leaky_relu's default slope.
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_LEAKY_SLOPE = 0.2


def _from_output(name: str) -> Activation:
    forward, derivative = _ELEMENTWISE[name]
    return forward, lambda z, y, dy: dy * derivative(y)


def _softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sigmoid(z: Array) -> Array:
    return _ELEMENTWISE["sigmoid"][0](z)


def _softplus(z: Array) -> Array:
    return np.logaddexp(0, z)


def _elu(z: Array) -> Array:
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


ACTIVATIONS: dict[str, Activation] = {
    **{name: _from_output(name) for name in _ELEMENTWISE},
    "softmax": (_softmax, lambda z, y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True))),
    "log_softmax": (_log_softmax, lambda z, y, dy: dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)),
    "elu": (_elu, lambda z, y, dy: dy * np.where(z > 0, 1, y + 1)),
    "selu": (
        lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0))),
        lambda z, y, dy: dy * np.where(z > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA),
    ),
    "softplus": (_softplus, lambda z, y, dy: dy * _sigmoid(z)),
    "softsign": (lambda z: z / (1 + np.abs(z)), lambda z, y, dy: dy / (1 + np.abs(z)) ** 2),
    "swish": (lambda z: z * _sigmoid(z), lambda z, y, dy: dy * (_sigmoid(z) * (1 + z * (1 - _sigmoid(z))))),
    "exponential": (np.exp, lambda z, y, dy: dy * y),
    "relu6": (lambda z: np.clip(z, 0, 6), lambda z, y, dy: dy * ((z > 0) & (z < 6))),
    "leaky_relu": (
        lambda z: np.where(z > 0, z, _LEAKY_SLOPE * z),
        lambda z, y, dy: dy * np.where(z > 0, 1, _LEAKY_SLOPE),
    ),
    "hard_tanh": (lambda z: np.clip(z, -1, 1), lambda z, y, dy: dy * ((z > -1) & (z < 1))),
}
ACTIVATIONS["silu"] = ACTIVATIONS["swish"]


def get(activation: str | None) -> str:
    """The activation's name in `ACTIVATIONS` (None: "linear"); ValueError for an unknown name."""
    name = "linear" if activation is None else activation
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)} or None, got {activation!r}")
    return name
