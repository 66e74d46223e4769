"""The Keras habits side by side with Keras 3 (the `parity` extra; torch backend): the lecture code
pasted into both, and where the two must agree they do — History keys, output shapes, and with the
same weights the same predictions, losses and metrics (masked, bidirectional and softmax models
included)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import fusedrnn as fr  # noqa: E402
from fusedrnn import nn  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # Keras 3 warns about input_shape= (it prefers Input(shape)): the lectures pass it all the same.
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`"),
]


def as_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def copy_weights(k_model, f_model):
    """Keras's weights into the fr.nn model of the same layers (recurrent ones through fr.from_keras)."""
    weights = []
    for k_layer in k_model.layers:
        inner = k_layer.layer if isinstance(k_layer, keras.layers.TimeDistributed) else k_layer
        if isinstance(inner, (keras.layers.RNN, keras.layers.Bidirectional)):
            weights += [p for _, p in fr.from_keras(inner).named_parameters()]
        else:
            weights += [np.asarray(w) for w in inner.get_weights()]
    f_model.set_weights(weights)


def test_the_lecture_code_pasted_into_both():
    X = np.array([[i, i + 1, i + 2] for i in range(1, 100, 3)], np.float32)[:, :, None]
    Y = X.sum(axis=1)
    histories, models = [], []
    for lib in (keras, nn):
        Sequential = lib.models.Sequential if lib is keras else lib.Sequential
        LSTM = lib.layers.LSTM if lib is keras else lib.LSTM
        Dense = lib.layers.Dense if lib is keras else lib.Dense
        model = Sequential()
        model.add(LSTM(50, activation="relu", input_shape=(3, 1)))
        model.add(Dense(1))
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        history = model.fit(X, Y, epochs=3, validation_split=0.2, verbose=0)
        histories.append(history)
        models.append(model)
    assert list(histories[0].history) == list(histories[1].history)
    assert histories[0].epoch == histories[1].epoch
    assert models[0].predict(X[:2], verbose=0).shape == models[1].predict(X[:2], verbose=0).shape
    copy_weights(*models)
    k_pred, f_pred = models[0].predict(X, verbose=0), models[1].predict(X, verbose=0)
    np.testing.assert_allclose(f_pred, k_pred, rtol=1e-4, atol=1e-3)
    # The metrics of the same predictions: each library's evaluate on its own (equal) predictions.
    np.testing.assert_allclose(
        models[1].evaluate(X, Y, verbose=0), models[0].evaluate(X, Y, verbose=0), rtol=1e-4
    )


def classifier_pair(loss, activation="softmax"):
    k = keras.Sequential(
        [
            keras.Input(shape=(7, 3)),
            keras.layers.Masking(0.0),
            keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True)),
            keras.layers.GRU(4),
            keras.layers.Dense(3, activation=activation),
        ]
    )
    f = nn.Sequential(
        [
            nn.Input(shape=(7, 3)),
            nn.Masking(0.0),
            nn.Bidirectional(nn.LSTM(5, return_sequences=True)),
            nn.GRU(4),
            nn.Dense(3, activation=activation),
        ]
    )
    for model in (k, f):
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    copy_weights(k, f)
    return k, f


def padded_data(rng):
    X = rng.standard_normal((12, 7, 3)).astype(np.float32)
    for i, n in enumerate(rng.integers(1, 8, 12)):
        X[i, n:] = 0.0  # post-padding
    labels = rng.integers(0, 3, 12)
    return X, labels


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_masked_bidirectional_softmax_classifier_agrees(rng, loss):
    X, labels = padded_data(rng)
    y = labels if loss.startswith("sparse") else np.eye(3, dtype=np.float32)[labels]
    k, f = classifier_pair(loss)
    np.testing.assert_allclose(f.predict(X, verbose=0), k.predict(X, verbose=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f.evaluate(X, y, verbose=0), k.evaluate(X, y, verbose=0), rtol=1e-4)


def test_from_logits_agrees(rng):
    X, labels = padded_data(rng)
    k, f = classifier_pair(keras.losses.SparseCategoricalCrossentropy(from_logits=True), activation=None)
    f.compile("adam", nn.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    np.testing.assert_allclose(f.evaluate(X, labels, verbose=0), k.evaluate(X, labels, verbose=0), rtol=1e-4)


@pytest.mark.parametrize("name", sorted(set(nn.ACTIVATIONS) - {"hard_tanh"}))
def test_activations_agree(rng, name):
    z = rng.standard_normal((4, 6)).astype(np.float32) * 3
    want = as_numpy(keras.activations.get(name)(keras.ops.convert_to_tensor(z)))
    np.testing.assert_allclose(nn.ACTIVATIONS[name][0](z), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "ours, theirs, kind",
    [
        (nn.CategoricalCrossentropy(), keras.losses.CategoricalCrossentropy(), "one_hot"),
        (nn.SparseCategoricalCrossentropy(), keras.losses.SparseCategoricalCrossentropy(), "labels"),
        (nn.BinaryCrossentropy(), keras.losses.BinaryCrossentropy(), "binary"),
        (
            nn.BinaryCrossentropy(from_logits=True),
            keras.losses.BinaryCrossentropy(from_logits=True),
            "binary",
        ),
    ],
)
def test_losses_agree_on_the_same_arrays(rng, ours, theirs, kind):
    pred = rng.uniform(0, 1, (8, 4)).astype(np.float32)
    pred[0, 0] = 0.0  # clipped
    labels = rng.integers(0, 4, 8)
    if kind == "binary":
        target = (rng.random((8, 4)) > 0.5).astype(np.float32)
        if ours.from_logits:
            pred = rng.standard_normal((8, 4)).astype(np.float32) * 4
    else:
        pred /= pred.sum(axis=1, keepdims=True)
        target = labels if kind == "labels" else np.eye(4, dtype=np.float32)[labels]
    assert ours(pred, target)[0] == pytest.approx(float(as_numpy(theirs(target, pred))), rel=1e-5)


def test_shapes_of_the_shape_layers_agree(rng):
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    pairs = [
        (keras.layers.Flatten(), nn.Flatten()),
        (keras.layers.TimeDistributed(keras.layers.Dense(4)), nn.TimeDistributed(nn.Dense(4))),
        (keras.layers.LSTM(4, return_state=True), nn.LSTM(4, return_state=True)),
        (
            keras.layers.Bidirectional(keras.layers.GRU(4, return_state=True)),
            nn.Bidirectional(nn.GRU(4, return_state=True)),
        ),
    ]
    for k, f in pairs:
        k_out, f_out = k(x), f(x)
        k_shapes = [tuple(t.shape) for t in k_out] if isinstance(k_out, (list, tuple)) else tuple(k_out.shape)
        f_shapes = [t.shape for t in f_out] if isinstance(f_out, list) else f_out.shape
        assert f_shapes == k_shapes
    assert nn.RepeatVector(3)(x[:, 0]).shape == tuple(keras.layers.RepeatVector(3)(x[:, 0]).shape)


def test_a_keras_callback_object_works_in_fr_nn_fit(rng):
    X = rng.standard_normal((16, 5, 2)).astype(np.float32)

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append((epoch, sorted(logs)))

    recorder = Recorder()
    model = nn.Sequential([nn.LSTM(4, input_shape=(5, 2)), nn.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(X, X[:, -1, :1], epochs=2, callbacks=[recorder], verbose=0)
    assert recorder.seen == [(0, ["loss", "mae"]), (1, ["loss", "mae"])]
    assert recorder.model is model
