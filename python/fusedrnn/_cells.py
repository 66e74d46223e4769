"""Per-cell facts for the Python side, read from the C++ traits (``_core.cells``), and the maps from
PyTorch's gate order (ours) to the other formats' orders.

The one place outside C++ that knows a cell's gates: the layers, the functional API, the Keras and ONNX
mappings, the initialisers and the timing helpers read them here. Gate blocks are ``H`` rows each of a
PyTorch-layout matrix ``[G*H, ...]`` (or ``H`` entries of a bias ``[G*H]``); an order below lists, for
each block of the other format, the PyTorch block it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from . import _core

__all__ = [
    "CELLS",
    "GRU",
    "GRU_RESET_BEFORE",
    "LSTM_LAYER_NORM",
    "KERAS_ORDER",
    "LSTM",
    "ONNX_ORDER",
    "RNN",
    "Cell",
    "forget_gate",
    "from_keras_blocks",
    "gates",
    "inverse",
    "keras_kind",
    "layer_norm_initial",
    "reorder_blocks",
    "to_keras_blocks",
]


class Cell(NamedTuple):
    """What the Python side knows of a cell: the C++ traits, as exported by ``_core.cells``."""

    name: str  # the _core.Plan cell name
    gates: int
    has_cell_state: bool
    saves_gates: bool
    saves_per_unit: bool
    input_fusable: bool


CELLS: dict[str, Cell] = {name: Cell(**facts) for name, facts in _core.cells.items()}
LSTM = CELLS["lstm"]
GRU = CELLS["gru"]
GRU_RESET_BEFORE = CELLS["gru_reset_before"]
LSTM_LAYER_NORM = CELLS["lstm_layer_norm"]
RNN = CELLS["rnn"]


def gates(cell: str) -> int:
    """G, the gate blocks of a cell ("lstm" and "lstm_layer_norm" 4, "gru" and "gru_reset_before" 3,
    "rnn" 1)."""
    return CELLS[cell].gates


# Keras orders LSTM gates i, f, c, o (ours: i, f, g, o) and GRU gates z, r, h (ours: r, z, n).
KERAS_ORDER: dict[str, tuple[int, ...]] = {"lstm": (0, 1, 2, 3), "gru": (1, 0, 2), "rnn": (0,)}
# ONNX orders LSTM gates i, o, f, c and GRU gates z, r, h.
ONNX_ORDER: dict[str, tuple[int, ...]] = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn": (0,)}
# LSTM's forget gate f is its second block (i, f, g, o): Keras's unit_forget_bias sets it to 1.
_FORGET_BLOCK = 1


def inverse(order: Sequence[int]) -> tuple[int, ...]:
    """The order that undoes ``order`` (other format -> PyTorch when order is PyTorch -> other)."""
    return tuple(int(k) for k in np.argsort(order))


def reorder_blocks(matrix: NDArray[Any], H: int, order: Sequence[int], axis: int = 0) -> NDArray[Any]:
    """The gate blocks of ``matrix`` (each H long along ``axis``) in ``order``."""
    blocks = [np.take(matrix, np.arange(k * H, (k + 1) * H), axis=axis) for k in order]
    return np.concatenate(blocks, axis=axis)


def keras_kind(cell: str) -> str:
    """The key of `KERAS_ORDER` / `ONNX_ORDER` for a cell: both GRU forms order their gates alike."""
    return "gru" if cell == "gru_reset_before" else cell


def to_keras_blocks(matrix: NDArray[Any], H: int, kind: str) -> NDArray[Any]:
    """A PyTorch-layout weight [G*H, X] (or bias [G*H]) as Keras stores it: transposed to [X, G*H], gate
    blocks in Keras's order; a new C-contiguous array."""
    return np.ascontiguousarray(reorder_blocks(np.asarray(matrix), H, KERAS_ORDER[kind]).T)


def from_keras_blocks(matrix: NDArray[Any], H: int, kind: str) -> NDArray[Any]:
    """A Keras weight [X, G*H] (or bias [G*H]) in PyTorch's layout and order (inverse of to_keras_blocks)."""
    reordered = reorder_blocks(np.asarray(matrix), H, inverse(KERAS_ORDER[kind]), axis=-1)
    return np.ascontiguousarray(reordered.T)


def forget_gate(cell: str, hidden_size: int) -> slice | None:
    """The rows of the forget gate in a cell's gate-stacked bias or weight, or None (no forget gate)."""
    if cell not in ("lstm", "lstm_layer_norm"):
        return None
    return slice(_FORGET_BLOCK * hidden_size, (_FORGET_BLOCK + 1) * hidden_size)


def layer_norm_initial(name: str) -> float | None:
    """The initial value of a layer-normalised LSTM's norm parameter (its gains 1, the cell norm's bias
    0; ``layernorm_{ih,hh,c}_weight_l{k}``, ``layernorm_c_bias_l{k}``), or None for any other parameter."""
    if not name.startswith("layernorm_"):
        return None
    return 0.0 if name.startswith("layernorm_c_bias") else 1.0
