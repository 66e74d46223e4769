"""Attention and the merge layers of an encoder-decoder, with Keras's names and arithmetic.

``Attention()([query, value])`` is Luong's dot-product attention (``score_mode="concat"``: a tanh of the
sum, as Keras's), ``AdditiveAttention()([query, value])`` Bahdanau's additive one; Luong's "general"
score is ``Attention()([query, Dense(units, use_bias=False)(value), value])`` (the key projected).
Shapes: query [N, Tq, D], value [N, Tv, Dv], key [N, Tv, D] (default: value); the output [N, Tq, Dv]
and, with ``return_attention_scores=True``, the weights [N, Tq, Tv] (each row sums to 1).

Every layer computes in float64 when given float64 arrays (the gradient checks) and in float32
otherwise; backward returns the gradient of each input, summing value's two roles when key is value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._validation import flag
from .graph import is_symbolic, symbolic_call
from .layers import LAYER_CLASSES, Array, Layer, Shape

__all__ = ["Add", "AdditiveAttention", "Attention", "Concatenate", "Dot", "add", "concatenate", "dot"]

# Keras's stand-in for -inf under a mask (subtracted from a masked score before the softmax).
_MASKED = 1.0e9


def _float(x: Any) -> Array:
    a = np.asarray(x)
    return a if a.dtype == np.float64 else np.asarray(a, np.float32)


class _Merging(Layer):
    """A layer of several input tensors (a list)."""

    supports_masking = True

    def __call__(self, x: Any, training: bool = False, mask: Any = None, **options: Any) -> Any:
        inputs = x
        if is_symbolic(inputs):
            if mask is not None:
                raise TypeError(f"{self.name}: mask=: masks follow the tensors in a functional model")
            if not isinstance(inputs, (list, tuple)):
                raise TypeError(f"{self.name}: expected a list of tensors")
            return symbolic_call(self, list(inputs), **options)
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"{self.name}: expected a list of arrays, got {type(inputs).__name__}")
        arrays = [np.asarray(x) for x in inputs]
        if self.built_input_shape is None:
            self.build(tuple((None,) + a.shape[1:] for a in arrays), np.random.default_rng())
            self.built_input_shape = tuple((None,) + a.shape[1:] for a in arrays)
        given = [None] * len(arrays) if mask is None else list(mask)
        masks: list[Array | None] = [None if m is None else np.asarray(m, bool) for m in given]
        outs, _ = self.forward_nodes(arrays, masks, len(arrays), True, training, dict(options))
        return outs[0] if len(outs) == 1 else outs

    def forward(self, x: Any, training: bool) -> Any:
        outs, _ = self.forward_nodes(list(x), [None] * len(x), len(x), True, training, {})
        return outs[0]

    def backward(self, dy: Any) -> Any:
        return self.backward_nodes([dy], 0, True, {})


def _combined(masks: Sequence[Array | None]) -> Array | None:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        out = out & m
    return out


class Concatenate(_Merging):
    """Keras's ``Concatenate(axis=-1)([a, b])``: the arrays joined along `axis` (every other dimension
    equal); the output's padding mask is where every input's is real."""

    name = "concatenate"

    def __init__(self, axis: int = -1, **keras: Any) -> None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis: expected an int, got {type(axis).__name__}")
        self.axis = int(axis)
        self._keras_arguments(**keras)

    def output_shapes(
        self, shapes: list[Shape], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Shape]:
        if len(shapes) < 2 or options:
            raise ValueError(f"{self.name}: Concatenate takes a list of at least 2 tensors")
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0 or any(len(s) != rank for s in shapes):
            raise ValueError(f"{self.name}: axis {self.axis} does not fit inputs of shapes {shapes}")
        for s in shapes[1:]:
            for d in range(rank):
                if d != axis and s[d] is not None and shapes[0][d] is not None and s[d] != shapes[0][d]:
                    raise ValueError(f"{self.name}: shapes {shapes} differ outside axis {self.axis}")
        sizes = [s[axis] for s in shapes]
        joined = None if any(v is None for v in sizes) else sum(sizes)
        return [tuple(shapes[0][:axis]) + (joined,) + tuple(shapes[0][axis + 1 :])]

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        return self.output_shapes(list(input_shape), len(input_shape), True, {})[0]

    def forward_nodes(
        self,
        inputs: list[Any],
        masks: list[Array | None],
        main: int,
        as_list: bool,
        training: bool,
        options: dict[str, Any],
    ) -> tuple[list[Any], list[Array | None]]:
        arrays = [_float(x) for x in inputs]
        self.sizes = [a.shape[self.axis] for a in arrays]
        return [np.concatenate(arrays, axis=self.axis)], [_combined(masks)]

    def backward_nodes(
        self, d_outputs: list[Any], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Any]:
        cuts = np.cumsum(self.sizes)[:-1]
        return list(np.split(d_outputs[0], cuts, axis=self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis, **super().get_config()}


class Add(_Merging):
    """Keras's ``Add()([a, b, ...])``: the element-wise sum of arrays of one shape."""

    name = "add"

    def __init__(self, **keras: Any) -> None:
        self._keras_arguments(**keras)

    def output_shapes(
        self, shapes: list[Shape], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Shape]:
        if len(shapes) < 2 or options:
            raise ValueError(f"{self.name}: Add takes a list of at least 2 tensors")
        if any(len(s) != len(shapes[0]) for s in shapes) or any(
            a is not None and b is not None and a != b
            for s in shapes[1:]
            for a, b in zip(s, shapes[0], strict=True)
        ):
            raise ValueError(f"{self.name}: Add takes tensors of one shape, got {shapes}")
        return [tuple(shapes[0])]

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        return self.output_shapes(list(input_shape), len(input_shape), True, {})[0]

    def forward_nodes(
        self,
        inputs: list[Any],
        masks: list[Array | None],
        main: int,
        as_list: bool,
        training: bool,
        options: dict[str, Any],
    ) -> tuple[list[Any], list[Array | None]]:
        arrays = [_float(x) for x in inputs]
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError(f"{self.name}: Add takes arrays of one shape, got {[a.shape for a in arrays]}")
        self.count = len(arrays)
        total = arrays[0].copy()
        for a in arrays[1:]:
            total += a
        return [total], [_combined(masks)]

    def backward_nodes(
        self, d_outputs: list[Any], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Any]:
        return [d_outputs[0]] * self.count


class Dot(_Merging):
    """Keras's ``Dot(axes)([a, b])``: the product of two batches of matrices [N, ., .] summed over
    ``axes`` (a pair, or one int for both; the batch is axis 0), the remaining axis of a then of b:
    ``Dot(axes=[2, 2])([decoder, encoder])`` gives the [N, Tq, Tv] scores of hand-written Luong
    attention, ``Dot(axes=[2, 1])([weights, encoder])`` the context. Two [N, F] batches give [N, 1].
    normalize=True (cosine proximity) is not supported."""

    name = "dot"

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **keras: Any) -> None:
        pair = [axes, axes] if isinstance(axes, (int, np.integer)) else list(axes)
        if len(pair) != 2 or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in pair
        ):
            raise ValueError(f"axes: expected an int or a pair of ints, got {axes!r}")
        if flag(normalize, "normalize"):
            raise NotImplementedError("Dot(normalize=True): not supported (normalize the inputs first)")
        self.axes = [int(a) for a in pair]
        self._keras_arguments(**keras)

    def _resolved(self, shapes: Sequence[Shape]) -> tuple[int, int]:
        if len(shapes) != 2 or len(shapes[0]) != len(shapes[1]) or len(shapes[0]) not in (2, 3):
            raise ValueError(
                f"{self.name}: Dot takes two inputs of shapes [N, F] or [N, ., .], got {list(shapes)}"
            )
        rank = len(shapes[0])
        i, j = (a % rank for a in self.axes)
        if i == 0 or j == 0:
            raise ValueError(f"{self.name}: axes {self.axes}: axis 0 is the batch")
        if shapes[0][i] is not None and shapes[1][j] is not None and shapes[0][i] != shapes[1][j]:
            raise ValueError(f"{self.name}: axes {self.axes} join sizes {shapes[0][i]} and {shapes[1][j]}")
        return i, j

    def output_shapes(
        self, shapes: list[Shape], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Shape]:
        if options:
            raise TypeError(f"{self.name}: unexpected argument {sorted(options)[0]!r}")
        i, j = self._resolved(shapes)
        if len(shapes[0]) == 2:
            return [(shapes[0][0], 1)]
        return [(shapes[0][0], shapes[0][3 - i], shapes[1][3 - j])]

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        return self.output_shapes(list(input_shape), 2, True, {})[0]

    def forward_nodes(
        self,
        inputs: list[Any],
        masks: list[Array | None],
        main: int,
        as_list: bool,
        training: bool,
        options: dict[str, Any],
    ) -> tuple[list[Any], list[Array | None]]:
        a, b = (_float(x) for x in inputs)
        i, j = self._resolved([a.shape, b.shape])
        self.ij = (i, j)
        if a.ndim == 2:
            self.a, self.b = a, b
            return [np.sum(a * b, axis=1, keepdims=True)], [None]
        # a as [N, rest, K], b as [N, K, rest]
        self.a = a if i == 2 else a.transpose(0, 2, 1)
        self.b = b if j == 1 else b.transpose(0, 2, 1)
        return [self.a @ self.b], [None]

    def backward_nodes(
        self, d_outputs: list[Any], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Any]:
        d = d_outputs[0]
        if self.a.ndim == 2:
            return [d * self.b, d * self.a]
        i, j = self.ij
        da = d @ self.b.transpose(0, 2, 1)
        db = self.a.transpose(0, 2, 1) @ d
        return [da if i == 2 else da.transpose(0, 2, 1), db if j == 1 else db.transpose(0, 2, 1)]

    def get_config(self) -> dict[str, Any]:
        return {"axes": list(self.axes), **super().get_config()}


def concatenate(inputs: Sequence[Any], axis: int = -1, **keras: Any) -> Any:
    """Keras's functional form: ``Concatenate(axis)(inputs)``."""
    return Concatenate(axis=axis, **keras)(list(inputs))


def add(inputs: Sequence[Any], **keras: Any) -> Any:
    """Keras's functional form: ``Add()(inputs)``."""
    return Add(**keras)(list(inputs))


def dot(inputs: Sequence[Any], axes: int | Sequence[int], normalize: bool = False, **keras: Any) -> Any:
    """Keras's functional form: ``Dot(axes, normalize)(inputs)``."""
    return Dot(axes, normalize, **keras)(list(inputs))


class Attention(_Merging):
    """Keras's ``Attention(use_scale=False, score_mode="dot", dropout=0.0)``: Luong-style attention.

    Called on ``[query, value]`` or ``[query, value, key]``: the scores are ``query @ key.T`` (times a
    learned scalar `scale`, initially 1, with use_scale), or with ``score_mode="concat"``
    ``c * sum(tanh(scale * (query_i + key_j)))`` (c a learned scalar, initially 1); their softmax
    over the value steps weighs the values. Options of the call, as Keras's: ``mask=[query_mask,
    value_mask]`` ([N, Tq] and [N, Tv], True where a step is real; in a functional model the tensors'
    own padding masks), ``use_causal_mask=True`` (query step i sees value steps <= i: a decoder's
    self-attention), ``return_attention_scores=True`` (returns ``[output, weights]``), ``training``
    (dropout of the weights at rate `dropout`). A query step that is padding outputs zeros."""

    name = "attention"
    score_mode = "dot"

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **keras: Any,
    ) -> None:
        self.use_scale = flag(use_scale, "use_scale")
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"score_mode: expected 'dot' or 'concat', got {score_mode!r}")
        self.score_mode = score_mode
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)):
            raise TypeError(f"dropout: expected a number, got {type(dropout).__name__}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected 0 <= dropout < 1, got {dropout}")
        self.dropout = float(dropout)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed: expected an int >= 0 or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)
        self._keras_arguments(**keras)
        self._make_parameters(None)

    # -- parameters --------------------------------------------------------------------------------

    def _make_parameters(self, dim: int | None, rng: np.random.Generator | None = None) -> None:
        self.scale: Array | None = np.ones((), np.float32) if self.use_scale else None
        self.concat_score_weight: Array | None = (
            np.ones((), np.float32) if self.score_mode == "concat" else None
        )
        self._zero_like_parameters()

    def _zero_like_parameters(self) -> None:
        self.grads = [np.zeros_like(p) for p in self.parameters()]

    def parameters(self) -> list[Array]:
        return [p for p in (self.scale, self.concat_score_weight) if p is not None]

    def parameter_names(self) -> list[str]:
        names = [("scale", self.scale), ("concat_score_weight", self.concat_score_weight)]
        return [name for name, p in names if p is not None]

    def gradients(self) -> list[Array]:
        return self.grads

    def _dims(self, shapes: Sequence[Shape]) -> None:
        if len(shapes) not in (2, 3) or any(len(s) != 3 for s in shapes):
            raise ValueError(
                f"{self.name}: expected [query, value] or [query, value, key] of shapes [N, T, D], got "
                f"{[tuple(s) for s in shapes]}"
            )
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) == 3 else value
        if query[-1] != key[-1]:
            raise ValueError(
                f"{self.name}: query and key need the same last dimension, got {query} and {key}"
            )
        if value[1] is not None and key[1] is not None and value[1] != key[1]:
            raise ValueError(f"{self.name}: value and key need the same steps, got {value} and {key}")

    def plan(self, input_shape: Shape, where: str) -> tuple[Shape, list[tuple[str, tuple[int, ...]]]]:
        shapes = list(input_shape)
        try:
            self._dims(shapes)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        query, value = shapes[0], shapes[1]
        return (query[0], query[1], value[-1]), self._planned(query[-1])

    def _planned(self, dim: int) -> list[tuple[str, tuple[int, ...]]]:
        """The parameters' names and shapes for queries of `dim` features."""
        planned: list[tuple[str, tuple[int, ...]]] = [("scale", ())] if self.use_scale else []
        return planned + ([("concat_score_weight", ())] if self.score_mode == "concat" else [])

    def build(self, input_shape: Shape, rng: np.random.Generator) -> Shape:
        shapes = list(input_shape)
        self._dims(shapes)
        self._make_parameters(shapes[0][-1], rng)
        return (shapes[0][0], shapes[0][1], shapes[1][-1])

    def output_shapes(
        self, shapes: list[Shape], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Shape]:
        unknown = set(options) - {"return_attention_scores", "use_causal_mask"}
        if unknown:
            raise TypeError(f"{self.name}: unexpected argument {sorted(unknown)[0]!r}")
        if not as_list:
            raise TypeError(f"{self.name}: expected a list [query, value] or [query, value, key]")
        self._dims(shapes)
        out = (shapes[0][0], shapes[0][1], shapes[1][-1])
        if options.get("return_attention_scores"):
            return [out, (shapes[0][0], shapes[0][1], shapes[1][1])]
        return [out]

    # -- scores ------------------------------------------------------------------------------------

    def _scores(self, q: Array, k: Array) -> Array:
        if self.score_mode == "dot":
            self.qk = q @ k.transpose(0, 2, 1)
            return self.qk * self.scale if self.scale is not None else self.qk
        self.pair = q[:, :, None, :] + k[:, None, :, :]  # [N, Tq, Tv, D]
        inner = self.pair * self.scale if self.scale is not None else self.pair
        self.tanh = np.tanh(inner)
        self.summed = self.tanh.sum(axis=-1)
        assert self.concat_score_weight is not None
        return self.concat_score_weight * self.summed

    def _scores_backward(self, ds: Array, q: Array, k: Array) -> tuple[Array, Array]:
        if self.score_mode == "dot":
            if self.scale is not None:
                self.grads[0] += np.float32(np.sum(ds * self.qk))
                ds = ds * self.scale
            return ds @ k, ds.transpose(0, 2, 1) @ q
        assert self.concat_score_weight is not None
        self.grads[-1] += np.float32(np.sum(ds * self.summed))
        d_inner = (self.concat_score_weight * ds)[..., None] * (1 - self.tanh**2)
        if self.scale is not None:
            self.grads[0] += np.float32(np.sum(d_inner * self.pair))
            d_inner = d_inner * self.scale
        return d_inner.sum(axis=2), d_inner.sum(axis=1)

    # -- forward and backward ----------------------------------------------------------------------

    def forward_nodes(
        self,
        inputs: list[Any],
        masks: list[Array | None],
        main: int,
        as_list: bool,
        training: bool,
        options: dict[str, Any],
    ) -> tuple[list[Any], list[Array | None]]:
        unknown = set(options) - {"return_attention_scores", "use_causal_mask"}
        if unknown:
            raise TypeError(f"{self.name}: unexpected argument {sorted(unknown)[0]!r}")
        arrays = [_float(x) for x in inputs]
        self._dims([a.shape for a in arrays])
        dtype = np.result_type(*arrays)
        q, v = arrays[0].astype(dtype, copy=False), arrays[1].astype(dtype, copy=False)
        k = arrays[2].astype(dtype, copy=False) if len(arrays) == 3 else v
        self.q, self.v, self.k, self.has_key = q, v, k, len(arrays) == 3
        N, Tq, Tv = q.shape[0], q.shape[1], v.shape[1]
        query_mask = masks[0] if masks else None
        value_mask = masks[1] if len(masks) > 1 else None
        if len(masks) > 2 and masks[2] is not None:
            value_mask = masks[2] if value_mask is None else value_mask & masks[2]
        keep: Array | None = None
        if value_mask is not None:
            value_mask = np.asarray(value_mask, bool)
            if value_mask.shape != (N, Tv):
                raise ValueError(f"{self.name}: value mask: expected shape {(N, Tv)}, got {value_mask.shape}")
            keep = np.broadcast_to(value_mask[:, None, :], (N, Tq, Tv))
        if options.get("use_causal_mask"):
            causal = np.arange(Tq)[:, None] >= np.arange(Tv)[None, :]
            keep = causal[None] if keep is None else keep & causal[None]
        scores = self._scores(q, k).astype(dtype, copy=False)
        if keep is not None:
            scores = scores - _MASKED * (~keep)
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        weights = e / e.sum(axis=-1, keepdims=True)
        self.weights = weights
        self.drop: Array | None = None
        if training and self.dropout > 0:
            self.drop = (self.rng.random(weights.shape) >= self.dropout).astype(dtype) / (1 - self.dropout)
            weights = weights * self.drop
        self.used = weights
        out = weights @ v
        self.query_keep: Array | None = None
        if query_mask is not None:
            query_mask = np.asarray(query_mask, bool)
            if query_mask.shape != (N, Tq):
                raise ValueError(f"{self.name}: query mask: expected shape {(N, Tq)}, got {query_mask.shape}")
            self.query_keep = query_mask[..., None].astype(dtype)
            out = out * self.query_keep
        outputs = [out, weights] if options.get("return_attention_scores") else [out]
        return outputs, [query_mask] + [None] * (len(outputs) - 1)

    def backward_nodes(
        self, d_outputs: list[Any], main: int, as_list: bool, options: dict[str, Any]
    ) -> list[Any]:
        d_out = d_outputs[0]
        d_used = np.zeros_like(self.used)
        dv = np.zeros_like(self.v)
        if d_out is not None:
            if self.query_keep is not None:
                d_out = d_out * self.query_keep
            d_used += d_out @ self.v.transpose(0, 2, 1)
            dv += self.used.transpose(0, 2, 1) @ d_out
        if len(d_outputs) > 1 and d_outputs[1] is not None:
            d_used += d_outputs[1]
        d_weights = d_used if self.drop is None else d_used * self.drop
        w = self.weights
        ds = w * (d_weights - np.sum(d_weights * w, axis=-1, keepdims=True))
        dq, dk = self._scores_backward(ds, self.q, self.k)
        if self.has_key:
            return [dq, dv, dk]
        return [dq, dv + dk]

    def forward(self, x: Any, training: bool) -> Any:
        outs, _ = self.forward_nodes(list(x), [None] * len(x), len(x), True, training, {})
        return outs[0]

    def backward(self, dy: Any) -> Any:
        return self.backward_nodes([dy], 0, True, {})

    def zero_grad(self) -> None:
        for g in self.grads:
            g.fill(0)

    def __call__(self, x: Any, training: bool = False, mask: Any = None, **options: Any) -> Any:
        """On ``[query, value(, key)]`` arrays or symbolic tensors, as Keras's layer call:
        ``return_attention_scores=True`` and ``use_causal_mask=True`` are options of the call."""
        return super().__call__(x, training, mask, **options)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"use_scale": self.use_scale, "score_mode": self.score_mode}
        if self.dropout:
            config["dropout"] = self.dropout
        if self.seed is not None:
            config["seed"] = self.seed
        return {**config, **super().get_config()}

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        super().set_weights(weights)


class AdditiveAttention(Attention):
    """Keras's ``AdditiveAttention(use_scale=True, dropout=0.0)``: Bahdanau-style attention, the
    scores ``sum(scale * tanh(query_i + key_j))`` over the features (`scale` [D], Glorot-uniform, a
    learned vector; without use_scale, ones). The query and key come projected to one size (Dense
    layers before it, as in Keras). The call takes the options of `Attention`."""

    name = "additive_attention"

    def __init__(
        self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None, **keras: Any
    ) -> None:
        super().__init__(use_scale=use_scale, score_mode="dot", dropout=dropout, seed=seed, **keras)

    def _make_parameters(self, dim: int | None, rng: np.random.Generator | None = None) -> None:
        self.concat_score_weight = None
        self.scale = None
        if self.use_scale and dim is not None:
            bound = np.sqrt(6.0 / (2 * dim))  # Glorot-uniform of a [dim] vector: fan in = fan out = dim
            source = rng if rng is not None else np.random.default_rng()
            self.scale = source.uniform(-bound, bound, dim).astype(np.float32)
        self._zero_like_parameters()

    def _planned(self, dim: int) -> list[tuple[str, tuple[int, ...]]]:
        return [("scale", (dim,))] if self.use_scale else []

    def _scores(self, q: Array, k: Array) -> Array:
        self.tanh = np.tanh(q[:, :, None, :] + k[:, None, :, :])  # [N, Tq, Tv, D]
        if self.scale is None:
            return self.tanh.sum(axis=-1)
        return self.tanh @ self.scale.astype(self.tanh.dtype)

    def _scores_backward(self, ds: Array, q: Array, k: Array) -> tuple[Array, Array]:
        if self.scale is None:
            d_inner = ds[..., None] * (1 - self.tanh**2)
        else:
            self.grads[0] += np.einsum("nij,nijd->d", ds, self.tanh).astype(np.float32)
            d_inner = (ds[..., None] * self.scale) * (1 - self.tanh**2)
        return d_inner.sum(axis=2), d_inner.sum(axis=1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("score_mode")
        return config


# The classes a saved model may name (`fusedrnn.nn.layers.serialize` / `deserialize`).
LAYER_CLASSES.update({cls.__name__: cls for cls in (Attention, AdditiveAttention, Concatenate, Add, Dot)})
