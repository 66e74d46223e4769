"""Keras 3 parity (any backend; CI runs the torch backend): LSTM, GRU and SimpleRNN layers with Keras's
activations, weights copied into fusedrnn layers, outputs and final states equal to 1e-5 in float32.

Keras stores kernels transposed ([C, G*H]), one bias (fusedrnn, like PyTorch, has two: the second is
zero), and the GRU's gates in the order z, r, h where PyTorch and fusedrnn use r, z, n.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import fusedrnn as fr  # noqa: E402

# Keras's own Variable.numpy() warns under NumPy 2 (its __array__ lacks the copy keyword).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

NAMES = ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"]
C, H, N, T = 3, 7, 4, 6


def _gru_blocks_to_torch(matrix, H):
    """Columns [z | r | h] (Keras) -> rows [r | z | n] (PyTorch), transposed."""
    z, r, h = (matrix[..., k * H : (k + 1) * H] for k in range(3))
    return np.concatenate([r, z, h], axis=-1).T


def fusedrnn_state_dict(keras_layer, cell):
    weights = keras_layer.get_weights()
    kernel, recurrent = weights[0], weights[1]
    G = {"lstm": 4, "gru": 3, "gru_reset_before": 3, "rnn": 1}[cell]
    if cell in ("gru", "gru_reset_before"):
        w_ih, w_hh = _gru_blocks_to_torch(kernel, H), _gru_blocks_to_torch(recurrent, H)
        bias = weights[2]  # reset_after: [2, 3H], input and recurrent biases; reset-before: one [3H]
        if cell == "gru":
            b_ih, b_hh = _gru_blocks_to_torch(bias[0], H), _gru_blocks_to_torch(bias[1], H)
        else:
            b_ih, b_hh = _gru_blocks_to_torch(bias, H), np.zeros(3 * H, np.float32)
    else:
        w_ih, w_hh = kernel.T, recurrent.T
        b_ih, b_hh = weights[2], np.zeros(G * H, np.float32)  # Keras LSTM gates i, f, c, o = PyTorch's
    return {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}


def keras_and_fusedrnn(cell, activation, recurrent_activation):
    if cell == "lstm":
        k = keras.layers.LSTM(
            H,
            activation=activation,
            recurrent_activation=recurrent_activation,
            return_sequences=True,
            return_state=True,
        )
        f = fr.LSTM(C, H, batch_first=True, activation=activation, recurrent_activation=recurrent_activation)
    elif cell in ("gru", "gru_reset_before"):
        reset_after = cell == "gru"
        k = keras.layers.GRU(
            H,
            activation=activation,
            recurrent_activation=recurrent_activation,
            return_sequences=True,
            return_state=True,
            reset_after=reset_after,
        )
        f = fr.GRU(
            C,
            H,
            batch_first=True,
            activation=activation,
            recurrent_activation=recurrent_activation,
            reset_after=reset_after,
        )
    else:
        k = keras.layers.SimpleRNN(H, activation=activation, return_sequences=True, return_state=True)
        f = fr.RNN(C, H, batch_first=True, activation=activation)
    k.build((N, T, C))
    rng = np.random.default_rng(3)
    # Keras's default bias is zero; random biases check that the bias is mapped too.
    k.set_weights(
        [
            w if i < 2 else rng.standard_normal(w.shape).astype(np.float32) * 0.3
            for i, w in enumerate(k.get_weights())
        ]
    )
    f.load_state_dict(fusedrnn_state_dict(k, cell))
    return k, f.eval()


def as_numpy(t):
    return keras.ops.convert_to_numpy(t)


CASES = [("lstm", a, "sigmoid") for a in NAMES] + [("lstm", "tanh", r) for r in NAMES if r != "sigmoid"]
CASES += [("gru", a, "sigmoid") for a in NAMES] + [("gru", "tanh", r) for r in NAMES if r != "sigmoid"]
CASES += [("gru_reset_before", a, "sigmoid") for a in NAMES]
CASES += [("gru_reset_before", "tanh", r) for r in NAMES if r != "sigmoid"]
CASES += [("rnn", a, None) for a in NAMES]


@pytest.mark.parametrize("cell, activation, recurrent_activation", CASES)
def test_forward_matches_keras(cell, activation, recurrent_activation):
    k, f = keras_and_fusedrnn(cell, activation, recurrent_activation)
    x = np.random.default_rng(4).standard_normal((N, T, C)).astype(np.float32)
    outputs = [as_numpy(o) for o in k(x)]
    if cell == "lstm":
        y, (h_n, c_n) = f(x)
        mine, theirs = [y, h_n[0], c_n[0]], outputs  # Keras returns [y, h, c]
    else:
        y, h_n = f(x)
        mine, theirs = [y, h_n[0]], outputs
    for name, a, b in zip(("y", "h_n", "c_n"), mine, theirs, strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)


def test_lecture_relu_lstm_weights_give_keras_prediction():
    # The lectures' LSTM(50, activation='relu') on [batch, 3, 1] inputs, with Keras's own initial
    # weights (and a random bias): fusedrnn's forward on the same weights equals Keras's at lecture-sized
    # inputs ([50, 51, 52]), where a tanh LSTM would saturate.
    k = keras.layers.LSTM(50, activation="relu")
    k.build((1, 3, 1))
    f = fr.LSTM(1, 50, activation="relu", batch_first=True)
    weights = k.get_weights()
    f.load_state_dict(
        {
            "weight_ih_l0": weights[0].T,
            "weight_hh_l0": weights[1].T,
            "bias_ih_l0": weights[2],
            "bias_hh_l0": np.zeros(200, np.float32),
        }
    )
    x = np.array([[[50.0], [51.0], [52.0]]], np.float32)
    _, (h_n, _) = f.eval()(x)
    np.testing.assert_allclose(h_n[0], as_numpy(k(x)), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("units, features", [(50, 1), (7, 3)])
def test_parameter_counts_both_ways(cell, units, features):
    keras_layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[cell](
        units
    )
    keras_layer.build((None, 3, features))
    layer = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}[cell](features, units)
    assert layer.parameter_count("keras") == keras_layer.count_params()
    torch_count = sum(v.size for v in layer.state_dict().values())
    assert layer.parameter_count() == torch_count
    text = layer.summary(print_fn=None)
    assert f"{torch_count:,}" in text and f"{keras_layer.count_params():,}" in text


KERAS_LAYERS = [
    lambda: keras.layers.LSTM(H, return_sequences=True, activation="relu"),
    lambda: keras.layers.LSTM(H, return_sequences=True, use_bias=False),
    lambda: keras.layers.GRU(H, return_sequences=True),
    lambda: keras.layers.GRU(
        H, return_sequences=True, reset_after=False, recurrent_activation="hard_sigmoid"
    ),
    lambda: keras.layers.SimpleRNN(H, return_sequences=True, activation="tanh"),
    lambda: keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True)),
    lambda: keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True, reset_after=False)),
]


@pytest.mark.parametrize("make", KERAS_LAYERS)
def test_from_keras_and_back(make):
    k = make()
    x = np.random.default_rng(5).standard_normal((N, T, C)).astype(np.float32)
    want = as_numpy(k(x))
    rng = np.random.default_rng(6)
    k.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32) for w in k.get_weights()])
    want = as_numpy(k(x))
    layer = fr.from_keras(k)
    assert layer.batch_first and layer.keras_options["return_sequences"]
    y, _ = layer.eval()(x)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    weights = layer.to_keras_weights()
    for mine, theirs in zip(weights, k.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)
    twin = make()
    twin.build((N, T, C))
    twin.set_weights(weights)  # the list Keras takes
    np.testing.assert_allclose(as_numpy(twin(x)), want, rtol=1e-5, atol=1e-5)


def test_from_keras_refusals():
    k = keras.layers.LSTM(H, go_backwards=True)
    k.build((N, T, C))
    with pytest.raises(ValueError, match="go_backwards"):
        fr.from_keras(k)
    with pytest.raises(TypeError, match="keras_layer: expected a Keras LSTM"):
        fr.from_keras(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="not built"):
        fr.from_keras(keras.layers.GRU(H))
    with pytest.raises(ValueError, match="num_layers=2"):
        fr.LSTM(C, H, num_layers=2).to_keras_weights()


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_from_keras_bidirectional_merge_modes(merge_mode):
    k = keras.layers.Bidirectional(keras.layers.GRU(H, return_sequences=True), merge_mode=merge_mode)
    x = np.random.default_rng(8).standard_normal((N, T, C)).astype(np.float32)
    want = as_numpy(k(x))
    layer = fr.from_keras(k)
    assert layer.merge_mode == merge_mode
    np.testing.assert_allclose(layer.eval()(x)[0], want, rtol=1e-5, atol=1e-5)
