"""fr.from_keras on a functional Keras model (keras.Input, layers called on tensors, keras.Model): an
fr.nn functional Model with the same layers and weights predicting what Keras predicts, with several
inputs and outputs, shared layers, return_state / initial_state and attention; what has no counterpart
is refused naming the layer."""

import os

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import nn

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
# Keras's torch backend warns from NumPy conversions of its own.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def keras_predict(model, X):
    out = model.predict(X, verbose=0)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def test_the_lecture_forecaster_written_functionally():
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((12, 2))
    h = layers.LSTM(16, return_sequences=True)(inputs)
    h = layers.Dropout(0.2)(h)
    h = layers.Bidirectional(layers.GRU(8))(h)
    outputs = layers.Dense(3, activation="softmax")(layers.Dense(5, activation="relu")(h))
    model = keras.Model(inputs, outputs)
    X = np.random.default_rng(0).standard_normal((9, 12, 2)).astype(np.float32)
    ours = fr.from_keras(model)
    assert isinstance(ours, nn.Model)
    got = ours.predict(X, verbose=0)
    np.testing.assert_allclose(got, keras_predict(model, X), rtol=2e-5, atol=2e-6)
    # It trains like any fr.nn model once compiled.
    ours.compile("adam", "categorical_crossentropy")
    ours.fit(X, np.eye(3, dtype=np.float32)[np.arange(9) % 3], epochs=1, verbose=0)


def test_two_inputs_two_outputs_a_shared_layer_and_states():
    keras.utils.set_random_seed(1)
    layers = keras.layers
    encoder_in = keras.Input((7, 3), name="encoder_in")
    decoder_in = keras.Input((5, 3), name="decoder_in")
    projection = layers.Dense(4, activation="tanh")  # called on both inputs: one layer, shared
    sequence, h, c = layers.LSTM(6, return_sequences=True, return_state=True)(projection(encoder_in))
    decoded = layers.LSTM(6, return_sequences=True)(projection(decoder_in), initial_state=[h, c])
    context = layers.Attention()([decoded, sequence])
    merged = layers.Concatenate()([decoded, context])
    step_out = layers.TimeDistributed(layers.Dense(3))(merged)
    summary = layers.Dense(2)(layers.Add()([h, c]))
    model = keras.Model([encoder_in, decoder_in], [step_out, summary])
    rng = np.random.default_rng(2)
    X = [rng.standard_normal((4, 7, 3)).astype(np.float32), rng.standard_normal((4, 5, 3)).astype(np.float32)]
    ours = fr.from_keras(model)
    got = ours.predict(X, verbose=0)
    want = keras_predict(model, X)
    assert isinstance(got, list) and len(got) == 2
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert [layer.name for layer in ours.layers].count(projection.name) == 1  # one layer, called twice
    assert ours.output_names == [t._keras_history[0].name for t in model.outputs]


def test_tokens_with_mask_zero_and_additive_attention():
    keras.utils.set_random_seed(3)
    layers = keras.layers
    tokens = keras.Input((8,), dtype="int32")
    embedded = layers.Embedding(25, 6, mask_zero=True)(tokens)
    sequence = layers.GRU(5, return_sequences=True)(embedded)
    last = layers.SimpleRNN(5)(sequence)
    query = layers.RepeatVector(1)(last)
    attended = layers.Flatten()(layers.AdditiveAttention()([query, sequence]))
    model = keras.Model(tokens, layers.Dense(1, activation="sigmoid")(attended))
    x = np.random.default_rng(4).integers(1, 25, (6, 8))
    x[0, 5:] = 0
    x[3, 2:] = 0
    got = fr.from_keras(model).predict(x, verbose=0)
    np.testing.assert_allclose(got, keras_predict(model, x), rtol=2e-5, atol=2e-6)


def test_a_converted_functional_chain_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    keras.utils.set_random_seed(5)
    layers = keras.layers
    inputs = keras.Input((10, 1))
    outputs = layers.Dense(1)(layers.LSTM(8)(layers.GRU(8, return_sequences=True)(inputs)))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "forecaster.onnx"
    fr.onnx.export(fr.from_keras(model), path)
    X = np.random.default_rng(6).standard_normal((5, 10, 1)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": X})[0], keras_predict(model, X), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(fr.onnx.load(path)(X), keras_predict(model, X), rtol=2e-5, atol=2e-6)


def test_what_has_no_counterpart_is_refused_naming_the_layer():
    layers = keras.layers
    inputs = keras.Input((5, 2))
    conv = layers.Conv1D(2, 3, name="conv")(inputs)
    with pytest.raises(ValueError, match=r"layer 'conv' \(Conv1D\) has no fr.nn counterpart"):
        fr.from_keras(keras.Model(inputs, layers.Dense(1)(layers.Flatten()(conv))))
    inputs = keras.Input((5, 2))
    outputs = layers.Bidirectional(layers.LSTM(3, return_state=True), name="bi")(inputs)
    with pytest.raises(ValueError, match="bi: a Bidirectional layer with return_state=True"):
        fr.from_keras(keras.Model(inputs, outputs[0]))
    inputs = keras.Input((5, 2))
    query = layers.Dense(2)(inputs)
    attended = layers.Attention(name="att")([query, inputs], return_attention_scores=True)
    model = keras.Model(inputs, attended[1])
    ours = fr.from_keras(model)  # an option fr.nn has too is converted
    x = np.random.default_rng(7).standard_normal((3, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_predict(model, x), rtol=2e-5, atol=2e-6)
