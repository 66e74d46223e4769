"""Keras 3 interop: `from_keras` makes a fusedrnn layer from a built Keras ``LSTM``, ``GRU`` (both
``reset_after`` forms) or ``SimpleRNN`` layer, or a ``Bidirectional`` wrapper of one (any merge_mode but
None), with the same weights, activations and bias use; `to_keras_weights` gives the list a Keras
layer's ``set_weights`` takes. Keras is imported by neither (the Keras layer is only read).

The mapping: Keras stores ``kernel`` [C, G*H] and ``recurrent_kernel`` [H, G*H] (the transposes of
PyTorch's) and one bias [G*H] (GRU reset_after: [2, G*H], input and recurrent); its LSTM gate order
i, f, c, o is PyTorch's, its GRU order z, r, h becomes r, z, n. The single bias loads as ``bias_ih``
with zeros in ``bias_hh``; going back, Keras's bias is their sum (for reset_after GRUs, the pair).
Keras data is batch-first, so the layers made are ``batch_first=True``. Keras's input ``dropout`` and
``go_backwards`` have no fusedrnn counterpart: `from_keras` refuses ``go_backwards=True`` (reverse x along
time instead) and warns about input dropout (training only; inference is unaffected).
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import _cells, _options
from ._typing import Activation
from ._validation import ACTIVATIONS
from ._validation import activation as activation_check
from .layers import GRU, LSTM, RNN

__all__ = ["from_keras", "to_keras_weights"]


def _cell_of(keras_layer: Any) -> str:
    name = type(keras_layer).__name__
    cells = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
    if name not in cells:
        raise TypeError(f"keras_layer: expected a Keras LSTM, GRU, SimpleRNN or Bidirectional, got {name}")
    return cells[name]


def _activation_name(value: Any, argument: str) -> Activation:
    name = value if isinstance(value, str) else getattr(value, "__name__", None)
    if name is None:
        return "linear"
    name = {"hard_sigmoid": "hard_sigmoid", "linear": "linear"}.get(name, name)
    if name not in ACTIVATIONS:
        runs = ", ".join(ACTIVATIONS)
        raise ValueError(f"keras_layer: {argument}={name!r} is not one fusedrnn runs ({runs})")
    return cast(Activation, name)


def _direction_params(keras_layer: Any, cell: str, suffix: str) -> tuple[dict[str, NDArray[Any]], int, int]:
    weights = keras_layer.get_weights()
    kernel, recurrent = weights[0], weights[1]
    H = recurrent.shape[0]
    G = _cells.gates(cell)
    params = {
        "weight_ih" + suffix: _cells.from_keras_blocks(kernel, H, cell),
        "weight_hh" + suffix: _cells.from_keras_blocks(recurrent, H, cell),
    }
    if len(weights) > 2:
        bias = weights[2]
        if cell == "gru" and bias.ndim == 2:  # reset_after: input and recurrent biases
            b_ih, b_hh = (
                _cells.from_keras_blocks(bias[0], H, cell),
                _cells.from_keras_blocks(bias[1], H, cell),
            )
        else:
            b_ih, b_hh = _cells.from_keras_blocks(bias, H, cell), np.zeros(G * H, bias.dtype)
        params["bias_ih" + suffix], params["bias_hh" + suffix] = b_ih, b_hh
    return params, kernel.shape[0], H


def _compute_dtype_of(keras_layer: Any, dtype: DTypeLike) -> str:
    """The compute_dtype carrying a Keras layer's mixed-precision policy: "bfloat16" under
    ``mixed_bfloat16`` (Keras computes in bf16 with float32 variables; fusedrnn rounds its products'
    operands to bf16, every other step stays float32), else "float32" (float16 policies warn: fusedrnn
    has no float16 arithmetic and computes in float32)."""
    compute = str(getattr(keras_layer, "compute_dtype", "float32"))
    if compute == "bfloat16":
        if np.dtype(dtype) != np.float32:
            policy = getattr(getattr(keras_layer, "dtype_policy", None), "name", compute)
            raise ValueError(
                f"dtype: keras_layer computes in bfloat16 (policy {policy!r}), which fusedrnn runs as "
                f"compute_dtype='bfloat16' over float32 parameters; got dtype={np.dtype(dtype)}"
            )
        return "bfloat16"
    if compute == "float16":
        warnings.warn(
            "keras_layer computes in float16 (a mixed_float16 policy); fusedrnn has no float16 arithmetic "
            "and computes in float32, so its results are the more precise ones and differ by float16's "
            "rounding",
            UserWarning,
            stacklevel=3,
        )
    return "float32"


def from_keras(keras_layer: Any, dtype: DTypeLike = np.float32) -> Any:
    """A fusedrnn layer computing what a Keras recurrent layer computes, batch-first; given a Keras
    ``Sequential`` model, an fr.nn Sequential computing what the model computes, and given a
    functional Keras model (``keras.Model(inputs, outputs)``), an fr.nn functional Model
    (`fusedrnn.nn.keras_models.from_keras_model`: its Dense, Embedding, Dropout, ... layers too).

    The Keras options that shape how you call it are kept on the result as ``keras_options``
    (return_sequences, return_state): fusedrnn always returns the whole sequence and the final states,
    so ``y[:, -1]`` is Keras's return_sequences=False output for sequences without padding.

    Parameters
    ----------
    keras_layer : keras.layers.LSTM, GRU, SimpleRNN or Bidirectional, keras.Sequential or keras.Model
        A built Keras 3 layer (with weights); a Bidirectional wrapper of one with any merge_mode but
        None; or a built Sequential or functional model of such layers and the others fr.nn has. Only
        read: Keras is not imported.
    dtype : {numpy.float32, numpy.float64}
        The dtype of the layer made.

    Returns
    -------
    LSTM, GRU or RNN (fusedrnn.nn.Sequential or fusedrnn.nn.Model for a model)
        With ``batch_first=True`` and the Keras layer's weights, activations, bias use, recurrent
        dropout and merge mode; a layer under Keras's ``mixed_bfloat16`` policy gets
        ``compute_dtype="bfloat16"``.

    Raises
    ------
    TypeError
        keras_layer is not one of the layers above.
    ValueError
        keras_layer is not built, has go_backwards=True, an activation or a merge_mode fusedrnn does not
        run; or computes in bfloat16 and dtype is not float32.

    Warns
    -----
    UserWarning
        keras_layer has input dropout, which is not carried over (inference is unaffected), or computes
        in float16 (fusedrnn computes in float32).

    Examples
    --------
    >>> keras_lstm = keras.LSTM(50, activation="relu")
    >>> keras_lstm.build((None, 3, 1))
    >>> lstm = fr.from_keras(keras_lstm)
    >>> keras_model = keras.Sequential([keras.Input((3, 1)), keras.layers.LSTM(50), keras.layers.Dense(1)])
    >>> model = fr.from_keras(keras_model)  # an fr.nn.Sequential
    >>> x = keras.Input((3, 1))
    >>> keras_functional = keras.Model(x, keras.layers.Dense(1)(keras.layers.LSTM(50)(x)))
    >>> model = fr.from_keras(keras_functional)  # an fr.nn.Model
    """
    if type(keras_layer).__name__ in ("Sequential", "Functional"):
        from .nn.keras_models import from_keras_model

        return from_keras_model(keras_layer, dtype)
    wrapper = None
    if type(keras_layer).__name__ == "Bidirectional":
        wrapper = keras_layer
        if wrapper.merge_mode not in ("concat", "sum", "mul", "ave"):
            raise ValueError(
                f"keras_layer: Bidirectional merge_mode={wrapper.merge_mode!r}; fusedrnn merges by concat, "
                "sum, mul or ave"
            )
        directions = [wrapper.forward_layer, wrapper.backward_layer]
    else:
        directions = [keras_layer]
    first = directions[0]
    cell = _cell_of(first)
    if not first.get_weights():
        raise ValueError("keras_layer: not built yet (call it on data, or build(input_shape), first)")
    if getattr(first, "go_backwards", False):
        raise ValueError(
            "keras_layer: go_backwards=True has no fusedrnn counterpart; reverse x along time instead"
        )
    if getattr(first, "dropout", 0.0):
        warnings.warn(
            f"keras_layer: input dropout={first.dropout} is not carried over (fusedrnn has dropout between "
            "layers and recurrent_dropout only); inference is unaffected",
            UserWarning,
            stacklevel=2,
        )
    params, C, H = _direction_params(first, cell, "_l0")
    if wrapper is not None:
        params.update(_direction_params(directions[1], cell, "_l0_reverse")[0])
    layer_class: type[LSTM] | type[GRU] | type[RNN] = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[cell]
    options: dict[str, Any] = dict(
        batch_first=True,
        bidirectional=wrapper is not None,
        dtype=dtype,
        merge_mode=wrapper.merge_mode if wrapper is not None else "concat",
        compute_dtype=_compute_dtype_of(first, dtype),
    )
    # The options a Keras layer has too, by the option record: each read from its Keras attribute.
    for name, option in _options.OPTIONS[layer_class.__name__].items():
        if option.keras is not None:
            value = getattr(first, option.keras, option.default)
            if option.argument is activation_check:
                value = _activation_name(value, option.keras)
            elif isinstance(option.default, (bool, float)):
                value = type(option.default)(value)
            options[name] = value
    layer = layer_class(C, H, **options)
    layer.load_state_dict(params)
    layer.keras_options = {
        "return_sequences": bool(first.return_sequences),
        "return_state": bool(first.return_state),
    }
    return layer


def to_keras_weights(layer: LSTM | GRU | RNN) -> list[NDArray[Any]]:
    """The list ``keras_layer.set_weights`` takes for the Keras twin of a one-layer fusedrnn layer.

    Parameters
    ----------
    layer : LSTM, GRU or RNN
        A layer with num_layers=1 and no projection.

    Returns
    -------
    list of numpy.ndarray
        ``kernel`` [C, G*H], ``recurrent_kernel`` [H, G*H] and, with bias, the bias (b_ih + b_hh, or
        the pair [2, G*H] for a reset_after GRU); a Bidirectional wrapper's list, forward then backward,
        when `layer` is bidirectional.

    Raises
    ------
    ValueError
        num_layers > 1, or a projection.
    """
    return layer.to_keras_weights()
