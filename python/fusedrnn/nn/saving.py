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
from .graph import KerasTensor, symbolic_call
from .layers import InputLayer, Recurrent, deserialize, serialize

__all__ = ["load_model", "save_model"]

FORMAT = "fusedrnn-model"
VERSION = 1
# A functional Model's file: the same archive, its header describing the graph (see _save_functional).
FUNCTIONAL_FORMAT = "fusedrnn-functional-model"
_FUNCTIONAL_KEYS = {
    "format",
    "version",
    "name",
    "seed",
    "inputs",
    "layers",
    "nodes",
    "outputs",
    "structure",
    "compile",
}
_NODE_KEYS = {"layer", "inputs", "main", "list", "options"}
_CALL_OPTIONS = {"return_attention_scores", "use_causal_mask"}
_INPUT_DTYPES = {
    "float32",
    "float64",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
}
_MAX_NAME = 200
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
    from .model import Model

    if isinstance(model, Model):
        _save_functional(model, filepath, overwrite, include_optimizer)
        return
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
        if isinstance(header, dict) and header.get("format") == FUNCTIONAL_FORMAT:
            return _read_functional(archive, members, header, where, compile)
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
            _expect_optimizer_slots(expected, optimizer, iterations, param_shapes)
        arrays = _read_expected(archive, members, expected, where)
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


def _expect_optimizer_slots(
    expected: dict[str, tuple[str, tuple[int, ...]]],
    optimizer: Any,
    iterations: int | None,
    param_shapes: list[tuple[int, ...]],
) -> None:
    """Adds the optimizer's state arrays (one per slot and parameter, each shaped like its parameter) to
    the members a file must hold, when the file says it saved that state (iterations given)."""
    if iterations is None:
        return
    for k, param_shape in enumerate(param_shapes):
        for slot in range(optimizer.SLOTS):
            expected[f"optimizer.{k}.{slot}.npy"] = (f"optimizer.{k}.{slot}", param_shape)


def _read_expected(
    archive: Any, members: dict[str, Any], expected: dict[str, tuple[str, tuple[int, ...]]], where: str
) -> dict[str, Any]:
    """The file's float32 arrays, {key: array}: exactly the `expected` members (member: (key, shape)),
    each member's size checked against its shape before it is inflated; ValueError naming where."""
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
    return {
        key: _layer_files.read_parameter(archive, members[member], key, param_shape, dtype, where)
        for member, (key, param_shape) in expected.items()
    }


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


# -- functional models ---------------------------------------------------------------------------------
#
# The header of a functional Model lists its Inputs ({"name", "shape" without the batch, "dtype"}), its
# layers (each once, in the graph's order, as `serialize` writes them), its calls in order (the layer's
# index, the input tensors as [source, output index] with source -1-k for the k-th Input and j >= 0 for
# the j-th call, how many are the call's own inputs (the rest an initial_state), whether they were a list,
# the call's options) and the outputs as [source, index]. A reader replays the calls on symbolic tensors,
# which checks every shape, before anything is built.


def _save_functional(model: Any, filepath: PathLike, overwrite: bool, include_optimizer: bool) -> None:
    name = os.fsdecode(os.fspath(filepath))
    if not overwrite and os.path.exists(name):
        raise FileExistsError(f"filepath: {name!r} exists (overwrite=False)")
    graph = model.graph
    layers = [layer for layer in graph.layers if not isinstance(layer, InputLayer)]
    layer_index = {id(layer): i for i, layer in enumerate(layers)}
    source: dict[int, list[int]] = {id(t): [-1 - k, 0] for k, t in enumerate(graph.inputs)}
    nodes = []
    for j, node in enumerate(graph.nodes):
        nodes.append(
            {
                "layer": layer_index[id(node.layer)],
                "inputs": [source[id(t)] for t in node.inputs],
                "main": node.main,
                "list": node.as_list,
                "options": {k: v for k, v in node.options.items() if k != "initial_state"},
            }
        )
        for i, t in enumerate(node.outputs):
            source[id(t)] = [j, i]
    header: dict[str, Any] = {
        "format": FUNCTIONAL_FORMAT,
        "version": VERSION,
        "name": model.name,
        "seed": model.seed if isinstance(model.seed, int) else None,
        "inputs": [
            {"name": n, "shape": list(t.shape[1:]), "dtype": t.node.layer.dtype}
            for n, t in zip(model.input_names, graph.inputs, strict=True)
        ],
        "layers": [serialize(layer) for layer in layers],
        "nodes": nodes,
        "outputs": [source[id(t)] for t in graph.outputs],
        "structure": [model.input_structure, model.output_structure],
        "compile": None,
    }
    arrays: dict[str, Any] = {}
    for i, layer in enumerate(layers):
        for key, value in zip(layer.parameter_names(), layer.parameters(), strict=True):
            arrays[f"layers.{i}.{key}"] = np.ascontiguousarray(value)
    if model.optimizer is not None and model.loss is not None:
        optimizer = model.optimizer
        records = [_loss_record(loss) for loss in model.loss]
        compiled: dict[str, Any] = {
            "optimizer": {"class": type(optimizer).__name__, "config": optimizer.get_config()},
            "losses": records if all(r is not None for r in records) else None,
            "metrics": [[m for m in ms if isinstance(m, str)] for ms in model._compiled_metrics],
            "loss_weights": list(model.loss_weights),
        }
        if type(optimizer).__name__ not in optimizers.CLASSES:
            compiled["optimizer"] = None
        elif include_optimizer and optimizer.state is not None:
            compiled["optimizer"]["iterations"] = optimizer.iterations
            for k, slots in enumerate(optimizer.state):
                for slot_index, slot in enumerate(slots):
                    arrays[f"optimizer.{k}.{slot_index}"] = np.ascontiguousarray(slot)
        header["compile"] = compiled
    with open(name, "wb") as file:
        np.savez(file, __fusedrnn__=np.array(json.dumps(header)), **arrays)


def _small_str(value: object, what: str, where: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_NAME:
        raise ValueError(f"{where}: {what}: expected a name of 1 to {_MAX_NAME} characters")
    return value


def _reference(value: object, inputs: int, calls: int, what: str, where: str) -> tuple[int, int]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(type(v) is int for v in value)
        or not -inputs <= value[0] < calls
        or not 0 <= value[1] < 64
        or (value[0] < 0 and value[1] != 0)
    ):
        raise ValueError(
            f"{where}: {what}: expected [an earlier call or -1-k for Input k, output], got {str(value)[:60]}"
        )
    return value[0], value[1]


def _read_functional(
    archive: zipfile.ZipFile, members: dict[str, Any], header: dict[str, Any], where: str, compile: bool
) -> Any:
    from .layers import Input
    from .model import Model

    version = header.get("version")
    if type(version) is not int or version != VERSION:
        raise ValueError(f"{where}: format version {version!r}; this fusedrnn reads version {VERSION}")
    if set(header) != _FUNCTIONAL_KEYS:
        unknown = [str(key)[:60] for key in header if key not in _FUNCTIONAL_KEYS]
        raise ValueError(
            f"{where}: expected the header entries {sorted(_FUNCTIONAL_KEYS)}, unknown {unknown[:5]}"
        )
    seed = header["seed"]
    if seed is not None and (type(seed) is not int or not 0 <= seed < 2**63):
        raise ValueError(f"{where}: seed: expected an int >= 0 or null, got {str(seed)[:40]}")
    model_name = _small_str(header["name"], "name", where)
    structure = header["structure"]
    if (
        not isinstance(structure, list)
        or len(structure) != 2
        or not all(v in ("single", "list") for v in structure)
    ):
        raise ValueError(f"{where}: structure: expected two of 'single' / 'list'")
    # The Inputs.
    records = header["inputs"]
    if not isinstance(records, list) or not 1 <= len(records) <= _MAX_LAYERS:
        raise ValueError(f"{where}: inputs: expected a list of 1 to {_MAX_LAYERS} inputs")
    tensors: list[KerasTensor] = []
    for k, record in enumerate(records):
        at = f"{where}: inputs[{k}]"
        if not isinstance(record, dict) or set(record) != {"name", "shape", "dtype"}:
            raise ValueError(f"{at}: expected {{'name', 'shape', 'dtype'}}")
        shape = record["shape"]
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= _MAX_DIMS
            or not all(d is None or (type(d) is int and 1 <= d <= _MAX_DIM) for d in shape)
        ):
            raise ValueError(
                f"{at}: shape: expected 1 to {_MAX_DIMS} ints >= 1 or null, got {str(shape)[:80]}"
            )
        if record["dtype"] not in _INPUT_DTYPES:
            raise ValueError(f"{at}: dtype: expected one of {sorted(_INPUT_DTYPES)}")
        tensors.append(
            Input(shape=tuple(shape), name=_small_str(record["name"], "name", at), dtype=record["dtype"])
        )
    inputs = list(tensors)
    # The layers, then the calls replayed on symbolic tensors (every shape checked by the layers).
    records = header["layers"]
    if not isinstance(records, list) or len(records) > _MAX_LAYERS:
        raise ValueError(f"{where}: layers: expected a list of at most {_MAX_LAYERS} layers")
    layers = [deserialize(record, f"{where}: layers[{i}]") for i, record in enumerate(records)]
    nodes = header["nodes"]
    if not isinstance(nodes, list) or not len(layers) <= len(nodes) <= 4 * _MAX_LAYERS:
        raise ValueError(
            f"{where}: nodes: expected a list of up to {4 * _MAX_LAYERS} calls, each layer called"
        )
    outputs: list[list[KerasTensor]] = []
    build_shapes: dict[int, Any] = {}
    for j, record in enumerate(nodes):
        at = f"{where}: nodes[{j}]"
        if not isinstance(record, dict) or set(record) != _NODE_KEYS:
            raise ValueError(f"{at}: expected {sorted(_NODE_KEYS)}")
        index, refs, main, as_list, options = (
            record[key] for key in ("layer", "inputs", "main", "list", "options")
        )
        if type(index) is not int or not 0 <= index < len(layers):
            raise ValueError(f"{at}: layer: expected an index into layers")
        if not isinstance(refs, list) or not 1 <= len(refs) <= 64:
            raise ValueError(f"{at}: inputs: expected a list of 1 to 64 tensors")
        if type(main) is not int or not 1 <= main <= len(refs) or type(as_list) is not bool:
            raise ValueError(f"{at}: main, list: expected an int in [1, {len(refs)}] and a bool")
        if (
            not isinstance(options, dict)
            or set(options) - _CALL_OPTIONS
            or not all(type(v) is bool for v in options.values())
        ):
            raise ValueError(f"{at}: options: expected booleans among {sorted(_CALL_OPTIONS)}")
        ins = []
        for r in refs:
            src, i = _reference(r, len(inputs), j, "inputs", at)
            produced = [inputs[-1 - src]] if src < 0 else outputs[src]
            if i >= len(produced):
                raise ValueError(f"{at}: inputs: call {src} has {len(produced)} outputs, not {i + 1}")
            ins.append(produced[i])
        layer = layers[index]
        extra = ins[main:]
        if extra and not isinstance(layer, Recurrent):
            raise ValueError(f"{at}: only a recurrent layer takes an initial_state")
        x: Any = ins[:main] if as_list else ins[0]
        if not as_list and main != 1:
            raise ValueError(f"{at}: main: a call not on a list takes one tensor")
        try:
            made = symbolic_call(layer, x, extra or None, **options)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{at}: {err}") from None
        outputs.append(made if isinstance(made, list) else [made])
        shapes = [t.shape for t in ins[:main]]
        build_shapes.setdefault(index, tuple(shapes) if as_list else shapes[0])
    if len(build_shapes) != len(layers):
        raise ValueError(f"{where}: nodes: every layer must be called at least once")
    refs = header["outputs"]
    if not isinstance(refs, list) or not 1 <= len(refs) <= 64:
        raise ValueError(f"{where}: outputs: expected a list of 1 to 64 tensors")
    results = []
    for r in refs:
        src, i = _reference(r, len(inputs), len(nodes), "outputs", where)
        produced = [inputs[-1 - src]] if src < 0 else outputs[src]
        if i >= len(produced):
            raise ValueError(f"{where}: outputs: call {src} has {len(produced)} outputs, not {i + 1}")
        results.append(produced[i])
    # The parameters' shapes from the configuration alone, then the members against them.
    expected: dict[str, tuple[str, tuple[int, ...]]] = {}
    param_shapes: list[tuple[int, ...]] = []
    for i, layer in enumerate(layers):
        _, params = layer.plan(build_shapes[i], f"{where}: layers[{i}]")
        for key, param_shape in params:
            expected[f"layers.{i}.{key}.npy"] = (f"layers.{i}.{key}", tuple(param_shape))
            param_shapes.append(tuple(param_shape))
    compiled = header["compile"]
    checked: list[Any] = []
    loss_weights: list[float] = []
    optimizer, iterations = None, None
    if compiled is not None:
        if not isinstance(compiled, dict) or set(compiled) != {
            "optimizer",
            "losses",
            "metrics",
            "loss_weights",
        }:
            raise ValueError(
                f"{where}: compile: expected {{'optimizer', 'losses', 'metrics', 'loss_weights'}}"
            )
        losses_record, metrics_record, weights_record = (
            compiled["losses"],
            compiled["metrics"],
            compiled["loss_weights"],
        )
        count = len(results)
        if losses_record is not None and (not isinstance(losses_record, list) or len(losses_record) != count):
            raise ValueError(f"{where}: compile: losses: expected one per output")
        if not isinstance(metrics_record, list) or len(metrics_record) != count:
            raise ValueError(f"{where}: compile: metrics: expected a list per output")
        if (
            not isinstance(weights_record, list)
            or len(weights_record) != count
            or not all(
                isinstance(w, numbers.Real) and not isinstance(w, bool) and math.isfinite(w)
                for w in weights_record
            )
        ):
            raise ValueError(f"{where}: compile: loss_weights: expected a finite number per output")
        loss_weights = [float(w) for w in weights_record]
        for k in range(count):
            loss_k = None if losses_record is None else losses_record[k]
            checked.append(
                _check_compile(
                    {
                        "optimizer": compiled["optimizer"] if k == 0 else None,
                        "loss": loss_k,
                        "metrics": metrics_record[k],
                    },
                    where,
                )
            )
        if checked[0]["optimizer"] is not None:
            optimizer, iterations = checked[0]["optimizer"]
            _expect_optimizer_slots(expected, optimizer, iterations, param_shapes)
    arrays = _read_expected(archive, members, expected, where)
    model = Model(
        inputs if structure[0] == "list" else inputs[0],
        results if structure[1] == "list" or len(results) > 1 else results[0],
        name=model_name,
        seed=seed,
    )
    if [id(layer) for layer in model.layers if not isinstance(layer, InputLayer)] != [
        id(layer) for layer in layers
    ]:
        raise ValueError(f"{where}: layers: not in the order of the calls")
    model.set_parameters([arrays[key] for key, _ in expected.values() if key.startswith("layers.")])
    if compiled is not None and compile and all(c["loss"] is not None for c in checked):
        model.compile(
            optimizer if optimizer is not None else "adam",
            [c["loss"] for c in checked],
            [c["metrics"] for c in checked],
            loss_weights,
        )
        if optimizer is not None and iterations is not None:
            optimizer.iterations = iterations
            optimizer.state = [
                [arrays[f"optimizer.{k}.{slot}"] for slot in range(optimizer.SLOTS)]
                for k in range(len(param_shapes))
            ]
    return model
