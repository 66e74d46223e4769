"""Ragged data: a list of sequences of different lengths to one padded array and its lengths, the input
the layers' ``lengths=`` argument takes (torch's pad_sequence plus the lengths pack_padded_sequence
needs; Keras's pad_sequences with padding="post")."""

from __future__ import annotations

import numpy as np

from ._validation import kernel_dtype

__all__ = ["pad_sequences"]


def pad_sequences(sequences, batch_first=False, padding_value=0.0, dtype=np.float32):
    """``padded, lengths`` from sequences [T_n, C] (or [T_n] for one feature): padded is [T, N, C]
    (``[N, T, C]`` with batch_first) with T the longest length, each sequence at the start of its column
    and ``padding_value`` after it; lengths is int64 [N]. Every sequence needs at least one step, and all
    the same feature count. ``fr.LSTM(...)(padded, lengths=lengths)`` then ignores the padding."""
    dtype = kernel_dtype(dtype)
    if isinstance(sequences, np.ndarray) or not hasattr(sequences, "__len__") or len(sequences) == 0:
        raise TypeError("sequences: expected a non-empty list of arrays [T_n, C] (or [T_n])")
    arrays = []
    for n, seq in enumerate(sequences):
        a = np.asarray(seq)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"sequences[{n}]: expected a real-valued array, got dtype {a.dtype}")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f"sequences[{n}]: expected shape [T_n >= 1, C] or [T_n], got {np.shape(seq)}")
        if arrays and a.shape[1] != arrays[0].shape[1]:
            raise ValueError(f"sequences[{n}]: has {a.shape[1]} features, "
                             f"sequences[0] has {arrays[0].shape[1]}")  # fmt: skip
        arrays.append(a)
    lengths = np.array([a.shape[0] for a in arrays], np.int64)
    padded = np.full((int(lengths.max()), len(arrays), arrays[0].shape[1]), padding_value, dtype)
    for n, a in enumerate(arrays):
        padded[: a.shape[0], n] = a
    return (padded.transpose(1, 0, 2).copy() if batch_first else padded), lengths
