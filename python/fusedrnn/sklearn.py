"""scikit-learn estimators around the fused recurrent layers (needs scikit-learn): ``RecurrentRegressor``
and ``RecurrentClassifier``, usable in ``Pipeline`` and ``GridSearchCV``.

X: ``[n_samples, n_steps, n_features]`` sequences, or 2-D ``[n_samples, n_steps * n_features]``, each row
a sequence flattened step by step (``n_features``: 1 by default, which is also how scikit-learn's own
checks feed tabular data). The model is a recurrent layer
(``cell``: "lstm", "gru" or "rnn") reading the whole sequence, its last output feeding a Dense layer,
trained with Adam (fusedrnn.nn).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("fusedrnn.sklearn needs scikit-learn: pip install scikit-learn") from err

from . import nn
from ._validation import size
from .nn.losses import Loss

__all__ = ["RecurrentClassifier", "RecurrentRegressor"]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.SimpleRNN}
_NO_Y = object()  # _validated without targets (prediction), apart from a y=None passed to fit
# What scikit-learn's validation accepts as a regressor's y.
_REGRESSION_TARGETS: dict[str, Any] = {"multi_output": True, "y_numeric": True}


class _RecurrentEstimator(BaseEstimator):
    def __init__(
        self,
        cell: str = "lstm",
        hidden_size: int = 32,
        num_layers: int = 1,
        bidirectional: bool = False,
        activation: str | None = "tanh",
        epochs: int = 100,
        batch_size: int = 32,
        learning_rate: float = 0.005,
        random_state: Any = None,
        n_features: int = 1,
        compute_dtype: str = "float32",
    ) -> None:
        """The model's options, in scikit-learn's manner (kept as given; checked by fit).

        Parameters
        ----------
        cell : {"lstm", "gru", "rnn"}
            The recurrent layer.
        hidden_size : int
            Its hidden units.
        num_layers : int
            Its stacked layers.
        bidirectional : bool
            Whether it reads the sequences in both directions.
        activation : {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"} or None
            Its activation (an RNN's nonlinearity).
        epochs : int
            Training passes over the data.
        batch_size : int
            Samples per Adam step.
        learning_rate : float
            Adam's learning rate.
        random_state : int, numpy.random.RandomState or None
            Seeds the initial weights and the shuffling.
        n_features : int
            Features per step of a 2-D X: its rows are sequences flattened step by step,
            ``[n_samples, n_steps * n_features]`` (what tools that only pass 2-D arrays hand over, such
            as dask-ml's ``Incremental`` and ``ParallelPostFit``). A 3-D X carries its own.
        compute_dtype : {"float32", "bfloat16"}
            The recurrent layer's products: "bfloat16" trains and predicts with bf16 mixed precision
            (operands rounded to bf16, float32 sums and parameters; natively where the CPU has
            AVX512-BF16: ``fusedrnn.cpu_info()["bf16_compute"]``), as ``fusedrnn.LSTM(...,
            compute_dtype=...)``.
        """
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.activation = activation
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.n_features = n_features
        self.compute_dtype = compute_dtype

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # X, y: Any, as scikit-learn's validation takes them (array-likes, data frames, sparse input refused).
    def _validated(
        self, X: Any, y: Any = _NO_Y, *, reset: bool, y_options: dict[str, Any] | None = None
    ) -> Any:
        """X as float32 sequences [n, steps, features] (and y checked when given), through scikit-learn's
        validation: its messages, its n_features_in_ (the number of steps) and its refusal of NaN / inf
        (y=None is refused there, with its message). reset: a new fit (records the sequences' shape)
        rather than data for the fitted model."""
        options = dict(reset=reset, allow_nd=True, dtype=np.float32)
        if y is not _NO_Y:
            X, y = validate_data(self, X, y, **options, **(y_options or {}))
        else:
            X = validate_data(self, X, **options)
        if X.ndim == 2:
            features = size(self.n_features, "n_features", "size")
            if X.shape[1] % features:
                raise ValueError(
                    f"n_features: a 2-D X of {X.shape[1]} columns is not made of steps of {features} features"
                )
            X = X.reshape(len(X), -1, features)
        if X.ndim != 3:
            raise ValueError(f"X: expected [n_samples, n_steps(, n_features)], got {X.ndim} dimensions")
        if reset:
            self.sequence_shape_ = X.shape[1:]
        elif X.shape[1:] != self.sequence_shape_:
            raise ValueError(
                f"X: has samples of shape {X.shape[1:]}, the estimator was fitted on {self.sequence_shape_}"
            )
        return X if y is _NO_Y else (X, y)

    def _build(self, outputs: int, loss: Loss | str) -> None:
        """A new, compiled model_ for `outputs` outputs (the options checked here, as scikit-learn's
        estimators check theirs in fit)."""
        if self.cell not in _CELLS:
            raise ValueError(f"cell: expected 'lstm', 'gru' or 'rnn', got {self.cell!r}")
        if isinstance(self.random_state, (int, np.integer)):
            seed = int(self.random_state)
        else:
            seed = np.random.RandomState(self.random_state).randint(2**31)
        activation: dict[str, Any] = {"activation" if self.cell != "rnn" else "nonlinearity": self.activation}
        hidden_size = size(self.hidden_size, "hidden_size", "hidden_size")
        num_layers = size(self.num_layers, "num_layers", "num_layers")
        layer = _CELLS[self.cell](
            hidden_size,
            num_layers=num_layers,
            bidirectional=self.bidirectional,
            compute_dtype=self.compute_dtype,
            **activation,
        )
        self.model_ = nn.Sequential([layer, nn.Dense(outputs)], seed=seed)
        self.model_.compile(nn.Adam(self.learning_rate), loss)

    def _train(self, X: Any, targets: NDArray[Any], epochs: int) -> None:
        # The model's fit checks epochs and batch_size (ValueError naming them) before any step.
        self.model_.fit(X, targets, epochs=epochs, batch_size=self.batch_size, verbose=0)


class RecurrentRegressor(RegressorMixin, _RecurrentEstimator):
    """Sequence -> value(s) regression (MSE). y: [n_samples] or [n_samples, n_targets]."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> RecurrentRegressor:
        """Trains the model on sequences X [n_samples, n_steps(, n_features)] and targets y.

        Returns
        -------
        RecurrentRegressor
            The estimator itself.
        """
        X, y = self._validated(X, y, reset=True, y_options=_REGRESSION_TARGETS)
        y = np.asarray(y, np.float32)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self._build(self.n_outputs_, "mse")
        self._train(X, y.reshape(len(y), -1), self.epochs)
        return self

    def partial_fit(self, X: Any, y: Any) -> RecurrentRegressor:
        """One pass (epoch) of training over X, y: the first call makes the model, later ones go on
        training it, Adam's state included (after `fit` too). For data that comes in pieces or does not
        fit in memory, e.g. ``dask_ml.wrappers.Incremental`` over the blocks of a Dask array.

        Returns
        -------
        RecurrentRegressor
            The estimator itself.
        """
        first = not hasattr(self, "model_")
        X, y = self._validated(X, y, reset=first, y_options=_REGRESSION_TARGETS)
        y = np.asarray(y, np.float32)
        outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self.n_outputs_ = outputs
            self._build(outputs, "mse")
        elif outputs != self.n_outputs_:
            raise ValueError(
                f"y: has {outputs} targets per sample, the estimator was fitted on {self.n_outputs_}"
            )
        self._train(X, y.reshape(len(y), -1), 1)
        return self

    def predict(self, X: ArrayLike, batch_size: int | None = 256) -> NDArray[np.float64]:
        """The predicted values: [n_samples], or [n_samples, n_targets] when fitted on several.

        Parameters
        ----------
        X : array_like
            Sequences [n_samples, n_steps(, n_features)] shaped like those of fit.
        batch_size : int or None
            Samples per forward (None: all at once), as `fusedrnn.nn.Sequential.predict`: it bounds
            the memory and never changes the result (each sample's prediction is the same in any batch).

        Returns
        -------
        numpy.ndarray
            float64 predictions.
        """
        check_is_fitted(self, "model_")
        pred = self.model_.predict(self._validated(X, reset=False), batch_size=batch_size)
        pred = pred.astype(np.float64)  # scikit-learn's convention
        return pred[:, 0] if self.n_outputs_ == 1 else pred


class RecurrentClassifier(ClassifierMixin, _RecurrentEstimator):
    """Sequence -> class (softmax cross-entropy). y: [n_samples] labels of any kind."""

    def fit(self, X: Any, y: Any) -> RecurrentClassifier:
        """Trains the model on sequences X [n_samples, n_steps(, n_features)] and labels y.

        Returns
        -------
        RecurrentClassifier
            The estimator itself.
        """
        X, y = self._validated(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        self._build(len(self.classes_), "sparse_categorical_crossentropy")
        self._train(X, encoded.astype(np.int64), self.epochs)
        return self

    def partial_fit(self, X: Any, y: Any, classes: ArrayLike | None = None) -> RecurrentClassifier:
        """One pass (epoch) of training over X, y: the first call makes the model and needs `classes`,
        every label that may ever come (a piece of the data may lack some); later calls go on training
        it, Adam's state included (after `fit` too). For data that comes in pieces or does not fit in
        memory, e.g. ``dask_ml.wrappers.Incremental`` over the blocks of a Dask array
        (``fit_kwargs={"classes": ...}``).

        Returns
        -------
        RecurrentClassifier
            The estimator itself.
        """
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError("classes: the first partial_fit needs every class label (classes=...)")
        X, y = self._validated(X, y, reset=first)
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(np.asarray(classes))
            self._build(len(self.classes_), "sparse_categorical_crossentropy")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(
                f"classes: {np.unique(np.asarray(classes))} differs from classes_ {self.classes_}"
            )
        encoded = np.searchsorted(self.classes_, y)
        unknown = (encoded >= len(self.classes_)) | (
            self.classes_[np.minimum(encoded, len(self.classes_) - 1)] != y
        )
        if unknown.any():
            raise ValueError(f"y: label {y[unknown.argmax()].item()!r} is not in classes_ {self.classes_}")
        self._train(X, encoded.astype(np.int64), 1)
        return self

    def predict_proba(self, X: ArrayLike, batch_size: int | None = 256) -> NDArray[np.float64]:
        """The class probabilities [n_samples, n_classes], columns in the order of classes_.

        Parameters
        ----------
        X : array_like
            Sequences [n_samples, n_steps(, n_features)] shaped like those of fit.
        batch_size : int or None
            Samples per forward (None: all at once), as `fusedrnn.nn.Sequential.predict`: it bounds
            the memory and never changes the result (each sample's row is the same in any batch).

        Returns
        -------
        numpy.ndarray
            float64 probabilities, each row summing to 1.
        """
        check_is_fitted(self, "model_")
        logits = self.model_.predict(self._validated(X, reset=False), batch_size=batch_size).astype(
            np.float64
        )
        e = np.exp(logits - logits.max(axis=1, keepdims=True))  # the max is exact in any order
        # The row sums added column by column, left to right: NumPy's sum(axis=1) may pick its order
        # (pairwise, or across rows) from the array's shape, and a row's probabilities must not move with
        # the batch it is in.
        total = e[:, 0].copy()
        for column in e.T[1:]:
            total += column
        return e / total[:, None]

    def predict(self, X: ArrayLike, batch_size: int | None = 256) -> NDArray[Any]:
        """The predicted labels [n_samples], from classes_ (batch_size: as `predict_proba`)."""
        probabilities = self.predict_proba(X, batch_size)  # checks that the estimator is fitted first
        return self.classes_[probabilities.argmax(axis=1)]
