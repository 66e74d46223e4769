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


def pytest_configure(config):
    # tools/wheel_test.sh sets this to the venv the wheel went into: the suite must test that package, not
    # python/fusedrnn of a source tree that happens to be importable.
    venv = os.environ.get("FUSEDRNN_EXPECT_INSTALLED")
    if venv and not os.path.realpath(fr.__file__).startswith(os.path.realpath(venv) + os.sep):
        raise pytest.UsageError(f"fusedrnn was imported from {fr.__file__}, not from the wheel in {venv}")


def pytest_report_header(config):
    return f"fusedrnn: {os.path.dirname(fr.__file__)}, ISA {fr.cpu_info()['isa']}"


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


@pytest.fixture
def every_thread_runs():
    """Every requested thread runs, on tiny shapes (no work threshold) and on a busy machine (no fallback to
    one thread after a descheduled partner), for the tests of thread-count invariance: without it they
    could pass by running one thread. Restored after the test."""
    saved = fr.get_num_threads(), fr._core._min_flops_per_thread(), fr._core._contention_fallback()
    fr._core._set_min_flops_per_thread(1)
    fr._core._set_contention_fallback(False)
    try:
        yield
    finally:
        fr.set_num_threads(saved[0])
        fr._core._set_min_flops_per_thread(saved[1])
        fr._core._set_contention_fallback(saved[2])
