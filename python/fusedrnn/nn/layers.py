"""The toolkit's layers: batch-first ``[N, T, F]`` (Keras's convention), each with ``build(input_shape)``
(returns the output shape), ``forward(x, training)``, ``backward(dy)`` (returns dx, accumulates the
parameter gradients) and ``parameters()`` / ``gradients()`` (lists of arrays in the same order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _core, _options
from .. import layers as recurrent_layers
from .._validation import flag, parameter_count, size
from . import activations
from .graph import KerasTensor, Node, is_symbolic, symbolic_call, unique_name

# The toolkit's arrays (float32 activations and parameters; Embedding takes integer tokens).
Array = NDArray[Any]
# Any: the first entry (the batch size) may be None.
Shape = tuple[Any, ...]

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "Masking",
    "Recurrent",
    "RepeatVector",
    "SimpleRNN",
    "TimeDistributed",
]


def _is_float32(dtype: Any) -> bool:
    try:
        return bool(np.dtype(dtype) == np.float32)
    except TypeError:
        return False


class Layer:
    """The toolkit's layer interface; subclasses override what they have.

    Every layer also takes Keras's ``input_shape=`` (the shape of one sample, without the batch: the
    first layer of a `Sequential` then builds the model without data, as Keras's do), ``input_dim=``
    (``input_shape=(input_dim,)``) and ``name=``; a layer is callable on arrays (``layer(x)`` builds it
    for x's shape on the first call, as a Keras layer does)."""

    name = "layer"
    # Whether a padding mask (Masking, Embedding(mask_zero=True)) passes through the layer unchanged.
    supports_masking = False
    # The declared shape of one sample (input_shape=), or None.
    declared_input_shape: Shape | None = None
    # The input shape the layer was built for by `Sequential` or a call (None: not yet).
    built_input_shape: Shape | None = None

    def _keras_arguments(
        self,
        input_shape: Any = None,
        input_dim: Any = None,
        name: Any = None,
        dtype: Any = None,
        **unknown: Any,
    ) -> None:
        """Records input_shape= / input_dim= / name= (every layer's constructor passes them here) and
        checks Keras's dtype=: these layers compute in float32, so float32 and the ``mixed_bfloat16``
        policy (under which only the recurrent layers' products are bf16) are accepted, as Keras's
        mixed-precision guide writes them (``Dense(10, dtype="float32")`` on an output layer)."""
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected argument {next(iter(unknown))!r}")
        if dtype is not None and not (
            (isinstance(dtype, str) and dtype == "mixed_bfloat16") or _is_float32(dtype)
        ):
            raise ValueError(
                f"dtype: {type(self).__name__} computes in float32: expected float32 or 'mixed_bfloat16', "
                f"got {repr(dtype)[:60]}"
            )
        if input_shape is not None and input_dim is not None:
            raise ValueError("input_shape, input_dim: give one of them")
        if input_dim is not None:
            input_shape = (input_dim,)
        if input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (input_shape,)
            shape = tuple(input_shape)
            if not shape or not all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1)
                for d in shape
            ):
                raise ValueError(
                    f"input_shape: expected the shape of one sample (ints >= 1, None for any number of "
                    f"steps), without the batch size, got {input_shape!r}"
                )
            self.declared_input_shape = tuple(None if d is None else int(d) for d in shape)
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"name: expected a str, got {type(name).__name__}")
            self.name = name

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        """Makes the parameters for inputs of `input_shape` (None: any batch size) from `rng`; returns
        the output shape."""
        return input_shape

    def forward(self, x: Array, training: bool) -> Array:
        """The layer's output for x (training: keep what backward needs, apply dropout)."""
        raise NotImplementedError

    def forward_masked(self, x: Any, training: bool, mask: Array | None) -> tuple[Any, Array | None]:
        """(output, its mask) for x and the padding mask of its samples' steps ([N, T] bool, True where
        a step is real; None: no padding). Layers that do not carry a mask refuse one."""
        if mask is not None and not self.supports_masking:
            raise ValueError(
                f"{type(self).__name__}: the input carries a padding mask (Masking or "
                "Embedding(mask_zero=True)) that this layer cannot carry: put a recurrent layer with "
                "return_sequences=False before it"
            )
        return self.forward(x, training), mask

    def backward(self, dy: Array) -> Any:
        """dx (an array; None for integer inputs) from dy of the last forward; accumulates the gradients."""
        raise NotImplementedError

    def parameters(self) -> list[Array]:
        """The parameter arrays (updated in place by the optimizers)."""
        return []

    def parameter_names(self) -> list[str]:
        """The parameters' names, in the order of parameters() (the keys of a saved model)."""
        return [str(i) for i in range(len(self.parameters()))]

    def gradients(self) -> list[Array]:
        """The gradient arrays, in the order of parameters()."""
        return []

    def zero_grad(self) -> None:
        """Sets the gradients to zero."""
        for g in self.gradients():
            g.fill(0)

    def set_training(self, mode: bool) -> None:
        """Training (True) or inference (False) mode, for layers that tell them apart."""

    def get_weights(self) -> list[Array]:
        """Copies of the parameter arrays (Keras's get_weights), in the order of parameters()."""
        return [p.copy() for p in self.parameters()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Copies `weights` (as get_weights returns them) into the parameters."""
        _assign(self, self.parameters(), weights, type(self).__name__)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as JSON values (what `Sequential.save` writes)."""
        config: dict[str, Any] = {}
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        if "name" in self.__dict__:  # given (name=), or Keras's name from a functional call
            config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str) -> Layer:
        """The layer of `get_config`'s output; ValueError naming where for anything the constructor
        refuses."""
        try:
            return cls(**config)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {cls.__name__}: {err}") from None

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        """(output shape, the parameters' names and shapes) for inputs of `input_shape`, computed without
        making anything (a saved model is checked against it before it is read)."""
        return input_shape, []

    # -- the functional API (`fusedrnn.nn.graph`): a layer at a node of a Model ------------------------

    # Whether the layer may be called at several nodes of one model that is trained (its forward keeps
    # what backward needs in its own attributes, which the graph saves and restores per node).
    shareable_in_training = True
    # Whether backward_nodes needs an array for every output (zeros for those the loss does not reach).
    needs_all_gradients = True

    def output_shapes(
        self, shapes: list[Shape], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Shape]:
        """The shapes of the outputs of a call on inputs of `shapes` (the first `main` are the call's
        inputs, a list when as_list, the rest an initial_state's); ValueError naming the layer."""
        if as_list or main != 1 or len(shapes) != 1 or options:
            raise TypeError(f"{self.name}: {type(self).__name__} takes one input tensor")
        return [self.plan(shapes[0], f"{self.name}")[0]]

    def forward_nodes(
        self,
        inputs: list[Any],
        masks: list[Array | None],
        main: int,
        as_list: bool,
        training: bool,
        options: dict[str, Any],
    ) -> tuple[list[Any], list[Array | None]]:
        """The outputs and their padding masks at a node, from its input arrays and masks."""
        y, mask = self.forward_masked(inputs[0], training, masks[0])
        return [y], [mask]

    def backward_nodes(
        self, d_outputs: list[Any], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Any]:
        """The gradients of a node's inputs (None for integer inputs) from its outputs' gradients."""
        return [self.backward(d_outputs[0])]

    def __call__(self, x: Any, training: bool = False, mask: ArrayLike | None = None) -> Any:
        """The layer on an array, as Keras's ``layer(x)``: built for x's shape on the first call. On
        symbolic tensors (`Input`, another layer's output) it returns symbolic tensors (the functional
        API: `fusedrnn.nn.Model`)."""
        if is_symbolic(x):
            if mask is not None:
                raise TypeError(f"{self.name}: mask=: masks follow the tensors in a functional model")
            return symbolic_call(self, x)
        x = np.asarray(x)
        if self.built_input_shape is None:
            build_layer(self, (None,) + x.shape[1:], np.random.default_rng())
        out, _ = self.forward_masked(x, training, None if mask is None else np.asarray(mask, bool))
        return out


def build_layer(layer: Layer, input_shape: Shape, rng: np.random.Generator) -> Shape:
    """Builds `layer` for `input_shape` and records it; returns the output shape."""
    shape = tuple(layer.build(tuple(input_shape), rng))
    layer.built_input_shape = tuple(input_shape)
    return shape


def _assign(owner: object, params: Sequence[Array], weights: Sequence[ArrayLike], what: str) -> None:
    weights = list(weights)
    if len(weights) != len(params):
        raise ValueError(f"weights: {what} has {len(params)} parameter arrays, got {len(weights)}")
    arrays = [np.asarray(w) for w in weights]
    for i, (p, w) in enumerate(zip(params, arrays, strict=True)):
        if w.shape != p.shape:
            raise ValueError(f"weights[{i}]: expected shape {p.shape}, got {w.shape}")
        if w.dtype.kind not in "fiu":
            raise TypeError(f"weights[{i}]: expected real numbers, got {w.dtype}")
    for p, w in zip(params, arrays, strict=True):
        p[...] = w


class Dense(Layer):
    """y = act(x W + b) on the last axis (so on every step of a [N, T, F] input, as Keras's Dense does):
    W [F, units] in Keras's layout, Glorot-uniform, b zeros. activation: a name in
    `fusedrnn.nn.activations.ACTIVATIONS` (Keras's: softmax, relu, elu, selu, swish, ...; None: linear).
    """

    name = "dense"
    supports_masking = True

    def __init__(
        self, units: int, activation: str | None = None, use_bias: bool = True, **keras: Any
    ) -> None:
        self.units = size(units, "units")
        self.activation = activations.get(activation)
        self.use_bias = flag(use_bias, "use_bias")
        self._keras_arguments(**keras)

    def _shapes(self, input_shape: Shape) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        fan_in = input_shape[-1]
        parameter_count(fan_in * self.units, "units")  # W [fan_in, units] is made next
        params: list[tuple[str, tuple[int, ...]]] = [("kernel", (fan_in, self.units))]
        if self.use_bias:
            params.append(("bias", (self.units,)))
        return tuple(input_shape[:-1]) + (self.units,), params

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        output_shape, _ = self._shapes(input_shape)
        fan_in = input_shape[-1]
        bound = np.sqrt(6.0 / (fan_in + self.units))
        self.W = rng.uniform(-bound, bound, (fan_in, self.units)).astype(np.float32)
        self.b = np.zeros(self.units, np.float32)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        return output_shape

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        try:
            return self._shapes(input_shape)
        except ValueError as err:
            raise ValueError(f"{where}: Dense: {err}") from None

    def forward(self, x: ArrayLike, training: bool) -> Array:
        self.x = np.asarray(x, np.float32)
        z = _row_local_matmul(self.x.reshape(-1, self.x.shape[-1]), self.W)
        z = np.ascontiguousarray(z).reshape(self.x.shape[:-1] + (self.units,))
        if self.use_bias:
            z += self.b
        self.z = z
        self.y: Array = activations.ACTIVATIONS[self.activation][0](z).astype(np.float32, copy=False)
        return self.y

    def backward(self, dy: Array) -> Array:
        dz = activations.ACTIVATIONS[self.activation][1](self.z, self.y, dy)
        flat_x, flat_dz = self.x.reshape(-1, self.x.shape[-1]), dz.reshape(-1, self.units)
        self.dW += flat_x.T @ flat_dz
        if self.use_bias:
            self.db += flat_dz.sum(axis=0)
        return dz @ self.W.T

    def parameters(self) -> list[Array]:
        return [self.W, self.b] if self.use_bias else [self.W]

    def parameter_names(self) -> list[str]:
        return ["kernel", "bias"] if self.use_bias else ["kernel"]

    def gradients(self) -> list[Array]:
        return [self.dW, self.db] if self.use_bias else [self.dW]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"units": self.units, "activation": self.activation}
        if not self.use_bias:
            config["use_bias"] = False
        return {**config, **super().get_config()}


class Activation(Layer):
    """Keras's ``Activation("softmax")``: an activation of `fusedrnn.nn.activations` on its own."""

    name = "activation"
    supports_masking = True

    def __init__(self, activation: str, **keras: Any) -> None:
        self.activation = activations.get(activation)
        self._keras_arguments(**keras)

    def forward(self, x: ArrayLike, training: bool) -> Array:
        self.z = np.asarray(x, np.float32)
        self.y: Array = activations.ACTIVATIONS[self.activation][0](self.z).astype(np.float32, copy=False)
        return self.y

    def backward(self, dy: Array) -> Array:
        return activations.ACTIVATIONS[self.activation][1](self.z, self.y, dy)

    def get_config(self) -> dict[str, Any]:
        return {"activation": self.activation, **super().get_config()}


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
    """Integer tokens [N, T] -> vectors [N, T, dim] (U(-0.05, 0.05), Keras's default).

    mask_zero=True: token 0 is padding, and the recurrent layers after it run each sequence only over
    its real steps (the fused ``lengths=`` path). Only padding at the end of a sequence is supported
    (``pad_sequences(..., padding="post")``); a 0 before a real token is refused with a ValueError
    (Keras would skip it)."""

    name = "embedding"
    supports_masking = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        mask_zero: bool = False,
        input_length: int | None = None,
        **keras: Any,
    ) -> None:
        self.input_dim, self.output_dim = size(input_dim, "input_dim"), size(output_dim, "output_dim")
        parameter_count(self.input_dim * self.output_dim, "input_dim, output_dim")
        self.mask_zero = flag(mask_zero, "mask_zero")
        if input_length is not None:  # Keras 2's way to give the steps
            keras.setdefault("input_shape", (input_length,))
        self._keras_arguments(**keras)

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        self.E = rng.uniform(-0.05, 0.05, (self.input_dim, self.output_dim)).astype(np.float32)
        self.dE = np.zeros_like(self.E)
        return tuple(input_shape) + (self.output_dim,)

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        return tuple(input_shape) + (self.output_dim,), [("embeddings", (self.input_dim, self.output_dim))]

    def forward(self, x: ArrayLike, training: bool) -> Array:
        tokens = np.asarray(x)
        if tokens.dtype.kind not in "iu":
            raise ValueError(f"x: expected integer tokens in [0, {self.input_dim}), got dtype {tokens.dtype}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.input_dim):
            raise ValueError(
                f"x: expected integer tokens in [0, {self.input_dim}), got {tokens.min()}..{tokens.max()}"
            )
        self.tokens = tokens
        return self.E[tokens]

    def forward_masked(self, x: Any, training: bool, mask: Array | None) -> tuple[Any, Array | None]:
        out = self.forward(x, training)
        if self.mask_zero:
            own = self.tokens != 0
            mask = own if mask is None else mask & own
        return out, mask

    def backward(self, dy: Array) -> None:
        np.add.at(self.dE, self.tokens, dy)
        return None  # no gradient for integer inputs

    def parameters(self) -> list[Array]:
        return [self.E]

    def parameter_names(self) -> list[str]:
        return ["embeddings"]

    def gradients(self) -> list[Array]:
        return [self.dE]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"input_dim": self.input_dim, "output_dim": self.output_dim}
        if self.mask_zero:
            config["mask_zero"] = True
        return {**config, **super().get_config()}


class Masking(Layer):
    """Keras's ``Masking(mask_value=0.0)``: a step whose features all equal mask_value is padding; the
    recurrent layers after it run each sequence only over its real steps (the fused ``lengths=`` path).

    Only padding at the end of a sequence is supported (``pad_sequences(..., padding="post")``, or
    windows that end early): a padding step before a real one is refused with a ValueError naming the
    sample, where Keras would skip it. A sample that is all padding is refused too."""

    name = "masking"
    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **keras: Any) -> None:
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.integer, np.floating)):
            raise TypeError(f"mask_value: expected a number, got {type(mask_value).__name__}")
        self.mask_value = float(mask_value)
        self._keras_arguments(**keras)

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"input_shape: Masking takes [N, T, F] data, got {input_shape}")
        return input_shape

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        if len(input_shape) != 3:
            raise ValueError(f"{where}: Masking takes [N, T, F] data, got {input_shape}")
        return input_shape, []

    def forward(self, x: ArrayLike, training: bool) -> Array:
        y, _ = self.forward_masked(x, training, None)
        return y

    def forward_masked(self, x: Any, training: bool, mask: Array | None) -> tuple[Any, Array | None]:
        x = np.asarray(x, np.float32)
        own = np.any(x != np.float32(self.mask_value), axis=-1)
        mask = own if mask is None else mask & own
        self.keep = mask[..., None].astype(np.float32)
        return x * self.keep, mask  # Keras zeroes the padding steps' features

    def backward(self, dy: Array) -> Array:
        return dy * self.keep

    def get_config(self) -> dict[str, Any]:
        return {"mask_value": self.mask_value, **super().get_config()}


def lengths_from_mask(mask: Array, where: str) -> Array:
    """Each sample's number of real steps from a padding mask [N, T] that is True on a prefix of every
    row (post-padding); ValueError otherwise."""
    lengths = mask.sum(axis=1)
    if not np.array_equal(mask, np.arange(mask.shape[1]) < lengths[:, None]):
        bad = int(np.flatnonzero((mask != (np.arange(mask.shape[1]) < lengths[:, None])).any(axis=1))[0])
        raise ValueError(
            f"{where}: sample {bad} has padding before a real step; fr.nn supports padding at the end of "
            "a sequence only (pad_sequences(..., padding='post')), where Keras would skip the gap"
        )
    if lengths.size and lengths.min() == 0:
        bad = int(np.argmin(lengths))
        raise ValueError(f"{where}: sample {bad} is all padding (every sequence needs a real step)")
    return lengths.astype(np.int64)


class Dropout(Layer):
    """Inverted dropout in training (the layers' own dropout= / recurrent_dropout= act inside them)."""

    name = "dropout"
    supports_masking = True

    def __init__(self, rate: float, **keras: Any) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"rate: expected a number, got {type(rate).__name__}")
        self.rate = float(rate)
        if not 0 <= self.rate < 1:
            raise ValueError(f"rate: expected 0 <= rate < 1, got {rate}")
        self._keras_arguments(**keras)

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

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, **super().get_config()}


class Flatten(Layer):
    """[N, d1, d2, ...] -> [N, d1*d2*...] (Keras's Flatten)."""

    name = "flatten"

    def __init__(self, **keras: Any) -> None:
        self._keras_arguments(**keras)

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"{where}: Flatten needs every dimension past the batch, got {input_shape}")
        return (input_shape[0], int(np.prod(input_shape[1:], dtype=np.int64))), []

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        return self.plan(input_shape, "input_shape")[0]

    def forward(self, x: ArrayLike, training: bool) -> Array:
        x = np.asarray(x)
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self.shape)


class RepeatVector(Layer):
    """[N, F] -> [N, n, F]: the vector repeated n times (Keras's RepeatVector, the encoder-decoder's
    bridge)."""

    name = "repeat_vector"

    def __init__(self, n: int, **keras: Any) -> None:
        self.n = size(n, "n")
        self._keras_arguments(**keras)

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        if len(input_shape) != 2:
            raise ValueError(f"{where}: RepeatVector takes [N, F] data, got {input_shape}")
        return (input_shape[0], self.n, input_shape[1]), []

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        return self.plan(input_shape, "input_shape")[0]

    def forward(self, x: ArrayLike, training: bool) -> Array:
        x = np.asarray(x, np.float32)
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, dy: Array) -> Array:
        return dy.sum(axis=1)

    def get_config(self) -> dict[str, Any]:
        return {"n": self.n, **super().get_config()}


class TimeDistributed(Layer):
    """Keras's ``TimeDistributed(layer)``: the layer applied to every step of [N, T, ...] on its own
    (the same parameters at every step). ``TimeDistributed(Dense(k))`` equals ``Dense(k)`` on [N, T, F]."""

    name = "time_distributed"
    supports_masking = True

    def __init__(self, layer: Layer, **keras: Any) -> None:
        if not isinstance(layer, Layer) or isinstance(layer, Recurrent):
            raise TypeError(f"layer: expected a non-recurrent fr.nn layer, got {type(layer).__name__}")
        self.layer = layer
        self._keras_arguments(**keras)

    def _inner(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 3:
            raise ValueError(f"input_shape: TimeDistributed takes [N, T, ...] data, got {input_shape}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        out = build_layer(self.layer, self._inner(input_shape), rng)
        return tuple(input_shape[:2]) + tuple(out[1:])

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        try:
            inner = self._inner(input_shape)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        out, params = self.layer.plan(inner, where)
        return tuple(input_shape[:2]) + tuple(out[1:]), params

    def forward(self, x: ArrayLike, training: bool) -> Array:
        x = np.asarray(x)
        self.lead = x.shape[:2]
        y = self.layer.forward(x.reshape((-1,) + x.shape[2:]), training)
        return y.reshape(self.lead + y.shape[1:])

    def backward(self, dy: Array) -> Any:
        dx = self.layer.backward(dy.reshape((-1,) + dy.shape[2:]))
        return None if dx is None else dx.reshape(self.lead + dx.shape[1:])

    def parameters(self) -> list[Array]:
        return self.layer.parameters()

    def parameter_names(self) -> list[str]:
        return self.layer.parameter_names()

    def gradients(self) -> list[Array]:
        return self.layer.gradients()

    def zero_grad(self) -> None:
        self.layer.zero_grad()

    def set_training(self, mode: bool) -> None:
        self.layer.set_training(mode)

    def get_config(self) -> dict[str, Any]:
        return {"layer": serialize(self.layer), **super().get_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str) -> Layer:
        config = dict(config)
        inner = deserialize(config.pop("layer", None), where)
        if isinstance(inner, Recurrent):
            raise ValueError(f"{where}: TimeDistributed of a recurrent layer is not supported")
        return super().from_config({"layer": inner, **config}, where)


class Recurrent(Layer):
    """A fusedrnn LSTM / GRU / RNN on batch-first data, with Keras's return_sequences: True returns every
    step's output [N, T, D*H], False (default) the top layer's last output [N, D*H] (both directions'
    final states when bidirectional). Options go to the fusedrnn layer (activation, num_layers, ...).

    Keras's arguments: ``input_shape=`` / ``name=``; ``return_state=True`` (called on arrays: returns
    ``[output, h, c]`` for an LSTM, ``[output, h]`` otherwise, each direction's states in turn, the top
    layer's); ``layer(x, initial_state=[h, c])``; ``stateful=True`` with `reset_states`. After a padding
    mask (`Masking`, ``Embedding(mask_zero=True)``) each sequence runs over its real steps only."""

    name = "recurrent"
    supports_masking = True

    def __init__(
        self,
        cell_class: type[recurrent_layers.LSTM | recurrent_layers.GRU | recurrent_layers.RNN],
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        *,
        input_shape: Any = None,
        input_dim: Any = None,
        name: Any = None,
        **options: Any,
    ) -> None:
        self.cell_class, self.units = cell_class, size(units, "units", "hidden_size")
        self.return_sequences = flag(return_sequences, "return_sequences")
        self.return_state = flag(return_state, "return_state")
        if options.get("dtype") == "mixed_bfloat16":  # Keras's mixed-precision policy, by its name
            if options.get("compute_dtype", "bfloat16") not in ("bfloat16", "bf16"):
                raise ValueError(
                    f"compute_dtype: {options['compute_dtype']!r} contradicts dtype='mixed_bfloat16' "
                    "(bf16 products over float32 parameters)"
                )
            options["dtype"], options["compute_dtype"] = "float32", "bfloat16"
        if "dtype" in options:  # saved by name
            try:
                options["dtype"] = np.dtype(options["dtype"]).name
            except TypeError:
                raise ValueError(
                    f"dtype: expected float32, float64 or Keras's 'mixed_bfloat16', got {options['dtype']!r}"
                ) from None
        self.options = options
        self._keras_arguments(input_shape, input_dim, name)

    def _checked_options(self, features: int, where: str) -> dict[str, Any]:
        values = {"input_size": features, "hidden_size": self.units, "batch_first": True, **self.options}
        return _options.check(self.cell_class.__name__, values, where)

    def _output_shape(self, input_shape: Shape, options: dict[str, Any]) -> Shape:
        D = 2 if options["bidirectional"] else 1
        S = options.get("proj_size", 0) or self.units
        width = S if options["merge_mode"] != "concat" else D * S
        return (input_shape[0], input_shape[1], width) if self.return_sequences else (input_shape[0], width)

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        if len(input_shape) != 3 or not isinstance(input_shape[-1], int):
            raise ValueError(f"{where}: a recurrent layer takes [N, T, F] data, got {input_shape}")
        options = self._checked_options(input_shape[-1], where)
        shapes = _options.parameter_shapes(self.cell_class.__name__, options, where)
        return self._output_shape(input_shape, options), shapes

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"input_shape: a recurrent layer takes [N, T, F] data, got {input_shape}")
        seed = int(rng.integers(2**31))
        self.layer = self.cell_class(input_shape[-1], self.units, batch_first=True, seed=seed, **self.options)
        D = 2 if self.layer.bidirectional else 1
        S = getattr(self.layer, "proj_size", 0) or self.units
        self.D, self.S = D, S
        self.merge_mode = self.layer.merge_mode
        width = S if self.merge_mode != "concat" else D * S
        return (input_shape[0], input_shape[1], width) if self.return_sequences else (input_shape[0], width)

    def forward(self, x: ArrayLike, training: bool) -> Any:
        return self.call(x, training)

    def forward_masked(self, x: Any, training: bool, mask: Array | None) -> tuple[Any, Array | None]:
        lengths = None if mask is None else lengths_from_mask(np.asarray(mask, bool), f"mask ({self.name})")
        out = self.call(x, training, lengths=lengths)
        return out, (mask if self.return_sequences else None)

    def call(
        self,
        x: ArrayLike,
        training: bool = False,
        initial_state: Sequence[ArrayLike] | None = None,
        lengths: Array | None = None,
    ) -> Any:
        """The output for x (a list ``[output, *states]`` with return_state), from `initial_state`
        (Keras's list: ``[h, c]`` for an LSTM, ``[h]`` otherwise, per direction; one-layer stacks only)
        and each sequence's `lengths` (None: all T steps)."""
        self.layer.train(training)
        hx = None if initial_state is None else self._hx(initial_state, np.asarray(x).shape[0])
        self.had_initial_state = hx is not None
        y, states = self.layer(np.asarray(x, np.float32), hx, lengths=lengths)
        h_n, c_n = states if isinstance(states, tuple) else (states, None)
        self.h_shape, self.c_shape = h_n.shape, None if c_n is None else c_n.shape
        out = y if self.return_sequences else self._merge(list(h_n[-self.D :]))
        if not self.return_state:
            return out
        top = [h_n[h_n.shape[0] - self.D + d] for d in range(self.D)]
        if c_n is None:
            return [out, *top]
        tops_c = [c_n[c_n.shape[0] - self.D + d] for d in range(self.D)]
        return [out, *(s for pair in zip(top, tops_c, strict=True) for s in pair)]

    def __call__(
        self,
        x: ArrayLike,
        training: bool = False,
        mask: ArrayLike | None = None,
        initial_state: Sequence[ArrayLike] | None = None,
    ) -> Any:
        """The layer on an array, as Keras's ``layer(x, initial_state=[h, c])`` (on symbolic tensors:
        symbolic tensors, ``[output, *states]`` with return_state)."""
        if is_symbolic(x) or is_symbolic(initial_state):
            if mask is not None:
                raise TypeError(f"{self.name}: mask=: masks follow the tensors in a functional model")
            return symbolic_call(self, x, initial_state)
        x = np.asarray(x)
        if self.built_input_shape is None:
            build_layer(self, (None,) + x.shape[1:], np.random.default_rng())
        lengths = None if mask is None else lengths_from_mask(np.asarray(mask, bool), "mask")
        return self.call(x, training, initial_state, lengths)

    shareable_in_training = False
    needs_all_gradients = False

    def output_shapes(
        self, shapes: list[Shape], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Shape]:
        if main != 1 or as_list:
            raise TypeError(f"{self.name}: a recurrent layer takes one input tensor (and initial_state=)")
        output, _ = self.plan(shapes[0], self.name)
        checked = self._checked_options(shapes[0][-1], self.name)
        D = 2 if checked["bidirectional"] else 1
        S = checked.get("proj_size", 0) or self.units
        per = self._per_state()
        states = [(shapes[0][0], S if which == 0 else self.units) for _ in range(D) for which in range(per)]
        given = len(shapes) - main
        if given and (given != per * D or checked["num_layers"] != 1):
            raise ValueError(
                f"{self.name}: initial_state: expected {per * D} tensors of a one-layer recurrent layer, "
                f"got {given}"
            )
        for i, (shape, expected) in enumerate(zip(shapes[main:], states, strict=False)):
            if tuple(shape[1:]) != expected[1:]:
                raise ValueError(
                    f"{self.name}: initial_state[{i}]: expected shape {expected}, got {tuple(shape)}"
                )
        return [output, *states] if self.return_state else [output]

    def forward_nodes(
        self,
        inputs: list[Any],
        masks: list[Array | None],
        main: int,
        as_list: bool,
        training: bool,
        options: dict[str, Any],
    ) -> tuple[list[Any], list[Array | None]]:
        mask = masks[0]
        lengths = None if mask is None else lengths_from_mask(np.asarray(mask, bool), f"mask ({self.name})")
        out = self.call(inputs[0], training, inputs[main:] or None, lengths)
        outputs = list(out) if self.return_state else [out]
        out_masks: list[Array | None] = [mask if self.return_sequences else None]
        return outputs, out_masks + [None] * (len(outputs) - 1)

    def backward_nodes(
        self, d_outputs: list[Any], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Any]:
        dx = self.backward(list(d_outputs) if self.return_state else d_outputs[0])
        return [dx, *(self.initial_state_grads if options.get("initial_state") else [])]

    def step(self, x_t: ArrayLike, states: Sequence[ArrayLike] | None = None) -> tuple[Array, list[Array]]:
        """One time step for decoding (the fused layer's `step`, inference mode): ``out, states =
        lstm.step(x_t, [h, c])`` with x_t [N, F] and Keras's state list (``[h]`` for a GRU or
        SimpleRNN; None: zeros), returning the step's output [N, S] and the next states. Bitwise the
        step the whole sequence computes, so greedy decoding step by step reproduces a teacher-forced
        forward on the same tokens. One-layer unidirectional layers only."""
        if self.built_input_shape is None:
            x = np.asarray(x_t)
            build_layer(self, (None, None) + x.shape[1:], np.random.default_rng())
        if self.D != 1 or self.layer.num_layers != 1:
            raise ValueError(f"{self.name}: step: one-layer unidirectional recurrent layers only")
        self.layer.train(False)
        hx = None if states is None else self._hx(states, np.asarray(x_t).shape[0])
        out, new = self.layer.step(np.asarray(x_t, np.float32), hx)
        pair = new if isinstance(new, tuple) else (new,)
        return out, [s[0] for s in pair]

    def _per_state(self) -> int:
        return 2 if issubclass(self.cell_class, recurrent_layers.LSTM) else 1

    def _hx(self, initial_state: Sequence[ArrayLike], batch: int) -> Any:
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        per = self._per_state()
        if self.layer.num_layers != 1:
            raise ValueError("initial_state: supported for one-layer recurrent layers (num_layers=1)")
        if len(states) != per * self.D:
            raise ValueError(f"initial_state: expected {per * self.D} arrays, got {len(states)}")
        arrays = [np.asarray(s, np.float32) for s in states]
        h0 = np.stack([arrays[per * d] for d in range(self.D)])
        if per == 1:
            return h0
        return (h0, np.stack([arrays[per * d + 1] for d in range(self.D)]))

    def _merge(self, finals: list[Array]) -> Array:
        self.finals = finals
        if self.D == 1 or self.merge_mode == "concat":
            return np.concatenate(finals, axis=-1)
        a, b = finals
        merged = {"sum": a + b, "mul": a * b, "ave": (a + b) / 2}[self.merge_mode]
        return merged.astype(np.float32, copy=False)

    def _split(self, dy: Array) -> list[Array]:
        if self.D == 1 or self.merge_mode == "concat":
            return [dy[:, d * self.S : (d + 1) * self.S] for d in range(self.D)]
        a, b = self.finals
        if self.merge_mode == "sum":
            return [dy, dy]
        if self.merge_mode == "ave":
            return [dy / 2, dy / 2]
        return [dy * b, dy * a]

    def backward(self, dy: Any) -> Array:
        """dx from dy (with return_state, the list ``[d_output, *d_states]``, any of them None);
        the gradients of initial_state, when one was given, go to `initial_state_grads`."""
        d_states: list[Any] = []
        if self.return_state:
            dy, *d_states = dy
        dh_n: Array = np.zeros(self.h_shape, np.float32)
        dc_n: Array | None = None if self.c_shape is None else np.zeros(self.c_shape, np.float32)
        dY = None
        if dy is not None:
            if self.return_sequences:
                dY = dy
            else:
                for d, part in enumerate(self._split(dy)):
                    dh_n[self.h_shape[0] - self.D + d] += part
        per = self._per_state()
        for i, ds in enumerate(d_states):
            if ds is None:
                continue
            d, which = divmod(i, per)
            target = dh_n if which == 0 else dc_n
            assert target is not None
            target[target.shape[0] - self.D + d] += ds
        layer: Any = self.layer  # LSTM's backward takes a pair of states, GRU's and RNN's an array
        if dc_n is not None:
            dx, (dh0, dc0) = layer.backward(dY, (dh_n, dc_n))
            grads = [dh0, dc0]
        else:
            dx, dh0 = layer.backward(dY, dh_n)
            grads = [dh0]
        if self.had_initial_state:
            self.initial_state_grads = [g[d] for d in range(self.D) for g in grads]
        return dx

    def parameters(self) -> list[Array]:
        return [p for _, p in self.layer.named_parameters()]

    def parameter_names(self) -> list[str]:
        return [key for key, _ in self.layer.named_parameters()]

    def gradients(self) -> list[Array]:
        return list(self.layer.grads.values())

    def zero_grad(self) -> None:
        self.layer.zero_grad()

    def set_training(self, mode: bool) -> None:
        self.layer.train(mode)

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        self.layer.train(True)  # the arrays are read-only in eval mode
        super().set_weights(weights)

    def reset_states(self) -> None:
        """Forgets the state a ``stateful=True`` layer carries from call to call (Keras's reset_states)."""
        self.layer.reset_state()

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"cell": self.cell_class.__name__, "units": self.units}
        if self.return_sequences:
            config["return_sequences"] = True
        if self.return_state:
            config["return_state"] = True
        if self.options:
            config["options"] = dict(self.options)
        return {**config, **super().get_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str) -> Layer:
        config = dict(config)
        classes = {"LSTM": recurrent_layers.LSTM, "GRU": recurrent_layers.GRU, "RNN": recurrent_layers.RNN}
        cell = config.pop("cell", None)
        if not isinstance(cell, str) or cell not in classes:
            raise ValueError(
                f"{where}: Recurrent: cell: expected 'LSTM', 'GRU' or 'RNN', got {str(cell)[:40]!r}"
            )
        options = config.pop("options", {})
        if not isinstance(options, dict):
            raise ValueError(f"{where}: Recurrent: options: expected a JSON object")
        # The options are checked as the fusedrnn layer's constructor checks them (strangers' files).
        forbidden = [key for key in options if key in ("input_size", "hidden_size", "batch_first", "seed")]
        if forbidden:
            raise ValueError(f"{where}: Recurrent: options: {forbidden[0]!r} is not an option here")
        probe = {"input_size": 1, "hidden_size": 1, "batch_first": True, **options}
        _options.check(cell, probe, where)
        try:
            return cls(classes[cell], **config, **options)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: Recurrent: {err}") from None


class Bidirectional(Recurrent):
    """Keras's ``Bidirectional(LSTM(64), merge_mode="concat")``: the recurrent layer run both ways by one
    fused bidirectional layer (the reverse direction starts at each sequence's own end under a mask).
    merge_mode: "concat", "sum", "mul" or "ave" (None, Keras's list of both directions, is not
    supported)."""

    name = "bidirectional"

    def __init__(self, layer: Recurrent, merge_mode: str = "concat", **keras: Any) -> None:
        if not isinstance(layer, Recurrent) or isinstance(layer, Bidirectional):
            raise TypeError(f"layer: expected an fr.nn LSTM, GRU or SimpleRNN, got {type(layer).__name__}")
        if layer.options.get("bidirectional"):
            raise ValueError("layer: already bidirectional (bidirectional=True)")
        if merge_mode not in _options.MERGE_MODES:
            raise ValueError(
                f"merge_mode: expected one of {', '.join(_options.MERGE_MODES)}, got {merge_mode!r}"
            )
        self.inner = layer
        if layer.declared_input_shape is not None:
            keras.setdefault("input_shape", layer.declared_input_shape)
        options = {**layer.options, "bidirectional": True, "merge_mode": merge_mode}
        super().__init__(
            layer.cell_class, layer.units, layer.return_sequences, layer.return_state, **keras, **options
        )

    def get_config(self) -> dict[str, Any]:
        config = {"layer": serialize(self.inner), "merge_mode": self.options["merge_mode"]}
        if (
            self.declared_input_shape is not None
            and self.declared_input_shape != self.inner.declared_input_shape
        ):
            config["input_shape"] = list(self.declared_input_shape)
        if "name" in self.__dict__:
            config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str) -> Layer:
        config = dict(config)
        inner = deserialize(config.pop("layer", None), where)
        try:
            return cls(inner, **config)  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: Bidirectional: {err}") from None


class InputLayer(Layer):
    """The layer behind ``Input(shape=...)``: it gives the shape of one sample (in a `Sequential` list,
    Keras 3's preferred form of input_shape=) and starts a functional model."""

    name = "input_layer"
    supports_masking = True

    def __init__(self, shape: Any = None, dtype: Any = None, **keras: Any) -> None:
        self._keras_arguments(input_shape=shape, **keras)
        if self.declared_input_shape is None:
            raise ValueError("shape: expected the shape of one sample, e.g. Input(shape=(3, 1))")
        self.dtype = "float32" if dtype is None else np.dtype(dtype).name

    def forward(self, x: Array, training: bool) -> Array:
        return x

    def backward(self, dy: Array) -> Array:
        return dy


def Input(  # noqa: N802 - Keras's name
    shape: Any = None, batch_size: int | None = None, name: str | None = None, dtype: Any = None
) -> KerasTensor:
    """Keras's ``Input(shape=(3, 1))``: a symbolic tensor for samples of `shape` (without the batch;
    None for any number of steps). The start of a functional model (``x = Input(shape=(None,),
    dtype="int64")``, ``y = Dense(1)(LSTM(8)(x))``, ``Model(x, y)``), or the first entry of a
    `Sequential` list (``Sequential([Input(shape=(3, 1)), LSTM(50), Dense(1)])``)."""
    layer = InputLayer(shape, name=name, dtype=dtype)
    unique_name(layer)
    node = Node(layer, [], 0, False, {})
    declared = layer.declared_input_shape or ()
    tensor = KerasTensor((batch_size,) + tuple(declared), layer.dtype, node, 0, layer.name)
    node.outputs = [tensor]
    return tensor


# The classes a saved model may name (`serialize` / `deserialize`).
LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Dense, Activation, Embedding, Masking, Dropout, Flatten, RepeatVector, TimeDistributed)
}
LAYER_CLASSES["Recurrent"] = Recurrent
LAYER_CLASSES["Bidirectional"] = Bidirectional


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class": ..., "config": ...}`` of a layer of `LAYER_CLASSES`; TypeError for others."""
    name = type(layer).__name__
    if LAYER_CLASSES.get(name) is not type(layer):
        raise TypeError(f"save: {name} is not one of fr.nn's layers ({', '.join(LAYER_CLASSES)})")
    return {"class": name, "config": layer.get_config()}


def deserialize(record: object, where: str) -> Layer:
    """The layer of a `serialize` record from a file, every value checked; ValueError naming where."""
    if not isinstance(record, dict) or set(record) != {"class", "config"}:
        raise ValueError(f"{where}: a layer entry must be {{'class': ..., 'config': ...}}")
    name, config = record["class"], record["config"]
    if not isinstance(name, str) or name not in LAYER_CLASSES:
        raise ValueError(f"{where}: unknown layer class {str(name)[:60]!r}")
    if not isinstance(config, dict):
        raise ValueError(f"{where}: {name}: config: expected a JSON object")
    return LAYER_CLASSES[name].from_config(config, where)


def LSTM(units: int, return_sequences: bool = False, return_state: bool = False, **options: Any) -> Recurrent:  # noqa: N802 - Keras's name
    """A `Recurrent` layer around `fusedrnn.LSTM` (Keras's ``LSTM(units, return_sequences=...)``).

    Parameters
    ----------
    units : int
        H, the hidden units.
    return_sequences : bool
        True: every step's output [N, T, D*H]; False: the top layer's last output [N, D*H].
    return_state : bool
        Called on arrays, return ``[output, *final states]`` (Keras's return_state).
    **options
        Any other `fusedrnn.LSTM` argument (activation, num_layers, bidirectional, dropout, ...;
        ``compute_dtype="bfloat16"`` trains with bf16 products).

    Returns
    -------
    Recurrent
    """
    return Recurrent(recurrent_layers.LSTM, units, return_sequences, return_state, **options)


def GRU(units: int, return_sequences: bool = False, return_state: bool = False, **options: Any) -> Recurrent:  # noqa: N802
    """A `Recurrent` layer around `fusedrnn.GRU` (Keras's ``GRU(units, return_sequences=...)``).

    Parameters
    ----------
    units : int
        H, the hidden units.
    return_sequences : bool
        True: every step's output [N, T, D*H]; False: the top layer's last output [N, D*H].
    return_state : bool
        Called on arrays, return ``[output, *final states]`` (Keras's return_state).
    **options
        Any other `fusedrnn.GRU` argument (activation, reset_after, num_layers, bidirectional, ...;
        ``compute_dtype="bfloat16"`` trains with bf16 products).

    Returns
    -------
    Recurrent
    """
    return Recurrent(recurrent_layers.GRU, units, return_sequences, return_state, **options)


def SimpleRNN(
    units: int, return_sequences: bool = False, return_state: bool = False, **options: Any
) -> Recurrent:  # noqa: N802
    """A `Recurrent` layer around `fusedrnn.RNN` (Keras's ``SimpleRNN(units, return_sequences=...)``).

    Parameters
    ----------
    units : int
        H, the hidden units.
    return_sequences : bool
        True: every step's output [N, T, D*H]; False: the top layer's last output [N, D*H].
    return_state : bool
        Called on arrays, return ``[output, *final states]`` (Keras's return_state).
    **options
        Any other `fusedrnn.RNN` argument (nonlinearity or activation, num_layers, bidirectional, ...;
        ``compute_dtype="bfloat16"`` trains with bf16 products).

    Returns
    -------
    Recurrent
    """
    return Recurrent(recurrent_layers.RNN, units, return_sequences, return_state, **options)
