"""The packed GEMM driver on its own (`_core._gemm`), on every ISA the machine supports, against NumPy.

Inputs are small integers, so every product and sum is exact in float32 and float64 and the results must
equal NumPy's bit for bit: a misplaced edge tile, a stale packed panel or a dropped k block shows as a
wrong element, not as a rounding difference. Shapes sit on the microkernel's edges (0, 1, MR-1, MR, MR+1,
NR-1, NR, NR+1) and the driver's cache blocks (96 rows, 256 of k, 512 columns, each plus one)."""

import itertools

import numpy as np
import pytest

import fusedrnn as fr

DTYPES = [np.float32, np.float64]
# The driver's blocking (gemm/gemm_driver.cc): MC rows of A, KC of k, NC columns of B per block.
MC, KC, NC = 96, 256, 512
VARIANTS = {
    "full": {},
    "narrow": {"narrow": True},  # the 1-row kernel of the recurrent steps
    "prepacked": {"prepack_b": True},  # B packed once for all threads, as the input projection
}


def integers(rng, shape, dtype):
    return rng.integers(-4, 5, size=shape).astype(dtype)


def expected(a, b, c=None):
    product = a.astype(np.int64) @ b.astype(np.int64)
    return product if c is None else product + c.astype(np.int64)


def tile(dtype, narrow=False):
    kernel = fr._core._microkernel(np.dtype(dtype).name, narrow)
    assert kernel["name"].startswith(fr.cpu_info()["isa"])
    return kernel["mr"], kernel["nr"]


def edges(size, *extra):
    return sorted({0, 1, max(size - 1, 0), size, size + 1, 2 * size + 1, *extra})


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_edge_shapes_are_exact(isa, rng, dtype, variant):
    mr, nr = tile(dtype, variant == "narrow")
    for m, n, k in itertools.product(edges(mr, MC + 1), edges(nr), [0, 1, 3, KC + 1]):
        a, b = integers(rng, (m, k), dtype), integers(rng, (k, n), dtype)
        c = fr._core._gemm(a, b, **VARIANTS[variant])
        assert c.dtype == dtype and c.shape == (m, n)
        np.testing.assert_array_equal(c, expected(a, b), err_msg=f"{isa} m={m} n={n} k={k}")


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_several_cache_blocks_and_threads(isa, rng, dtype, variant):
    # More than one block along every dimension, and thread splits that cut a column block (prepacked:
    # a thread's columns start inside a packed block).
    a, b = integers(rng, (MC + 7, 2 * KC + 3), dtype), integers(rng, (2 * KC + 3, NC + 37), dtype)
    want = expected(a, b)
    results = [fr._core._gemm(a, b, threads=t, **VARIANTS[variant]) for t in (1, 2, 3)]
    for threads, c in zip((1, 2, 3), results, strict=True):
        np.testing.assert_array_equal(c, want, err_msg=f"{isa} threads={threads}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_k(isa, rng, dtype):
    # k = 4000: 16 k blocks accumulated into C; sums stay below 2^24, so float32 is still exact.
    a, b = integers(rng, (9, 4000), dtype), integers(rng, (4000, 33), dtype)
    np.testing.assert_array_equal(fr._core._gemm(a, b), expected(a, b))


LAYOUTS = {
    "c-order": lambda x: x,
    "transposed": lambda x: np.ascontiguousarray(x.T).T,
    "strided": lambda x: np.repeat(np.repeat(x, 2, axis=0), 3, axis=1)[::2, ::3],
    "reversed": lambda x: np.ascontiguousarray(x[::-1, ::-1])[::-1, ::-1],
    "broadcast-row": lambda x: np.broadcast_to(x[:1], x.shape),
}


@pytest.mark.parametrize("b_layout", list(LAYOUTS))
@pytest.mark.parametrize("a_layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_any_strides_for_a_and_b(isa, rng, dtype, a_layout, b_layout):
    mr, nr = tile(dtype)
    m, n, k = 2 * mr + 3, nr + 5, KC + 9
    a, b = LAYOUTS[a_layout](integers(rng, (m, k), dtype)), LAYOUTS[b_layout](integers(rng, (k, n), dtype))
    for variant in VARIANTS.values():
        np.testing.assert_array_equal(fr._core._gemm(a, b, **variant), expected(a, b), err_msg=str(variant))


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_transposed_a_on_panel_edges(isa, rng, dtype, variant):
    # A stored transposed (the weight gradients' dG^T) is packed run by run of MR: full runs, a last
    # partial run padded with zeros, and an MC block boundary.
    mr, _ = tile(dtype, variant == "narrow")
    for m in edges(mr, MC - 1, MC + 1, 2 * MC + mr - 1):
        a, b = LAYOUTS["transposed"](integers(rng, (m, 37), dtype)), integers(rng, (37, 19), dtype)
        c = fr._core._gemm(a, b, **VARIANTS[variant])
        np.testing.assert_array_equal(c, expected(a, b), err_msg=f"{isa} m={m}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_read_in_place_gives_the_bits_of_packed_a(isa, rng, dtype):
    # A row-major A (the input projection's x, the backward's dG) is read in place by the direct-A kernel;
    # the same values stored transposed are packed first. One summation order (gemm/microkernel.h), so
    # random, inexact values give the same bits, also with a bottom edge of fewer than MR rows (packed
    # there), a leading dimension wider than k and the 1-row kernel.
    mr, nr = tile(dtype)
    for m, k in [(3 * mr + 1, 300), (MC + mr + 1, KC + 5), (1, 7), (mr, 1)]:
        wide = rng.standard_normal((m, k + 13)).astype(dtype)
        a = wide[:, 3 : 3 + k]
        a_packed = np.ascontiguousarray(a.T).T
        b = rng.standard_normal((k, NC + nr + 1)).astype(dtype)
        for variant in VARIANTS.values():
            np.testing.assert_array_equal(
                fr._core._gemm(a, b, **variant), fr._core._gemm(a_packed, b, **variant), err_msg=f"{m} {k}"
            )


@pytest.mark.parametrize("dtype", DTYPES)
def test_c_is_written_not_read_unless_accumulating(isa, rng, dtype):
    mr, nr = tile(dtype)
    m, n = mr + 1, nr + 3
    a, b = integers(rng, (m, 7), dtype), integers(rng, (7, n), dtype)
    # C as a view into a wider array (row stride > n): the columns beside it must stay untouched.
    wide = np.full((m, n + 5), np.nan, dtype)
    c = fr._core._gemm(a, b, c=wide[:, 2 : 2 + n])
    assert np.shares_memory(c, wide)
    np.testing.assert_array_equal(wide[:, 2 : 2 + n], expected(a, b))
    assert np.isnan(wide[:, :2]).all() and np.isnan(wide[:, 2 + n :]).all()
    before = integers(rng, (m, n), dtype)
    for variant in VARIANTS.values():
        c = before.copy()
        fr._core._gemm(a, b, c=c, accumulate=True, **variant)
        np.testing.assert_array_equal(c, expected(a, b, before), err_msg=str(variant))


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_k_zeroes_or_keeps_c(isa, dtype):
    a, b = np.zeros((5, 0), dtype), np.zeros((0, 9), dtype)
    np.testing.assert_array_equal(fr._core._gemm(a, b, c=np.full((5, 9), np.nan, dtype)), 0)
    c = np.full((5, 9), 3.0, dtype)
    fr._core._gemm(a, b, c=c, accumulate=True)
    np.testing.assert_array_equal(c, 3.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_values_match_numpy(isa, rng, dtype):
    a = rng.standard_normal((70, 300)).astype(dtype)
    b = rng.standard_normal((300, 45)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    # Error bound of a length-k dot product: k * eps * sum |a_i b_i|.
    bound = 300 * np.finfo(dtype).eps * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    for variant in VARIANTS.values():
        assert (np.abs(fr._core._gemm(a, b, **variant) - want) <= bound).all(), variant


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: fr._core._gemm(np.zeros((2, 3)), np.zeros((4, 2))), ValueError, "b: expected 3 rows"),
        (lambda: fr._core._gemm(np.zeros((2, 3)), np.zeros((3, 2), np.float32)), TypeError, "b: expected"),
        (lambda: fr._core._gemm(np.zeros((2, 3), int), np.zeros((3, 2), int)), TypeError, "a: expected"),
        (lambda: fr._core._gemm(np.zeros(3), np.zeros((3, 2))), ValueError, "2-D"),
        (lambda: fr._core._gemm(np.zeros((2, 3)), np.zeros((3, 2)), c=np.zeros((2, 3))), ValueError, "c:"),
        (
            lambda: fr._core._gemm(np.zeros((2, 2)), np.zeros((2, 2)), c=np.zeros((2, 4))[:, ::2]),
            ValueError,
            "rows",
        ),
        (lambda: fr._core._gemm(np.zeros((2, 3)), np.zeros((3, 2)), accumulate=True), ValueError, "c:"),
        (lambda: fr._core._gemm(np.zeros((2, 3)), np.zeros((3, 2)), threads=0), ValueError, "threads"),
        (lambda: fr._core._microkernel("float16"), ValueError, "dtype"),
    ],
    ids=["k", "dtype-b", "dtype-a", "ndim", "c-shape", "c-strides", "accumulate-no-c", "threads", "tile"],
)
def test_bad_calls_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_c_overlapping_an_input_is_refused():
    a = np.zeros((4, 4))
    with pytest.raises(ValueError, match="overlap"):
        fr._core._gemm(a, a, c=a)
    unaligned = np.frombuffer(b"\0" + np.zeros((3, 3)).tobytes(), np.float64, offset=1).reshape(3, 3)
    with pytest.raises(ValueError, match="aligned"):
        fr._core._gemm(unaligned, a[:3, :3].copy())
