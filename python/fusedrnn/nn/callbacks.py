"""Keras's callbacks: objects with hooks that `Sequential.fit` calls (``on_train_begin``,
``on_epoch_begin``, ``on_train_batch_begin``, ``on_train_batch_end``, ``on_epoch_end``,
``on_train_end``), a `History` that fit returns, `EarlyStopping` and `ModelCheckpoint`.

A callback stops training as Keras's do, with ``self.model.stop_training = True``. A plain function
``callback(model, epoch, logs)`` (fr.nn's earlier form) still works: called after every epoch, a true
result stops fit.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .engine import Trainer

__all__ = ["Callback", "EarlyStopping", "History", "LambdaCallback", "ModelCheckpoint", "TerminateOnNaN"]

Logs = dict[str, float]


class Callback:
    """The base of fit's callbacks: override the hooks you need. ``self.model`` is the model being
    trained, ``self.params`` fit's {"epochs", "steps", "verbose"}."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Trainer) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """After the last epoch (logs: the last epoch's)."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Before epoch `epoch` (from 0)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """After epoch `epoch`, with its logs: loss, the metrics, and val_ ones with validation data."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before batch `batch` of the epoch."""

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After batch `batch`, with the epoch's running means so far."""


class History(Callback, Mapping[str, list[float]]):
    """What `fit` returns: ``history.history["loss"]`` (one value per epoch; also the metrics and the
    val_ entries), ``history.epoch`` and ``history.params``, as Keras's. It is also a read-only mapping
    (``history["loss"]``, fr.nn's earlier dict)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def __len__(self) -> int:
        return len(self.history)

    def __repr__(self) -> str:
        return f"History({self.history!r})"


def _mode(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    # Keras's rule: accuracies (and AUCs) improve upwards, everything else downwards.
    return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"


class _Monitor(Callback):
    """The shared part of EarlyStopping and ModelCheckpoint: a monitored log entry and its best."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = _mode(monitor, mode)
        self.min_delta = abs(float(min_delta))
        self.best = np.inf if self.mode == "min" else -np.inf
        self._warned = False

    def _value(self, logs: Logs | None, what: str) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None and not self._warned:
            self._warned = True
            available = ", ".join(logs or {})
            warnings.warn(
                f"{what} conditioned on {self.monitor!r}, which is not in the logs (available: {available}); "
                "pass validation_data / validation_split, or monitor='loss'",
                UserWarning,
                stacklevel=3,
            )
        return value

    def _improved(self, value: float, reference: float | None = None) -> bool:
        best = self.best if reference is None else reference
        if self.mode == "min":
            return bool(value < best - self.min_delta)
        return bool(value > best + self.min_delta)


class EarlyStopping(_Monitor):
    """Stops fit when `monitor` has not improved by min_delta for `patience` epochs (Keras's
    EarlyStopping; its patience defaults to 0, fr.nn's to 5).

    Parameters
    ----------
    monitor : str
        A key of the epoch logs: "val_loss" (needs validation data; without it, a warning and no
        stopping, as Keras), "loss", "accuracy", "val_mae", ...
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        The least change that counts as an improvement.
    restore_best_weights : bool
        On stopping, put back the parameters of the best epoch.
    verbose : int
        1: print the epoch it stopped at.
    mode : {"auto", "min", "max"}
        "auto": max for accuracies, min otherwise.
    baseline : float or None
        Stop unless the monitored value beats it within patience epochs.
    start_from_epoch : int
        Epochs to wait before monitoring at all.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = False,
        *,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose = int(patience), int(verbose)
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline, self.start_from_epoch = baseline, int(start_from_epoch)
        self.wait, self.stopped_epoch = 0, 0
        self.best_weights: list[NDArray[Any]] | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = np.inf if self.mode == "min" else -np.inf
        self.best_weights = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        value = self._value(logs, "EarlyStopping")
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # Keras keeps the first epoch's at least
        self.wait += 1
        if self._improved(value):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", file=sys.stderr)

    def __call__(self, model: Trainer, epoch: int, logs: Logs) -> bool:
        """fr.nn's earlier callback form: True to stop."""
        self.set_model(model)
        self.on_epoch_end(epoch, logs)
        return bool(model.stop_training)


class ModelCheckpoint(_Monitor):
    """Saves the model (`Sequential.save`, or only the weights) after epochs (Keras's ModelCheckpoint).

    Parameters
    ----------
    filepath : str or os.PathLike
        The file, formatted with the epoch (from 1) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.3f}.keras"``.
        Written exactly as named, in fr.nn's .npz format (`fusedrnn.nn.load_model` reads it).
    monitor : str
        The log entry save_best_only compares.
    verbose : int
        1: print a line per save.
    save_best_only : bool
        Save only when `monitor` improves (Keras's rule; without the entry, a warning and no save).
    save_weights_only : bool
        `Sequential.save_weights` instead of the whole model.
    mode : {"auto", "min", "max"}
    save_freq : "epoch"
        Only "epoch" is supported.
    initial_value_threshold : float or None
        The value the first save must beat.
    """

    def __init__(
        self,
        filepath: Any,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, 0.0)
        if save_freq != "epoch":
            raise ValueError(f"save_freq: only 'epoch' is supported, got {save_freq!r}")
        self.filepath, self.verbose = filepath, int(verbose)
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        if initial_value_threshold is not None:
            self.best = float(initial_value_threshold)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        path = str(self.filepath).format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = self._value(logs, "ModelCheckpoint (save_best_only)")
            if value is None or not self._improved(value):
                return
            if self.verbose > 0:
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {value:.5f}, "
                    f"saving model to {path}",
                    file=sys.stderr,
                )
            self.best = value
        elif self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}", file=sys.stderr)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LambdaCallback(Callback):
    """Keras's LambdaCallback: the hooks as functions (on_epoch_end=lambda epoch, logs: ...)."""

    def __init__(
        self,
        on_epoch_begin: Callable[[int, Logs], object] | None = None,
        on_epoch_end: Callable[[int, Logs], object] | None = None,
        on_train_begin: Callable[[Logs], object] | None = None,
        on_train_end: Callable[[Logs], object] | None = None,
        on_train_batch_begin: Callable[[int, Logs], object] | None = None,
        on_train_batch_end: Callable[[int, Logs], object] | None = None,
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for hook, function in hooks.items():
            if function is not None:
                setattr(self, hook, function)


class TerminateOnNaN(Callback):
    """Stops fit when a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss, terminating training", file=sys.stderr)
            self.model.stop_training = True


class _FunctionCallback(Callback):
    """fr.nn's earlier callback: ``function(model, epoch, logs)`` after every epoch, True to stop."""

    def __init__(self, function: Callable[[Any, int, Logs], object]) -> None:
        super().__init__()
        self.function = function

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.function(self.model, epoch, logs or {}):
            self.model.stop_training = True


def as_callbacks(callbacks: Iterable[Any] | None) -> list[Callback]:
    """fit's callbacks as `Callback` objects (functions wrapped); TypeError for anything else."""
    result: list[Callback] = []
    for callback in callbacks or ():
        if isinstance(callback, Callback):
            result.append(callback)
        elif callable(callback):
            result.append(_FunctionCallback(callback))
        elif any(hasattr(callback, hook) for hook in ("on_epoch_end", "on_train_batch_end", "on_train_end")):
            result.append(_Duck(callback))
        else:
            raise TypeError(
                "callbacks: expected fr.nn callbacks (or objects with Keras's hooks), got "
                f"{type(callback).__name__}"
            )
    return result


class _Duck(Callback):
    """An object with some of Keras's hooks (a keras.callbacks.Callback subclass, say): the hooks it has
    are called, the model and params given as Keras gives them."""

    def __init__(self, target: Any) -> None:
        super().__init__()
        self.target = target

    def set_model(self, model: Trainer) -> None:
        super().set_model(model)
        if hasattr(self.target, "set_model"):
            self.target.set_model(model)
        else:
            self.target.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        if hasattr(self.target, "set_params"):
            self.target.set_params(params)

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("on_"):
            hook = getattr(object.__getattribute__(self, "target"), name, None)
            if hook is not None:
                return hook
        return object.__getattribute__(self, name)
