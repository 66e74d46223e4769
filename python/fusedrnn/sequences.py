"""Ragged data: a list of sequences of different lengths to one padded array and its lengths, the input
the layers' ``lengths=`` argument takes (torch's pad_sequence plus the lengths pack_padded_sequence
needs; Keras's pad_sequences with padding="post")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._typing import FloatArray
from ._validation import kernel_dtype

__all__ = ["pad_sequences"]


def pad_sequences(
    sequences: Sequence[ArrayLike],
    batch_first: bool = False,
    padding_value: float = 0.0,
    dtype: DTypeLike = np.float32,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """One padded array and the lengths from sequences of different lengths.

    ``fr.LSTM(...)(padded, lengths=lengths)`` then ignores the padding.

    Parameters
    ----------
    sequences : sequence of array_like
        A non-empty list of sequences [T_n, C] (or [T_n] for one feature), each with at least one step,
        all with the same feature count.
    batch_first : bool
        padded is [N, T, C] instead of [T, N, C].
    padding_value : float
        The value after each sequence's end.
    dtype : {numpy.float32, numpy.float64}
        The dtype of padded.

    Returns
    -------
    padded : numpy.ndarray
        [T, N, C] ([N, T, C] with batch_first), T the longest length, each sequence at the start of its
        column and padding_value after it.
    lengths : numpy.ndarray
        int64 [N], each sequence's length.

    Raises
    ------
    TypeError
        sequences is not a non-empty list, or a sequence is not real-valued.
    ValueError
        A sequence with no steps, more than 2 dimensions or another feature count.

    Examples
    --------
    >>> padded, lengths = fr.pad_sequences([np.ones((3, 2)), np.ones((5, 2))])
    >>> padded.shape, lengths
    ((5, 2, 2), array([3, 5]))
    """
    dtype = kernel_dtype(dtype)
    if isinstance(sequences, np.ndarray) or not hasattr(sequences, "__len__") or len(sequences) == 0:
        raise TypeError("sequences: expected a non-empty list of arrays [T_n, C] (or [T_n])")
    arrays: list[np.ndarray[Any, Any]] = []
    for n, seq in enumerate(sequences):
        a = np.asarray(seq)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"sequences[{n}]: expected a real-valued array, got dtype {a.dtype}")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f"sequences[{n}]: expected shape [T_n >= 1, C] or [T_n], got {np.shape(seq)}")
        if arrays and a.shape[1] != arrays[0].shape[1]:
            raise ValueError(
                f"sequences[{n}]: has {a.shape[1]} features, sequences[0] has {arrays[0].shape[1]}"
            )
        arrays.append(a)
    lengths = np.array([a.shape[0] for a in arrays], np.int64)
    padded = np.full((int(lengths.max()), len(arrays), arrays[0].shape[1]), padding_value, dtype)
    for n, a in enumerate(arrays):
        padded[: a.shape[0], n] = a
    return (padded.transpose(1, 0, 2).copy() if batch_first else padded), lengths
