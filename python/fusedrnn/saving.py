"""Saving and loading layers in a portable, documented format without pickle: a NumPy ``.npz`` archive
with one array per parameter (PyTorch's names, the layer's dtype) and ``__fusedrnn__``, a JSON string of
the format version, the class and the constructor's configuration. ``np.load(path)`` reads it anywhere,
``fr.load(path)`` makes the layer again.

    fr.save(lstm, "model.npz");  lstm2 = fr.load("model.npz")
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from .layers import GRU, LSTM, RNN

__all__ = ["load", "save"]

# A file system path, as np.savez / np.load take it.
PathLike: TypeAlias = "str | os.PathLike[str]"

FORMAT = "fusedrnn-layer"
VERSION = 1
# Constructor arguments saved per class (everything that defines the computation).
_COMMON = (
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
    "recurrent_dropout",
    "init",
    "merge_mode",
)
_BY_CLASS = {
    "LSTM": _COMMON + ("activation", "recurrent_activation", "proj_size"),
    "GRU": _COMMON + ("activation", "recurrent_activation", "reset_after"),
    "RNN": _COMMON + ("nonlinearity",),
}


def _classes() -> dict[str, type[LSTM] | type[GRU] | type[RNN]]:
    from .layers import GRU, LSTM, RNN

    return {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}


def save(layer: LSTM | GRU | RNN, path: PathLike) -> None:
    """Writes a layer to a ``.npz`` file: its configuration, parameters and dtype, whether it was in
    training mode and, for a layer made by ``quantized()``, its weight format (the float32 parameters are
    saved; loading quantises them again, which gives the same weights).

    Parameters
    ----------
    layer : LSTM, GRU or RNN
        The layer.
    path : str or os.PathLike
        The file (NumPy adds the suffix .npz when missing).

    Raises
    ------
    TypeError
        layer is not a fusedrnn LSTM, GRU or RNN.

    Examples
    --------
    >>> fr.save(lstm, "model.npz")
    >>> lstm2 = fr.load("model.npz")
    """
    name = type(layer).__name__
    if name not in _BY_CLASS or not isinstance(layer, tuple(_classes().values())):
        raise TypeError(f"layer: expected a fusedrnn LSTM, GRU or RNN, got {type(layer).__name__}")
    config = {key: getattr(layer, key) for key in _BY_CLASS[name]}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "class": name,
        "dtype": layer.dtype.name,
        "training": layer.training,
        "config": config,
    }
    if layer.weight_format != "fp32":
        header["weight_format"] = layer.weight_format
    # Any: np.savez's stub types its keyword arguments as its own options, not as arrays.
    arrays: dict[str, Any] = {key: np.ascontiguousarray(value) for key, value in layer.state_dict().items()}
    if "__fusedrnn__" in arrays:
        raise ValueError("layer: a parameter is named __fusedrnn__")
    np.savez(os.fspath(path), __fusedrnn__=np.array(json.dumps(header)), **arrays)


def load(path: PathLike) -> LSTM | GRU | RNN:
    """The layer `save` wrote, with the same configuration, parameters, dtype and mode.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.

    Returns
    -------
    LSTM, GRU or RNN

    Raises
    ------
    FileNotFoundError
        No file at path.
    ValueError
        Anything but a layer file of this format (naming path): another format or version, a corrupt
        archive, missing or extra parameters, wrong shapes or dtypes.
    """
    try:
        archive = np.load(os.fspath(path), allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"path: {os.fspath(path)!r} is not a readable .npz archive: {err}") from err
    with archive:
        try:
            header = json.loads(str(archive["__fusedrnn__"][()]))
            arrays = {key: archive[key] for key in archive.files if key != "__fusedrnn__"}
        except KeyError as err:
            raise ValueError(
                f"path: {os.fspath(path)!r} is not a fusedrnn layer file (no __fusedrnn__ entry)"
            ) from err
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"path: {os.fspath(path)!r} is corrupt: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"path: {os.fspath(path)!r} is not a fusedrnn layer file")
    if header.get("version") != VERSION:
        version = header.get("version")
        raise ValueError(f"path: format version {version!r}; this fusedrnn reads version {VERSION}")
    cls = _classes().get(str(header.get("class")))
    if cls is None:
        raise ValueError(f"path: unknown layer class {header.get('class')!r}")
    try:
        layer = cls(dtype=header["dtype"], **header["config"])
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"path: the saved configuration is not valid: {err}") from err
    for key, value in arrays.items():
        if key in layer._params and value.dtype != layer.dtype:
            raise ValueError(f"path: parameter {key} is {value.dtype}, the layer {layer.dtype}")
    try:
        layer.load_state_dict(arrays, strict=True)
    except (KeyError, ValueError) as err:
        raise ValueError(f"path: the parameters do not match the configuration: {err}") from err
    weight_format = header.get("weight_format", "fp32")
    if weight_format != "fp32":
        try:
            return layer.quantized(weight_format)
        except ValueError as err:
            raise ValueError(f"path: the saved weight format is not valid: {err}") from err
    return layer.train(bool(header.get("training", True)))
