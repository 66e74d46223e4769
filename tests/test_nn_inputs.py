"""fr.nn and fr.sklearn check their inputs as Keras and scikit-learn do: each bad argument a ValueError or
TypeError naming it, before training starts; a loss that stops being finite warns once, and
TerminateOnNaN stops there."""

import importlib
import warnings

import numpy as np
import pytest

from fusedrnn import nn


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((8, 5, 2), dtype=np.float32), rng.random((8, 1), dtype=np.float32)


def regressor():
    model = nn.Sequential([nn.LSTM(4, input_shape=(5, 2)), nn.Dense(1)], seed=1)
    model.compile(optimizer="adam", loss="mse")
    return model


def classifier(loss):
    model = nn.Sequential([nn.LSTM(4, input_shape=(5, 2)), nn.Dense(3, activation="softmax")], seed=1)
    model.compile(optimizer="adam", loss=loss)
    return model


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size: expected an int >= 1, got 0"),
        ({"batch_size": -5}, "batch_size: expected an int >= 1, got -5"),
        ({"epochs": -1}, "epochs: expected an int >= 0, got -1"),
        ({"validation_split": 1.0}, "validation_split: expected 0 <= validation_split < 1"),
        ({"validation_split": -0.1}, "validation_split: expected 0 <= validation_split < 1"),
        ({"validation_split": 0.9}, "validation_split: 0.9 of 8 samples leaves none to train on"),
    ],
)
def test_fit_refuses_bad_arguments_naming_them(data, arguments, message):
    X, y = data
    model = regressor()
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, verbose=0, **arguments)
    for p, q in zip(model.parameters(), before, strict=True):  # refused before any step
        np.testing.assert_array_equal(p, q)


def test_fit_refuses_empty_data_and_mismatched_targets(data):
    X, y = data
    with pytest.raises(ValueError, match="X: expected at least one sample"):
        regressor().fit(X[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="y: expected 8 samples like X, got 5"):
        regressor().fit(X, y[:5], verbose=0)


@pytest.mark.parametrize("labels", [[-1, 0, 1, 2, 0, 1, 2, 0], [3, 0, 1, 2, 0, 1, 2, 0]])
def test_sparse_labels_out_of_range_are_refused(data, labels):
    X, _ = data
    with pytest.raises(ValueError, match=r"target: expected labels in \[0, 3\)"):
        classifier("sparse_categorical_crossentropy").fit(X, np.array(labels), verbose=0)


def test_embedding_ids_out_of_range_name_the_ids():
    model = nn.Sequential([nn.Embedding(10, 3), nn.LSTM(2), nn.Dense(1)], seed=0)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"x: expected integer tokens in \[0, 10\), got 1\.\.30"):
        model.fit(np.array([[1, 2, 30]]), np.zeros((1, 1), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"x: expected integer tokens in \[0, 10\), got -2\.\.2"):
        model.predict(np.array([[1, 2, -2]]))
    with pytest.raises(ValueError, match="got dtype float64"):
        model.predict(np.array([[1.0, 2.0]]))


def test_a_loss_that_becomes_nan_warns_once_and_terminate_on_nan_stops(data):
    X, y = data
    X = X.copy()
    X[3, 2, 1] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = regressor().fit(X, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    nan_warnings = [w for w in caught if "the loss became nan" in str(w.message)]
    assert len(nan_warnings) == 1 and nan_warnings[0].category is RuntimeWarning
    message = str(nan_warnings[0].message)
    assert "epoch 1, batch 1" in message and "TerminateOnNaN" in message
    assert len(history.history["loss"]) == 3 and np.isnan(history.history["loss"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = regressor().fit(
            X, y, epochs=3, batch_size=4, shuffle=False, verbose=0, callbacks=[nn.TerminateOnNaN()]
        )
    assert len(history.history["loss"]) == 1


def test_finite_training_does_not_warn(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regressor().fit(X, y, epochs=2, verbose=0)


def test_scikit_learn_estimators_refuse_empty_and_nan_inputs(data):
    pytest.importorskip("sklearn", reason="needs scikit-learn")
    sk = importlib.import_module("fusedrnn.sklearn")
    X, y = data
    with pytest.raises(ValueError, match="0 sample"):
        sk.RecurrentRegressor(epochs=1).fit(X[:0], y[:0, 0])
    with pytest.raises(ValueError, match="NaN"):
        sk.RecurrentRegressor(epochs=1).fit(np.where(X > 0.9, np.nan, X), y[:, 0])
    with pytest.raises(ValueError, match="epochs"):
        sk.RecurrentRegressor(epochs=-1).fit(X, y[:, 0])
    with pytest.raises(ValueError, match="batch_size"):
        sk.RecurrentClassifier(batch_size=0).fit(X, np.arange(8) % 2)
