"""Accuracy of the vectorised sigmoid and tanh every cell uses (csrc/simd/vec_math.h), per SIMD path,
against float64 math: a sweep of the whole float32 range and a dense one where the functions bend;
exact saturation, NaN propagation, -0, and results that do not depend on an element's place in its
array (a tail shorter than the vector goes through the same instructions)."""

import numpy as np
import pytest

import fusedrnn as fr

pytestmark = pytest.mark.usefixtures("isa")

# Measured maxima over both sweeps below, the same on the generic, AVX2 and AVX-512 paths: sigmoid
# 2.40 ulp, tanh 2.49 ulp (docs/gate-math.md; benchmarks/gate_math.py). The bounds leave a margin.
MAX_ULP = {"sigmoid": 3, "tanh": 3}
TINY = np.finfo(np.float32).tiny


def apply(name, values):
    out = np.ascontiguousarray(values).copy()
    fr._core._activation(name, out)
    return out


def exact(name, x):
    x = x.astype(np.float64)
    if name == "sigmoid":
        with np.errstate(over="ignore"):  # exp(-x) = inf for x < -709: 1/(1+inf) = 0, the limit
            return 1.0 / (1.0 + np.exp(-x))
    return np.tanh(x)


def ulp_error(got, want):
    """|got - want| in units of the float32 spacing at want (smallest normal spacing near 0)."""
    spacing = np.spacing(np.maximum(np.abs(want), TINY).astype(np.float32))
    return np.abs(got.astype(np.float64) - want) / spacing.astype(np.float64)


def check_accuracy(name, x):
    got, want = apply(name, x), exact(name, x)
    # Results below the smallest normal float32 (sigmoid(x < -87.3)) may be 0 or subnormal.
    subnormal = np.abs(want) < TINY
    assert np.all(np.abs(got[subnormal]) <= TINY)
    x, got, want = x[~subnormal], got[~subnormal], want[~subnormal]
    err = ulp_error(got, want)
    worst = float(err.max())
    assert worst <= MAX_ULP[name], f"{name}: max error {worst:.2f} ulp at x={x[err.argmax()]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_float32_accuracy_whole_range(name):
    # Every 509th bit pattern of the finite floats, both signs (8.4 million values, subnormals to 3.4e38).
    top = np.int64(np.float32(np.inf).view(np.int32))
    pos = np.arange(0, top, 509, dtype=np.int64).astype(np.int32).view(np.float32)
    check_accuracy(name, np.concatenate([-pos[::-1], pos]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_float32_accuracy_dense_sweep(name):
    # Every 256th float32 (in bit order) in [-20, 20] (about 8.5 million values; 4.4 million tested)
    # plus a uniform grid out to +-100, where both functions saturate.
    top = np.float32(20).view(np.int32)
    pos = np.arange(0, top, 256, dtype=np.int32).view(np.float32)
    check_accuracy(name, np.concatenate([-pos[::-1], pos, np.linspace(-100, 100, 20001, dtype=np.float32)]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_is_exact_and_nan_propagates(dtype):
    # Inputs whose results round to the limits in dtype (sigmoid(-200) = 1.4e-87 is a float64 number).
    big = 200 if dtype == np.float32 else 1000
    x = np.array([-np.inf, -1e4, -big, big, 1e4, np.inf, np.nan, -np.nan], dtype)
    s = apply("sigmoid", x)
    t = apply("tanh", x)
    np.testing.assert_array_equal(s[:6], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(t[:6], [-1, -1, -1, 1, 1, 1])
    assert np.all(np.isnan(s[6:])) and np.all(np.isnan(t[6:]))


def test_float32_limits_and_signed_zero():
    # Where float32 results reach their limits (docs/gate-math.md), and tanh's odd symmetry down to -0.
    x = np.array([-88.8, 17.0, 9.1, -9.1, 30.0, -30.0], np.float32)
    np.testing.assert_array_equal(apply("sigmoid", x[:2]), [0, 1])
    np.testing.assert_array_equal(apply("tanh", x[2:]), [1, -1, 1, -1])
    zeros = apply("tanh", np.array([0.0, -0.0], np.float32))
    assert zeros[0] == 0 and not np.signbit(zeros[0]) and np.signbit(zeros[1])
    np.testing.assert_array_equal(apply("sigmoid", np.array([0.0, -0.0], np.float32)), [0.5, 0.5])
    # Subnormal inputs: tanh(x) = x, sigmoid(x) = 1/2.
    tiny = np.array([1e-40, -1e-40, 1e-45], np.float32)
    np.testing.assert_array_equal(apply("tanh", tiny), tiny)
    np.testing.assert_array_equal(apply("sigmoid", tiny), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_value_does_not_depend_on_position(rng, name):
    # Each element alone, and the whole array at every offset and length: the tail of an array (shorter
    # than the vector) must give the bits of the vector body, or a batch row's gates would depend on where
    # the row sits in its tile.
    x = rng.normal(scale=4, size=67).astype(np.float32)
    whole = apply(name, x)
    alone = np.array([apply(name, x[i : i + 1])[0] for i in range(x.size)])
    np.testing.assert_array_equal(whole, alone)
    for start in range(0, 17):
        for length in (1, 3, 7, 8, 9, 15, 16, 17, 33):
            part = slice(start, start + length)
            np.testing.assert_array_equal(apply(name, x[part]), whole[part])


def test_float64_matches_libm():
    x = np.linspace(-30, 30, 100001)
    np.testing.assert_allclose(apply("tanh", x), np.tanh(x), rtol=5e-16, atol=0)
    np.testing.assert_allclose(apply("sigmoid", x), exact("sigmoid", x), rtol=5e-16, atol=0)
