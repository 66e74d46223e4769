"""fusedrnn.sklearn: scikit-learn's own estimator checks, and the estimators inside a Pipeline searched
with GridSearchCV."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import fusedrnn as fr  # noqa: E402
from fusedrnn.sklearn import RecurrentClassifier, RecurrentRegressor  # noqa: E402


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")  # the checks' own SkipTestWarnings (no pandas, no array API)
@pytest.mark.parametrize(
    "estimator", [RecurrentRegressor(random_state=0), RecurrentClassifier(random_state=0)]
)
def test_scikit_learn_estimator_checks(estimator):
    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert not failed


def test_pipeline_and_grid_search(rng):
    series = np.sin(np.arange(400) / 5.0) + 0.05 * rng.standard_normal(400)
    X, y = fr.data.sliding_windows(series.astype(np.float32), steps=10)
    y = y[:, 0, 0]
    pipeline = Pipeline(
        [
            ("scale", FunctionTransformer(lambda a: a * 0.5)),
            ("rnn", RecurrentRegressor(epochs=30, random_state=0)),
        ]
    )
    search = GridSearchCV(pipeline, {"rnn__cell": ["lstm", "gru"], "rnn__hidden_size": [8, 16]}, cv=2)
    search.fit(X, y)
    assert search.best_score_ > 0.8  # R^2 on held-out folds
    assert search.predict(X[:5]).shape == (5,)
    labels = (y > 0).astype(int)
    classifier = RecurrentClassifier(epochs=30, random_state=0).fit(X, np.where(labels, "up", "down"))
    assert set(classifier.classes_) == {"down", "up"}
    assert classifier.score(X, np.where(labels, "up", "down")) > 0.9
    assert np.allclose(classifier.predict_proba(X[:4]).sum(axis=1), 1)


def test_compute_dtype_reaches_the_layer_and_is_searchable(rng):
    """compute_dtype="bfloat16" trains the recurrent layer with bf16 products: its model is that layer's,
    it fits as well, clone and get_params keep the option, and a wrong value is refused at fit by name."""
    from sklearn.base import clone

    series = np.sin(np.arange(300) / 5.0) + 0.05 * rng.standard_normal(300)
    X, y = fr.data.sliding_windows(series.astype(np.float32), steps=10)
    y = y[:, 0, 0]
    bf16 = RecurrentRegressor(epochs=30, random_state=0, compute_dtype="bfloat16").fit(X, y)
    fp32 = RecurrentRegressor(epochs=30, random_state=0).fit(X, y)
    assert bf16.model_.layers[0].layer.compute_dtype == "bfloat16"  # the fusedrnn layer inside fr.nn's
    assert fp32.model_.layers[0].layer.compute_dtype == "float32"
    assert not np.array_equal(bf16.predict(X), fp32.predict(X))  # the products did change
    assert bf16.score(X, y) > 0.9 and abs(bf16.score(X, y) - fp32.score(X, y)) < 0.02
    assert clone(bf16).get_params()["compute_dtype"] == "bfloat16"
    with pytest.raises(ValueError, match="compute_dtype"):
        RecurrentRegressor(epochs=1, compute_dtype="float16").fit(X, y)
