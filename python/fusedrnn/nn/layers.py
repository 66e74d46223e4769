"""The toolkit's layers: batch-first ``[N, T, F]`` (Keras's convention), each with ``build(input_shape)``
(returns the output shape), ``forward(x, training)``, ``backward(dy)`` (returns dx, accumulates the
parameter gradients) and ``parameters()`` / ``gradients()`` (lists of arrays in the same order)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _core
from .. import layers as recurrent_layers
from .._typing import Activation
from .._validation import parameter_count, size
from ..reference import ACTIVATIONS

# The toolkit's arrays (float32 activations and parameters; Embedding takes integer tokens).
Array = NDArray[Any]
# Any: the first entry (the batch size) may be None.
Shape = tuple[Any, ...]

__all__ = ["GRU", "LSTM", "Dense", "Dropout", "Embedding", "Layer", "Recurrent", "SimpleRNN"]


class Layer:
    """The toolkit's layer interface; subclasses override what they have."""

    name = "layer"

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        """Makes the parameters for inputs of `input_shape` (None: any batch size) from `rng`; returns
        the output shape."""
        return input_shape

    def forward(self, x: Array, training: bool) -> Array:
        """The layer's output for x (training: keep what backward needs, apply dropout)."""
        raise NotImplementedError

    def backward(self, dy: Array) -> Any:
        """dx (an array; None for integer inputs) from dy of the last forward; accumulates the gradients."""
        raise NotImplementedError

    def parameters(self) -> list[Array]:
        """The parameter arrays (updated in place by the optimizers)."""
        return []

    def gradients(self) -> list[Array]:
        """The gradient arrays, in the order of parameters()."""
        return []

    def zero_grad(self) -> None:
        """Sets the gradients to zero."""
        for g in self.gradients():
            g.fill(0)

    def set_training(self, mode: bool) -> None:
        """Training (True) or inference (False) mode, for layers that tell them apart."""


class Dense(Layer):
    """y = act(x W + b) on the last axis (so on every step of a [N, T, F] input, as Keras's Dense does):
    W [F, units] in Keras's layout, Glorot-uniform, b zeros. activation: any of fusedrnn's (None: linear)."""

    name = "dense"

    def __init__(self, units: int, activation: Activation = None) -> None:
        self.units = size(units, "units")
        self.activation = "linear" if activation is None else activation
        if self.activation not in ACTIVATIONS:
            names = ", ".join(ACTIVATIONS)
            raise ValueError(f"activation: expected one of {names} or None, got {activation!r}")

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        fan_in = input_shape[-1]
        parameter_count(fan_in * self.units, "units")  # W [fan_in, units] is made next
        bound = np.sqrt(6.0 / (fan_in + self.units))
        self.W = rng.uniform(-bound, bound, (fan_in, self.units)).astype(np.float32)
        self.b = np.zeros(self.units, np.float32)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        return input_shape[:-1] + (self.units,)

    def forward(self, x: ArrayLike, training: bool) -> Array:
        self.x = np.asarray(x, np.float32)
        z = _row_local_matmul(self.x.reshape(-1, self.x.shape[-1]), self.W)
        z = np.ascontiguousarray(z).reshape(self.x.shape[:-1] + (self.units,))
        z += self.b
        self.y: Array = ACTIVATIONS[self.activation][0](z).astype(np.float32, copy=False)
        return self.y

    def backward(self, dy: Array) -> Array:
        dz = dy * ACTIVATIONS[self.activation][1](self.y)
        flat_x, flat_dz = self.x.reshape(-1, self.x.shape[-1]), dz.reshape(-1, self.units)
        self.dW += flat_x.T @ flat_dz
        self.db += flat_dz.sum(axis=0)
        return dz @ self.W.T

    def parameters(self) -> list[Array]:
        return [self.W, self.b]

    def gradients(self) -> list[Array]:
        return [self.dW, self.db]


def _row_local_matmul(a: Array, w: Array) -> Array:
    """``a @ w`` (float32, a [M, K], w [K, U]) with every row of the result computed by the same operations
    whatever the other rows: the package's GEMM, whose microkernel sums each output over K in one fixed
    order and computes edge tiles through a full scratch tile, so a row never depends on M or on its
    position (the batch invariance of `Sequential.predict`). NumPy's ``@`` does not have this property:
    its BLAS picks kernels and blockings by shape, and one sample's output moved by up to 6e-8 between
    batches of 15, 31, 57 and 255 rows. The thread count never changes the result (the GEMM splits over
    outputs, never over K); below `_core._min_flops_per_thread` per thread it stays on one.

    Computed as ``(w.T @ a.T).T``: the few units then pad to the microkernel's MR rows rather than its
    wider NR columns (AVX2 6x16: Dense(1) and Dense(10) heads 1.4-2x faster than ``a @ w`` through the
    same GEMM, measured on 64..2560 rows, K = 32 and 256). A _core._gemm call costs ~6 us (Dense(1) on
    64 rows of 64: NumPy 2 us), a few percent of a recurrent model's predict at most
    (benchmarks/nn_batch_invariance.py)."""
    m, k = a.shape
    units = w.shape[1]
    threads = max(1, min(_core.get_num_threads(), 2 * m * k * units // _core._min_flops_per_thread()))
    return _core._gemm(np.asarray(w, np.float32).T, a.T, threads=threads).T


class Embedding(Layer):
    """Integer tokens [N, T] -> vectors [N, T, dim] (U(-0.05, 0.05), Keras's default)."""

    name = "embedding"

    def __init__(self, input_dim: int, output_dim: int) -> None:
        self.input_dim, self.output_dim = size(input_dim, "input_dim"), size(output_dim, "output_dim")
        parameter_count(self.input_dim * self.output_dim, "input_dim, output_dim")

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        self.E = rng.uniform(-0.05, 0.05, (self.input_dim, self.output_dim)).astype(np.float32)
        self.dE = np.zeros_like(self.E)
        return tuple(input_shape) + (self.output_dim,)

    def forward(self, x: ArrayLike, training: bool) -> Array:
        tokens = np.asarray(x)
        out_of_range = tokens.size and (tokens.min() < 0 or tokens.max() >= self.input_dim)
        if tokens.dtype.kind not in "iu" or out_of_range:
            raise ValueError(f"x: expected integer tokens in [0, {self.input_dim}), got dtype {tokens.dtype}")
        self.tokens = tokens
        return self.E[tokens]

    def backward(self, dy: Array) -> None:
        np.add.at(self.dE, self.tokens, dy)
        return None  # no gradient for integer inputs

    def parameters(self) -> list[Array]:
        return [self.E]

    def gradients(self) -> list[Array]:
        return [self.dE]


class Dropout(Layer):
    """Inverted dropout in training (the layers' own dropout= / recurrent_dropout= act inside them)."""

    name = "dropout"

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        if not 0 <= self.rate < 1:
            raise ValueError(f"rate: expected 0 <= rate < 1, got {rate}")

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        self.rng = rng
        return input_shape

    def forward(self, x: Array, training: bool) -> Array:
        if not training or self.rate == 0:
            self.mask: Array | None = None
            return x
        self.mask = (self.rng.random(x.shape) >= self.rate).astype(x.dtype) / (1 - self.rate)
        return x * self.mask

    def backward(self, dy: Array) -> Array:
        return dy if self.mask is None else dy * self.mask


class Recurrent(Layer):
    """A fusedrnn LSTM / GRU / RNN on batch-first data, with Keras's return_sequences: True returns every
    step's output [N, T, D*H], False (default) the top layer's last output [N, D*H] (both directions'
    final states when bidirectional). Options go to the fusedrnn layer (activation, num_layers, ...)."""

    name = "recurrent"

    def __init__(
        self,
        cell_class: type[recurrent_layers.LSTM | recurrent_layers.GRU | recurrent_layers.RNN],
        units: int,
        return_sequences: bool = False,
        **options: Any,
    ) -> None:
        self.cell_class, self.units = cell_class, size(units, "units", "hidden_size")
        self.return_sequences = bool(return_sequences)
        self.options = options

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"input_shape: a recurrent layer takes [N, T, F] data, got {input_shape}")
        seed = int(rng.integers(2**31))
        self.layer = self.cell_class(input_shape[-1], self.units, batch_first=True, seed=seed, **self.options)
        D = 2 if self.layer.bidirectional else 1
        S = getattr(self.layer, "proj_size", 0) or self.units
        self.D, self.S = D, S
        return (input_shape[0], input_shape[1], D * S) if self.return_sequences else (input_shape[0], D * S)

    def forward(self, x: ArrayLike, training: bool) -> Array:
        self.layer.train(training)
        y, states = self.layer(np.asarray(x, np.float32))
        if self.return_sequences:
            return y
        h_n = states[0] if isinstance(states, tuple) else states
        self.h_shape = h_n.shape
        return np.concatenate(list(h_n[-self.D :]), axis=-1)  # the top layer's directions

    def backward(self, dy: Array) -> Array:
        if self.return_sequences:
            dx, _ = self.layer.backward(dy)
            return dx
        dh_n = np.zeros(self.h_shape, np.float32)
        for d in range(self.D):
            dh_n[self.h_shape[0] - self.D + d] = dy[:, d * self.S : (d + 1) * self.S]
        if isinstance(self.layer, recurrent_layers.LSTM):
            dx, _ = self.layer.backward(None, (dh_n, None))
        else:
            dx, _ = self.layer.backward(None, dh_n)
        return dx

    def parameters(self) -> list[Array]:
        return [p for _, p in self.layer.named_parameters()]

    def gradients(self) -> list[Array]:
        return list(self.layer.grads.values())

    def zero_grad(self) -> None:
        self.layer.zero_grad()

    def set_training(self, mode: bool) -> None:
        self.layer.train(mode)


def LSTM(units: int, return_sequences: bool = False, **options: Any) -> Recurrent:  # noqa: N802 - Keras's name
    """A `Recurrent` layer around `fusedrnn.LSTM` (Keras's ``LSTM(units, return_sequences=...)``).

    Parameters
    ----------
    units : int
        H, the hidden units.
    return_sequences : bool
        True: every step's output [N, T, D*H]; False: the top layer's last output [N, D*H].
    **options
        Any other `fusedrnn.LSTM` argument (activation, num_layers, bidirectional, dropout, ...).

    Returns
    -------
    Recurrent
    """
    return Recurrent(recurrent_layers.LSTM, units, return_sequences, **options)


def GRU(units: int, return_sequences: bool = False, **options: Any) -> Recurrent:  # noqa: N802
    """A `Recurrent` layer around `fusedrnn.GRU` (Keras's ``GRU(units, return_sequences=...)``).

    Parameters
    ----------
    units : int
        H, the hidden units.
    return_sequences : bool
        True: every step's output [N, T, D*H]; False: the top layer's last output [N, D*H].
    **options
        Any other `fusedrnn.GRU` argument (activation, reset_after, num_layers, bidirectional, ...).

    Returns
    -------
    Recurrent
    """
    return Recurrent(recurrent_layers.GRU, units, return_sequences, **options)


def SimpleRNN(units: int, return_sequences: bool = False, **options: Any) -> Recurrent:  # noqa: N802
    """A `Recurrent` layer around `fusedrnn.RNN` (Keras's ``SimpleRNN(units, return_sequences=...)``).

    Parameters
    ----------
    units : int
        H, the hidden units.
    return_sequences : bool
        True: every step's output [N, T, D*H]; False: the top layer's last output [N, D*H].
    **options
        Any other `fusedrnn.RNN` argument (nonlinearity or activation, num_layers, bidirectional, ...).

    Returns
    -------
    Recurrent
    """
    return Recurrent(recurrent_layers.RNN, units, return_sequences, **options)
