import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Kernel calls have variable latency on a shared machine: no per-example deadline.
settings.register_profile(
    "default", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
