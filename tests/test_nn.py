"""The fr.nn toolkit: every layer's and loss's gradient against central finite differences (float64
arithmetic on the toolkit's float32 parameters, so tolerances are float32's), and the lectures' models
trained end to end to their stated results."""

import numpy as np
import pytest
from reference_helpers import numerical_grad

from fusedrnn import nn


def numerical(f, array, eps=1e-2):
    return numerical_grad(f, array, eps).astype(np.float64)


def check_layer(layer, x, rng, atol=2e-3):
    shape = layer.build(x.shape, rng)
    y = layer.forward(x, training=True)
    assert y.shape == tuple(s if s is not None else x.shape[0] for s in shape)
    r = rng.standard_normal(y.shape).astype(np.float32)

    def loss():
        return float(np.sum(layer.forward(x, training=True).astype(np.float64) * r))

    layer.zero_grad()
    layer.forward(x, training=True)
    dx = layer.backward(r)
    if dx is not None:
        np.testing.assert_allclose(dx, numerical(loss, x), rtol=2e-2, atol=atol, err_msg="dx")
    for p, g in zip(layer.parameters(), layer.gradients(), strict=True):
        np.testing.assert_allclose(g, numerical(loss, p), rtol=2e-2, atol=atol)


@pytest.mark.parametrize("activation", [None, "tanh", "sigmoid", "relu"])
def test_dense_gradients(rng, activation):
    check_layer(nn.Dense(4, activation), rng.standard_normal((3, 5, 6)).astype(np.float32), rng)


RECURRENT = [
    lambda: nn.LSTM(4),
    lambda: nn.GRU(4, return_sequences=True),
    lambda: nn.SimpleRNN(3, bidirectional=True),
    lambda: nn.LSTM(3, num_layers=2, bidirectional=True, return_sequences=True),
]


@pytest.mark.parametrize("make", RECURRENT)
def test_recurrent_gradients(rng, make):
    check_layer(make(), rng.standard_normal((2, 4, 3)).astype(np.float32), rng)


def test_embedding_and_dropout(rng):
    emb = nn.Embedding(7, 3)
    tokens = rng.integers(0, 7, (4, 5))
    assert emb.build(tokens.shape, rng) == (4, 5, 3)
    out = emb.forward(tokens, True)
    emb.zero_grad()
    emb.backward(np.ones_like(out))
    np.testing.assert_array_equal(emb.dE.sum(axis=1), 3 * np.bincount(tokens.ravel(), minlength=7))
    with pytest.raises(ValueError, match=r"x: expected integer tokens in \[0, 7\)"):
        emb.forward(np.array([[7]]), True)
    drop = nn.Dropout(0.5)
    drop.build((100, 100), rng)
    x = np.ones((100, 100), np.float32)
    kept = drop.forward(x, training=True)
    assert abs((kept == 0).mean() - 0.5) < 0.05 and set(np.unique(kept)) <= {0.0, 2.0}
    np.testing.assert_array_equal(drop.backward(x), kept)
    np.testing.assert_array_equal(drop.forward(x, training=False), x)


@pytest.mark.parametrize("loss", ["mse", "mae", "binary_crossentropy"])
def test_regression_and_binary_losses(rng, loss):
    pred = rng.uniform(0.1, 0.9, (6, 2))
    target = rng.random((6, 2))
    if loss == "binary_crossentropy":
        target = (target > 0.5).astype(np.float64)
    _, grad = nn.LOSSES[loss](pred, target)
    want = numerical(lambda: nn.LOSSES[loss](pred, target)[0], pred, 1e-6)
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-8)


def test_cross_entropy(rng):
    logits = rng.standard_normal((4, 3, 5))
    labels = rng.integers(0, 5, (4, 3))
    value, grad = nn.sparse_categorical_crossentropy(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.log(np.take_along_axis(p, labels[..., None], -1))))
    np.testing.assert_allclose(
        grad,
        numerical(lambda: nn.sparse_categorical_crossentropy(logits, labels)[0], logits, 1e-6),
        rtol=1e-4,
        atol=1e-8,
    )
    with pytest.raises(ValueError, match="target: expected integer labels"):
        nn.sparse_categorical_crossentropy(logits, labels.astype(float))


def test_lectures_sum_of_three_numbers():
    # The notes: LSTM(50, activation='relu') + Dense(1), adam, mse, 1000 epochs; [50, 51, 52] -> 152.93.
    X = np.array([[i, i + 1, i + 2] for i in range(1, 100, 3)], np.float32)[:, :, None]
    y = X.sum(axis=1)
    model = nn.Sequential([nn.LSTM(50, activation="relu", init="keras"), nn.Dense(1)], seed=0)
    model.compile("adam", "mse")
    history = model.fit(X, y, epochs=1000, batch_size=len(X), verbose=0)
    assert history["loss"][-1] < history["loss"][0] / 100
    prediction = model.predict(np.array([[[50.0], [51.0], [52.0]]], np.float32))[0, 0]
    assert prediction == pytest.approx(153, abs=1.5)
    text = model.summary(print_fn=None)
    assert "10,600" in text and "Total params: 10,651" in text


def test_fit_validation_early_stopping_and_errors(rng):
    X = rng.standard_normal((40, 5, 2)).astype(np.float32)
    y = X[:, -1, :1] * 2
    model = nn.Sequential([nn.GRU(8), nn.Dense(1)], seed=1)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(X, y)
    model.compile(nn.SGD(0.05, momentum=0.9, clipnorm=1.0), "mse")
    stop = nn.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(X, y, epochs=200, batch_size=8, validation_split=0.25, callbacks=[stop], verbose=0)
    assert len(history["loss"]) < 200 and len(history["val_loss"]) == len(history["loss"])
    assert model.evaluate(X[30:], y[30:]) == pytest.approx(min(history["val_loss"]), rel=1e-5)
    with pytest.raises(ValueError, match="y: expected 40 samples"):
        model.fit(X, y[:3])
    with pytest.raises(ValueError, match="X: the model was built for samples of shape"):
        model.predict(X[:, :, :1])
    with pytest.raises(ValueError, match="optimizer: expected"):
        model.compile("adagrad")
