"""Flat parameter and gradient buffers of a layer, an `fr.nn` model or a fitted `fr.sklearn` estimator.

The order is fixed and documented (`parameter_names`):

- a fusedrnn layer (`fr.LSTM` / `GRU` / `RNN`): `named_parameters()` order (PyTorch's), each gradient
  taken from ``layer.grads`` by the same name;
- an `fr.nn.Sequential`: its layers in order; a recurrent layer's parameters in its fusedrnn layer's
  `named_parameters()` order (gradients by name), any other layer's in `parameters()` order with
  `gradients()` (which the toolkit documents to be in the same order);
- a fitted `fr.sklearn` estimator: its ``model_`` (a Sequential).

The per-name arrays are *not* views of one buffer (a layer owns its parameter storage and its kernels'
plan reads it; making it a view is the layer's business): the helpers copy into a flat buffer
(`flat_parameters`, `flat_gradients`, reusing ``out=``) and back (`set_flat_parameters`,
`set_flat_gradients`). The copies cost one memcpy of the parameters each way: about 1 us per 4 kB, far
below a training step (tens of ms for 18k parameters), and no more than one MPI Allreduce of the buffer
itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "flat_gradients",
    "flat_parameters",
    "parameter_names",
    "set_flat_gradients",
    "set_flat_parameters",
]

Array = NDArray[Any]
# (name, parameter array, gradient array or None)
_Entry = tuple[str, Array, Array | None]


def _is_layer(obj: object) -> bool:
    from ..layers import GRU, LSTM, RNN

    return isinstance(obj, (LSTM, GRU, RNN))


def _model_of(obj: Any) -> Any:
    """The object whose parameters are flattened: a layer or a Sequential (an estimator's model_)."""
    from ..nn import Sequential

    if _is_layer(obj) or isinstance(obj, Sequential):
        return obj
    model = getattr(obj, "model_", None)
    if isinstance(model, Sequential):
        return model
    raise TypeError(
        "expected a fusedrnn layer (fr.LSTM/GRU/RNN), an fr.nn.Sequential or a fitted fr.sklearn "
        f"estimator, got {type(obj).__name__}"
    )


def _entries(obj: Any) -> list[_Entry]:
    from ..nn import Recurrent

    model = _model_of(obj)
    if _is_layer(model):
        grads = model.grads
        return [(name, p, grads.get(name)) for name, p in model.named_parameters()]
    if model.built_for is None:
        raise RuntimeError("the model is not built yet (build, fit or predict it first)")
    entries: list[_Entry] = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Recurrent):
            grads = layer.layer.grads
            entries += [(f"{i}.{name}", p, grads.get(name)) for name, p in layer.layer.named_parameters()]
        else:
            params, layer_grads = layer.parameters(), layer.gradients()
            gs: list[Array | None] = (
                list(layer_grads) if len(layer_grads) == len(params) else [None] * len(params)
            )
            entries += [(f"{i}.{j}", p, g) for j, (p, g) in enumerate(zip(params, gs, strict=True))]
    return entries


def _dtype(entries: list[_Entry]) -> np.dtype[Any]:
    if not entries:
        return np.dtype(np.float32)
    return np.dtype(np.result_type(*[p.dtype for _, p, _ in entries]))


def parameter_names(obj: Any) -> list[tuple[str, tuple[int, ...]]]:
    """The names and shapes of the flat buffers' pieces, in their order.

    Parameters
    ----------
    obj : layer, fr.nn.Sequential or fitted fr.sklearn estimator

    Returns
    -------
    list of (str, tuple of int)
        A layer's names are PyTorch's (``weight_ih_l0``...); a Sequential's are ``"{layer index}.{name}"``
        (a recurrent layer's PyTorch names, else the index in the layer's `parameters()`).
    """
    return [(name, tuple(p.shape)) for name, p, _ in _entries(obj)]


def _buffer(entries: list[_Entry], out: Array | None) -> Array:
    size = sum(p.size for _, p, _ in entries)
    if out is None:
        return np.empty(size, _dtype(entries))
    if out.ndim != 1 or out.size != size or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out: expected a writable contiguous 1-D array of {size} elements")
    return out


def flat_parameters(obj: Any, out: Array | None = None) -> Array:
    """A copy of every parameter in one contiguous 1-D array, in `parameter_names` order.

    Parameters
    ----------
    obj : layer, fr.nn.Sequential or fitted fr.sklearn estimator
    out : numpy.ndarray, optional
        A writable contiguous 1-D buffer of the right size to fill (reused across steps).

    Returns
    -------
    numpy.ndarray
        The buffer, in the parameters' dtype (the widest one if they differ).
    """
    entries = _entries(obj)
    flat = _buffer(entries, out)
    offset = 0
    for _, p, _ in entries:
        flat[offset : offset + p.size] = p.reshape(-1)
        offset += p.size
    return flat


def flat_gradients(obj: Any, out: Array | None = None) -> Array:
    """A copy of every parameter's gradient in one contiguous 1-D array, in `parameter_names` order
    (zeros where a parameter has no gradient array, e.g. a layer made by ``quantized()``).

    Parameters
    ----------
    obj : layer, fr.nn.Sequential or fitted fr.sklearn estimator
    out : numpy.ndarray, optional
        A writable contiguous 1-D buffer of the right size to fill (reused across steps).

    Returns
    -------
    numpy.ndarray
    """
    entries = _entries(obj)
    flat = _buffer(entries, out)
    offset = 0
    for _, p, g in entries:
        flat[offset : offset + p.size] = 0 if g is None else g.reshape(-1)
        offset += p.size
    return flat


def _check_flat(entries: list[_Entry], flat: ArrayLike, what: str) -> Array:
    array = np.asarray(flat)
    size = sum(p.size for _, p, _ in entries)
    if array.ndim != 1 or array.size != size:
        raise ValueError(f"{what}: expected a 1-D array of {size} elements, got shape {array.shape}")
    return array


def split_flat(flat: Array, like: Sequence[Array]) -> list[Array]:
    """A flat buffer cut into arrays shaped and typed like those of `like`, in order (copies)."""
    pieces, offset = [], 0
    for a in like:
        pieces.append(flat[offset : offset + a.size].reshape(a.shape).astype(a.dtype))
        offset += a.size
    return pieces


def set_flat_parameters(obj: Any, flat: ArrayLike) -> None:
    """Copies a flat buffer (as `flat_parameters` makes) into the parameters, in any mode.

    A layer's parameters go through `load_state_dict` (it waits for calls running in other threads); a
    Sequential's through `set_parameters` (which puts its layers in training mode, as the toolkit does).
    """
    entries = _entries(obj)
    array = _check_flat(entries, flat, "flat")
    pieces = split_flat(array, [p for _, p, _ in entries])
    model = _model_of(obj)
    if _is_layer(model):
        model.load_state_dict({name: piece for (name, _, _), piece in zip(entries, pieces, strict=True)})
    else:
        model.set_parameters(pieces)


def set_flat_gradients(obj: Any, flat: ArrayLike) -> None:
    """Copies a flat buffer (as `flat_gradients` makes, e.g. after an allreduce) into the gradient
    arrays, in place (the arrays the optimizers and `layer.grads` hold stay the same objects)."""
    entries = _entries(obj)
    array = _check_flat(entries, flat, "flat")
    offset = 0
    for name, p, g in entries:
        if g is None:
            raise ValueError(f"{name}: this parameter has no gradient array (an inference-only layer?)")
        g[...] = array[offset : offset + p.size].reshape(p.shape)
        offset += p.size
