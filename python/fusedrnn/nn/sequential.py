"""Sequential: a stack of the toolkit's layers with Keras's compile / fit / predict / evaluate / summary."""

from __future__ import annotations

import copy
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validation import bounded_int, positive_int
from ..saving import PathLike
from . import losses, optimizers
from . import metrics as metrics_module
from .callbacks import History, as_callbacks
from .layers import (
    Activation,
    Dense,
    Embedding,
    InputLayer,
    Layer,
    Masking,
    Recurrent,
    TimeDistributed,
    build_layer,
)
from .losses import Loss
from .metrics import Metric

# The progress display: (epoch, logs, seconds) after each epoch; (None, None, None) closes it.
_Progress = Callable[[int | None, Any, Any], None]

__all__ = ["Sequential"]


class Sequential:
    """``model = Sequential([nn.LSTM(50, activation="relu", input_shape=(3, 1)), nn.Dense(1)])``, then
    ``model.compile("adam", "mse", metrics=["mae"])``, ``history = model.fit(X, y, epochs=200)``,
    ``model.predict(X)``, ``model.save("model.keras")``; `fusedrnn.nn.load_model` reads it back."""

    def __init__(self, layers: Iterable[Layer] = (), seed: int | None = 0, name: str | None = None) -> None:
        self.layers: list[Layer] = []
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.name = "sequential" if name is None else str(name)
        self.built_for: tuple[Any, ...] | None = None
        # Each layer's output shape, once built.
        self.shapes: list[tuple[Any, ...]] = []
        self.declared_input_shape: tuple[Any, ...] | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: Loss | None = None
        self.metrics: list[tuple[str, Metric]] = []
        self.stop_training = False
        self.history: History | None = None
        for layer in layers:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Appends a layer (the model is built again at the next fit or predict). ``Input(shape=...)``
        or a first layer's ``input_shape=`` gives the shape of one sample, as in Keras."""
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected an fr.nn layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Input(...): only as the first entry of a Sequential model")
            self.declared_input_shape = layer.declared_input_shape
            return
        if not self.layers and self.declared_input_shape is None:
            self.declared_input_shape = layer.declared_input_shape
        if isinstance(layer, Recurrent) and layer.return_state:
            raise ValueError(
                "return_state=True: a Sequential model passes one array between layers; call the layer on "
                "arrays (outputs, h, c = layer(x)) for its states"
            )
        self.layers.append(layer)
        if self.declared_input_shape is not None and (len(self.layers) == 1 or self.built_for is not None):
            # Built as the layers come, as Keras builds a model that knows its input shape: the
            # parameters exist at once (get_weights, summary, layers[0].layer.load_state_dict).
            shape = self.shapes[-1] if len(self.layers) > 1 else (None,) + self.declared_input_shape
            if len(self.layers) == 1:
                self.shapes.clear()
            self.shapes.append(build_layer(layer, shape, self.rng))
            self.built_for = self.declared_input_shape
        else:
            self.built_for = None

    @property
    def built(self) -> bool:
        """Whether the layers have their parameters (after build, fit, predict, or input_shape=)."""
        self._build_declared()
        return self.built_for is not None

    def _build_declared(self) -> None:
        if self.built_for is None and self.declared_input_shape is not None and self.layers:
            self.build((None,) + self.declared_input_shape)

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Builds every layer for inputs of `input_shape` (the first entry, the batch size, may be None;
        None: the declared ``(None,) + input_shape``)."""
        if input_shape is None:
            if self.declared_input_shape is None:
                raise ValueError("input_shape: the model has no declared input shape (Input or input_shape=)")
            input_shape = (None,) + self.declared_input_shape
        shape = tuple(input_shape)
        self.shapes = []
        for layer in self.layers:
            shape = build_layer(layer, shape, self.rng)
            self.shapes.append(shape)
        self.built_for = tuple(input_shape)[1:]

    def compile(
        self,
        optimizer: optimizers.Optimizer | str = "adam",
        loss: Loss | str = "mse",
        metrics: Iterable[str | Metric] | None = None,
    ) -> None:
        """Sets the optimizer (an instance or "sgd", "adam", "rmsprop"), the loss (a callable
        ``loss(pred, target) -> (value, d_pred)``, a name in `LOSSES`, or a cross-entropy object with
        from_logits) and the metrics reported by fit and evaluate (names in
        `fusedrnn.nn.metrics.METRICS`: "accuracy", "mae", "mse", ...; or callables
        ``metric(pred, target) -> float``).

        By name, "categorical_crossentropy" and "sparse_categorical_crossentropy" read the outputs as
        probabilities when the last layer's activation is softmax (as Keras), as logits otherwise (fr.nn's
        linear heads)."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss, self._output_activation())
        if isinstance(metrics, (str, bytes)) or (metrics is not None and not isinstance(metrics, Iterable)):
            raise TypeError(f"metrics: expected a list, got {type(metrics).__name__}")
        self.metrics = [metrics_module.get(metric) for metric in (metrics or [])]
        self._compiled = {"loss": loss, "metrics": list(metrics or [])}

    def _output_activation(self) -> str | None:
        last: Any = self.layers[-1] if self.layers else None
        while isinstance(last, TimeDistributed):
            last = last.layer
        return getattr(last, "activation", None) if isinstance(last, (Dense, Activation)) else None

    def parameters(self) -> list[NDArray[Any]]:
        """Every layer's parameter arrays, in order."""
        return [p for layer in self.layers for p in layer.parameters()]

    def set_parameters(self, values: Sequence[ArrayLike]) -> None:
        """Copies values (in parameters()' order) into the parameters."""
        for layer in self.layers:
            layer.set_training(True)  # recurrent layers' arrays are read-only in eval mode
        for p, value in zip(self.parameters(), values, strict=True):
            p[...] = value

    def get_weights(self) -> list[NDArray[Any]]:
        """Copies of every parameter array, layer after layer (Keras's get_weights; fr.nn's layouts:
        Dense's kernel [F, units] as Keras's, the recurrent layers' as PyTorch's state_dict)."""
        self._require_built("get_weights")
        return [p.copy() for p in self.parameters()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Copies `weights` (as get_weights returns them) into the parameters; ValueError naming the
        first array of another shape."""
        self._require_built("set_weights")
        weights = list(weights)
        params = self.parameters()
        if len(weights) != len(params):
            raise ValueError(f"weights: the model has {len(params)} parameter arrays, got {len(weights)}")
        for i, (p, w) in enumerate(zip(params, weights, strict=True)):
            if np.shape(w) != p.shape:
                raise ValueError(f"weights[{i}]: expected shape {p.shape}, got {np.shape(w)}")
        self.set_parameters(weights)

    def gradients(self) -> list[NDArray[Any]]:
        """Every layer's gradient arrays, in the order of parameters()."""
        return [g for layer in self.layers for g in layer.gradients()]

    def reset_states(self) -> None:
        """Forgets the states of the ``stateful=True`` recurrent layers (Keras's reset_states)."""
        for layer in self.layers:
            if isinstance(layer, Recurrent) and getattr(layer, "layer", None) is not None:
                if layer.layer.stateful:
                    layer.reset_states()

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
        if not self.built:
            raise RuntimeError("quantized: the model is not built yet (fit or predict it first)")
        model = copy.deepcopy(self)
        for layer in model.layers:
            if isinstance(layer, Recurrent):
                layer.layer = layer.layer.quantized(format)  # type: ignore[arg-type]
        return model

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise RuntimeError(
                f"{what}: the model is not built yet (give input_shape=, or fit or predict it)"
            )

    def _ensure_built(self, X: NDArray[Any]) -> None:
        self._build_declared()
        if self.built_for is None:
            self.build((None,) + X.shape[1:])
            return
        assert self.built_for is not None
        # A model that starts with a recurrent, masking or embedding layer takes sequences of any
        # length: only the dimensions past the time axis must match.
        any_length = bool(self.layers) and isinstance(self.layers[0], (Recurrent, Embedding, Masking))
        mismatch = len(X.shape[1:]) != len(self.built_for) or (
            X.shape[2:] if any_length else X.shape[1:]
        ) != (self.built_for[1:] if any_length else self.built_for)
        if mismatch:
            note = " (any number of steps)" if any_length else ""
            raise ValueError(
                f"X: the model was built for samples of shape {self.built_for}{note}, got {X.shape[1:]}"
            )

    def forward(self, X: Any, training: bool = False) -> Any:
        """The model's output for the batch X (training: layers keep what backward needs).

        A padding mask (Masking, Embedding(mask_zero=True)) must be consumed by a recurrent layer with
        return_sequences=False: fr.nn computes no masked losses, so an output that still carries one is
        refused (ValueError) rather than computed over the padding."""
        out, mask = X, None
        for layer in self.layers:
            out, mask = layer.forward_masked(out, training, mask)
        if mask is not None:
            raise ValueError(
                "the model's output still carries the padding mask (Masking / mask_zero=True): fr.nn has "
                "no masked losses; end the masked part with a recurrent layer of return_sequences=False"
            )
        return out

    def __call__(self, X: ArrayLike, training: bool = False) -> NDArray[Any]:
        """The output for X in one batch (Keras's ``model(x)``)."""
        X = np.asarray(X)
        self._ensure_built(X)
        return self.forward(X, training)

    def predict(
        self,
        X: ArrayLike,
        batch_size: int | None = 256,
        verbose: int | str = "auto",
        steps: None = None,
        callbacks: None = None,
    ) -> NDArray[Any]:
        """The outputs for X (inference mode), computed batch_size samples at a time.

        Parameters
        ----------
        X : array_like
            The samples, [N, ...] as the model was built for.
        batch_size : int or None
            Samples per forward (None: all at once). It bounds the memory a call needs and never
            changes the result: each sample's output is bitwise the same whatever batch it is computed
            in and wherever it sits in it (every layer computes a sample's row on its own).
        verbose : "auto", 0, 1 or 2
            1 or 2: one line with the batches and the time; "auto" and 0: nothing (Keras's "auto"
            shows a progress bar).
        steps, callbacks : None
            Keras's; only None.

        Returns
        -------
        numpy.ndarray
            The outputs, [N, ...].

        Raises
        ------
        TypeError, ValueError
            batch_size is not an int >= 1 or None, or X does not fit the built model.
        """
        if steps is not None or callbacks is not None:
            raise ValueError("predict: steps and callbacks are not supported (give all of X)")
        start = time.perf_counter()
        X = np.asarray(X)
        step = len(X) if batch_size is None else positive_int(batch_size, "batch_size")
        self._ensure_built(X)
        if len(X) <= step:
            out: NDArray[Any] = self.forward(X)  # an empty X included: its output has the model's shape
        else:
            out = np.concatenate([self.forward(X[i : i + step]) for i in range(0, len(X), step)])
        if _verbosity(verbose, 0):
            batches = max(1, -(-len(X) // max(step, 1)))
            print(f"{batches}/{batches} - {(time.perf_counter() - start) * 1e3:.0f} ms", file=sys.stderr)
        return out

    def _metric_values(self, pred: NDArray[Any], y: NDArray[Any]) -> dict[str, float]:
        return {key: float(metric(pred, y)) for key, metric in self.metrics}

    def evaluate(
        self,
        X: ArrayLike,
        y: ArrayLike,
        batch_size: int | None = 256,
        verbose: int | str = "auto",
        return_dict: bool = False,
    ) -> Any:
        """The loss of the predictions for X against y: a float without metrics, ``[loss, *metrics]``
        with them (Keras's), a dict ``{"loss": ..., "mae": ...}`` with return_dict. verbose 1 or 2
        prints the values."""
        if self.loss is None:
            raise RuntimeError("evaluate: compile the model first")
        y = np.asarray(y)
        pred = self.predict(X, batch_size=batch_size)
        logs = {"loss": self.loss(pred, y)[0], **self._metric_values(pred, y)}
        if _verbosity(verbose, 0):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), file=sys.stderr)
        if return_dict:
            return logs
        return logs["loss"] if not self.metrics else list(logs.values())

    def compute_gradients(self, X: ArrayLike, y: ArrayLike) -> tuple[float, list[NDArray[Any]]]:
        """The first half of a training step: the loss of the batch and the gradients of every
        parameter (in the order of parameters()), the optimizer not touched.

        The returned arrays are the layers' own gradient buffers: change them in place (average them
        across workers, say) and pass them to `apply_gradients`; the next compute_gradients overwrites
        them. ``train_on_batch(X, y)`` is exactly ``apply_gradients(compute_gradients(X, y)[1])``.
        """
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("compute_gradients: compile the model first")
        X, y = np.asarray(X), np.asarray(y)
        self._ensure_built(X)
        for layer in self.layers:
            layer.zero_grad()
        pred = self.forward(X, training=True)
        value, grad = self.loss(pred, y)
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        self._last_batch = (pred, y)
        return value, self.gradients()

    def apply_gradients(self, gradients: Sequence[NDArray[Any]]) -> None:
        """The second half of a training step: one optimizer update of every parameter from
        `gradients` (as `compute_gradients` returns them, possibly changed)."""
        if self.optimizer is None:
            raise RuntimeError("apply_gradients: compile the model first")
        params = self.parameters()
        if len(gradients) != len(params):
            raise ValueError(f"gradients: the model has {len(params)} parameter arrays, got {len(gradients)}")
        self.optimizer.step(params, list(gradients))

    def train_on_batch(self, X: ArrayLike, y: ArrayLike, return_dict: bool = False) -> Any:
        """One optimizer step on the batch; returns its loss before the step (``[loss, *metrics]`` when
        compiled with metrics, a dict with return_dict, as Keras)."""
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("train_on_batch: compile the model first")
        value, gradients = self.compute_gradients(X, y)
        self.apply_gradients(gradients)
        if not self.metrics and not return_dict:
            return value
        logs = {"loss": value, **self._metric_values(*self._last_batch)}
        return logs if return_dict else list(logs.values())

    def test_on_batch(self, X: ArrayLike, y: ArrayLike, return_dict: bool = False) -> Any:
        """`evaluate` on one batch (Keras's test_on_batch)."""
        return self.evaluate(X, y, batch_size=None, verbose=0, return_dict=return_dict)

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        batch_size: int | None = 32,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
    ) -> History:
        """Keras's fit: trains for `epochs` passes over (X, y) in shuffled batches.

        Parameters
        ----------
        X, y : array_like
            The samples and their targets (the same number of each).
        batch_size : int or None
            Samples per optimizer step (None: 32).
        epochs : int
            The epoch to stop at (passes over the data, from initial_epoch).
        verbose : "auto", 0, 1 or 2
            1 and "auto": a progress bar within each epoch, then the epoch's values (tqdm's bar over
            the epochs when tqdm is installed); 2: one line per epoch; 0: nothing.
        callbacks : list or None
            `Callback` objects (Keras's hooks: on_epoch_end(epoch, logs), ...; `EarlyStopping`,
            `ModelCheckpoint`, ...; objects with Keras's hook names work too), or functions
            ``callback(model, epoch, logs)`` called after every epoch, a true result stopping fit.
        validation_split : float
            The fraction of the samples, taken from the end (before shuffling), held out for the val_
            entries.
        validation_data : (array_like, array_like) or None
            Held-out (X, y) for the val_ entries (instead of validation_split).
        shuffle : bool
            Shuffle the samples every epoch.
        initial_epoch : int
            The epoch to start from (to resume training).

        Returns
        -------
        History
            ``history.history``: {"loss": [...], "mae": [...], "val_loss": [...], ...} per epoch (the
            training values are the means over the epoch's batches, computed as each batch was trained,
            as Keras reports them). Indexing it directly (``history["loss"]``) works too.

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
        initial_epoch = bounded_int(initial_epoch, "initial_epoch", 0)
        batch_size = 32 if batch_size is None else positive_int(batch_size, "batch_size")
        X, y = np.asarray(X), np.asarray(y)
        if len(X) != len(y):
            raise ValueError(f"y: expected {len(X)} samples like X, got {len(y)}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split: expected 0 <= validation_split < 1, got {validation_split}")
        if validation_data is None and validation_split:
            cut = int(len(X) * (1 - validation_split))
            if cut == 0:
                raise ValueError(
                    f"validation_split: {validation_split} of {len(X)} samples leaves none to train on"
                )
            X, y, validation_data = X[:cut], y[:cut], (X[cut:], y[cut:])
        if len(X) == 0:
            raise ValueError("X: expected at least one sample to train on, got 0")
        self._ensure_built(X)
        history = History()
        hooks = [history, *as_callbacks(callbacks)]
        steps = -(-len(X) // batch_size)
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        for hook in hooks:
            hook.set_model(self)
            hook.set_params(params)
        # Keras's entries, so that epochs that stop early and epochs=0 show the same keys.
        history.history["loss"] = []
        for key, _ in self.metrics:
            history.history[key] = []
        if validation_data is not None:
            history.history["val_loss"] = []
            for key, _ in self.metrics:
                history.history["val_" + key] = []
        self.stop_training = False
        warned_nan = False  # the first non-finite loss warns once
        level = _verbosity(verbose, 1)
        progress = _progress(epochs, level)
        logs: dict[str, float] = {}
        for hook in hooks:
            hook.on_train_begin(logs)
        for epoch in range(initial_epoch, epochs):
            start = time.perf_counter()
            for hook in hooks:
                hook.on_epoch_begin(epoch, logs)
            bar = _batch_bar(epoch, epochs, steps, level)
            order = self.rng.permutation(len(X)) if shuffle else np.arange(len(X))
            sums: dict[str, float] = {}
            seen = 0
            for step, i in enumerate(range(0, len(X), batch_size)):
                for hook in hooks:
                    hook.on_train_batch_begin(step, logs)
                batch = order[i : i + batch_size]
                value, gradients = self.compute_gradients(X[batch], y[batch])
                self.apply_gradients(gradients)
                values = {"loss": value, **self._metric_values(*self._last_batch)}
                if not warned_nan and not np.isfinite(value):
                    warned_nan = True
                    warnings.warn(
                        f"fit: the loss became {value} at epoch {epoch + 1}, batch {step + 1} (a NaN or inf "
                        "in X or y, or a learning rate too large); the weights are no longer finite. "
                        "callbacks=[fusedrnn.nn.TerminateOnNaN()] stops training there.",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                seen += len(batch)
                for key, v in values.items():
                    sums[key] = sums.get(key, 0.0) + v * len(batch)
                logs = {key: s / seen for key, s in sums.items()}
                bar(step + 1, logs)
                for hook in hooks:
                    hook.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            if validation_data is not None:
                val = self.evaluate(*validation_data, return_dict=True, verbose=0)
                logs.update({"val_" + key: value for key, value in val.items()})
            bar(steps, logs, True)
            progress(epoch, logs, time.perf_counter() - start)
            for hook in hooks:
                hook.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        progress(None, None, None)
        for hook in hooks:
            hook.on_train_end(logs)
        self.history = history
        return history

    def save(self, filepath: PathLike, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Writes the whole model to `filepath`, exactly as named (``model.save("model.keras")``): the
        layers' configuration, the weights, the compile settings and (include_optimizer) the
        optimizer's state, in fusedrnn's pickle-free .npz format (`fusedrnn.nn.load_model` reads it;
        ``np.load`` lists it). See `fusedrnn.nn.saving.save_model`."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: PathLike, overwrite: bool = True) -> None:
        """Writes the model without its optimizer state (`load_weights` reads the weights back into a
        model of the same layers)."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=False)

    def load_weights(self, filepath: PathLike) -> None:
        """Reads the weights of a file `save` or `save_weights` wrote into this model, which must have
        the same layers and parameter shapes (ValueError naming the path otherwise)."""
        from .saving import load_model

        other = load_model(filepath, compile=False)
        where = f"path: {os.fsdecode(os.fspath(filepath))!r}"
        self._build_declared()
        if self.built_for is None:
            self.build((None,) + tuple(other.built_for or ()))
        mine, theirs = self.parameters(), other.parameters()
        if [p.shape for p in mine] != [p.shape for p in theirs]:
            raise ValueError(f"{where}: its weights do not fit this model (other layers or shapes)")
        self.set_parameters(theirs)

    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """Keras-style table: layer, output shape, parameters."""
        self._build_declared()
        if self.built_for is None:
            raise RuntimeError(
                "summary: build the model first (input_shape=, fit, predict or build(input_shape))"
            )
        rows = [
            (
                f"{layer.name if layer.name != type(layer).name else type(layer).__name__.lower()}_{i}",
                str(shape),
                sum(p.size for p in layer.parameters()),
            )
            for i, (layer, shape) in enumerate(zip(self.layers, self.shapes, strict=True))
        ]
        lines = [f"{'Layer':<20}{'Output shape':<24}{'Param #':>10}"]
        lines += [f"{name:<20}{shape:<24}{count:>10,}" for name, shape, count in rows]
        lines.append(f"Total params: {sum(r[2] for r in rows):,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text


def _verbosity(verbose: int | str, auto: int) -> int:
    if verbose == "auto":
        return auto
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or not 0 <= verbose <= 2:
        raise ValueError(f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _batch_bar(epoch: int, epochs: int, steps: int, level: int) -> Callable[..., None]:
    """Keras's verbose=1 progress within an epoch (plain text on stderr, redrawn at most every 0.1 s);
    nothing when tqdm draws the epochs or at other levels."""
    if level != 1 or _has_tqdm():
        return lambda step, logs, final=False: None
    print(f"Epoch {epoch + 1}/{epochs}", file=sys.stderr)
    last = [0.0]
    began = time.perf_counter()

    def draw(step: int, logs: dict[str, float], final: bool = False) -> None:
        now = time.perf_counter()
        if (step < steps and now - last[0] < 0.1) or (step >= steps and not final):
            return  # the epoch's last line waits for the validation values
        last[0] = now
        done = 30 * step // max(steps, 1)
        bar = "=" * done + (">" if done < 30 else "") + "." * max(0, 29 - done)
        text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        end = "\n" if final else ""
        print(f"\r{step}/{steps} [{bar}] - {now - began:.0f}s - {text}", end=end, file=sys.stderr, flush=True)

    return draw


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def _progress(epochs: int, verbose: int) -> _Progress:
    """The per-epoch display: at verbose 1, tqdm's bar over the epochs when tqdm is installed (otherwise
    `_batch_bar` draws the epochs); at verbose 2, one line per epoch, as Keras."""
    if verbose == 1 and _has_tqdm():
        from tqdm import tqdm

        bar = tqdm(total=epochs, unit="epoch", file=sys.stderr)

        def update(epoch: int | None, logs: Any, seconds: Any) -> None:
            if epoch is None:
                bar.close()
                return
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
            bar.update(1)

        return update
    if verbose != 2:
        return lambda epoch, logs, seconds: None

    def plain(epoch: int | None, logs: Any, seconds: Any) -> None:
        if epoch is not None:
            text = " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {seconds * 1e3:.0f} ms - {text}", file=sys.stderr)

    return plain
