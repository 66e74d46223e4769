"""Batch invariance of whole models: a sample's prediction from an fr.nn model or an fr.sklearn estimator is
bitwise the same whatever other samples share its batch, wherever it sits in it, and whatever predict's
batch_size, on every SIMD path.

The recurrent layers' own invariance (tests of the kernels) is a precondition: the models below put a
fusedrnn LSTM / GRU / RNN under a Dense head, so on the AVX2 / AVX-512 paths they pass only once the
recurrent step computes one- and two-row batches in the same order as larger ones. The Dense-only tests
hold on their own (Dense's product runs through the package's GEMM, whose rows never depend on M).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fusedrnn import nn

ROWS, STEPS, FEATURES = 70, 5, 3

# Any batch of 1..70 rows drawn from the 70 samples: any order, repeats allowed.
subsets = st.lists(st.integers(0, ROWS - 1), min_size=1, max_size=ROWS)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((ROWS, STEPS, FEATURES)).astype(np.float32)


def _assert_rows_equal(subset_result, full_result, idx):
    expected = full_result[np.asarray(idx)]
    assert subset_result.shape == expected.shape
    assert np.array_equal(subset_result, expected), (
        f"{len(idx)} rows: max |diff| {np.max(np.abs(subset_result - expected))}"
    )


# -- Dense alone: independent of the recurrent kernels -------------------------------------------------


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("units, features", [(1, 32), (10, 256), (3, 7), (17, 300)])
@given(idx=subsets)
def test_dense_rows_do_not_depend_on_the_batch(units, features, idx):
    rng = np.random.default_rng(units)
    X = rng.standard_normal((ROWS, features)).astype(np.float32)
    model = nn.Sequential([nn.Dense(units, activation="tanh")], seed=1)
    _assert_rows_equal(model.predict(X[idx]), model.predict(X), idx)


@pytest.mark.usefixtures("isa")
@given(idx=subsets, batch_size=st.integers(1, 80))
def test_dense_on_every_step_and_any_predict_batch_size(idx, batch_size):
    X = _data()
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dense(2)], seed=2)
    full = model.predict(X, batch_size=None)
    _assert_rows_equal(model.predict(X[idx], batch_size=batch_size), full, idx)


def test_dense_batch_sizes_where_numpy_matmul_differs():
    # The batch sizes of the issue (NumPy's BLAS gave up to 6e-8 between them), a head of 256 features.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((256, 256)).astype(np.float32)
    model = nn.Sequential([nn.Dense(10)], seed=3)
    full = model.predict(X, batch_size=None)
    for n in (1, 2, 15, 31, 57, 255):
        for start in (0, 1, 256 - n):
            idx = list(range(start, start + n))
            _assert_rows_equal(model.predict(X[idx]), full, idx)


# -- whole models (need the recurrent kernels' batch invariance on AVX2 / AVX-512) ----------------------

MODELS = {
    "lstm": lambda: [nn.LSTM(16), nn.Dense(1)],
    "gru-relu": lambda: [nn.GRU(12, activation="relu"), nn.Dense(4, activation="sigmoid")],
    "simple-rnn": lambda: [nn.SimpleRNN(8, nonlinearity="relu"), nn.Dense(2)],
    "stacked-bidirectional": lambda: [nn.LSTM(8, num_layers=2, bidirectional=True), nn.Dense(3)],
    "projection": lambda: [nn.LSTM(16, proj_size=5), nn.Dense(1)],
    "sequences": lambda: [nn.GRU(8, return_sequences=True), nn.Dropout(0.3), nn.Dense(2)],
    "two-recurrent": lambda: [nn.LSTM(8, return_sequences=True), nn.SimpleRNN(6), nn.Dense(1)],
}
_built: dict[str, nn.Sequential] = {}


def _model(name):
    if name not in _built:
        model = nn.Sequential(MODELS[name](), seed=4)
        model.build((None, STEPS, FEATURES))
        _built[name] = model
    return _built[name]


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("name", list(MODELS))
@given(idx=subsets)
def test_model_rows_do_not_depend_on_the_batch(name, idx):
    model, X = _model(name), _data()
    _assert_rows_equal(model.predict(X[idx]), model.predict(X), idx)


@pytest.mark.usefixtures("isa")
@given(idx=subsets, batch_size=st.integers(1, 80))
def test_embedding_model_and_predict_batch_size(idx, batch_size):
    tokens = np.random.default_rng(5).integers(0, 20, (ROWS, STEPS))
    model = nn.Sequential([nn.Embedding(20, 6), nn.GRU(8), nn.Dense(3)], seed=5)
    full = model.predict(tokens, batch_size=None)
    _assert_rows_equal(model.predict(tokens[idx], batch_size=batch_size), full, idx)


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("fmt", ["int8", "bf16"])
@given(idx=subsets)
def test_quantized_model_rows_do_not_depend_on_the_batch(fmt, idx):
    from fusedrnn import _core

    previous = _core._reduced_min_weights()
    _core._set_reduced_min_weights(0)  # the reduced kernels even for these small layers
    try:
        model = nn.Sequential([nn.LSTM(16), nn.Dense(2)], seed=6)
        model.build((None, STEPS, FEATURES))
        quantized, X = model.quantized(fmt), _data()
        _assert_rows_equal(quantized.predict(X[idx]), quantized.predict(X), idx)
    finally:
        _core._set_reduced_min_weights(previous)


def test_predict_batch_size_is_checked():
    model = _model("lstm")
    X = _data()
    for bad, kind in ((0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(kind, match="batch_size"):
            model.predict(X, batch_size=bad)
    assert np.array_equal(model.predict(X, batch_size=np.int64(7)), model.predict(X))
    assert model.predict(X[:0]).shape == (0, 1)
    assert model.predict(X).flags.c_contiguous


# -- scikit-learn estimators ---------------------------------------------------------------------------

sklearn = pytest.importorskip("sklearn")
from fusedrnn.sklearn import RecurrentClassifier, RecurrentRegressor  # noqa: E402

_estimators: dict[str, object] = {}


def _estimator(kind):
    if kind not in _estimators:
        X = _data(7)
        target = X[:, :, 0].sum(axis=1)
        if kind == "regressor":
            estimator = RecurrentRegressor(cell="gru", hidden_size=8, epochs=3, random_state=0)
            _estimators[kind] = estimator.fit(X, np.stack([target, -target], axis=1))
        else:
            estimator = RecurrentClassifier(hidden_size=8, epochs=3, random_state=0)
            _estimators[kind] = estimator.fit(X, np.digitize(target, [-1.0, 1.0]))
    return _estimators[kind]


@pytest.mark.usefixtures("isa")
@given(idx=subsets, batch_size=st.one_of(st.none(), st.integers(1, 80)))
def test_regressor_predict_rows_do_not_depend_on_the_batch(idx, batch_size):
    estimator, X = _estimator("regressor"), _data(7)
    _assert_rows_equal(estimator.predict(X[idx], batch_size=batch_size), estimator.predict(X), idx)


@pytest.mark.usefixtures("isa")
@given(idx=subsets, batch_size=st.one_of(st.none(), st.integers(1, 80)))
def test_classifier_rows_do_not_depend_on_the_batch(idx, batch_size):
    estimator, X = _estimator("classifier"), _data(7)
    proba = estimator.predict_proba(X)
    _assert_rows_equal(estimator.predict_proba(X[idx], batch_size=batch_size), proba, idx)
    _assert_rows_equal(estimator.predict(X[idx], batch_size=batch_size), estimator.predict(X), idx)
    assert np.allclose(proba.sum(axis=1), 1)


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("estimator", [RecurrentRegressor, RecurrentClassifier])
def test_scikit_learn_invariance_checks_on_every_isa(estimator):
    # tests/test_sklearn.py runs all of scikit-learn's checks on the active path; these two compare
    # predictions of 2-row batches with the whole batch, so they pass by construction only with batch
    # invariance: run them on every path the machine has.
    from sklearn.utils.estimator_checks import (
        check_methods_sample_order_invariance,
        check_methods_subset_invariance,
    )

    instance = estimator(epochs=3, random_state=0)
    check_methods_subset_invariance(estimator.__name__, instance)
    check_methods_sample_order_invariance(estimator.__name__, instance)
