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

import numpy as np

__all__ = ["SCHEMES", "glorot_uniform_", "identity_", "normal_", "orthogonal_", "uniform_", "zeros_"]

SCHEMES = ("torch", "keras", "identity", "orthogonal")


def _target(array, name="array"):
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float numpy array, got {type(array).__name__}")
    if not array.flags.writeable:
        raise ValueError(f"{name}: the array is read-only (eval mode? call train() first)")
    return array


def _rng(rng):
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as err:
        raise type(err)(f"rng: expected None, an int >= 0 or a numpy Generator: {err}") from err


def uniform_(array, low=0.0, high=1.0, rng=None):
    a = _target(array)
    a[...] = _rng(rng).uniform(low, high, size=a.shape)
    return a


def normal_(array, mean=0.0, std=1.0, rng=None):
    a = _target(array)
    a[...] = _rng(rng).normal(mean, std, size=a.shape)
    return a


def zeros_(array):
    a = _target(array)
    a[...] = 0
    return a


def glorot_uniform_(array, gain=1.0, rng=None):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Keras's GlorotUniform, torch's
    xavier_uniform_) for a 2-D [out, in] array."""
    a = _target(array)
    if a.ndim != 2:
        raise ValueError(f"array: expected a 2-D [out, in] array, got shape {a.shape}")
    bound = gain * np.sqrt(6.0 / (a.shape[0] + a.shape[1]))
    a[...] = _rng(rng).uniform(-bound, bound, size=a.shape)
    return a


def orthogonal_(array, gain=1.0, rng=None):
    """A (semi-)orthogonal matrix times gain (orthonormal rows or columns, whichever are fewer), from the
    QR decomposition of a Gaussian matrix with the signs fixed (Saxe et al. 2014; torch's orthogonal_)."""
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


def identity_(array, gain=1.0):
    """gain times the identity (ones on the diagonal of a 2-D array)."""
    a = _target(array)
    if a.ndim != 2:
        raise ValueError(f"array: expected a 2-D array, got shape {a.shape}")
    a[...] = 0
    np.fill_diagonal(a, gain)
    return a


def apply_scheme(layer, scheme, rng):
    """Re-initialises a layer's parameters by `scheme` (the layers' ``init=``; "torch" leaves PyTorch's
    U(-1/sqrt(H), 1/sqrt(H)) in place)."""
    if scheme == "torch":
        return
    H = layer.hidden_size
    forget = getattr(layer, "_cell", "") == "lstm"
    for name, value in layer._params.items():
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
            if scheme == "keras" and forget and name.startswith("bias_ih"):
                work[H : 2 * H] = 1.0  # Keras's unit_forget_bias (gates i, f, g, o)
        elif name.startswith("weight_hr") and scheme == "keras":
            glorot_uniform_(work, rng=rng)
        value[...] = work
