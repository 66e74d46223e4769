"""fr.sklearn's partial_fit (one epoch per call, the model and Adam's state kept between calls) and 2-D X
of flattened sequences (n_features), which is what dask-ml's Incremental and ParallelPostFit hand over."""

import importlib

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="needs scikit-learn")

sk = importlib.import_module("fusedrnn.sklearn")


def data(n=60, T=6, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    return X, X[:, :, 0].sum(axis=1)


def test_a_first_partial_fit_is_one_epoch_of_fit():
    X, y = data()
    fitted = sk.RecurrentRegressor(hidden_size=8, epochs=1, random_state=3).fit(X, y)
    partial = sk.RecurrentRegressor(hidden_size=8, epochs=50, random_state=3).partial_fit(X, y)
    np.testing.assert_array_equal(partial.predict(X), fitted.predict(X))
    labels = (y > 0).astype(int)
    fitted = sk.RecurrentClassifier(hidden_size=8, epochs=1, random_state=3).fit(X, labels)
    partial = sk.RecurrentClassifier(hidden_size=8, random_state=3).partial_fit(X, labels, classes=[0, 1])
    np.testing.assert_array_equal(partial.predict_proba(X), fitted.predict_proba(X))


def test_partial_fit_goes_on_training_the_same_model():
    X, y = data()
    est = sk.RecurrentRegressor(hidden_size=8, random_state=0)
    losses = []
    for _ in range(15):
        for i in range(0, len(X), 20):
            est.partial_fit(X[i : i + 20], y[i : i + 20])
        losses.append(float(np.mean((est.predict(X) - y) ** 2)))
    model = est.model_
    est.partial_fit(X, y)
    assert est.model_ is model  # not made again
    assert losses[-1] < 0.5 * losses[0]
    # after fit too: partial_fit continues from the fitted model
    fitted = sk.RecurrentRegressor(hidden_size=8, epochs=2, random_state=0).fit(X, y)
    before = fitted.predict(X)
    assert fitted.partial_fit(X, y).predict(X).tolist() != before.tolist()


def test_classifier_partial_fit_needs_the_classes_first():
    X, y = data()
    labels = np.where(y > 0, "up", "down")
    est = sk.RecurrentClassifier(hidden_size=8, random_state=0)
    with pytest.raises(ValueError, match="classes: the first partial_fit needs every class label"):
        est.partial_fit(X, labels)
    # a first piece without one of the classes still gives every class a column
    est.partial_fit(X[labels == "up"], labels[labels == "up"], classes=["down", "up", "flat"])
    assert est.classes_.tolist() == ["down", "flat", "up"]
    assert est.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="y: label 'sideways' is not in classes_"):
        est.partial_fit(X[:2], np.array(["up", "sideways"]))
    with pytest.raises(ValueError, match="classes: .* differs from classes_"):
        est.partial_fit(X, labels, classes=["down", "up"])
    est.partial_fit(X, labels, classes=["up", "flat", "down"])  # the same set, any order


def test_later_pieces_must_match_the_first():
    X, y = data()
    est = sk.RecurrentRegressor(hidden_size=8, random_state=0).partial_fit(X, y)
    with pytest.raises(ValueError, match="X: has samples of shape"):
        est.partial_fit(X[:, :, :2], y)
    with pytest.raises(ValueError, match="y: has 2 targets per sample, the estimator was fitted on 1"):
        est.partial_fit(X, np.stack([y, y], axis=1))


def test_flattened_sequences_with_n_features():
    X, y = data()
    flat = X.reshape(len(X), -1)
    a = sk.RecurrentRegressor(hidden_size=8, epochs=3, random_state=1).fit(X, y)
    b = sk.RecurrentRegressor(hidden_size=8, epochs=3, random_state=1, n_features=3).fit(flat, y)
    np.testing.assert_array_equal(b.predict(flat), a.predict(X))
    assert b.sequence_shape_ == (6, 3)
    with pytest.raises(ValueError, match="n_features: a 2-D X of 18 columns is not made of steps of 4"):
        sk.RecurrentRegressor(n_features=4).fit(flat, y)
    with pytest.raises(ValueError, match="n_features"):
        sk.RecurrentRegressor(n_features=0).fit(flat, y)


def test_dask_ml_incremental_and_parallel_post_fit():
    pytest.importorskip("dask_ml", reason="needs dask-ml (the dask extra)")
    import dask
    import dask.array as da
    from dask_ml.wrappers import Incremental, ParallelPostFit

    X, y = data(n=90)
    flat = X.reshape(len(X), -1)
    dX, dy = da.from_array(flat, chunks=(30, flat.shape[1])), da.from_array(y, chunks=30)
    with dask.config.set(scheduler="synchronous"):
        inc = Incremental(
            sk.RecurrentRegressor(hidden_size=8, random_state=2, n_features=3), shuffle_blocks=False
        )
        for _ in range(3):
            inc.partial_fit(dX, dy)
        # the same as partial_fit by hand over the blocks in order
        by_hand = sk.RecurrentRegressor(hidden_size=8, random_state=2, n_features=3)
        for _ in range(3):
            for i in range(0, 90, 30):
                by_hand.partial_fit(flat[i : i + 30], y[i : i + 30])
        np.testing.assert_array_equal(inc.estimator_.predict(flat), by_hand.predict(flat))
        post = ParallelPostFit(by_hand)
        np.testing.assert_array_equal(post.predict(dX).compute(), by_hand.predict(flat))
        labels = (y > 0).astype(int)
        clf = Incremental(sk.RecurrentClassifier(hidden_size=8, random_state=2, n_features=3))
        clf.fit(dX, da.from_array(labels, chunks=30), classes=[0, 1])
        assert clf.estimator_.predict_proba(flat).shape == (90, 2)
