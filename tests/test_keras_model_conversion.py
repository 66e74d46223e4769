"""fr.from_keras on a whole Keras Sequential model: an fr.nn Sequential with the same layers and weights
predicting what Keras predicts (recurrent stacks, Bidirectional, Embedding with mask_zero, Dense
activations, Dropout, TimeDistributed), and a clear refusal of what has no counterpart."""

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
    return np.asarray(model.predict(X, verbose=0))


def test_the_lecture_forecaster_and_a_deeper_stack():
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((12, 2)),
            layers.LSTM(16, return_sequences=True),
            layers.Dropout(0.2),
            layers.TimeDistributed(layers.Dense(5, activation="relu")),
            layers.GRU(8, return_sequences=True),
            layers.SimpleRNN(6, activation="relu"),
            layers.Dense(5, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    X = np.random.default_rng(0).standard_normal((9, 12, 2)).astype(np.float32)
    ours = fr.from_keras(model)
    assert isinstance(ours, nn.Sequential)
    assert [type(layer).__name__ for layer in ours.layers] == [
        "Recurrent",
        "Dropout",
        "TimeDistributed",
        "Recurrent",
        "Recurrent",
        "Dense",
        "Dense",
    ]
    np.testing.assert_allclose(ours.predict(X, verbose=0), keras_predict(model, X), rtol=2e-5, atol=2e-6)
    # It trains like any fr.nn model once compiled.
    ours.compile("adam", "categorical_crossentropy")
    ours.fit(X, np.eye(3, dtype=np.float32)[np.arange(9) % 3], epochs=1, verbose=0)


def test_embedding_with_mask_zero_and_bidirectional():
    keras.utils.set_random_seed(1)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((7,), dtype="int32"),
            layers.Embedding(30, 8, mask_zero=True),
            layers.Bidirectional(layers.LSTM(6), merge_mode="sum"),
            layers.Dense(4, activation="tanh"),
        ]
    )
    tokens = np.random.default_rng(2).integers(1, 30, (6, 7))
    tokens[0, 5:] = 0  # padded sequences: the mask reaches the recurrent layer as lengths
    tokens[3, 2:] = 0
    expected = keras_predict(model, tokens)
    got = fr.from_keras(model).predict(tokens, verbose=0)
    for n, length in enumerate((tokens != 0).sum(axis=1)):  # Keras's outputs past a sequence's end are
        np.testing.assert_allclose(
            got[n, :length], expected[n, :length], rtol=2e-5, atol=2e-6
        )  # not compared


def test_what_has_no_counterpart_is_refused():
    layers = keras.layers
    model = keras.Sequential([keras.Input((5, 1)), layers.Conv1D(2, 3), layers.Dense(1)])
    with pytest.raises(ValueError, match="Conv1D.*no fr.nn counterpart"):
        fr.from_keras(model)
    with pytest.raises(ValueError, match="not built"):
        fr.from_keras(keras.Sequential([layers.LSTM(3), layers.Dense(1)]))
