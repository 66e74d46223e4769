"""Whole-model files: ``model.save(path)`` and ``load_model(path)``, in the pickle-free format of
`fusedrnn.save` (a NumPy ``.npz`` archive: one array per parameter, and ``__fusedrnn__``, a JSON string).

The header records the format and version, the model's seed and input shape, every layer's class and
configuration (`fusedrnn.nn.layers.serialize`), and the compile settings (optimizer with its
configuration and step count, loss and metric names); the members are ``layers.{i}.{name}`` (Dense's
kernel and bias, Embedding's embeddings, the recurrent layers' PyTorch names) and, with the optimizer's
state, ``optimizer.{k}.{slot}`` for the k-th parameter.

A file is treated as coming from a stranger, with `fusedrnn.saving`'s machinery: the zip directory is
bounded before it is read, the JSON header is bounded and every value checked as the constructors check
it (the recurrent layers' options by `fusedrnn._options`, their sizes against the kernels' limits), the
parameters' shapes are computed from the configuration alone (`Layer.plan`) and each member's declared
size checked against them before anything is inflated, then every member is read into its own array with
bounded reads. Only then are the layers built (their parameters then overwritten: a load needs about
twice the memory of the model's parameters).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import zipfile
from typing import IO, Any

import numpy as np

from .. import saving as _layer_files
from ..saving import PathLike
from . import losses, optimizers
from .layers import deserialize, serialize

__all__ = ["load_model", "save_model"]

FORMAT = "fusedrnn-model"
VERSION = 1
_HEADER = "__fusedrnn__"
_HEADER_KEYS = {"format", "version", "seed", "input_shape", "layers", "compile"}
# Bounds for a stranger's header: layers in a model, the brackets of its JSON (a layer's record has a
# few), the dimensions of a sample and their size.
_MAX_LAYERS = 512
_MAX_BRACKETS = 16 * _MAX_LAYERS
_MAX_DIMS = 8
_MAX_DIM = 1 << 31


def save_model(
    model: Any, filepath: PathLike, overwrite: bool = True, include_optimizer: bool = True
) -> None:
    """Writes a built `Sequential` to `filepath`, exactly as named (no suffix is added).

    Parameters
    ----------
    model : Sequential
        A built model (given input_shape=, or fitted or predicted once).
    filepath : str or os.PathLike
        The file (Keras's ``model.keras`` is a fine name; the content is fusedrnn's .npz format).
    overwrite : bool
        False: refuse an existing file (FileExistsError).
    include_optimizer : bool
        Also save the optimizer's step count and state arrays (training resumes where it was).

    Raises
    ------
    RuntimeError
        The model is not built.
    TypeError
        A layer is not one of fr.nn's (a user's own subclass cannot be saved).
    """
    if not model.built:
        raise RuntimeError("save: the model is not built yet (give input_shape=, or fit or predict it)")
    name = os.fsdecode(os.fspath(filepath))
    if not overwrite and os.path.exists(name):
        raise FileExistsError(f"filepath: {name!r} exists (overwrite=False)")
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "seed": model.seed if isinstance(model.seed, int) else None,
        "input_shape": list(model.built_for),
        "layers": [serialize(layer) for layer in model.layers],
        "compile": None,
    }
    arrays: dict[str, Any] = {}
    for i, layer in enumerate(model.layers):
        for key, value in zip(layer.parameter_names(), layer.parameters(), strict=True):
            arrays[f"layers.{i}.{key}"] = np.ascontiguousarray(value)
    if model.optimizer is not None and model.loss is not None:
        optimizer = model.optimizer
        compiled: dict[str, Any] = {
            "optimizer": {"class": type(optimizer).__name__, "config": optimizer.get_config()},
            "loss": _loss_record(model.loss),
            "metrics": [m for m in model._compiled["metrics"] if isinstance(m, str)],
        }
        if type(optimizer).__name__ not in optimizers.CLASSES:
            compiled["optimizer"] = None
        elif include_optimizer and optimizer.state is not None:
            compiled["optimizer"]["iterations"] = optimizer.iterations
            for k, slots in enumerate(optimizer.state):
                for s, slot in enumerate(slots):
                    arrays[f"optimizer.{k}.{s}"] = np.ascontiguousarray(slot)
        header["compile"] = compiled
    with open(name, "wb") as file:
        np.savez(file, __fusedrnn__=np.array(json.dumps(header)), **arrays)


def _loss_record(loss: Any) -> Any:
    name = losses.name_of(loss)
    if not name:
        return None  # a user's function: compile again after loading
    if isinstance(loss, losses.Crossentropy):
        return {"name": name, "from_logits": loss.from_logits}
    return name


def load_model(filepath: PathLike, compile: bool = True) -> Any:
    """The model `Sequential.save` wrote: the same layers, weights, compile settings and, when saved,
    optimizer state (fit continues where it stopped).

    Parameters
    ----------
    filepath : str or os.PathLike
        The file.
    compile : bool
        Compile the model as it was (its loss a name fr.nn knows; a user's own loss or metric function
        is not saved: compile again).

    Returns
    -------
    Sequential

    Raises
    ------
    FileNotFoundError
        No file at filepath.
    ValueError
        Anything but a model file of this format, naming the path: a layer file (use fusedrnn.load),
        another format or version, a corrupt or truncated archive, a configuration a constructor would
        refuse, sizes past the kernels' limits, missing or extra or oversized members, wrong shapes or
        dtypes.
    """
    return _layer_files.read_guarded(filepath, lambda file, where: _read(file, where, compile))


def _read(file: IO[bytes], where: str, compile: bool) -> Any:
    from .sequential import Sequential

    _layer_files.check_end_record(file, where)
    with zipfile.ZipFile(file) as archive:
        members = _layer_files.zip_members(archive, where)
        header_info = members.pop(_HEADER + ".npy", None)
        if header_info is None:
            raise ValueError(f"{where} is not a fusedrnn model file (no {_HEADER} entry)")
        header = _layer_files.read_json_header(archive, header_info, where, _MAX_BRACKETS)
        seed, input_shape, layers, compiled = _check_header(header, where)
        # The parameters' shapes from the configuration alone, then the members against them.
        expected: dict[str, tuple[str, tuple[int, ...]]] = {}
        shape: tuple[Any, ...] = (None, *input_shape)
        param_shapes: list[tuple[int, ...]] = []
        for i, layer in enumerate(layers):
            shape, params = layer.plan(shape, f"{where}: layers[{i}]")
            for key, param_shape in params:
                expected[f"layers.{i}.{key}.npy"] = (f"layers.{i}.{key}", param_shape)
                param_shapes.append(param_shape)
        optimizer, iterations = None, None
        if compiled is not None and compiled["optimizer"] is not None:
            optimizer, iterations = compiled["optimizer"]
            if iterations is not None:
                for k, param_shape in enumerate(param_shapes):
                    for s in range(optimizer.SLOTS):
                        expected[f"optimizer.{k}.{s}.npy"] = (f"optimizer.{k}.{s}", param_shape)
        missing = [key for member, (key, _) in expected.items() if member not in members]
        unexpected = [member[:60] for member in members if member not in expected]
        if missing or unexpected:
            raise ValueError(
                f"{where}: the arrays do not match the configuration: missing {missing[:8]}, "
                f"unexpected {unexpected[:8]}"
            )
        dtype = np.dtype(np.float32)
        for member, (key, param_shape) in expected.items():
            _layer_files.check_member_size(members[member], key, param_shape, dtype, where)
        arrays = {
            key: _layer_files.read_parameter(archive, members[member], key, param_shape, dtype, where)
            for member, (key, param_shape) in expected.items()
        }
    model = Sequential(layers, seed=seed)  # built here already when its first layer has input_shape=
    if model.built_for != tuple(input_shape):
        model.build((None, *input_shape))
    model.set_parameters([arrays[key] for key, _ in expected.values() if key.startswith("layers.")])
    if compiled is not None and compile:
        loss = compiled["loss"]
        if loss is not None:
            model.compile(optimizer if optimizer is not None else "adam", loss, compiled["metrics"])
            if optimizer is not None and iterations is not None:
                optimizer.iterations = iterations
                optimizer.state = [
                    [arrays[f"optimizer.{k}.{s}"] for s in range(optimizer.SLOTS)]
                    for k in range(len(param_shapes))
                ]
    return model


def _check_header(header: object, where: str) -> tuple[int | None, tuple[int, ...], list[Any], Any]:
    """(seed, input shape, the layers made from their checked configurations, the compile settings:
    None or {"optimizer": (optimizer, iterations) or None, "loss": name / object or None, "metrics"})."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        if isinstance(header, dict) and header.get("format") == _layer_files.FORMAT:
            raise ValueError(f"{where} is a fusedrnn layer file: read it with fusedrnn.load")
        raise ValueError(f"{where} is not a fusedrnn model file")
    version = header.get("version")
    if type(version) is not int or version != VERSION:
        raise ValueError(f"{where}: format version {version!r}; this fusedrnn reads version {VERSION}")
    unknown = [str(key)[:60] for key in header if key not in _HEADER_KEYS]
    if unknown or set(header) != _HEADER_KEYS:
        raise ValueError(
            f"{where}: expected the header entries {sorted(_HEADER_KEYS)}, unknown {unknown[:5]}"
        )
    seed = header["seed"]
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
        raise ValueError(f"{where}: seed: expected an int >= 0 or null, got {str(seed)[:40]}")
    shape = header["input_shape"]
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= _MAX_DIMS
        or not all(type(d) is int and 1 <= d <= _MAX_DIM for d in shape)
    ):
        raise ValueError(f"{where}: input_shape: expected 1 to {_MAX_DIMS} ints >= 1, got {str(shape)[:80]}")
    records = header["layers"]
    if not isinstance(records, list) or not 1 <= len(records) <= _MAX_LAYERS:
        raise ValueError(f"{where}: layers: expected a list of 1 to {_MAX_LAYERS} layers")
    layers = [deserialize(record, f"{where}: layers[{i}]") for i, record in enumerate(records)]
    return seed, tuple(shape), layers, _check_compile(header["compile"], where)


def _check_compile(compiled: object, where: str) -> Any:
    if compiled is None:
        return None
    if not isinstance(compiled, dict) or set(compiled) != {"optimizer", "loss", "metrics"}:
        raise ValueError(f"{where}: compile: expected {{'optimizer', 'loss', 'metrics'}}")
    optimizer = None
    record = compiled["optimizer"]
    if record is not None:
        if not isinstance(record, dict) or not {"class", "config"} <= set(record) <= {
            "class",
            "config",
            "iterations",
        }:
            raise ValueError(f"{where}: compile: optimizer: expected {{'class', 'config'[, 'iterations']}}")
        cls = optimizers.CLASSES.get(record["class"]) if isinstance(record["class"], str) else None
        config = record["config"]
        if cls is None or not isinstance(config, dict) or set(config) - set(cls._CONFIG):
            raise ValueError(f"{where}: compile: optimizer: unknown class or options {str(record)[:80]}")
        for key, value in config.items():
            finite = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if not (finite and value >= 0) and not (key == "clipnorm" and value is None):
                raise ValueError(f"{where}: compile: optimizer: {key}: expected a finite number >= 0")
        iterations = record.get("iterations")
        if iterations is not None and (type(iterations) is not int or not 0 <= iterations < 2**62):
            raise ValueError(f"{where}: compile: optimizer: iterations: expected an int >= 0")
        optimizer = (cls(**config), iterations)
    loss = compiled["loss"]
    if isinstance(loss, dict):
        if set(loss) != {"name", "from_logits"} or type(loss["from_logits"]) is not bool:
            raise ValueError(f"{where}: compile: loss: expected {{'name', 'from_logits'}}")
        classes = {
            c.name: c
            for c in (
                losses.CategoricalCrossentropy,
                losses.SparseCategoricalCrossentropy,
                losses.BinaryCrossentropy,
            )
        }
        if loss["name"] not in classes:
            raise ValueError(f"{where}: compile: loss: unknown {str(loss['name'])[:40]!r}")
        loss = classes[loss["name"]](from_logits=loss["from_logits"])
    elif loss is not None and (not isinstance(loss, str) or loss not in losses.LOSSES):
        raise ValueError(f"{where}: compile: loss: unknown {str(loss)[:40]!r}")
    metrics = compiled["metrics"]
    from .metrics import METRICS

    if not isinstance(metrics, list) or not all(isinstance(m, str) and m in METRICS for m in metrics):
        raise ValueError(
            f"{where}: compile: metrics: expected a list of metric names, got {str(metrics)[:80]}"
        )
    return {"optimizer": optimizer, "loss": loss, "metrics": metrics}
