"""fusedrnn.distributed: flat buffers (always), and on local clusters when the engines are installed
(the extras dask, ray, mpi): scoring bitwise equal to one process, data-parallel training equal to one
process on the interleaved concatenation with K times the batch (to float rounding)."""

from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fusedrnn as fr
import fusedrnn.distributed as frd
from fusedrnn import nn


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _data(n=203, T=12, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F)).astype(np.float32)
    return X, X.sum(axis=(1, 2))[:, None]


def _model(seed=0, cell=nn.GRU):
    model = nn.Sequential([cell(16), nn.Dense(1)], seed=seed)
    model.compile(nn.Adam(0.01), "mse")
    return model


def _trained():
    X, y = _data()
    model = _model()
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    return model


# -- no engine needed --------------------------------------------------------------------------------


def test_flat_buffers_round_trip_in_the_documented_order():
    lstm = fr.LSTM(3, 5, num_layers=2, batch_first=True, seed=0)
    names = frd.parameter_names(lstm)
    assert [n for n, _ in names] == [n for n, _ in lstm.named_parameters()]
    flat = frd.flat_parameters(lstm)
    assert flat.shape == (sum(p.size for p in lstm.parameters()),) and flat.flags.c_contiguous
    np.testing.assert_array_equal(flat, np.concatenate([p.ravel() for p in lstm.parameters()]))
    y, _ = lstm(np.ones((2, 4, 3), np.float32))
    lstm.backward(np.ones_like(y))
    grads = frd.flat_gradients(lstm)
    np.testing.assert_array_equal(grads, np.concatenate([lstm.grads[n].ravel() for n, _ in names]))
    frd.set_flat_gradients(lstm, 2 * grads)
    np.testing.assert_array_equal(frd.flat_gradients(lstm), 2 * grads)
    lstm.eval()  # read-only parameters: set_flat_parameters still works
    frd.set_flat_parameters(lstm, flat + 1)
    np.testing.assert_array_equal(frd.flat_parameters(lstm), flat + 1)
    with pytest.raises(ValueError, match="1-D array of"):
        frd.set_flat_parameters(lstm, flat[:-1])


def test_flat_buffers_of_a_sequential_and_an_estimator():
    model = _trained()
    assert [n for n, _ in frd.parameter_names(model)][-2:] == ["1.0", "1.1"]
    flat = frd.flat_parameters(model)
    np.testing.assert_array_equal(flat, np.concatenate([p.ravel() for p in model.parameters()]))
    out = np.empty_like(flat)
    assert frd.flat_gradients(model, out=out) is out
    np.testing.assert_array_equal(out, np.concatenate([g.ravel() for g in model.gradients()]))
    other = _model(seed=5)
    other.build((None, 12, 3))
    frd.set_flat_parameters(other, flat)
    X, _ = _data(n=9)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    with pytest.raises(TypeError, match="fusedrnn layer"):
        frd.flat_parameters(object())
    with pytest.raises(RuntimeError, match="not built"):
        frd.flat_parameters(_model())


def test_predictor_ships_lean_and_predicts_bitwise():
    model = _trained()
    X, _ = _data(n=50)
    shipped = pickle.dumps(frd.Predictor(frd.lean_copy(model), batch_size=7))
    # the parameters and a fixed ~2 kB of names and options: no gradients, Adam's state or activations
    assert len(shipped) < sum(p.nbytes for p in model.parameters()) + 2500
    assert len(pickle.dumps(model)) > 3 * sum(p.nbytes for p in model.parameters())
    predictor = pickle.loads(shipped)
    np.testing.assert_array_equal(predictor.run(X), model.predict(X))
    assert model.optimizer is not None and model.optimizer.state is not None  # the original untouched
    # a layer, batch_first or not: its outputs y, batch-first
    for batch_first in (True, False):
        gru = fr.GRU(3, 4, batch_first=batch_first, seed=1)
        ref, _ = gru.eval()(X if batch_first else X.transpose(1, 0, 2))
        got = frd.predict(gru, X, batch_size=9)
        np.testing.assert_array_equal(got, ref if batch_first else ref.transpose(1, 0, 2))


def test_predict_refuses_unknown_kinds():
    with pytest.raises(TypeError, match="model"):
        frd.predict(object(), np.zeros((1, 2, 3)))
    with pytest.raises(TypeError, match="data"):
        frd.predict(_trained(), [[1.0]])


def test_the_engines_import_lazily_with_a_clear_error(monkeypatch):
    from fusedrnn.distributed import _engines

    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if not installed
    with pytest.raises(ImportError, match=r"fusedrnn\[mpi\]"):
        _engines.require("mpi4py", "fit_mpi")


# -- Dask ----------------------------------------------------------------------------------------------

dask_needed = pytest.mark.skipif(
    not _installed("dask", "distributed"), reason='needs the dask extra: pip install "fusedrnn[dask]"'
)


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@dask_needed
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning")
def test_dask_predict_bitwise_chunks_and_meta(dask_client):
    import dask.array as da

    pytest.importorskip("sklearn", reason="needs scikit-learn")

    fs = importlib.import_module("fusedrnn.sklearn")

    X, y = _data(n=1000)
    model = _trained()
    chunks = (137, 300, 63, 500)
    data = da.from_array(X, chunks=(chunks, 6, 3))  # also split along T: joined for the model
    preds = frd.predict(model, data, batch_size=50)
    assert preds.chunks == (chunks, (1,)) and preds.dtype == np.float32
    assert isinstance(preds._meta, np.ndarray) and preds._meta.ndim == 2
    np.testing.assert_array_equal(preds.compute(), model.predict(X))
    # the predictor is one key of the graph, so each worker receives it once
    graph = dict(preds.__dask_graph__())
    assert sum(1 for key in graph if "Predictor" in str(key) or "predictor" in str(key).lower()) <= 1
    # fr.sklearn: predict and predict_proba; a layer
    est = fs.RecurrentRegressor(hidden_size=4, epochs=1, random_state=0).fit(X[:100], y[:100, 0])
    np.testing.assert_array_equal(frd.predict(est, data).compute(), est.predict(X))
    clf = fs.RecurrentClassifier(hidden_size=4, epochs=1, random_state=0).fit(X[:100], y[:100, 0] > 0)
    proba = frd.predict(clf, data, method="predict_proba")
    assert proba.chunks == (chunks, (2,)) and proba.dtype == np.float64
    np.testing.assert_array_equal(proba.compute(), clf.predict_proba(X))
    lstm = fr.LSTM(3, 5, batch_first=True, seed=0)
    out = frd.predict(lstm, data)
    assert out.chunks == (chunks, (12,), (5,))
    np.testing.assert_array_equal(out.compute(), lstm.eval()(X)[0])
    # each worker runs as many fusedrnn threads as it has Dask threads
    assert set(dask_client.run(fr.get_num_threads).values()) == {1}


# -- Ray -----------------------------------------------------------------------------------------------

ray_needed = pytest.mark.skipif(
    not _installed("ray", "pyarrow", "pandas"), reason='needs the ray extra: pip install "fusedrnn[ray]"'
)


@pytest.fixture(scope="module")
def ray_session():
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # The actors cannot import this test module: its functions (the model builder) travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@ray_needed
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_ray_predict_bitwise_with_an_actor_pool(ray_session):
    import ray.data

    ray.data.DataContext.get_current().execution_options.preserve_order = True
    X, _ = _data(n=600)
    model = _trained()
    ds = ray.data.from_numpy(np.array_split(X, 4))  # 4 blocks: both actors busy
    rows = frd.predict(model, ds, batch_size=64, num_workers=2).take_all()
    pred = np.stack([row["prediction"] for row in rows])
    np.testing.assert_array_equal(pred, model.predict(X))
    np.testing.assert_array_equal(np.stack([row["data"] for row in rows]), X)  # inputs kept, in order


@ray_needed
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning")
def test_fit_ray_equals_one_process_with_k_times_the_batch(ray_session):
    X, y = _data()
    model, history = frd.fit_ray(
        _model, X, y, num_workers=2, epochs=2, batch_size=8, shuffle=False, verbose=0
    )
    one = _model()
    reference = one.fit(X, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(model.parameters(), one.parameters(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)
    np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-6)


# -- MPI -----------------------------------------------------------------------------------------------

_MPI_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import fusedrnn.distributed as frd
    from fusedrnn import nn
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, K = comm.Get_rank(), comm.Get_size()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 12, 3)).astype(np.float32)
    y = X.sum(axis=(1, 2))[:, None]

    def build(seed):
        model = nn.Sequential([nn.GRU(16), nn.Dense(1)], seed=seed)
        model.compile(nn.Adam(0.01), "mse")
        return model

    model = build(rank)  # different initial weights: the broadcast gives every rank rank 0's
    stop = nn.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)  # stops after 2 epochs, everywhere
    history = frd.fit_mpi(model, frd.shard(X, rank, K), frd.shard(y, rank, K), epochs=5, batch_size=8,
                          shuffle=False, verbose=0, callbacks=[stop])
    flat = frd.flat_parameters(model)
    everyone = comm.gather(flat)
    if rank == 0:
        assert all(np.array_equal(everyone[0], other) for other in everyone), "ranks disagree"
        one = build(0)
        reference = one.fit(X, y, epochs=2, batch_size=8 * K, shuffle=False, verbose=0)
        assert len(history["loss"]) == 2, history
        diff = np.max(np.abs(flat - frd.flat_parameters(one)))
        assert diff < 2e-6, diff
        np.testing.assert_allclose(history["loss"], reference["loss"], rtol=1e-6)
        print("mpi ok", diff)
    """
)

# fr.nn's own fit(distributed="mpi") on a functional Model with a metric and validation shards of
# uneven sizes (the ranks' batches differ at the end of an epoch; one rank runs out a step early).
_MPI_FIT_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from fusedrnn import nn
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, K = comm.Get_rank(), comm.Get_size()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((203, 10, 2)).astype(np.float32)
    y = X.sum(axis=(1, 2))[:, None]
    Xv, yv = X[:31], y[:31]

    def build(seed):
        inputs = nn.Input((10, 2))
        model = nn.Model(inputs, nn.Dense(1)(nn.LSTM(8)(inputs)), seed=seed)
        model.compile(nn.Adam(0.01), "mse", metrics=["mae"])
        return model

    model = build(rank + 5)  # different initial weights: the broadcast gives every rank rank 0's
    history = model.fit(X[rank::K], y[rank::K], epochs=3, batch_size=8, shuffle=False, verbose=0,
                        validation_data=(Xv[rank::K], yv[rank::K]), distributed="mpi")
    flat = np.concatenate([p.ravel() for p in model.parameters()])
    everyone = comm.gather((flat, history.history))
    if rank == 0:
        assert all(np.array_equal(everyone[0][0], f) for f, _ in everyone), "ranks' weights disagree"
        assert all(h == everyone[0][1] for _, h in everyone), "ranks' histories disagree"
        one = build(5)
        reference = one.fit(X, y, epochs=3, batch_size=8 * K, shuffle=False, verbose=0,
                            validation_data=(Xv, yv))
        diff = np.max(np.abs(flat - np.concatenate([p.ravel() for p in one.parameters()])))
        assert diff < 5e-6, diff
        assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}, history.history
        for key, values in reference.history.items():
            np.testing.assert_allclose(history.history[key], values, rtol=2e-5, err_msg=key)
        print("mpi fit ok", diff)
    """
)

mpi_needed = pytest.mark.skipif(
    not _installed("mpi4py") or shutil.which("mpirun") is None,
    reason='needs the mpi extra (mpi4py and an MPI runtime): pip install "fusedrnn[mpi]"',
)


def _mpirun_two_ranks(tmp_path: Path, script_text: str) -> str:
    """Runs the script under ``mpirun -np 2``; its stdout (the run must succeed)."""
    script = tmp_path / "script.py"
    script.write_text(script_text)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ["mpirun", "--oversubscribe", "-np", "2", sys.executable, str(script)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@mpi_needed
def test_fit_mpi_two_ranks_equal_one_process_with_twice_the_batch(tmp_path: Path):
    assert "mpi ok" in _mpirun_two_ranks(tmp_path, _MPI_SCRIPT)


@mpi_needed
def test_nn_fit_distributed_mpi_equals_one_process_with_twice_the_batch(tmp_path: Path):
    assert "mpi fit ok" in _mpirun_two_ranks(tmp_path, _MPI_FIT_SCRIPT)


def test_nn_fit_refuses_an_unknown_distributed_engine():
    model = nn.Sequential([nn.LSTM(4, input_shape=(3, 1)), nn.Dense(1)])
    model.compile("adam", "mse")
    X = np.zeros((4, 3, 1), np.float32)
    with pytest.raises(ValueError, match="distributed: expected None, 'mpi'"):
        model.fit(X, X[:, 0], distributed="horovod", verbose=0)
