"""The one call path from Python to the kernels' prepared plans (``_core.Plan``): a stack's sizes, the
plan made from them, the arrays' layouts (time-major inside, the caller's outside), the state pairs and
output buffers, and one forward / backward on a plan.

`fusedrnn.functional` (a plan per call) and the layer classes (a plan per layer) both run through
`run_forward` and `run_backward`; nothing else calls ``Plan.forward`` / ``Plan.backward`` but a layer's
eval-mode `step`, which hands the plan arrays already in its layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._cells import Cell
from ._typing import FloatArray
from ._validation import (
    SIZE_LIMITS,
    check_shape,
    dropout_masks,
    lengths_array,
    real_array,
    recurrent_dropout_masks,
)

__all__ = [
    "Sizes",
    "StatePair",
    "external_layout",
    "new_plan",
    "output_buffer",
    "pair",
    "run_backward",
    "run_forward",
    "state",
    "time_major",
]

# The states a forward starts from / a backward ends at: (h0, c0) or (dh_n, dc_n), either part None.
StatePair: TypeAlias = tuple[ArrayLike | None, ArrayLike | None]


class Sizes(NamedTuple):
    input_size: int
    hidden_size: int
    num_layers: int
    directions: int
    dtype: np.dtype[Any]
    proj_size: int = 0  # LSTM projection P (0: none)

    @property
    def state_size(self) -> int:
        """The width of h: P with a projection, else H."""
        return self.proj_size or self.hidden_size


def new_plan(
    cell: Cell,
    sizes: Sizes,
    bias: bool,
    activations: tuple[str, str],
    weight_format: str = "fp32",
    compute_dtype: str = "float32",
) -> _core.Plan:
    """The prepared plan of a stack; activations is (activation, recurrent_activation), weight_format
    the products' weights ("fp32", or "bf16" / "int8" for a quantized layer), compute_dtype "float32"
    or "bfloat16" (every product's operands rounded to bf16: mixed-precision training)."""
    return _core.Plan(
        cell.name,
        sizes.input_size,
        sizes.hidden_size,
        sizes.num_layers,
        sizes.directions == 2,
        bias,
        sizes.dtype.name,
        *activations,
        sizes.proj_size,
        weight_format,
        compute_dtype,
    )


def time_major(x: ArrayLike, sizes: Sizes, batch_first: bool) -> tuple[FloatArray, bool]:
    """x as a C-contiguous [T,N,C] array, and whether it was unbatched."""
    if isinstance(x, np.ndarray) and x.ndim == 3:
        # T*N past the kernels' limit is refused before x is converted or transposed (a copy of the size
        # of x, which such an x makes large).
        T, N = (x.shape[1], x.shape[0]) if batch_first else x.shape[:2]
        if T * N > SIZE_LIMITS["size"]:
            raise ValueError(f"x: T*N = {T}*{N} is above the supported limit {SIZE_LIMITS['size']}")
    x = real_array(x, "x", sizes.dtype)
    C = sizes.input_size
    if x.ndim == 2:
        check_shape(x, "x", (x.shape[0], C), "= [T, C] (unbatched)")
        return x[:, None, :], True
    if x.ndim != 3:
        raise ValueError(f"x: expected a 3-D [T, N, {C}] or 2-D [T, {C}] array, got shape {x.shape}")
    layout = "[N, T, C] (batch_first)" if batch_first else "[T, N, C]"
    check_shape(x, "x", (x.shape[0], x.shape[1], C), f"= {layout}")
    if batch_first:
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    return x, False


def state(value: ArrayLike | None, name: str, sizes: Sizes, batch: int, unbatched: bool) -> FloatArray | None:
    """A state (h0 / c0 / dh_n / dc_n) as a C-contiguous [L*D,N,H] array, or None (h0 / dh_n are P wide
    with a projection)."""
    if value is None:
        return None
    value = real_array(value, name, sizes.dtype)
    LD = sizes.num_layers * sizes.directions
    H = sizes.state_size if name in ("h0", "dh_n") else sizes.hidden_size
    if unbatched:
        check_shape(value, name, (LD, H), "= [num_layers * num_directions, H] (unbatched input)")
        return value[:, None, :]
    check_shape(value, name, (LD, batch, H), "= [num_layers * num_directions, N, H]")
    return value


def pair(value: Any, name: str, names: tuple[str, str]) -> Sequence[Any]:
    """(first, second) from None or a 2-sequence; a TypeError naming ``name`` otherwise."""
    if value is None:
        return None, None
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = type(value).__name__ + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise TypeError(f"{name}: expected None or a pair ({names[0]}, {names[1]}) of arrays, got {got}")
    return value


def external_layout(array: FloatArray, unbatched: bool, batch_first: bool) -> FloatArray:
    """Undoes time_major for an output [T,N,X]."""
    if unbatched:
        return array[:, 0]
    return array.transpose(1, 0, 2) if batch_first else array


def output_buffer(
    out: FloatArray | None, unbatched: bool, batch_first: bool, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> FloatArray | None:
    """The user's ``out`` array as the plan's time-major y, or None (the plan allocates y)."""
    if out is None:
        return None
    if batch_first and not unbatched:
        raise ValueError("out: not supported with batch_first=True (y is computed time-major)")
    if not isinstance(out, np.ndarray) or out.dtype != dtype or not out.flags.c_contiguous:
        raise TypeError(f"out: expected a C-contiguous {dtype} numpy array")
    check_shape(out, "out", shape, "(the shape of y)")
    return out[:, None, :] if unbatched else out


def run_forward(
    plan: _core.Plan,
    cell: Cell,
    sizes: Sizes,
    x: ArrayLike,
    h0: ArrayLike | None,
    c0: ArrayLike | None,
    batch_first: bool,
    training: bool,
    keep_packs: bool,
    out: FloatArray | None = None,
    lengths: ArrayLike | None = None,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    recurrent_dropout: float = 0.0,
) -> tuple[
    FloatArray,
    FloatArray,
    FloatArray | None,
    bool,
    tuple[int, ...],
    tuple[FloatArray | None, FloatArray | None],
]:
    """One stacked forward on a plan; returns y, h_n, c_n (or None) in the caller's layout, the layout
    facts (unbatched, y_shape) a backward needs and the masks used: (dropout masks [L-1, T, N, D*H]
    time-major, recurrent masks [L*D, N, H]), each or None."""
    x, unbatched = time_major(x, sizes, batch_first)
    T, N, _ = x.shape
    lengths = lengths_array(lengths, N, T, unbatched)
    masks = recurrent = None
    if training:
        DS = sizes.directions * sizes.state_size
        masks = dropout_masks(rng, dropout, sizes.num_layers, T, N, DS, sizes.dtype)
        slots = sizes.num_layers * sizes.directions
        recurrent = recurrent_dropout_masks(rng, recurrent_dropout, slots, N, sizes.state_size, sizes.dtype)
    h0 = state(h0, "h0", sizes, N, unbatched)
    c0 = state(c0, "c0", sizes, N, unbatched) if cell.has_cell_state else None
    DH = sizes.directions * sizes.state_size
    y_shape = (T, DH) if unbatched else ((N, T, DH) if batch_first else (T, N, DH))
    out = output_buffer(out, unbatched, batch_first, y_shape, sizes.dtype)
    y, h_n, c_n = plan.forward(x, h0, c0, training, keep_packs, out, lengths, masks, recurrent)
    y = external_layout(y, unbatched, batch_first)
    if unbatched:
        h_n = h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    return y, h_n, c_n, unbatched, y_shape, (masks, recurrent)


def run_backward(
    plan: _core.Plan,
    cell: Cell,
    sizes: Sizes,
    batch_first: bool,
    unbatched: bool,
    y_shape: tuple[int, ...],
    dy: ArrayLike | None,
    dh_n: ArrayLike | None,
    dc_n: ArrayLike | None,
    grads: Sequence[FloatArray] | None,
    accumulate: bool,
) -> tuple[FloatArray, FloatArray, FloatArray | None, list[FloatArray]]:
    """The stacked BPTT of the plan's pending forward; returns dx, dh0, dc0 (or None), grads (list)."""
    if dy is not None:
        dy = real_array(dy, "dy", sizes.dtype)
        check_shape(dy, "dy", y_shape, "(the shape of the forward's output y)")
        if unbatched:
            dy = dy[:, None, :]
        elif batch_first:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
    N = 1 if unbatched else y_shape[1 if not batch_first else 0]
    dh_n = state(dh_n, "dh_n", sizes, N, unbatched)
    dc_n = state(dc_n, "dc_n", sizes, N, unbatched) if cell.has_cell_state else None
    dx, dh0, dc0, grads = plan.backward(dy, dh_n, dc_n, grads, accumulate)
    dx = external_layout(dx, unbatched, batch_first)
    if unbatched:
        dh0 = dh0[:, 0]
        dc0 = None if dc0 is None else dc0[:, 0]
    return dx, dh0, dc0, grads
