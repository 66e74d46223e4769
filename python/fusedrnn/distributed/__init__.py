"""Scale-out on existing engines (Dask, Ray, MPI): scoring many sequences, and synchronous data-parallel
training in the Horovod style. The engines are optional extras, imported only when used:
``pip install "fusedrnn[dask]"``, ``"fusedrnn[ray]"``, ``"fusedrnn[mpi]"``.

    import fusedrnn as fr
    import fusedrnn.distributed as frd
    preds = frd.predict(model, dask_array)              # a Dask array of predictions, lazily
    preds = frd.predict(model, ray_dataset)             # a Ray Dataset with a "prediction" column
    history = frd.fit_mpi(model, X_shard, y_shard)      # under mpirun -np K
    model, history = frd.fit_ray(build_model, X, y, num_workers=K)

See docs/scaling-out.md for recipes, the thread budget and what is guaranteed.
"""

from __future__ import annotations

from ._flat import flat_gradients, flat_parameters, parameter_names, set_flat_gradients, set_flat_parameters
from ._predict import Predictor, lean_copy, predict
from ._train import allreduce_gradients, broadcast_parameters, fit_mpi, fit_ray, shard

__all__ = [
    "Predictor",
    "allreduce_gradients",
    "broadcast_parameters",
    "fit_mpi",
    "fit_ray",
    "flat_gradients",
    "flat_parameters",
    "lean_copy",
    "parameter_names",
    "predict",
    "set_flat_gradients",
    "set_flat_parameters",
    "shard",
]
