"""The training loop `Sequential` and the functional `Model` share: Keras's fit / evaluate / predict /
train_on_batch / test_on_batch, compute_gradients + apply_gradients, History, callbacks, metrics and
the verbose displays, written once over a few hooks a model class provides (how its data is held and
sliced, its forward and backward, its loss and metric values)."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validation import bounded_int, positive_int
from . import optimizers
from .callbacks import History, as_callbacks

# The progress display: (epoch, logs, seconds) after each epoch; (None, None, None) closes it.
_Progress = Callable[[int | None, Any, Any], None]

__all__ = ["Trainer"]


class Trainer:
    """The training half of a model. A subclass sets ``optimizer``, ``loss`` (None until compiled),
    ``rng`` and ``stop_training`` / ``history``, and provides the hooks below; samples are the first
    axis of every array of its data."""

    optimizer: optimizers.Optimizer | None
    loss: Any
    rng: np.random.Generator
    stop_training: bool
    history: History | None
    _last_batch: tuple[Any, Any]

    # -- hooks -------------------------------------------------------------------------------------

    def _inputs(self, X: Any) -> Any:
        """X as the model holds a batch of inputs (an array; a list of arrays for several inputs)."""
        return np.asarray(X)

    def _targets(self, y: Any) -> Any:
        """y as the model holds a batch of targets."""
        return np.asarray(y)

    def _count(self, data: Any) -> int:
        """The number of samples in `data` (as `_inputs` / `_targets` hold it)."""
        return len(data)

    def _take(self, data: Any, index: Any) -> Any:
        """The samples `index` (an index array or a slice) of `data`."""
        return data[index]

    def _concat(self, parts: list[Any]) -> Any:
        """One output from the outputs of consecutive batches."""
        return np.concatenate(parts)

    def _ensure_built(self, X: Any) -> None:
        raise NotImplementedError

    def forward(self, X: Any, training: bool = False) -> Any:
        raise NotImplementedError

    def _zero_grad(self) -> None:
        raise NotImplementedError

    def _backward(self, grad: Any) -> None:
        """Backward from the loss's gradient with respect to the outputs of the last forward."""
        raise NotImplementedError

    def _loss_values(self, pred: Any, y: Any) -> tuple[float, Any, dict[str, float]]:
        """(the loss, its gradient with respect to pred, any further logs such as per-output losses)."""
        value, grad = self.loss(pred, y)
        return float(value), grad, {}

    def _metric_values(self, pred: Any, y: Any) -> dict[str, float]:
        raise NotImplementedError

    def parameters(self) -> list[NDArray[Any]]:
        raise NotImplementedError

    def set_parameters(self, values: Sequence[ArrayLike]) -> None:
        raise NotImplementedError

    def gradients(self) -> list[NDArray[Any]]:
        raise NotImplementedError

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Copies `weights` (as get_weights returns them) into the parameters; ValueError naming the
        first array of another shape."""
        weights = list(weights)
        params = self.parameters()
        if len(weights) != len(params):
            raise ValueError(f"weights: the model has {len(params)} parameter arrays, got {len(weights)}")
        for i, (p, w) in enumerate(zip(params, weights, strict=True)):
            if np.shape(w) != p.shape:
                raise ValueError(f"weights[{i}]: expected shape {p.shape}, got {np.shape(w)}")
        self.set_parameters(weights)

    # -- inference ---------------------------------------------------------------------------------

    def predict(
        self,
        X: Any,
        batch_size: int | None = 256,
        verbose: int | str = "auto",
        steps: None = None,
        callbacks: None = None,
    ) -> Any:
        """The outputs for X (inference mode), computed batch_size samples at a time.

        Parameters
        ----------
        X : array_like (a list of arrays for a model of several inputs)
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
        numpy.ndarray (a list of arrays for a model of several outputs)
            The outputs, [N, ...].

        Raises
        ------
        TypeError, ValueError
            batch_size is not an int >= 1 or None, or X does not fit the built model.
        """
        if steps is not None or callbacks is not None:
            raise ValueError("predict: steps and callbacks are not supported (give all of X)")
        start = time.perf_counter()
        X = self._inputs(X)
        count = self._count(X)
        step = count if batch_size is None else positive_int(batch_size, "batch_size")
        out = self._predict(X, step)
        if _verbosity(verbose, 0):
            batches = max(1, -(-count // max(step, 1)))
            print(f"{batches}/{batches} - {(time.perf_counter() - start) * 1e3:.0f} ms", file=sys.stderr)
        return self._public(out)

    def _predict(self, X: Any, step: int) -> Any:
        """The outputs for X (as `_inputs` holds it), step samples per forward."""
        count = self._count(X)
        self._ensure_built(X)
        if count <= step:
            return self.forward(X)  # an empty X included: its output has the model's shape
        return self._concat([self.forward(self._take(X, slice(i, i + step))) for i in range(0, count, step)])

    def _public(self, outputs: Any) -> Any:
        """The outputs as predict returns them."""
        return outputs

    def evaluate(
        self,
        X: Any,
        y: Any,
        batch_size: int | None = 256,
        verbose: int | str = "auto",
        return_dict: bool = False,
    ) -> Any:
        """The loss of the predictions for X against y: a float without metrics, ``[loss, *metrics]``
        with them (Keras's), a dict ``{"loss": ..., "mae": ...}`` with return_dict. verbose 1 or 2
        prints the values."""
        if self.loss is None:
            raise RuntimeError("evaluate: compile the model first")
        X, y = self._inputs(X), self._targets(y)
        step = self._count(X) if batch_size is None else positive_int(batch_size, "batch_size")
        pred = self._predict(X, step)
        value, _, extra = self._loss_values(pred, y)
        logs = {"loss": value, **extra, **self._metric_values(pred, y)}
        if _verbosity(verbose, 0):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), file=sys.stderr)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    # -- training ----------------------------------------------------------------------------------

    def compute_gradients(self, X: Any, y: Any) -> tuple[float, list[NDArray[Any]]]:
        """The first half of a training step: the loss of the batch and the gradients of every
        parameter (in the order of parameters()), the optimizer not touched.

        The returned arrays are the layers' own gradient buffers: change them in place (average them
        across workers, say) and pass them to `apply_gradients`; the next compute_gradients overwrites
        them. ``train_on_batch(X, y)`` is exactly ``apply_gradients(compute_gradients(X, y)[1])``.
        """
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("compute_gradients: compile the model first")
        X, y = self._inputs(X), self._targets(y)
        self._ensure_built(X)
        self._zero_grad()
        pred = self.forward(X, training=True)
        value, grad, extra = self._loss_values(pred, y)
        self._backward(grad)
        self._last_batch = (pred, y)
        self._last_extra = extra
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

    def _batch_logs(self, value: float) -> dict[str, float]:
        return {"loss": value, **self._last_extra, **self._metric_values(*self._last_batch)}

    def train_on_batch(self, X: Any, y: Any, return_dict: bool = False) -> Any:
        """One optimizer step on the batch; returns its loss before the step (``[loss, *metrics]`` when
        compiled with metrics, a dict with return_dict, as Keras)."""
        if self.loss is None or self.optimizer is None:
            raise RuntimeError("train_on_batch: compile the model first")
        value, gradients = self.compute_gradients(X, y)
        self.apply_gradients(gradients)
        logs = self._batch_logs(value)
        if return_dict:
            return logs
        return value if len(logs) == 1 else list(logs.values())

    def test_on_batch(self, X: Any, y: Any, return_dict: bool = False) -> Any:
        """`evaluate` on one batch (Keras's test_on_batch)."""
        return self.evaluate(X, y, batch_size=None, verbose=0, return_dict=return_dict)

    def fit(
        self,
        X: Any,
        y: Any,
        batch_size: int | None = 32,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Iterable[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[ArrayLike, ArrayLike] | tuple[Any, Any] | None = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        distributed: Any = None,
    ) -> History:
        """Keras's fit: trains for `epochs` passes over (X, y) in shuffled batches.

        Parameters
        ----------
        X, y : array_like (lists of arrays for a model of several inputs or outputs)
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
        distributed : None, "mpi" or mpi4py.MPI.Comm
            "mpi": data-parallel training in the Horovod style, the script run under ``mpirun -np K``
            with every rank fitting its own shard of the data (e.g. ``X[rank::K]``; validation data
            likewise): rank 0's parameters are broadcast first, every step's gradients are averaged
            over the ranks (weighted by their batch sizes) before every rank applies the same optimizer
            step, and the epoch's logs (loss, metrics, val_ entries) are means over all ranks' samples,
            so callbacks such as EarlyStopping decide alike everywhere. With shuffle=False, K ranks with
            batch_size b compute what one process computes on the interleaved data with batch K*b, to
            float rounding. Each rank runs the node's CPUs divided among its ranks as fusedrnn threads;
            only rank 0 prints; give a ModelCheckpoint to rank 0 only. Needs mpi4py (the mpi extra).
            A communicator instead of "mpi": the same over its ranks, the thread count left as set.

        Returns
        -------
        fusedrnn.nn.History
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
        if isinstance(distributed, str) and distributed != "mpi":
            raise ValueError(
                f"distributed: expected None, 'mpi' or an mpi4py communicator, got {distributed!r}"
            )
        epochs = bounded_int(epochs, "epochs", 0)
        initial_epoch = bounded_int(initial_epoch, "initial_epoch", 0)
        batch_size = 32 if batch_size is None else positive_int(batch_size, "batch_size")
        X, y = self._inputs(X), self._targets(y)
        count = self._count(X)
        if count != self._count(y):
            raise ValueError(f"y: expected {count} samples like X, got {self._count(y)}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split: expected 0 <= validation_split < 1, got {validation_split}")
        if validation_data is None and validation_split:
            cut = int(count * (1 - validation_split))
            if cut == 0:
                raise ValueError(
                    f"validation_split: {validation_split} of {count} samples leaves none to train on"
                )
            validation_data = (self._take(X, slice(cut, None)), self._take(y, slice(cut, None)))
            X, y, count = self._take(X, slice(0, cut)), self._take(y, slice(0, cut)), cut
        if count == 0:
            raise ValueError("X: expected at least one sample to train on, got 0")
        self._ensure_built(X)
        sync = None
        if distributed is not None:
            from ..distributed._train import MpiFit

            sync = MpiFit(self, count, batch_size, distributed)
        history = History()
        hooks = [history, *as_callbacks(callbacks)]
        steps = -(-count // batch_size) if sync is None else sync.steps
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        for hook in hooks:
            hook.set_model(self)
            hook.set_params(params)
        # Keras's entries, so that epochs that stop early and epochs=0 show the same keys.
        for key in self._log_keys():
            history.history[key] = []
        if validation_data is not None:
            for key in self._log_keys():
                history.history["val_" + key] = []
        self.stop_training = False
        warned_nan = False  # the first non-finite loss warns once
        level = _verbosity(verbose, 1) if sync is None or sync.rank == 0 else 0
        progress = _progress(epochs, level)
        logs: dict[str, float] = {}
        for hook in hooks:
            hook.on_train_begin(logs)
        for epoch in range(initial_epoch, epochs):
            start = time.perf_counter()
            for hook in hooks:
                hook.on_epoch_begin(epoch, logs)
            bar = _batch_bar(epoch, epochs, steps, level)
            order = self.rng.permutation(count) if shuffle else np.arange(count)
            sums: dict[str, float] = {}
            seen = 0
            for step in range(steps):
                for hook in hooks:
                    hook.on_train_batch_begin(step, logs)
                batch = order[step * batch_size : (step + 1) * batch_size]
                if len(batch) == 0:  # distributed, this rank's shard used up: it adds nothing to the mean
                    self._zero_grad()
                    value, gradients = 0.0, self.gradients()
                else:
                    value, gradients = self.compute_gradients(self._take(X, batch), self._take(y, batch))
                if sync is not None:
                    sync.average(gradients, step, len(batch))
                self.apply_gradients(gradients)
                stop = self.stop_training
                if len(batch) == 0:
                    bar(step + 1, logs)
                    if sync is not None and sync.any(stop):
                        break
                    continue
                values = self._batch_logs(value)
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
                stop = self.stop_training
                if sync is not None:
                    stop = self.stop_training = sync.any(stop)
                if stop:
                    break
            if sync is not None:  # the means over every rank's samples
                logs = sync.mean({key: sums.get(key, 0.0) for key in self._log_keys()}, seen)
            if validation_data is not None:
                val_x, val_y = validation_data
                held_out = self._count(self._inputs(val_x))
                # A rank's validation shard may be empty (distributed); one process evaluates what it has.
                val = (
                    self.evaluate(val_x, val_y, return_dict=True, verbose=0)
                    if held_out or sync is None
                    else {}
                )
                if sync is not None:
                    val = sync.mean({key: val.get(key, 0.0) * held_out for key in self._log_keys()}, held_out)
                logs.update({"val_" + key: value for key, value in val.items()})
            bar(steps, logs, True)
            progress(epoch, logs, time.perf_counter() - start)
            for hook in hooks:
                hook.on_epoch_end(epoch, logs)
            if sync is not None:
                self.stop_training = sync.any(self.stop_training)
            if self.stop_training:
                break
        progress(None, None, None)
        for hook in hooks:
            hook.on_train_end(logs)
        self.history = history
        return history

    def _log_keys(self) -> list[str]:
        """The keys of an epoch's logs ("loss", then the model's further entries)."""
        raise NotImplementedError


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
