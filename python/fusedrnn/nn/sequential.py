"""Sequential: a stack of the toolkit's layers with Keras's compile / fit / predict / evaluate / summary."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validation import bounded_int, positive_int
from . import optimizers
from .layers import Layer
from .losses import LOSSES, Loss

# A callback: (model, epoch, logs) -> True to stop fit.
Callback = Callable[["Sequential", int, dict[str, float]], bool]
# The progress display: (epoch, logs, seconds) after each epoch; (None, None, None) closes it.
_Progress = Callable[[int | None, Any, Any], None]

__all__ = ["EarlyStopping", "Sequential"]


class EarlyStopping:
    """Stops fit when `monitor` ("val_loss" or "loss") has not improved by min_delta for `patience` epochs;
    restore_best_weights puts back the parameters of the best epoch."""

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = False,
    ) -> None:
        self.monitor, self.patience, self.min_delta = monitor, int(patience), float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best, self.wait = np.inf, 0
        self.best_weights: list[NDArray[Any]] | None = None

    def __call__(self, model: Sequential, epoch: int, logs: dict[str, float]) -> bool:
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping: the history has no {self.monitor!r} (validation data?)")
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = [p.copy() for p in model.parameters()]
            return False
        self.wait += 1
        if self.wait >= self.patience:
            if self.best_weights is not None:
                model.set_parameters(self.best_weights)
            return True
        return False


class Sequential:
    """``model = Sequential([nn.LSTM(50, activation="relu"), nn.Dense(1)])``, then
    ``model.compile("adam", "mse")``, ``history = model.fit(X, y, epochs=200)``, ``model.predict(X)``."""

    def __init__(self, layers: Iterable[Layer] = (), seed: int | None = 0) -> None:
        self.layers = list(layers)
        self.rng = np.random.default_rng(seed)
        self.built_for: tuple[Any, ...] | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: Loss | None = None

    def add(self, layer: Layer) -> None:
        """Appends a layer (the model is built again at the next fit or predict)."""
        self.layers.append(layer)
        self.built_for = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Builds every layer for inputs of `input_shape` (the first entry, the batch size, may be None)."""
        shape = tuple(input_shape)
        self.shapes: list[tuple[Any, ...]] = []
        for layer in self.layers:
            shape = tuple(layer.build(shape, self.rng))
            self.shapes.append(shape)
        self.built_for = tuple(input_shape)[1:]

    def compile(self, optimizer: optimizers.Optimizer | str = "adam", loss: Loss | str = "mse") -> None:
        """Sets the optimizer (an instance or "sgd", "adam", "rmsprop") and the loss (a callable
        ``loss(pred, target) -> (value, d_pred)`` or a name in `LOSSES`)."""
        self.optimizer = optimizers.get(optimizer)
        if callable(loss):
            self.loss = loss
        elif loss in LOSSES:
            self.loss = LOSSES[loss]
        else:
            raise ValueError(f"loss: expected one of {', '.join(LOSSES)} or a callable, got {loss!r}")

    def parameters(self) -> list[NDArray[Any]]:
        """Every layer's parameter arrays, in order."""
        return [p for layer in self.layers for p in layer.parameters()]

    def set_parameters(self, values: Sequence[ArrayLike]) -> None:
        """Copies values (in parameters()' order) into the parameters."""
        for layer in self.layers:
            layer.set_training(True)  # recurrent layers' arrays are read-only in eval mode
        for p, value in zip(self.parameters(), values, strict=True):
            p[...] = value

    def gradients(self) -> list[NDArray[Any]]:
        """Every layer's gradient arrays, in the order of parameters()."""
        return [g for layer in self.layers for g in layer.gradients()]

    def quantized(self, format: str = "int8") -> Sequential:
        """A copy for fast inference whose recurrent layers compute their products in int8 or bf16.

        Parameters
        ----------
        format : {"int8", "bf16"}
            As `fusedrnn.LSTM.quantized`; the other layers (Dense, Embedding) stay float32.

        Returns
        -------
        Sequential
            The copy: `predict` and `evaluate` work as on this model; `fit` and `train_on_batch` raise
            RuntimeError (its recurrent layers are inference-only). This model is unchanged.

        Raises
        ------
        RuntimeError
            The model has not been built (fit or predict it first).
        """
        from .layers import Recurrent

        if self.built_for is None:
            raise RuntimeError("quantized: the model is not built yet (fit or predict it first)")
        model = copy.deepcopy(self)
        for layer in model.layers:
            if isinstance(layer, Recurrent):
                layer.layer = layer.layer.quantized(format)  # type: ignore[arg-type]
        return model

    def _ensure_built(self, X: NDArray[Any]) -> None:
        if self.built_for is None:
            self.build((None,) + X.shape[1:])
            return
        # A model that starts with a recurrent or embedding layer takes sequences of any length: only
        # the dimensions past the time axis must match.
        from .layers import Embedding, Recurrent

        any_length = bool(self.layers) and isinstance(self.layers[0], (Recurrent, Embedding))
        mismatch = len(X.shape[1:]) != len(self.built_for) or (
            X.shape[2:] if any_length else X.shape[1:]
        ) != (self.built_for[1:] if any_length else self.built_for)
        if mismatch:
            note = " (any number of steps)" if any_length else ""
            raise ValueError(
                f"X: the model was built for samples of shape {self.built_for}{note}, got {X.shape[1:]}"
            )

    def forward(self, X: Any, training: bool = False) -> Any:
        """The model's output for the batch X (training: layers keep what backward needs)."""
        out = X
        for layer in self.layers:
            out = layer.forward(out, training)
        return out

    def predict(self, X: ArrayLike, batch_size: int | None = 256) -> NDArray[Any]:
        """The outputs for X (inference mode), computed batch_size samples at a time.

        Parameters
        ----------
        X : array_like
            The samples, [N, ...] as the model was built for.
        batch_size : int or None
            Samples per forward (None: all at once). It bounds the memory a call needs and never
            changes the result: each sample's output is bitwise the same whatever batch it is computed
            in and wherever it sits in it (every layer computes a sample's row on its own).

        Returns
        -------
        numpy.ndarray
            The outputs, [N, ...].

        Raises
        ------
        TypeError, ValueError
            batch_size is not an int >= 1 or None, or X does not fit the built model.
        """
        X = np.asarray(X)
        step = len(X) if batch_size is None else positive_int(batch_size, "batch_size")
        self._ensure_built(X)
        if len(X) <= step:
            return self.forward(X)  # an empty X included: its output has the model's output shape
        return np.concatenate([self.forward(X[i : i + step]) for i in range(0, len(X), step)])

    def evaluate(self, X: ArrayLike, y: ArrayLike) -> float:
        """The loss of the predictions for X against y."""
        if self.loss is None:
            raise RuntimeError("evaluate: compile the model first")
        return self.loss(self.predict(X), np.asarray(y))[0]

    def train_on_batch(self, X: NDArray[Any], y: NDArray[Any]) -> float:
        """One optimizer step on the batch; returns its loss before the step."""
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("train_on_batch: compile the model first")
        for layer in self.layers:
            layer.zero_grad()
        pred = self.forward(X, training=True)
        value, grad = self.loss(pred, y)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        self.optimizer.step(self.parameters(), self.gradients())
        return value

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        shuffle: bool = True,
        callbacks: Iterable[Callback] = (),
        verbose: int = 1,
    ) -> dict[str, list[float]]:
        """Keras's fit: trains for `epochs` passes over (X, y) in shuffled batches.

        Parameters
        ----------
        X, y : array_like
            The samples and their targets (the same number of each).
        epochs : int
            Passes over the data.
        batch_size : int
            Samples per optimizer step.
        validation_split : float
            The fraction of the samples, taken from the end, held out to compute val_loss.
        validation_data : (array_like, array_like) or None
            Held-out (X, y) for val_loss (instead of validation_split).
        shuffle : bool
            Shuffle the samples every epoch.
        callbacks : iterable of callable
            Each called as ``callback(model, epoch, logs)`` after every epoch; True stops (e.g.
            `EarlyStopping`).
        verbose : int
            1: a progress line per epoch (tqdm when installed); 0: nothing.

        Returns
        -------
        dict of str to list of float
            The history: {"loss": [...], "val_loss": [...]} per epoch.

        Raises
        ------
        RuntimeError
            The model is not compiled.
        TypeError, ValueError
            epochs is not an int >= 0, batch_size not an int >= 1, X and y differ in length, or X
            does not fit the built model.
        """
        if self.optimizer is None:
            raise RuntimeError("fit: compile the model first")
        epochs = bounded_int(epochs, "epochs", 0)
        batch_size = positive_int(batch_size, "batch_size")
        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"y: expected {len(X)} samples like X, got {len(y)}")
        if validation_data is None and validation_split:
            cut = int(len(X) * (1 - validation_split))
            X, y, validation_data = X[:cut], y[:cut], (X[cut:], y[cut:])
        self._ensure_built(X)
        history: dict[str, list[float]] = {"loss": []}
        if validation_data is not None:
            history["val_loss"] = []
        progress = _progress(epochs, verbose)
        for epoch in range(epochs):
            start = time.perf_counter()
            order = self.rng.permutation(len(X)) if shuffle else np.arange(len(X))
            losses, sizes = [], []
            for i in range(0, len(X), batch_size):
                batch = order[i : i + batch_size]
                losses.append(self.train_on_batch(X[batch], y[batch]))
                sizes.append(len(batch))
            logs = {"loss": float(np.average(losses, weights=sizes))}
            if validation_data is not None:
                logs["val_loss"] = self.evaluate(*validation_data)
            for key, value in logs.items():
                history[key].append(value)
            progress(epoch, logs, time.perf_counter() - start)
            if any(callback(self, epoch, logs) for callback in callbacks):
                break
        progress(None, None, None)
        return history

    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """Keras-style table: layer, output shape, parameters."""
        if self.built_for is None:
            raise RuntimeError("summary: build the model first (fit, predict or build(input_shape))")
        rows = [
            (f"{type(layer).__name__.lower()}_{i}", str(shape), sum(p.size for p in layer.parameters()))
            for i, (layer, shape) in enumerate(zip(self.layers, self.shapes, strict=True))
        ]
        lines = [f"{'Layer':<20}{'Output shape':<24}{'Param #':>10}"]
        lines += [f"{name:<20}{shape:<24}{count:>10,}" for name, shape, count in rows]
        lines.append(f"Total params: {sum(r[2] for r in rows):,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text


def _progress(epochs: int, verbose: int) -> _Progress:
    if not verbose:
        return lambda epoch, logs, seconds: None
    try:
        from tqdm import tqdm

        bar = tqdm(total=epochs, unit="epoch", file=sys.stderr)

        def update(epoch: int | None, logs: Any, seconds: Any) -> None:
            if epoch is None:
                bar.close()
                return
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
            bar.update(1)

        return update
    except ImportError:

        def plain(epoch: int | None, logs: Any, seconds: Any) -> None:
            if epoch is not None:
                text = " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {seconds * 1e3:.0f} ms - {text}", file=sys.stderr)

        return plain
