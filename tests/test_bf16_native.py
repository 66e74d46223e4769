"""The native bf16 products (compute_dtype="bfloat16" on a CPU with AVX512-BF16 under the avx512 ISA): the
GEMM's pairs kernels compute exactly the NumPy model of vdpbf16ps's order (each pair's odd product, then its
even one, each rounded to float32; k blocks of 256 added to C in turn), with denormal operands counted as
zero; layers run them where `fr._core.bf16_products_native()` says so and follow the bf16 model there (the
model tests of tests/test_bf16_compute.py run on every ISA); switching the form between calls repacks the
weights; cpu_info names the form in use. Where the CPU has no AVX512-BF16 the native tests skip, and the
pairs form is refused by name."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_helpers import train_step
from test_bf16_compute import CELLS, make_layer, random_step_inputs

import fusedrnn as fr

KC = 256  # the GEMM driver's k block (gemm_driver.cc kKC)


def native_available():
    if "avx512" not in fr._core.cpu_info()["supported_isas"]:
        return False
    previous = fr._core.cpu_info()["isa"]
    fr._core._select_isa("avx512")
    try:
        return fr._core.bf16_products_native()
    finally:
        fr._core._select_isa(previous)


needs_native = pytest.mark.skipif(not native_available(), reason="no AVX512-BF16 (native bf16 kernels)")


@pytest.fixture
def native():
    """The avx512 table and the automatic bf16 path (the native one where it runs), restored after."""
    previous = fr.cpu_info()["isa"]
    fr._core._select_isa("avx512")
    fr._core._select_reduced_path("bf16", "")
    assert fr._core.bf16_products_native()
    yield
    fr._core._select_reduced_path("bf16", "")
    fr._core._select_isa(previous)


def bf16(values):
    """float32 values rounded to the nearest bf16 (ties to even), as float32."""
    bits = np.asarray(values, np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def pairs_model(a, b, c=None):
    """C (+)= A B as the pairs kernels sum it: per k block of KC, from zero, each pair's odd step then its
    even step (a product of two bf16 values is exact in float32, so each float32 addition of it is one
    vdpbf16ps half), then C + the block's sum."""
    a, b = bf16(a), bf16(b)
    m, k = a.shape
    out = None if c is None else c.copy()
    for p0 in range(0, k, KC):
        p1 = min(k, p0 + KC)
        s = np.zeros((m, b.shape[1]), np.float32)
        for q in range(p0, p1, 2):
            if q + 1 < p1:
                s = s + np.outer(a[:, q + 1], b[q + 1])
            s = s + np.outer(a[:, q], b[q])
        out = s if out is None else out + s
    return out


@needs_native
@pytest.mark.parametrize(
    "m,n,k",  # full and edge tiles, odd k, k blocks of 256, several column blocks of 512 (and their
    # pre-packed offsets)
    [(8, 32, 2), (8, 32, 7), (13, 40, 33), (1, 5, 1), (100, 70, 300), (64, 512, 513), (20, 1100, 300)],
)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("prepack_b", [False, True])
def test_pairs_gemm_is_the_model_bitwise(native, rng, m, n, k, threads, prepack_b):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    got = fr._core._gemm(a, b, bf16="pairs", threads=threads, prepack_b=prepack_b)
    np.testing.assert_array_equal(got, pairs_model(a, b))
    # The float32 kernels over the same rounded operands sum in another order: other bits, same products.
    rounded = fr._core._gemm(a, b, bf16="rounded", threads=threads, prepack_b=prepack_b)
    if m * n * k > 10_000:  # with few sums the two orders can agree everywhere by chance
        assert not np.array_equal(rounded, got)
    np.testing.assert_allclose(rounded, got, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def laid_out(x, layout):
    """x as a view with rows contiguous, columns contiguous, or neither (every other element of a wider,
    taller array)."""
    if layout == "columns":
        return np.asfortranarray(x)
    if layout == "strided":
        wide = np.zeros((2 * x.shape[0], 2 * x.shape[1]), x.dtype)
        wide[::2, ::2] = x
        return wide[::2, ::2]
    return x


@needs_native
@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 80),
    k=st.integers(1, 600),
    layout_a=st.sampled_from(["rows", "columns", "strided"]),
    layout_b=st.sampled_from(["rows", "columns", "strided"]),
    accumulate=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pairs_gemm_sweep(m, n, k, layout_a, layout_b, accumulate, seed):
    """Every packing path of the pairs form: A with rows or columns contiguous (the AVX-512 conversions)
    or neither (floats packed, then converted), full and partial panels, odd and even k, k blocks."""
    previous = fr.cpu_info()["isa"]
    fr._core._select_isa("avx512")
    fr._core._select_reduced_path("bf16", "")
    try:
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        c0 = rng.standard_normal((m, n)).astype(np.float32)
        c = c0.copy()
        fr._core._gemm(
            laid_out(a, layout_a), laid_out(b, layout_b), c, accumulate=accumulate, bf16="pairs", threads=2
        )
        np.testing.assert_array_equal(c, pairs_model(a, b, c0 if accumulate else None))
    finally:
        fr._core._select_isa(previous)


@needs_native
def test_pairs_refuse_the_one_row_gemm(native):
    with pytest.raises(ValueError, match="narrow: the pairs form has no 1-row"):
        fr._core._gemm(np.ones((1, 4), np.float32), np.ones((4, 3), np.float32), bf16="pairs", narrow=True)


@needs_native
def test_pairs_count_denormal_operands_as_zero(native):
    # vdpbf16ps reads denormal bf16 inputs as zero (and flushes denormal results): 1e-39 is a denormal
    # float32 and bf16 (the smallest normal is 1.18e-38). The rounded form keeps it.
    a = np.array([[1e-39, 0.0]], np.float32)
    b = np.zeros((2, 32), np.float32)
    b[0] = 1.0
    assert np.all(fr._core._gemm(a, b, bf16="pairs") == 0)
    assert np.all(fr._core._gemm(a, b, bf16="rounded") != 0)


def test_pairs_form_is_refused_where_it_cannot_run():
    previous = fr.cpu_info()["isa"]
    fr._core._select_isa("generic")
    try:
        assert not fr._core.bf16_products_native()
        with pytest.raises(ValueError, match="bf16: 'pairs' needs the native"):
            fr._core._gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), bf16="pairs")
        with pytest.raises(ValueError, match="bf16: expected 'off', 'rounded' or 'pairs'"):
            fr._core._gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), bf16="half")
        with pytest.raises(TypeError, match="bf16: needs float32"):
            fr._core._gemm(np.ones((2, 2)), np.ones((2, 2)), bf16="rounded")
    finally:
        fr._core._select_isa(previous)


def test_cpu_info_names_the_bf16_form_in_use(isa):
    form = fr.cpu_info()["bf16_compute"]
    if fr._core.bf16_products_native():
        assert isa == "avx512" and form.startswith("native")
    else:
        assert form.startswith("emulated")
    if isa != "avx512":
        assert form.startswith("emulated")  # the pairs panels need the avx512 table's MR and NR


def make_any_layer(cell, C, H, **options):
    if cell == "lstm_layer_norm":
        return fr.LSTM(C, H, layer_norm=True, compute_dtype="bfloat16", **options)
    return make_layer(cell, C, H, **options)


@needs_native
@pytest.mark.parametrize("cell", [*sorted(CELLS), "lstm_layer_norm"])
@pytest.mark.parametrize(
    "options", [{}, {"bidirectional": True}, {"num_layers": 2}], ids=["plain", "bidirectional", "2-layers"]
)
def test_layers_run_the_native_form_and_repack_when_it_changes(native, rng, cell, options):
    """One layer, three training steps: native, emulated (the bf16 path switched to the portable one between
    calls), native again. The forms differ in their last bits (so the native kernels did run), the layer
    follows the switch (its packed weights are remade), and a step repeats bitwise in each form."""
    C, H = 18, 33  # odd K = H + C (the fused input's h|x pair) and G*H for GRU and RNN: padding in play
    layer = make_any_layer(cell, C, H, seed=1, **options)
    inputs = random_step_inputs(rng, layer, 7, 11)
    native_step = train_step(layer, *inputs)
    assert fr._core._select_reduced_path("bf16", "generic")
    assert not fr._core.bf16_products_native()
    emulated_step = train_step(layer, *inputs)
    assert fr._core._select_reduced_path("bf16", "")
    again = train_step(layer, *inputs)
    native_arrays = [*native_step[0], *native_step[1].values()]
    emulated_arrays = [*emulated_step[0], *emulated_step[1].values()]
    assert any(not np.array_equal(n, e) for n, e in zip(native_arrays, emulated_arrays, strict=True))
    for n, e in zip(native_arrays, emulated_arrays, strict=True):
        np.testing.assert_allclose(n, e, rtol=5e-2, atol=5e-2)
    for n, a in zip(native_arrays, [*again[0], *again[1].values()], strict=True):
        np.testing.assert_array_equal(n, a)
