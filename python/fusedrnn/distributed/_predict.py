"""Scoring many sequences on Dask or Ray with any fusedrnn model, shipped once per worker."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import get_num_threads, set_num_threads
from .._validation import positive_int
from ._engines import require
from ._flat import _is_layer

__all__ = ["Predictor", "predict"]

Array = NDArray[Any]

# Per process: the thread count set for the engine's worker (None: not yet).
_threads_set: int | None = None
_threads_lock = threading.Lock()


def _kind(model: Any) -> str:
    from ..nn import Sequential

    if _is_layer(model):
        return "layer"
    if isinstance(model, Sequential):
        return "sequential"
    if hasattr(model, "predict") and hasattr(model, "get_params"):
        return "estimator"
    raise TypeError(
        "model: expected a fusedrnn layer (fr.LSTM/GRU/RNN), an fr.nn.Sequential or an fr.sklearn "
        f"estimator, got {type(model).__name__}"
    )


def _lean_layer(layer: Any) -> Any:
    """An eval-mode copy of a layer without gradients (what a worker needs to score)."""
    state = layer.__getstate__()
    state.update(training=False, grads=None)  # None: the copy makes zeros of its own, never shipped
    cls: Any = type(layer)
    lean = cls.__new__(cls)
    lean.__setstate__(state)
    return lean


def _lean_sequential(model: Any) -> Any:
    """A copy of a Sequential for scoring: recurrent layers in eval mode without gradients, no optimizer
    state, no cached activations (the last batch's inputs and outputs a layer keeps for backward)."""
    from ..nn import Recurrent

    lean = copy.copy(model)
    lean.optimizer = None
    lean.history = None  # the History holds the model itself
    lean.__dict__.pop("_last_batch", None)  # the last training batch's predictions and targets
    lean.layers = []
    for layer in model.layers:
        piece = copy.copy(layer)
        # what a layer keeps of the last batch for backward, and a Dense layer's gradients (a lean copy
        # scores; it does not train)
        for cached in ("x", "y", "z", "mask", "tokens", "h_shape", "finals", "dW", "db"):
            piece.__dict__.pop(cached, None)
        if isinstance(layer, Recurrent):
            piece.layer = _lean_layer(layer.layer)
        lean.layers.append(piece)
    return lean


def lean_copy(model: Any) -> Any:
    """The copy of `model` that scoring ships: eval mode, no gradients, optimizer state or cached
    activations; an estimator keeps its fitted attributes with a lean ``model_``."""
    kind = _kind(model)
    if kind == "layer":
        return _lean_layer(model)
    if kind == "sequential":
        return _lean_sequential(model)
    inner = getattr(model, "model_", None)
    if inner is None:
        return model
    lean = copy.copy(model)
    lean.model_ = _lean_sequential(inner)
    return lean


def _engine_threads() -> int | None:
    """The CPUs the engine gave this worker: a Dask worker's threads, a Ray actor's CPUs (None: not
    inside a worker of either)."""
    try:
        from distributed import get_worker

        worker: Any = get_worker()
        state = getattr(worker, "state", None)
        return int(getattr(state, "nthreads", None) or worker.nthreads)
    except (ImportError, ValueError, AttributeError):
        pass
    try:
        import ray

        if ray.is_initialized():
            context: Any = ray.get_runtime_context()
            cpus = context.get_assigned_resources().get("CPU")
            if cpus:
                return max(1, int(cpus))
    except (ImportError, AttributeError, RuntimeError):
        pass
    return None


def _set_worker_threads(threads: int | None) -> None:
    """Once per process: fusedrnn's threads = `threads`, else the CPUs the engine gave the worker."""
    global _threads_set
    with _threads_lock:
        if _threads_set is not None:
            return
        n = threads if threads is not None else _engine_threads()
        if n is not None:
            set_num_threads(n)
        _threads_set = get_num_threads()


class Predictor:
    """A model's predictions for NumPy blocks of sequences ``[n, T, F]``: what each worker holds, once.

    Parameters
    ----------
    model : layer, fr.nn.Sequential or fr.sklearn estimator
        Kept as given (`predict` passes a lean copy).
    batch_size : int or None
        Samples per forward (None: a block at once). Never changes a result (batch invariance).
    method : str
        An estimator's method ("predict", "predict_proba"); ignored for layers and Sequential models.
    threads : int or None
        fusedrnn threads in the worker process (None: the CPUs the engine gave the worker; outside
        Dask or Ray workers, unchanged). Set at the first call in each process.

    Calls in one process take turns (a lock): fr.nn models keep per-call state and are not safe to call
    from several threads at once, and one call at a time on all the worker's CPUs is the thread budget.
    A layer's output is its ``y`` (batch-first ``[n, T, D*H]``), not its final states.
    """

    def __init__(
        self, model: Any, batch_size: int | None = 8192, method: str = "predict", threads: int | None = None
    ) -> None:
        self.kind = _kind(model)
        self.model = model
        self.batch_size = None if batch_size is None else positive_int(batch_size, "batch_size")
        self.method = method
        self.threads = None if threads is None else positive_int(threads, "threads")
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        buffer = io.BytesIO()
        _LeanPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(state.pop("model"))
        state["model_pickle"] = buffer.getvalue()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.__dict__.update(state, model=pickle.loads(state.pop("model_pickle")))
        self._lock = threading.Lock()

    def __call__(self, block: Array) -> Array:
        _set_worker_threads(self.threads)
        return self.run(block)

    def run(self, block: Array) -> Array:
        """The predictions for one block, in this process as it is (no thread setting)."""
        X = np.asarray(block)
        with self._lock:
            if self.kind == "sequential":
                return np.asarray(self.model.predict(X, batch_size=self.batch_size))
            if self.kind == "estimator":
                return np.asarray(getattr(self.model, self.method)(X, batch_size=self.batch_size))
            return self._layer_outputs(X)

    def _layer_outputs(self, X: Array) -> Array:
        layer = self.model
        step = len(X) if self.batch_size is None else self.batch_size
        outputs = []
        for i in range(0, max(len(X), 1), max(step, 1)):
            x = X[i : i + step]
            if not layer.batch_first:
                x = x.transpose(1, 0, *range(2, x.ndim))
            y, _ = layer(x)
            outputs.append(y if layer.batch_first else y.transpose(1, 0, *range(2, y.ndim)))
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)


class _LeanPickler(pickle.Pickler):
    """Pickles fusedrnn layers without their gradient arrays (the receiving side makes zeros)."""

    def reducer_override(self, obj: Any) -> Any:
        if _is_layer(obj):
            state = obj.__getstate__()
            state["grads"] = None
            return (_rebuild_layer, (type(obj), state))
        return NotImplemented


def _rebuild_layer(cls: Any, state: dict[str, Any]) -> Any:
    layer = cls.__new__(cls)
    layer.__setstate__(state)
    return layer


def _apply(predictor: Predictor, block: Array) -> Array:
    return predictor(block)


def predict(
    model: Any,
    data: Any,
    batch_size: int | None = 8192,
    *,
    method: str = "predict",
    threads: int | None = None,
    column: str | None = None,
    output_column: str = "prediction",
    num_workers: int | None = None,
    num_cpus_per_worker: float = 1,
) -> Any:
    """Scores sequences with a fusedrnn model on the engine that holds them, the model shipped once per
    worker; every prediction bitwise equal to one process's.

    Parameters
    ----------
    model : layer (fr.LSTM/GRU/RNN), fr.nn.Sequential or fr.sklearn estimator
        A layer's prediction is its output ``y`` (batch-first ``[n, T, D*H]``, whatever its batch_first).
        A lean copy is shipped: eval mode, no gradients, optimizer state or cached activations.
    data : numpy.ndarray, dask.array.Array or ray.data.Dataset
        Sequences ``[n, T, F]`` (an estimator also takes 2-D ``[n, T]``). A Dask array may be chunked
        along n in any way (other axes are joined into one chunk). A Ray Dataset holds the sequences in
        `column`, one ``[T, F]`` array per row. A NumPy array is scored here (the reference).
    batch_size : int or None
        Samples per forward inside a worker (None: a whole block at once). The default, 8192, keeps
        the per-call overhead small; it never changes a result. For Ray it is also the size of the
        batches handed to the actors.
    method : str
        An estimator's method: "predict" or "predict_proba".
    threads : int or None
        fusedrnn threads in each worker process (None: as many as the engine gives the worker: a Dask
        worker's nthreads, a Ray actor's num_cpus).
    column, output_column : str
        Ray: the column holding the sequences (None: the Dataset's only column), and the column added for
        the predictions (the other columns are kept, so ids travel with their rows).
    num_workers : int or None
        Ray: the actors (None: as many as the cluster's CPUs hold at `num_cpus_per_worker` each).
    num_cpus_per_worker : float
        Ray: the CPUs each actor asks for (its fusedrnn threads unless `threads` is given).

    Returns
    -------
    numpy.ndarray, dask.array.Array or ray.data.Dataset
        Dask: a lazy array of the predictions, chunked along n as `data`, with the right dtype and meta.
        Ray: a lazy Dataset with `output_column` added (row order as the Dataset's execution options
        say: set ``DataContext.get_current().execution_options.preserve_order = True`` before creating
        it to keep it).

    Raises
    ------
    TypeError
        model or data is of no supported kind.
    ImportError
        The engine of `data` is not installed (naming the extra that installs it).
    """
    predictor = Predictor(lean_copy(model), batch_size, method, threads)
    module = type(data).__module__.split(".")[0]
    if isinstance(data, np.ndarray):
        return predictor.run(data)  # here: this process's threads are left as they are
    if module == "dask":
        return _predict_dask(predictor, data)
    if module == "ray":
        return _predict_ray(predictor, data, column, output_column, num_workers, num_cpus_per_worker)
    raise TypeError(
        f"data: expected a numpy array, a dask.array.Array or a ray.data.Dataset, got {type(data).__name__}"
    )


def _predict_dask(predictor: Predictor, data: Any) -> Any:
    dask = require("dask", "predict on a Dask array")
    da = require("dask.array", "predict on a Dask array")
    if not isinstance(data, da.Array):
        raise TypeError(f"data: expected a dask.array.Array, got {type(data).__name__}")
    if data.ndim < 2:
        raise ValueError(f"data: expected sequences [n, T(, F)], got {data.ndim} dimension(s)")
    data = data.rechunk({axis: -1 for axis in range(1, data.ndim)})
    # The output's shape and dtype from one sample, here (cheap; the model is batch-invariant).
    sample = predictor.run(np.zeros((1,) + tuple(data.shape[1:]), data.dtype))
    tail, dtype = tuple(sample.shape[1:]), sample.dtype
    # The predictor enters the graph once, as one delayed object: every task depends on its key, so a
    # distributed worker receives (and unpickles) it once, whatever its number of tasks.
    shipped = dask.delayed(predictor, pure=True, traverse=False)
    in_index = tuple(range(data.ndim))
    out_index = (0,) + tuple(range(data.ndim, data.ndim + len(tail)))
    new_axes = {axis: size for axis, size in zip(out_index[1:], tail, strict=True)}
    return da.blockwise(
        _apply,
        out_index,
        shipped,
        None,
        data,
        in_index,
        new_axes=new_axes,
        concatenate=True,
        dtype=dtype,
        meta=np.empty((0,) * (1 + len(tail)), dtype),
        name="fusedrnn-predict",
    )


class _RayPredictor:
    """The actor-side callable of `predict` on a Ray Dataset: the model fetched once per actor."""

    def __init__(self, shipped: list[Any], column: str, output_column: str) -> None:
        import ray

        predictor = ray.get(shipped[0])
        _set_worker_threads(predictor.threads)
        self.predictor, self.column, self.output_column = predictor, column, output_column

    def __call__(self, batch: dict[str, Array]) -> dict[str, Array]:
        out = dict(batch)
        out[self.output_column] = self.predictor(np.asarray(batch[self.column]))
        return out


def _predict_ray(
    predictor: Predictor,
    data: Any,
    column: str | None,
    output_column: str,
    num_workers: int | None,
    num_cpus_per_worker: float,
) -> Any:
    ray = require("ray", "predict on a Ray Dataset")
    rd = require("ray.data", "predict on a Ray Dataset")
    if not isinstance(data, rd.Dataset):
        raise TypeError(f"data: expected a ray.data.Dataset, got {type(data).__name__}")
    if column is None:
        columns = data.columns()
        if columns is None or len(columns) != 1:
            raise ValueError(f"column: the Dataset has columns {columns}; say which holds the sequences")
        column = columns[0]
    if num_workers is None:
        cpus = ray.cluster_resources().get("CPU", 1)
        num_workers = max(1, int(cpus // num_cpus_per_worker))
    num_workers = positive_int(num_workers, "num_workers")
    shipped = [ray.put(predictor)]  # in the object store once; each actor fetches it once
    return data.map_batches(
        _RayPredictor,
        fn_constructor_kwargs={"shipped": shipped, "column": column, "output_column": output_column},
        batch_size=predictor.batch_size,
        batch_format="numpy",
        compute=rd.ActorPoolStrategy(size=num_workers),
        num_cpus=num_cpus_per_worker,
    )
