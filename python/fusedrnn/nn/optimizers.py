"""Optimizers updating arrays in place from their gradients: SGD (momentum), Adam, RMSprop, with Keras's
defaults; clipnorm clips the joint gradient norm first (fusedrnn.clip_grad_norm_)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..clipping import clip_grad_norm_

Array = NDArray[Any]

__all__ = ["CLASSES", "SGD", "Adam", "Optimizer", "RMSprop", "get"]


class Optimizer:
    """Updates parameter arrays in place from their gradients (subclasses: `_slots`, `_update`)."""

    def __init__(self, learning_rate: float, clipnorm: float | None = None) -> None:
        self.learning_rate = float(learning_rate)
        self.clipnorm = clipnorm
        self.state: list[list[Array]] | None = None
        self.iterations = 0

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments (what a saved model records)."""
        return {name: getattr(self, name) for name in self._CONFIG}

    _CONFIG: tuple[str, ...] = ("learning_rate", "clipnorm")
    # The state arrays kept per parameter.
    SLOTS = 0

    def step(self, params: Sequence[Array], grads: Sequence[Array]) -> None:
        """One update of every parameter from its gradient (the gradients clipped first with clipnorm)."""
        if self.clipnorm is not None:
            clip_grad_norm_(grads, self.clipnorm)
        if self.state is None:
            self.state = [self._slots(p) for p in params]
        self.iterations += 1
        for p, g, slots in zip(params, grads, self.state, strict=True):
            self._update(p, g, slots)

    def _slots(self, p: Array) -> list[Array]:
        """The per-parameter state arrays."""
        raise NotImplementedError

    def _update(self, p: Array, g: Array, slots: list[Array]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (Keras's defaults)."""

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, clipnorm: float | None = None
    ) -> None:
        super().__init__(learning_rate, clipnorm)
        self.momentum = float(momentum)

    _CONFIG = ("learning_rate", "momentum", "clipnorm")
    SLOTS = 1

    def _slots(self, p: Array) -> list[Array]:
        return [np.zeros_like(p)]

    def _update(self, p: Array, g: Array, slots: list[Array]) -> None:
        (velocity,) = slots
        velocity *= self.momentum
        velocity -= self.learning_rate * g
        p += velocity


class Adam(Optimizer):
    """Adam (Kingma & Ba), with Keras's defaults."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clipnorm)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    _CONFIG = ("learning_rate", "beta_1", "beta_2", "epsilon", "clipnorm")
    SLOTS = 2

    def _slots(self, p: Array) -> list[Array]:
        return [np.zeros_like(p), np.zeros_like(p)]

    def _update(self, p: Array, g: Array, slots: list[Array]) -> None:
        m, v = slots
        m *= self.beta_1
        m += (1 - self.beta_1) * g
        v *= self.beta_2
        v += (1 - self.beta_2) * g * g
        step = self.iterations
        m_hat = m / (1 - self.beta_1**step)
        v_hat = v / (1 - self.beta_2**step)
        p -= (self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)).astype(p.dtype)


class RMSprop(Optimizer):
    """RMSprop, with Keras's defaults."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        clipnorm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clipnorm)
        self.rho, self.epsilon = rho, epsilon

    _CONFIG = ("learning_rate", "rho", "epsilon", "clipnorm")
    SLOTS = 1

    def _slots(self, p: Array) -> list[Array]:
        return [np.zeros_like(p)]

    def _update(self, p: Array, g: Array, slots: list[Array]) -> None:
        (mean_square,) = slots
        mean_square *= self.rho
        mean_square += (1 - self.rho) * g * g
        p -= (self.learning_rate * g / (np.sqrt(mean_square) + self.epsilon)).astype(p.dtype)


CLASSES: dict[str, type[Optimizer]] = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop}


def get(optimizer: Optimizer | str) -> Optimizer:
    """`optimizer` itself, or a new one by name ("sgd", "adam", "rmsprop") with its defaults."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    names: dict[str, Callable[[], Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}
    key = optimizer.lower() if isinstance(optimizer, str) else optimizer  # Keras takes "Adam" too
    if key not in names:
        raise ValueError(f"optimizer: expected 'sgd', 'adam', 'rmsprop' or an optimizer, got {optimizer!r}")
    return names[key]()
