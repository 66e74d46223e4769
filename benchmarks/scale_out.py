"""Scale-out on a local machine: scoring throughput (rows/s) in one process, on Dask LocalClusters of 1 and
2 worker processes and on Ray with 1 and 2 actors; data-parallel training step time on 1 and 2 MPI ranks.

The model is the issue's energy-shaped one: sequences T=33, F=1, an LSTM(32) and a Dense(1) head
(about 18k parameters). Every engine's predictions are checked bitwise against the one-process ones.
Each worker / actor runs 1 fusedrnn thread (the CPU the engine gives it).

    python benchmarks/scale_out.py [--rows 200000] [--batch 8192] [--skip-ray] [--skip-mpi]

Needs the extras dask, ray and mpi (each part is skipped, saying so, when its engine is missing).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import time

# This script's name shadows the `distributed` package (Dask's) when run as a script: drop its folder
# from the import path before anything imports it.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402

import fusedrnn as fr  # noqa: E402
import fusedrnn.distributed as frd  # noqa: E402
from fusedrnn import nn  # noqa: E402


def make_model(X):
    model = nn.Sequential([nn.LSTM(32), nn.Dense(1)], seed=0)
    model.compile("adam", "mse")
    model.fit(X[:2048], X[:2048].sum(axis=(1, 2)), epochs=1, batch_size=256, verbose=0)
    return model


def best_of(fn, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def bench_dask(model, X, ref, batch, workers):
    import dask.array as da
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl,
        Client(cl),
    ):
        data = da.from_array(X, chunks=(batch, -1, -1))
        frd.predict(model, data[: 2 * batch], batch_size=batch).compute()  # warm the workers
        seconds, out = best_of(lambda: frd.predict(model, data, batch_size=batch).compute())
    assert np.array_equal(out, ref), "Dask predictions differ from one process"
    return len(X) / seconds


def bench_ray(model, X, ref, batch, actors):
    import ray
    import ray.data

    ray.init(num_cpus=actors, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        ds = ray.data.from_numpy(np.array_split(X, 8)).materialize()

        def run():
            rows = frd.predict(model, ds, batch_size=batch, num_workers=actors).select_columns(["prediction"])
            return np.concatenate([b["prediction"] for b in rows.iter_batches(batch_size=None)])

        seconds, out = best_of(run)
    finally:
        ray.shutdown()
    assert np.array_equal(out, ref), "Ray predictions differ from one process"
    return len(X) / seconds


MPI_SCRIPT = textwrap.dedent(
    """
    import time, numpy as np, fusedrnn.distributed as frd
    from fusedrnn import nn
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, K = comm.Get_rank(), comm.Get_size()
    GLOBAL = 256
    rng = np.random.default_rng(0)
    X = rng.standard_normal((GLOBAL * 20, 33, 1)).astype(np.float32)
    y = X.sum(axis=(1, 2))[:, None]
    model = nn.Sequential([nn.LSTM(32), nn.Dense(1)], seed=0)
    model.compile("adam", "mse")
    Xs, ys = frd.shard(X, rank, K), frd.shard(y, rank, K)
    frd.fit_mpi(model, Xs[: GLOBAL // K], ys[: GLOBAL // K], epochs=1, batch_size=GLOBAL // K, verbose=0,
                threads=1)
    best = np.inf
    for _ in range(3):
        comm.Barrier()
        start = time.perf_counter()
        frd.fit_mpi(model, Xs, ys, epochs=1, batch_size=GLOBAL // K, shuffle=False, verbose=0, threads=1)
        comm.Barrier()
        best = min(best, (time.perf_counter() - start) / 20)
    if rank == 0:
        print(f"STEP {best * 1e3:.1f}")
    """
)


def bench_mpi(ranks):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ["mpirun", "--oversubscribe", "-np", str(ranks), sys.executable, "-c", MPI_SCRIPT]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=True).stdout
    return float(out.split("STEP")[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--skip-mpi", action="store_true")
    args = parser.parse_args()

    X = np.random.default_rng(1).standard_normal((args.rows, 33, 1)).astype(np.float32)
    model = make_model(X)
    print(f"fusedrnn {fr.__version__}, {fr.cpu_info()['isa']}, {os.cpu_count()} CPUs")
    print(f"scoring {args.rows} sequences (T=33, F=1), LSTM(32) + Dense(1), batch {args.batch}")
    ref = None
    for threads in (1, 2):
        fr.set_num_threads(threads)
        seconds, ref = best_of(lambda: model.predict(X, batch_size=args.batch))
        print(f"  1 process, {threads} fusedrnn thread(s): {args.rows / seconds:>9,.0f} rows/s")
    fr.set_num_threads(1)
    have = {m: importlib.util.find_spec(m) is not None for m in ("distributed", "ray", "mpi4py")}
    if args.skip_dask or not have["distributed"]:
        print("  Dask: skipped")
    else:
        for workers in (1, 2):
            rate = bench_dask(model, X, ref, args.batch, workers)
            print(f"  Dask, {workers} worker process(es) x 1 thread: {rate:>9,.0f} rows/s (bitwise equal)")
    if args.skip_ray or not have["ray"]:
        print("  Ray: skipped")
    else:
        for actors in (1, 2):
            rate = bench_ray(model, X, ref, args.batch, actors)
            print(f"  Ray Data, {actors} actor(s) x 1 CPU: {rate:>9,.0f} rows/s (bitwise equal)")
    if args.skip_mpi or not have["mpi4py"] or shutil.which("mpirun") is None:
        print("data-parallel training: skipped")
        return
    print("data-parallel training step (global batch 256, Adam), 1 fusedrnn thread per rank:")
    for ranks in (1, 2):
        print(f"  MPI, {ranks} rank(s): {bench_mpi(ranks):.1f} ms per step")


if __name__ == "__main__":
    main()
