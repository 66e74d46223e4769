"""Data-parallel training of fr.nn models in the Horovod style, written with the models' public pieces
(forward, the loss, each layer's backward, the optimizer's step): on MPI (`fit_mpi`, under
``mpirun -np K``) and on Ray (`fit_ray`, K actors)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import set_num_threads
from .._validation import bounded_int, positive_int
from ._engines import available_cpus, require
from ._flat import flat_gradients, flat_parameters, set_flat_gradients, set_flat_parameters, split_flat

__all__ = ["allreduce_gradients", "broadcast_parameters", "fit_mpi", "fit_ray", "shard"]

Array = NDArray[Any]
Callback = Callable[[Any, int, dict[str, float]], bool]


def _local_gradients(model: Any, X: Array, y: Array) -> float:
    """Zeroes the gradients, then accumulates those of the batch (X, y); returns its mean loss (0.0 and
    zero gradients for an empty batch)."""
    for layer in model.layers:
        layer.zero_grad()
    if len(X) == 0:
        return 0.0
    pred = model.forward(X, training=True)
    value, grad = model.loss(pred, y)
    for layer in reversed(model.layers):
        grad = layer.backward(grad)
    return float(value)


def _step(model: Any) -> None:
    model.optimizer.step(model.parameters(), model.gradients())


def _check_model(model: Any, X: Array, y: Array, what: str) -> None:
    from ..nn import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"{what}: expected an fr.nn.Sequential, got {type(model).__name__}")
    if model.optimizer is None or model.loss is None:
        raise RuntimeError(f"{what}: compile the model first")
    if len(X) != len(y):
        raise ValueError(f"y: expected {len(X)} samples like X, got {len(y)}")
    if model.built_for is None:
        model.build((None,) + tuple(X.shape[1:]))


def shard(data: ArrayLike, rank: int, size: int) -> Array:
    """The interleaved shard ``data[rank::size]`` of rank `rank` among `size`: K ranks fitting their
    shards with batch b take the samples one process takes in batches of K*b (shuffle off)."""
    return np.asarray(data)[rank::size]


# -- MPI --------------------------------------------------------------------------------------------


def broadcast_parameters(obj: Any, comm: Any, root: int = 0) -> None:
    """Gives every rank the parameters of rank `root` (one ``Bcast`` of the flat buffer).

    Parameters
    ----------
    obj : layer, fr.nn.Sequential or fitted fr.sklearn estimator
        Built alike on every rank.
    comm : mpi4py.MPI.Comm
    root : int
    """
    flat = flat_parameters(obj)
    comm.Bcast(flat, root=root)
    if comm.Get_rank() != root:
        set_flat_parameters(obj, flat)


def allreduce_gradients(obj: Any, comm: Any, weight: float | None = None) -> Array:
    """Replaces every rank's gradients with their average over the ranks: one in-place ``Allreduce`` of
    the flat gradient buffer (`flat_gradients` order), copied back into the gradient arrays.

    Parameters
    ----------
    obj : layer, fr.nn.Sequential or fitted fr.sklearn estimator
    comm : mpi4py.MPI.Comm
    weight : float or None
        None: the plain mean over ranks. Otherwise this rank's gradients are scaled by `weight` and
        summed (give weights summing to 1 over the ranks, e.g. ``n_local / n_global`` when the ranks'
        batches differ in size; a rank with nothing to contribute passes 0).

    Returns
    -------
    numpy.ndarray
        The reduced flat buffer.
    """
    mpi = require("mpi4py", "allreduce_gradients").MPI
    flat = flat_gradients(obj)
    if weight is None:
        comm.Allreduce(mpi.IN_PLACE, flat, op=mpi.SUM)
        flat /= comm.Get_size()
    else:
        flat *= weight
        comm.Allreduce(mpi.IN_PLACE, flat, op=mpi.SUM)
    set_flat_gradients(obj, flat)
    return flat


def _mpi_threads(comm: Any, threads: int | None) -> int:
    """`threads`, else this node's CPUs divided among the ranks on it."""
    if threads is not None:
        return positive_int(threads, "threads")
    mpi = require("mpi4py", "fit_mpi").MPI
    local = comm.Split_type(mpi.COMM_TYPE_SHARED)
    try:
        return max(1, available_cpus() // local.Get_size())
    finally:
        local.Free()


def _batch_sizes(lengths: Sequence[int], i: int, batch_size: int) -> list[int]:
    return [min(batch_size, max(0, n - i * batch_size)) for n in lengths]


class MpiFit:
    """What an fr.nn model's ``fit(..., distributed="mpi")`` does beyond a plain fit, every rank fitting
    its own shard (under ``mpirun -np K``): rank 0's parameters broadcast at the start, every step's
    gradients averaged over the ranks (weighted by their batch sizes: one Allreduce of a flat buffer)
    before every rank applies the same optimizer step, as many steps per epoch on every rank (a rank
    whose shard has run out contributes nothing), stops agreed, and the epoch's logs averaged over all
    samples so that callbacks see the same values everywhere.

    Parameters
    ----------
    model : fr.nn.Sequential or fr.nn.Model
        Built and compiled alike on every rank.
    count, batch_size : int
        This rank's samples and the batch size per rank.
    distributed : "mpi" or mpi4py.MPI.Comm
        "mpi": MPI.COMM_WORLD, each rank then running the node's CPUs divided among its ranks as
        fusedrnn threads; a communicator: its ranks, the thread count left as it is.
    """

    def __init__(self, model: Any, count: int, batch_size: int, distributed: Any) -> None:
        self.mpi = require("mpi4py", 'fit(distributed="mpi")').MPI
        self.comm = self.mpi.COMM_WORLD if isinstance(distributed, str) else distributed
        self.rank = self.comm.Get_rank()
        if isinstance(distributed, str):
            set_num_threads(_mpi_threads(self.comm, None))
        self.lengths = [int(n) for n in self.comm.allgather(count)]
        self.batch_size = batch_size
        self.steps = max(-(-n // batch_size) for n in self.lengths)
        params = model.parameters()
        flat = self._flat(params)
        self.comm.Bcast(flat, root=0)
        if self.rank != 0:
            model.set_parameters(split_flat(flat, params))

    @staticmethod
    def _flat(arrays: Sequence[Array]) -> Array:
        if not arrays:
            return np.zeros(0, np.float32)
        return np.concatenate([np.asarray(a).ravel() for a in arrays])

    def average(self, gradients: Sequence[Array], step: int, local: int) -> None:
        """Replaces this rank's gradients of its batch of `local` samples (zeros when it has none) at
        `step` with the average over every rank's samples, in place."""
        total = sum(_batch_sizes(self.lengths, step, self.batch_size))
        flat = self._flat(gradients) * (local / total)
        self.comm.Allreduce(self.mpi.IN_PLACE, flat, op=self.mpi.SUM)
        for g, piece in zip(gradients, split_flat(flat, gradients), strict=True):
            g[...] = piece

    def any(self, flag: bool) -> bool:
        """Whether any rank says so (every rank gets the same answer)."""
        return bool(self.comm.allreduce(bool(flag), op=self.mpi.LOR))

    def mean(self, sums: dict[str, float], count: float) -> dict[str, float]:
        """Sums of per-sample values over `count` samples on each rank -> the means over all ranks."""
        keys = sorted(sums)
        buffer = np.array([sums[key] for key in keys] + [count], np.float64)
        self.comm.Allreduce(self.mpi.IN_PLACE, buffer, op=self.mpi.SUM)
        return {key: float(buffer[i] / buffer[-1]) for i, key in enumerate(keys)} if buffer[-1] else {}


def fit_mpi(
    model: Any,
    X: ArrayLike,
    y: ArrayLike,
    epochs: int = 1,
    batch_size: int = 32,
    *,
    comm: Any = None,
    shuffle: bool = True,
    seed: int = 0,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    callbacks: Iterable[Callback] = (),
    verbose: int = 1,
    threads: int | None = None,
) -> dict[str, list[float]]:
    """Synchronous data-parallel `fit` of a compiled fr.nn model, every rank on its own shard (run the
    script under ``mpirun -np K``): parameters broadcast from rank 0, then every step each rank computes
    the gradients of its batch, one Allreduce of the flat gradient buffer averages them (weighted by
    the ranks' batch sizes) and every rank applies the same optimizer step. The model's own
    ``fit(..., distributed=comm)`` (`MpiFit`), with this function's thread count and shuffle seed.

    K ranks with shards ``shard(X, r, K)`` and batch b compute what one process computes on X in
    batches of K*b with shuffle off, to float rounding (tested).

    Parameters
    ----------
    model : fr.nn.Sequential
        Compiled, made alike on every rank (rank 0's parameters are broadcast).
    X, y : array_like
        This rank's shard (any lengths; ranks with fewer batches contribute nothing to the last steps).
    epochs, batch_size : int
        As `Sequential.fit`; batch_size is per rank (the global batch is the sum over ranks).
    comm : mpi4py.MPI.Comm or None
        None: ``MPI.COMM_WORLD``.
    shuffle : bool
        Shuffle each shard every epoch (from `seed`, the same generator on every rank).
    validation_data : (array_like, array_like) or None
        This rank's validation shard; val_loss is the mean over all ranks' shards.
    callbacks : iterable of callable
        As `Sequential.fit`; every rank sees the same logs, so early stopping agrees across ranks.
    verbose : int
        1: a line per epoch from rank 0.
    threads : int or None
        fusedrnn threads per rank (None: the node's CPUs divided among its ranks).

    Returns
    -------
    dict of str to list of float
        The history, the same on every rank.
    """
    mpi = require("mpi4py", "fit_mpi").MPI
    comm = mpi.COMM_WORLD if comm is None else comm
    X, y = np.asarray(X), np.asarray(y)
    _check_model(model, X, y, "fit_mpi")
    epochs = bounded_int(epochs, "epochs", 0)
    batch_size = positive_int(batch_size, "batch_size")
    set_num_threads(_mpi_threads(comm, threads))
    model.rng = np.random.default_rng(seed)  # the shuffles: the same generator on every rank
    history = model.fit(
        X,
        y,
        batch_size=batch_size,
        epochs=epochs,
        verbose=2 if verbose else 0,
        callbacks=list(callbacks),
        validation_data=validation_data,
        shuffle=shuffle,
        distributed=comm,
    )
    return dict(history.history)


# -- Ray --------------------------------------------------------------------------------------------


class _RayWorker:
    """One data-parallel worker: its shard, its replica of the model; gradients at given parameters."""

    def __init__(self, build_model: Callable[[], Any], X: Array, y: Array, threads: int) -> None:
        set_num_threads(threads)
        self.model = build_model()
        self.X, self.y = X, y
        _check_model(self.model, X, y, "fit_ray")

    def gradients(self, params: Array, batch: Array) -> tuple[Array, float]:
        """(the flat gradients of the batch times its size, its loss times its size) at `params`."""
        set_flat_parameters(self.model, params)
        value = _local_gradients(self.model, self.X[batch], self.y[batch])
        grads = flat_gradients(self.model)
        grads *= len(batch)
        return grads, value * len(batch)


def fit_ray(
    build_model: Callable[[], Any],
    X: ArrayLike,
    y: ArrayLike,
    num_workers: int = 2,
    epochs: int = 1,
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    seed: int = 0,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    callbacks: Iterable[Callback] = (),
    verbose: int = 1,
    num_cpus_per_worker: float = 1,
) -> tuple[Any, dict[str, list[float]]]:
    """Synchronous data-parallel training of an fr.nn model on K Ray actors (``ray.init`` first).

    X and y are split into K interleaved shards (`shard`), each put in the object store once and
    held by one actor. Every step the driver puts the current parameters in the object store once; each
    actor computes the gradients of its batch at them; the driver sums the K flat gradient buffers
    (weighted by batch size, in a fixed order) and applies the optimizer step to its own model, which
    is the one source of truth (callbacks see it). Driver-side, not a Ray collective:
    ``ray.util.collective`` needs torch's or cupy's backends, and for the models fusedrnn trains
    (kB to a few MB of parameters) 2*K buffers through the object store per step cost less than the
    step itself; past that a ring allreduce between actors (or MPI) would be the way.

    K workers with batch b compute what one process computes on X in batches of K*b (shuffle off),
    to float rounding (tested).

    Parameters
    ----------
    build_model : callable
        Returns a compiled fr.nn.Sequential; called once on the driver and once in each actor (the
        driver's initial parameters are the ones used).
    X, y : array_like
        All the data (sharded here).
    num_workers : int
        K, the actors.
    epochs, batch_size : int
        batch_size per actor (the global batch is K times it).
    shuffle, seed : bool, int
        Shuffle each shard every epoch (one generator on the driver).
    validation_data, callbacks, verbose
        As `Sequential.fit`, on the driver's model.
    num_cpus_per_worker : float
        CPUs each actor asks for; its fusedrnn threads.

    Returns
    -------
    (fr.nn.Sequential, dict of str to list of float)
        The driver's trained model and the history.
    """
    ray = require("ray", "fit_ray")
    X, y = np.asarray(X), np.asarray(y)
    model = build_model()
    _check_model(model, X, y, "fit_ray")
    num_workers = positive_int(num_workers, "num_workers")
    epochs = bounded_int(epochs, "epochs", 0)
    batch_size = positive_int(batch_size, "batch_size")
    threads = max(1, int(num_cpus_per_worker))
    remote = ray.remote(num_cpus=num_cpus_per_worker)(_RayWorker)
    shards = [(shard(X, r, num_workers), shard(y, r, num_workers)) for r in range(num_workers)]
    lengths = [len(xs) for xs, _ in shards]
    workers = [remote.remote(build_model, ray.put(xs), ray.put(ys), threads) for xs, ys in shards]
    steps = max(-(-n // batch_size) for n in lengths)
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": []}
    if validation_data is not None:
        history["val_loss"] = []
    callbacks = list(callbacks)
    try:
        for epoch in range(epochs):
            start = time.perf_counter()
            orders = [rng.permutation(n) if shuffle else np.arange(n) for n in lengths]
            loss_sum, seen = 0.0, 0
            for i in range(steps):
                params = ray.put(flat_parameters(model))
                batches = [order[i * batch_size : (i + 1) * batch_size] for order in orders]
                results = ray.get(
                    [w.gradients.remote(params, b) for w, b in zip(workers, batches, strict=True)]
                )
                n = sum(len(b) for b in batches)
                total = results[0][0].copy()
                for grads, _ in results[1:]:
                    total += grads
                total /= n
                set_flat_gradients(model, total)
                _step(model)
                loss_sum += sum(value for _, value in results)
                seen += n
            logs = {"loss": loss_sum / seen}
            if validation_data is not None:
                logs["val_loss"] = model.evaluate(*validation_data)
            for key, v in logs.items():
                history[key].append(v)
            if verbose:
                text = " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())
                seconds = time.perf_counter() - start
                print(f"Epoch {epoch + 1}/{epochs} - {seconds * 1e3:.0f} ms - {text}", file=sys.stderr)
            if any([callback(model, epoch, logs) for callback in callbacks]):
                break
    finally:
        for w in workers:
            ray.kill(w)
    return model, history
