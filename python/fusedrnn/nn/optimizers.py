"""Optimizers updating arrays in place from their gradients: SGD (momentum), Adam, RMSprop, with Keras's
defaults; clipnorm clips the joint gradient norm first (fusedrnn.clip_grad_norm_)."""

from __future__ import annotations

import numpy as np

from ..clipping import clip_grad_norm_

__all__ = ["SGD", "Adam", "RMSprop", "get"]


class Optimizer:
    def __init__(self, learning_rate, clipnorm=None):
        self.learning_rate = float(learning_rate)
        self.clipnorm = clipnorm
        self.state = None
        self.iterations = 0

    def step(self, params, grads):
        if self.clipnorm is not None:
            clip_grad_norm_(grads, self.clipnorm)
        if self.state is None:
            self.state = [self._slots(p) for p in params]
        self.iterations += 1
        for p, g, slots in zip(params, grads, self.state, strict=True):
            self._update(p, g, slots)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.momentum = float(momentum)

    def _slots(self, p):
        return [np.zeros_like(p)]

    def _update(self, p, g, slots):
        (velocity,) = slots
        velocity *= self.momentum
        velocity -= self.learning_rate * g
        p += velocity


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def _slots(self, p):
        return [np.zeros_like(p), np.zeros_like(p)]

    def _update(self, p, g, slots):
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
    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, clipnorm=None):
        super().__init__(learning_rate, clipnorm)
        self.rho, self.epsilon = rho, epsilon

    def _slots(self, p):
        return [np.zeros_like(p)]

    def _update(self, p, g, slots):
        (mean_square,) = slots
        mean_square *= self.rho
        mean_square += (1 - self.rho) * g * g
        p -= (self.learning_rate * g / (np.sqrt(mean_square) + self.epsilon)).astype(p.dtype)


def get(optimizer):
    if isinstance(optimizer, Optimizer):
        return optimizer
    names = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}
    if optimizer not in names:
        raise ValueError(f"optimizer: expected 'sgd', 'adam', 'rmsprop' or an optimizer, got {optimizer!r}")
    return names[optimizer]()
