"""fr.onnx.export of a whole fr.nn Sequential, or of a functional Model that is a chain of layers:
onnxruntime on the exported file predicts what the model predicts (recurrent stacks with their heads,
masks as sequence_lens, Embedding, RepeatVector, Flatten, activations), and what has no ONNX form (or a
functional model that is not a chain) is refused by name."""

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import nn
from fusedrnn.nn.onnx_export import export_model

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def check(model, x, tmp_path, rtol=1e-5, atol=1e-6):
    path = tmp_path / "model.onnx"
    fr.onnx.export(model, path)
    np.testing.assert_allclose(run_onnx(path, x), model.predict(x, verbose=0), rtol=rtol, atol=atol)


def test_the_lecture_forecaster_and_a_classifier(tmp_path):
    x = np.random.default_rng(0).standard_normal((7, 33, 1)).astype(np.float32)
    check(nn.Sequential([nn.LSTM(16, input_shape=(33, 1)), nn.Dense(1)], seed=0), x, tmp_path)
    layers = [
        nn.GRU(12, return_sequences=True, input_shape=(33, 1)),
        nn.Dropout(0.3),
        nn.Bidirectional(nn.LSTM(8), merge_mode="concat"),
        nn.Dense(6, activation="swish"),
        nn.Dense(3, activation="softmax"),
    ]
    check(nn.Sequential(layers, seed=1), x, tmp_path)


def test_masks_become_sequence_lengths(tmp_path):
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 40, (6, 9))
    tokens[1, 4:] = 0
    tokens[4, 1:] = 0
    model = nn.Sequential(
        [nn.Embedding(40, 5, mask_zero=True, input_shape=(9,)), nn.LSTM(7), nn.Dense(2, activation="tanh")],
        seed=2,
    )
    check(model, tokens, tmp_path)
    x = rng.standard_normal((5, 8, 3)).astype(np.float32)
    x[0, 5:] = 0.0
    x[3, 2:] = 0.0
    masked = nn.Sequential(
        [
            nn.Masking(0.0, input_shape=(8, 3)),
            nn.Bidirectional(nn.SimpleRNN(4, return_sequences=True)),
            nn.GRU(5),
            nn.Dense(1),
        ],
        seed=3,
    )
    check(masked, x, tmp_path)


def test_sequence_to_sequence_heads(tmp_path):
    x = np.random.default_rng(2).standard_normal((4, 6, 2)).astype(np.float32)
    model = nn.Sequential(
        [
            nn.LSTM(8, input_shape=(6, 2)),
            nn.RepeatVector(3),
            nn.LSTM(8, return_sequences=True),
            nn.TimeDistributed(nn.Dense(2)),
            nn.Flatten(),
            nn.Activation("sigmoid"),
        ],
        seed=4,
    )
    check(model, x, tmp_path)


def test_what_has_no_onnx_form_is_refused(tmp_path):
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=r"model.layers\[1\] \(Dense\): activation 'relu6'"):
        fr.onnx.export(nn.Sequential([nn.LSTM(4, input_shape=(3, 1)), nn.Dense(2, activation="relu6")]), path)
    with pytest.raises(ValueError, match="merge_mode='sum' is not exported"):
        fr.onnx.export(
            nn.Sequential([nn.Bidirectional(nn.LSTM(4), merge_mode="sum", input_shape=(3, 1))]), path
        )
    with pytest.raises(ValueError, match="not built"):
        fr.onnx.export(nn.Sequential([nn.LSTM(4), nn.Dense(1)]), path)
    with pytest.raises(ValueError, match="with_lengths"):
        fr.onnx.export(nn.Sequential([nn.LSTM(4, input_shape=(3, 1))]), path, with_lengths=True)
    assert not path.exists()


# --- functional models: a chain of layers from one Input to one output -----------------------------------


def test_a_functional_chain_exports_like_its_sequential(tmp_path):
    x = np.random.default_rng(3).standard_normal((5, 10, 2)).astype(np.float32)
    inputs = nn.Input(shape=(10, 2))
    h = nn.LSTM(12, return_sequences=True)(inputs)
    h = nn.Bidirectional(nn.GRU(6))(h)
    outputs = nn.Dense(3, activation="softmax")(nn.Dense(8, activation="relu")(h))
    model = nn.Model(inputs, outputs, seed=5)
    check(model, x, tmp_path)
    # Loaded back, it predicts the same (and is the same layers).
    back = fr.onnx.load(tmp_path / "model.onnx")
    np.testing.assert_allclose(back(x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in back.layers] == ["LSTM", "GRU"]


def test_a_functional_chain_with_tokens_and_any_number_of_steps(tmp_path):
    rng = np.random.default_rng(4)
    tokens = nn.Input(shape=(None,), dtype="int64")
    h = nn.Embedding(30, 6, mask_zero=True)(tokens)
    h = nn.SimpleRNN(5)(h)
    model = nn.Model(tokens, nn.Dense(1, activation="sigmoid")(h), seed=6)
    path = tmp_path / "model.onnx"
    fr.onnx.export(model, path)
    for steps in (4, 11):
        x = rng.integers(1, 30, (3, steps))
        x[0, 2:] = 0
        np.testing.assert_allclose(run_onnx(path, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_functional_model_that_is_not_a_chain_is_refused_by_name(tmp_path):
    path = tmp_path / "m.onnx"
    a, b = nn.Input(shape=(4, 2)), nn.Input(shape=(4, 2))
    two_inputs = nn.Model([a, b], nn.Dense(1)(nn.Concatenate()([nn.LSTM(3)(a), nn.LSTM(3)(b)])))
    with pytest.raises(ValueError, match="2 inputs and 1 outputs"):
        fr.onnx.export(two_inputs, path)
    x = nn.Input(shape=(4, 2))
    h = nn.LSTM(3, return_sequences=True)(x)
    branched = nn.Model(x, nn.Add(name="skip")([h, nn.LSTM(3, return_sequences=True)(h)]))
    with pytest.raises(ValueError, match=r"layer 'skip' \(Add\): it takes 2 tensors"):
        fr.onnx.export(branched, path)
    x = nn.Input(shape=(4, 2))
    seq, state_h, state_c = nn.LSTM(3, return_sequences=True, return_state=True)(x)
    with pytest.raises(ValueError, match="3 outputs"):
        fr.onnx.export(nn.Model(x, nn.Dense(1)(state_h)), path)
    x = nn.Input(shape=(4, 2))
    y = nn.Dense(1, activation="relu6", name="head")(nn.LSTM(3)(x))
    with pytest.raises(ValueError, match=r"layer 'head' \(Dense\): activation 'relu6'"):
        fr.onnx.export(nn.Model(x, y), path)
    with pytest.raises(TypeError, match="expected an fr.nn Sequential or Model, got dict"):
        export_model({}, path)
    assert not path.exists()
