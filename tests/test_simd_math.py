"""Accuracy of the vectorised sigmoid and tanh every cell uses, per SIMD path, against float64 math over
a dense sweep of float32 inputs; exact saturation and NaN propagation."""

import numpy as np
import pytest

import fusedrnn as fr

pytestmark = pytest.mark.usefixtures("isa")

# Measured maxima, every path on an AVX-512 machine: sigmoid 2.2 ulp, tanh 1.0 ulp (bounds leave a margin).
MAX_ULP = {"sigmoid": 4, "tanh": 4}


def apply(name, values):
    out = np.ascontiguousarray(values).copy()
    fr._core._activation(name, out)
    return out


def exact(name, x):
    x = x.astype(np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))  # |x| <= 100 here: no overflow in float64
    return np.tanh(x)


def ulp_error(got, want):
    """|got - want| in units of the float32 spacing at want (smallest normal spacing near 0)."""
    spacing = np.spacing(np.maximum(np.abs(want), np.finfo(np.float32).tiny).astype(np.float32))
    return np.abs(got.astype(np.float64) - want) / spacing.astype(np.float64)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_float32_accuracy_dense_sweep(name):
    # Every 256th float32 (in bit order) in [-20, 20] (about 8.5 million values; 4.4 million tested)
    # plus a uniform grid out to +-100, where both functions saturate.
    top = np.float32(20).view(np.int32)
    pos = np.arange(0, top, 256, dtype=np.int32).view(np.float32)
    x = np.concatenate([-pos[::-1], pos, np.linspace(-100, 100, 20001, dtype=np.float32)])
    got, want = apply(name, x), exact(name, x)
    # Results below the smallest normal float32 (sigmoid(x < -87.3)) flush to 0: check them absolutely.
    subnormal = np.abs(want) < np.finfo(np.float32).tiny
    assert np.all(np.abs(got[subnormal]) <= np.finfo(np.float32).tiny)
    x, got, want = x[~subnormal], got[~subnormal], want[~subnormal]
    err = ulp_error(got, want)
    worst = float(err.max())
    assert worst <= MAX_ULP[name], f"{name}: max error {worst:.2f} ulp at x={x[err.argmax()]!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_is_exact_and_nan_propagates(dtype):
    # Inputs whose results round to the limits in dtype (sigmoid(-200) = 1.4e-87 is a float64 number).
    big = 200 if dtype == np.float32 else 1000
    x = np.array([-np.inf, -1e4, -big, big, 1e4, np.inf, np.nan], dtype)
    s = apply("sigmoid", x)
    t = apply("tanh", x)
    np.testing.assert_array_equal(s[:6], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(t[:6], [-1, -1, -1, 1, 1, 1])
    assert np.isnan(s[6]) and np.isnan(t[6])


def test_float64_matches_libm():
    x = np.linspace(-30, 30, 100001)
    np.testing.assert_allclose(apply("tanh", x), np.tanh(x), rtol=5e-16, atol=0)
    np.testing.assert_allclose(apply("sigmoid", x), exact("sigmoid", x), rtol=5e-16, atol=0)
