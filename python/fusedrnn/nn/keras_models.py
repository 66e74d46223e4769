"""A Keras 3 ``Sequential`` model into an fr.nn `Sequential` computing the same (``fr.from_keras(model)``).

Each Keras layer becomes its fr.nn counterpart with its options and weights: LSTM / GRU / SimpleRNN and
Bidirectional through `fusedrnn.from_keras` (which checks and maps their options and weights), Dense
(with its activation), Embedding (mask_zero too), Dropout, Flatten, RepeatVector, Masking, Activation and
TimeDistributed of one of these. Any other layer, or a functional Keras model, is refused with an error
naming it: nothing is guessed. Keras is not imported; the model is only read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import _options
from ..keras_interop import from_keras
from .layers import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Layer,
    Masking,
    Recurrent,
    RepeatVector,
    TimeDistributed,
)
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


def _convert(keras_layer: Any, dtype: DTypeLike) -> tuple[Layer, Callable[[Layer], None]]:
    """The fr.nn layer for a Keras layer, and how to load its weights once the model is built."""
    kind = type(keras_layer).__name__
    if kind in _RECURRENT:
        layer = from_keras(keras_layer, dtype)
        state = layer.state_dict()
        record = _options.OPTIONS[type(layer).__name__]
        options = {key: getattr(layer, key) for key in record if key not in _SET_BY_THE_LAYER}
        inner = keras_layer.forward_layer if kind == "Bidirectional" else keras_layer
        if getattr(inner, "return_state", False):
            raise ValueError(f"{keras_layer.name}: return_state=True has no place in a Sequential model")
        converted: Layer = Recurrent(
            type(layer), layer.hidden_size, return_sequences=inner.return_sequences, **options
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
    if kind not in simple:
        raise ValueError(
            f"keras_model: layer {keras_layer.name!r} ({kind}) has no fr.nn counterpart (fr.nn converts "
            f"{', '.join([*_RECURRENT, 'Dense', 'Embedding', 'TimeDistributed', *simple])})"
        )
    return simple[kind](), lambda target: None


def from_keras_model(keras_model: Any, dtype: DTypeLike = np.float32) -> Sequential:
    """An fr.nn `Sequential` computing what a built Keras 3 ``Sequential`` computes (module docstring).

    Parameters
    ----------
    keras_model : keras.Sequential
        Built (given an ``Input`` or called on data), with weights.
    dtype : {numpy.float32, numpy.float64}
        The recurrent layers' dtype.

    Returns
    -------
    fusedrnn.nn.Sequential
        Built for the Keras model's input shape, with its weights; not compiled (``compile`` it to
        train on).

    Raises
    ------
    TypeError
        keras_model is not a Keras Sequential (a functional model is not converted yet: rebuild it with
        `fusedrnn.nn.Model` and convert its layers with `fusedrnn.from_keras`).
    ValueError
        The model is not built, or one of its layers has no fr.nn counterpart (named).
    """
    kind = type(keras_model).__name__
    if kind != "Sequential":
        raise TypeError(
            f"keras_model: expected a Keras Sequential, got {kind} (functional Keras models are not "
            "converted yet: rebuild it with fusedrnn.nn.Model and convert its recurrent layers with "
            "fusedrnn.from_keras)"
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
