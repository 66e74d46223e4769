import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import fusedrnn as fr

# Kernel calls have variable latency on a shared machine: no per-example deadline.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# FUSEDRNN_HYPOTHESIS=thorough: 50x the examples, for a sweep on demand.
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=2000)
settings.load_profile(os.environ.get("FUSEDRNN_HYPOTHESIS", "default"))


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


@pytest.fixture(params=fr._core.cpu_info()["supported_isas"])
def isa(request):
    """Runs a test once per SIMD path this machine supports (every compiled path gets tested)."""
    previous = fr.cpu_info()["isa"]
    fr._core._select_isa(request.param)
    yield request.param
    fr._core._select_isa(previous)
