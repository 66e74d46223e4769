"""Initialisers for any array, in place (PyTorch's naming: a trailing underscore), and the layers'
``init=`` schemes built from them. Arrays are in PyTorch's layout ``[out, in]`` (fan_in = shape[1],
fan_out = shape[0]); a gate-stacked recurrent matrix ``[G*H, H]`` is treated gate block by gate block
where a scheme says so.

    fr.init.orthogonal_(lstm.weight_hh_l0, rng=0)      # any float array, modified and returned
    fr.LSTM(8, 32, init="keras")                       # Glorot inputs, orthogonal recurrence, forget bias 1
    fr.GRU(8, 32, init="orthogonal")                   # each gate's recurrent block orthogonal
    fr.RNN(1, 100, nonlinearity="relu", init="identity")   # IRNN (Le, Jaitly & Hinton 2015)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ._typing import Seed

__all__ = ["SCHEMES", "glorot_uniform_", "identity_", "normal_", "orthogonal_", "uniform_", "zeros_"]

SCHEMES = ("torch", "keras", "identity", "orthogonal")

# The initialisers return the array they were given, whatever its float dtype.
_Array = TypeVar("_Array", bound=NDArray[np.floating[Any]])


def _target(array: _Array, name: str = "array") -> _Array:
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float numpy array, got {type(array).__name__}")
    if not array.flags.writeable:
        raise ValueError(f"{name}: the array is read-only (eval mode? call train() first)")
    return array


def _rng(rng: Seed) -> np.random.Generator:
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as err:
        raise type(err)(f"rng: expected None, an int >= 0 or a numpy Generator: {err}") from err


def uniform_(array: _Array, low: float = 0.0, high: float = 1.0, rng: Seed = None) -> _Array:
    """Fills `array` in place with U(low, high) samples.

    Parameters
    ----------
    array : numpy.ndarray
        A writable float array.
    low, high : float
        The interval.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source, ``np.random.default_rng(rng)``.

    Returns
    -------
    numpy.ndarray
        `array` itself.

    Raises
    ------
    TypeError
        array is not a float numpy array.
    ValueError
        array is read-only (a layer in eval mode: call train() first).
    """
    a = _target(array)
    a[...] = _rng(rng).uniform(low, high, size=a.shape)
    return a


def normal_(array: _Array, mean: float = 0.0, std: float = 1.0, rng: Seed = None) -> _Array:
    """Fills `array` in place with N(mean, std^2) samples.

    Parameters
    ----------
    array : numpy.ndarray
        A writable float array.
    mean, std : float
        The distribution.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source, ``np.random.default_rng(rng)``.

    Returns
    -------
    numpy.ndarray
        `array` itself.

    Raises
    ------
    TypeError
        array is not a float numpy array.
    ValueError
        array is read-only.
    """
    a = _target(array)
    a[...] = _rng(rng).normal(mean, std, size=a.shape)
    return a


def zeros_(array: _Array) -> _Array:
    """Fills `array` in place with zeros.

    Parameters
    ----------
    array : numpy.ndarray
        A writable float array.

    Returns
    -------
    numpy.ndarray
        `array` itself.

    Raises
    ------
    TypeError
        array is not a float numpy array.
    ValueError
        array is read-only.
    """
    a = _target(array)
    a[...] = 0
    return a


def glorot_uniform_(array: _Array, gain: float = 1.0, rng: Seed = None) -> _Array:
    """Fills a 2-D [out, in] array in place with U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
    (Keras's GlorotUniform, torch's xavier_uniform_).

    Parameters
    ----------
    array : numpy.ndarray
        A writable 2-D float array.
    gain : float
        Scales the bound.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source, ``np.random.default_rng(rng)``.

    Returns
    -------
    numpy.ndarray
        `array` itself.

    Raises
    ------
    TypeError
        array is not a float numpy array.
    ValueError
        array is read-only or not 2-D.
    """
    a = _target(array)
    if a.ndim != 2:
        raise ValueError(f"array: expected a 2-D [out, in] array, got shape {a.shape}")
    bound = gain * np.sqrt(6.0 / (a.shape[0] + a.shape[1]))
    a[...] = _rng(rng).uniform(-bound, bound, size=a.shape)
    return a


def orthogonal_(array: _Array, gain: float = 1.0, rng: Seed = None) -> _Array:
    """Fills `array` in place with a (semi-)orthogonal matrix times gain (orthonormal rows or columns,
    whichever are fewer), from the QR decomposition of a Gaussian matrix with the signs fixed (Saxe et
    al. 2014; torch's orthogonal_). Dimensions past the first are flattened.

    Parameters
    ----------
    array : numpy.ndarray
        A writable float array of at least 2 dimensions.
    gain : float
        Scales the matrix.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source, ``np.random.default_rng(rng)``.

    Returns
    -------
    numpy.ndarray
        `array` itself.

    Raises
    ------
    TypeError
        array is not a float numpy array.
    ValueError
        array is read-only or has fewer than 2 dimensions.

    Examples
    --------
    >>> fr.init.orthogonal_(lstm.weight_hh_l0, rng=0)      # lstm in training mode
    """
    a = _target(array)
    if a.ndim < 2:
        raise ValueError(f"array: expected at least 2 dimensions, got shape {a.shape}")
    rows, cols = a.shape[0], int(np.prod(a.shape[1:]))
    flat = _rng(rng).standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    a[...] = (gain * q).reshape(a.shape)
    return a


def identity_(array: _Array, gain: float = 1.0) -> _Array:
    """Fills a 2-D array in place with gain times the identity (gain on the diagonal, zeros elsewhere).

    Parameters
    ----------
    array : numpy.ndarray
        A writable 2-D float array.
    gain : float
        The diagonal's value.

    Returns
    -------
    numpy.ndarray
        `array` itself.

    Raises
    ------
    TypeError
        array is not a float numpy array.
    ValueError
        array is read-only or not 2-D.
    """
    a = _target(array)
    if a.ndim != 2:
        raise ValueError(f"array: expected a 2-D array, got shape {a.shape}")
    a[...] = 0
    np.fill_diagonal(a, gain)
    return a


def apply_scheme(
    params: Mapping[str, NDArray[Any]],
    hidden_size: int,
    scheme: str,
    rng: np.random.Generator,
    forget_gate: slice | None = None,
) -> None:
    """Re-initialises a stack's parameters (PyTorch's names, gate blocks of hidden_size rows) in place by
    `scheme`, the layers' ``init=``; "torch" leaves PyTorch's U(-1/sqrt(H), 1/sqrt(H)) in place.
    forget_gate: the rows of an LSTM's forget gate, whose input bias "keras" sets to 1."""
    if scheme == "torch":
        return
    H = hidden_size
    for name, value in params.items():
        work = value.astype(np.float64)
        if name.startswith("weight_ih"):
            if scheme == "identity":
                normal_(work, 0.0, 0.001, rng)  # small input weights (IRNN)
            elif scheme == "keras":
                glorot_uniform_(work, rng=rng)
        elif name.startswith("weight_hh"):
            if scheme == "keras":  # Keras: the whole recurrent kernel [S, G*H] orthogonal at once
                orthogonal_(work, rng=rng)
            for g in range(work.shape[0] // H if scheme != "keras" else 0):  # gate by gate: blocks [H, S]
                block = work[g * H : (g + 1) * H]
                if scheme == "identity":
                    identity_(block)
                else:
                    orthogonal_(block, rng=rng)
        elif name.startswith("bias") and scheme in ("keras", "identity"):
            zeros_(work)
            if scheme == "keras" and forget_gate is not None and name.startswith("bias_ih"):
                work[forget_gate] = 1.0  # Keras's unit_forget_bias
        elif name.startswith("weight_hr") and scheme == "keras":
            glorot_uniform_(work, rng=rng)
        value[...] = work
