"""A Keras 3 ``Sequential`` model into an fr.nn `Sequential`, and a functional Keras model (``keras.Model``
of ``keras.Input`` tensors) into an fr.nn functional `Model`, computing the same
(``fr.from_keras(model)``).

Each Keras layer becomes its fr.nn counterpart with its options and weights: LSTM / GRU / SimpleRNN and
Bidirectional through `fusedrnn.from_keras` (which checks and maps their options and weights), Dense
(with its activation), Embedding (mask_zero too), Dropout, Flatten, RepeatVector, Masking, Activation and
TimeDistributed of one of these; in a functional model also Concatenate, Add, Attention and
AdditiveAttention, several inputs and outputs, a layer called at several places (one fr.nn layer,
shared), ``return_state`` and ``initial_state=``. Any other layer, call option or model class is refused
with an error naming it: nothing is guessed. Keras is not imported; the model is only read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import _options
from ..keras_interop import from_keras
from .attention import Add, AdditiveAttention, Attention, Concatenate
from .layers import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Layer,
    Masking,
    Recurrent,
    RepeatVector,
    TimeDistributed,
)
from .model import Model
from .sequential import Sequential

__all__ = ["from_keras_model"]

_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")
# fusedrnn options that fr.nn's recurrent layers set themselves (they run batch-first on their input).
_SET_BY_THE_LAYER = ("input_size", "hidden_size", "batch_first", "dtype")


def _activation_name(keras_layer: Any) -> str:
    activation = getattr(keras_layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(
            f"{keras_layer.name}: an activation without a name ({activation!r}) cannot be converted"
        )
    return name


def _convert(
    keras_layer: Any, dtype: DTypeLike, functional: bool = False
) -> tuple[Layer, Callable[[Layer], None]]:
    """The fr.nn layer for a Keras layer, and how to load its weights once the model is built
    (`functional`: the layers only a functional model has too, and return_state)."""
    kind = type(keras_layer).__name__
    if kind in _RECURRENT:
        layer = from_keras(keras_layer, dtype)
        state = layer.state_dict()
        record = _options.OPTIONS[type(layer).__name__]
        options = {key: getattr(layer, key) for key in record if key not in _SET_BY_THE_LAYER}
        inner = keras_layer.forward_layer if kind == "Bidirectional" else keras_layer
        return_state = bool(getattr(inner, "return_state", False))
        if return_state and not functional:
            raise ValueError(f"{keras_layer.name}: return_state=True has no place in a Sequential model")
        if return_state and kind == "Bidirectional":
            raise ValueError(
                f"{keras_layer.name}: a Bidirectional layer with return_state=True is not converted"
            )
        converted: Layer = Recurrent(
            type(layer),
            layer.hidden_size,
            return_sequences=inner.return_sequences,
            return_state=return_state,
            **options,
        )

        def load(target: Layer) -> None:
            assert isinstance(target, Recurrent)
            target.layer.load_state_dict(state)

        return converted, load
    weights = [np.asarray(w) for w in keras_layer.get_weights()]

    def set_weights(target: Layer) -> None:
        target.set_weights(weights)

    if kind == "Dense":
        return Dense(
            keras_layer.units, activation=_activation_name(keras_layer), use_bias=keras_layer.use_bias
        ), set_weights
    if kind == "Embedding":
        layer = Embedding(keras_layer.input_dim, keras_layer.output_dim, mask_zero=keras_layer.mask_zero)
        return layer, set_weights
    if kind == "TimeDistributed":
        inner_layer, inner_load = _convert(keras_layer.layer, dtype)

        def load_inner(target: Layer) -> None:
            assert isinstance(target, TimeDistributed)
            inner_load(target.layer)

        return TimeDistributed(inner_layer), load_inner
    simple: dict[str, Callable[[], Layer]] = {
        "Dropout": lambda: Dropout(keras_layer.rate),
        "Flatten": Flatten,
        "RepeatVector": lambda: RepeatVector(keras_layer.n),
        "Masking": lambda: Masking(float(keras_layer.mask_value)),
        "Activation": lambda: Activation(_activation_name(keras_layer)),
    }
    if functional:
        merging: dict[str, Callable[[], Layer]] = {
            "Concatenate": lambda: Concatenate(axis=int(keras_layer.axis)),
            "Add": Add,
            "Attention": lambda: Attention(
                use_scale=bool(keras_layer.use_scale),
                score_mode=keras_layer.score_mode,
                dropout=float(keras_layer.dropout),
            ),
            "AdditiveAttention": lambda: AdditiveAttention(
                use_scale=bool(keras_layer.use_scale), dropout=float(keras_layer.dropout)
            ),
        }
        if kind in merging:
            return merging[kind](), set_weights
        simple = {**simple, **merging}
    if kind not in simple:
        raise ValueError(
            f"keras_model: layer {keras_layer.name!r} ({kind}) has no fr.nn counterpart (fr.nn converts "
            f"{', '.join([*_RECURRENT, 'Dense', 'Embedding', 'TimeDistributed', *simple])})"
        )
    return simple[kind](), lambda target: None


def from_keras_model(keras_model: Any, dtype: DTypeLike = np.float32) -> Sequential | Model:
    """An fr.nn model computing what a built Keras 3 model computes (module docstring): an fr.nn
    `Sequential` for a ``keras.Sequential``, an fr.nn functional `Model` for a functional
    ``keras.Model`` (built from ``keras.Input`` tensors).

    Parameters
    ----------
    keras_model : keras.Sequential or keras.Model
        Built (given an ``Input`` or called on data), with weights.
    dtype : {numpy.float32, numpy.float64}
        The recurrent layers' dtype.

    Returns
    -------
    fusedrnn.nn.Sequential or fusedrnn.nn.Model
        Built for the Keras model's input shape(s), with its weights, its inputs and outputs in Keras's
        order (a list when Keras has several); not compiled (``compile`` it to train on).

    Raises
    ------
    TypeError
        keras_model is neither a Keras Sequential nor a functional model (a subclassed Model is not
        converted: its ``call`` is Python code).
    ValueError
        The model is not built, one of its layers has no fr.nn counterpart (named), or a layer is
        called with an option fr.nn does not convert (named).
    """
    kind = type(keras_model).__name__
    if kind == "Functional":
        return _from_functional(keras_model, dtype)
    if kind != "Sequential":
        raise TypeError(
            f"keras_model: expected a Keras Sequential or functional model, got {kind} (a subclassed "
            "Model is not converted: rebuild it with fusedrnn.nn.Model and convert its recurrent layers "
            "with fusedrnn.from_keras)"
        )
    try:
        input_shape = tuple(keras_model.inputs[0].shape)
    except (AttributeError, IndexError, TypeError, ValueError) as err:
        raise ValueError("keras_model: not built yet (give it an Input, or call it on data, first)") from err
    converted = [_convert(keras_layer, dtype) for keras_layer in keras_model.layers]
    model = Sequential([layer for layer, _ in converted])
    model.build((None,) + tuple(input_shape[1:]))
    for layer, load in converted:
        load(layer)
    return model


# Options of a Keras layer call that fr.nn's layers take on symbolic tensors too.
_CALL_OPTIONS = ("initial_state", "use_causal_mask", "return_attention_scores")


def _propagated_mask(mask: Any, inputs: Any) -> bool:
    """Whether a call's mask= is none, or the padding masks Keras passed along with its input tensors
    (fr.nn propagates those itself), rather than one the model's code gave."""
    if mask is None:
        return True
    if isinstance(mask, (list, tuple)) and isinstance(inputs, (list, tuple)) and len(mask) == len(inputs):
        return all(_propagated_mask(m, i) for m, i in zip(mask, inputs, strict=True))
    return mask is getattr(inputs, "_keras_mask", None)


def _from_functional(keras_model: Any, dtype: DTypeLike) -> Model:
    """The fr.nn Model of a functional Keras model: its graph walked back from the outputs, each Keras
    layer converted once (a shared one stays shared) and called on the fr.nn tensors of its inputs."""
    keras_inputs, keras_outputs = list(keras_model.inputs), list(keras_model.outputs)
    tensors: dict[int, Any] = {}
    for keras_tensor in keras_inputs:
        integer = "int" in str(keras_tensor.dtype)
        name = getattr(keras_tensor, "name", None)
        tensors[id(keras_tensor)] = Input(
            shape=tuple(keras_tensor.shape[1:]), name=name, dtype="int64" if integer else None
        )
    layers: dict[int, tuple[Layer, Callable[[Layer], None]]] = {}
    calls: dict[tuple[int, int], list[Any]] = {}

    def symbolic(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [symbolic(v) for v in value]
        if hasattr(value, "_keras_history"):
            return tensor(value)
        return value

    def tensor(keras_tensor: Any) -> Any:
        if id(keras_tensor) in tensors:
            return tensors[id(keras_tensor)]
        operation, node_index, tensor_index = keras_tensor._keras_history
        key = (id(operation), node_index)
        if key not in calls:
            calls[key] = call(operation, operation._inbound_nodes[node_index])
        tensors[id(keras_tensor)] = calls[key][tensor_index]
        return tensors[id(keras_tensor)]

    def call(operation: Any, node: Any) -> list[Any]:
        kind = type(operation).__name__
        where = f"keras_model: layer {operation.name!r} ({kind})"
        if kind == "InputLayer":
            raise ValueError(f"{where}: an Input the model's inputs do not list")
        if id(operation) not in layers:
            layers[id(operation)] = _convert(operation, dtype, functional=True)
            layers[id(operation)][0].name = str(operation.name)  # Keras's names: outputs, get_layer
        layer = layers[id(operation)][0]
        args, options = list(node.arguments.args), dict(node.arguments.kwargs)
        options.pop("training", None)
        if not _propagated_mask(options.pop("mask", None), args[0] if args else None):
            raise ValueError(f"{where}: an explicit mask= is not converted (masks follow the tensors)")
        unknown = [key for key, value in options.items() if key not in _CALL_OPTIONS and value is not None]
        if len(args) != 1 or unknown:
            what = f"the option {unknown[0]!r}" if unknown else f"{len(args)} positional arguments"
            raise ValueError(f"{where}: called with {what}, which fr.nn does not convert")
        keywords = {key: symbolic(value) for key, value in options.items() if value is not None}
        out = layer(symbolic(args[0]), **keywords)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    outputs = [tensor(t) for t in keras_outputs]
    inputs = [tensors[id(t)] for t in keras_inputs]
    model = Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=str(getattr(keras_model, "name", "functional")),
    )
    for layer, load in layers.values():
        load(layer)
    return model
