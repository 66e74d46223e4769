"""Reduced-precision inference (layer.quantized("bf16" | "int8")): the kernels against a NumPy model of
the same scheme (fusedrnn.reference.reduced_product; bit for bit where the scheme is deterministic), every
path this machine supports, and the error against float32 on the documented bounds."""

import copy
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fusedrnn as fr
from fusedrnn import reference as ref

FORMATS = ("int8", "bf16")
DEFAULT_MIN_WEIGHTS = fr._core._reduced_min_weights()  # read before any test changes it


def paths(fmt):
    return fr._core.reduced_paths()[fmt]


@pytest.fixture(autouse=True)
def reduced_everywhere():
    """Small test layers take the reduced kernels too (by default they stay float32)."""
    previous = fr._core._reduced_min_weights()
    fr._core._set_reduced_min_weights(0)
    yield
    fr._core._set_reduced_min_weights(previous)
    for fmt in FORMATS:
        fr._core._select_reduced_path(fmt, "")


@pytest.fixture(params=[(fmt, path) for fmt in FORMATS for path in paths(fmt)], ids="-".join)
def format_path(request):
    fmt, path = request.param
    assert fr._core._select_reduced_path(fmt, path)
    return fmt, path


def sequential_bf16(a, w):
    """Every bf16 kernel's arithmetic (vdpbf16ps's order): float32 sums of exact products over the pairs of
    k in increasing order, each pair's odd step before its even one."""
    a, w = ref.bf16_round(a), ref.bf16_round(w)
    acc = np.zeros((a.shape[0], w.shape[0]), np.float32)
    K = a.shape[1]
    for q in range(0, K, 2):
        if q + 1 < K:
            acc = acc + a[:, q + 1, None] * w[None, :, q + 1]
        acc = acc + a[:, q, None] * w[None, :, q]
    return acc


# -- the products ----------------------------------------------------------------------------------------


@given(
    m=st.integers(0, 19),
    k=st.integers(0, 70),
    n=st.integers(1, 70),
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_int8_product_is_bit_exact_on_every_path(m, k, n, seed, scale):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((m, k)) * scale).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    if m > 1:
        a[1] = 0  # a zero row: scale 0
    expected = ref.reduced_product("int8")(a, w)
    for path in paths("int8"):
        assert fr._core._select_reduced_path("int8", path)
        np.testing.assert_array_equal(fr._core._reduced_matmul(a, w, "int8"), expected, err_msg=path)


@given(m=st.integers(1, 19), k=st.integers(0, 70), n=st.integers(1, 70), seed=st.integers(0, 2**31 - 1))
def test_bf16_product_matches_the_scheme_on_every_path(m, k, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    exact = ref.reduced_product("bf16")(a, w)
    magnitude = np.abs(ref.bf16_round(a)).astype(np.float64) @ np.abs(ref.bf16_round(w)).astype(np.float64).T
    for path in paths("bf16"):
        assert fr._core._select_reduced_path("bf16", path)
        got = fr._core._reduced_matmul(a, w, "bf16")
        # Every path and kernel (8 rows or 1) sums in one order: the same bits (normal numbers here).
        np.testing.assert_array_equal(got, sequential_bf16(a, w))
        # float32 sums of exact products: within k rounding errors of the magnitude
        assert np.all(np.abs(got - exact) <= (k + 1) * 2**-24 * magnitude + 1e-30), path


def test_bf16_rounding_is_the_kernels():
    # a @ I^T with one nonzero product per output: the kernel returns bf16(a) itself.
    values = np.array(
        [[1.0, 1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-9), 3.0e38, -0.0, 65504.1, 1e-40]], np.float32
    )
    expected = ref.bf16_round(values)
    for path in paths("bf16"):
        assert fr._core._select_reduced_path("bf16", path)
        got = fr._core._reduced_matmul(values, np.eye(values.shape[1], dtype=np.float32), "bf16")
        np.testing.assert_array_equal(got[:, :-1], expected[:, :-1], err_msg=path)
        # A subnormal: AVX512-BF16's dot product treats it as zero; the portable kernel keeps it.
        assert got[0, -1] == (0.0 if path == "avx512_bf16" else expected[0, -1]), path


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_finite_rows_give_nan_not_numbers(fmt):
    a = np.ones((3, 8), np.float32)
    a[1, 2] = np.nan
    a[2, 5] = np.inf
    w = np.ones((4, 8), np.float32)
    for path in paths(fmt):
        assert fr._core._select_reduced_path(fmt, path)
        got = fr._core._reduced_matmul(a, w, fmt)
        assert np.all(np.isfinite(got[0])) and np.all(np.isnan(got[1])), path
        assert not np.any(np.isfinite(got[2])), path


# -- whole layers against the model of the scheme --------------------------------------------------------

CASES = {
    "lstm": (fr.LSTM, {}, "lstm"),
    "lstm-2l-bi": (fr.LSTM, {"num_layers": 2, "bidirectional": True}, "lstm"),
    "lstm-proj": (fr.LSTM, {"proj_size": 5}, "lstm"),
    "lstm-relu-nobias": (fr.LSTM, {"activation": "relu", "bias": False}, "lstm"),
    "gru": (fr.GRU, {}, "gru"),
    "gru-reset-before-bi": (fr.GRU, {"reset_after": False, "bidirectional": True}, "gru"),
    "rnn": (fr.RNN, {}, "rnn"),
    "rnn-relu-2l": (fr.RNN, {"nonlinearity": "relu", "num_layers": 2}, "rnn"),
}


def reference_forward(kind, layer, x, fmt, lengths=None):
    """The reference stack with the kernels' product scheme, float64 elsewhere."""
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    common = dict(
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        lengths=lengths,
        product=ref.reduced_product(fmt),
    )
    x = x.astype(np.float64)
    if kind == "lstm":
        y, (h, c), _ = ref.lstm(
            x, params, activation=layer.activation, recurrent_activation=layer.recurrent_activation, **common
        )
        return y, h
    if kind == "gru":
        y, h, _ = ref.gru(x, params, reset_after=layer.reset_after, **common)
        return y, h
    y, h, _ = ref.rnn(x, params, nonlinearity=layer.nonlinearity, **common)
    return y, h


@pytest.mark.parametrize("case", sorted(CASES))
def test_quantized_layers_follow_the_scheme(case, format_path, rng):
    cls, options, kind = CASES[case]
    fmt, path = format_path
    layer = cls(6, 13, seed=3, **options)
    x = rng.standard_normal((7, 5, 6)).astype(np.float32)
    q = layer.quantized(fmt)
    assert q.weight_format == fmt and set(q.layer_formats) == {fmt}
    y, state = q(x)
    y_ref, h_ref = reference_forward(kind, layer, x, fmt)
    # float32 gate math in the kernels, float64 in the model: an h that differs in its last bits can round
    # to a neighbouring int8 level at the next step (one level: 1/127 of the row's largest value).
    tolerance = 2e-3 if fmt == "int8" else 1e-4
    np.testing.assert_allclose(y, y_ref, atol=tolerance, rtol=0)
    h = state[0] if isinstance(state, tuple) else state
    np.testing.assert_allclose(h, h_ref, atol=tolerance, rtol=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_quantized_lengths_follow_the_scheme(fmt, rng):
    layer = fr.LSTM(4, 9, bidirectional=True, seed=1)
    x = rng.standard_normal((6, 4, 4)).astype(np.float32)
    lengths = np.array([6, 2, 4, 1])
    y, _ = layer.quantized(fmt)(x, lengths=lengths)
    y_ref, _ = reference_forward("lstm", layer, x, fmt, lengths=lengths)
    np.testing.assert_allclose(y, y_ref, atol=2e-3 if fmt == "int8" else 1e-4, rtol=0)


@pytest.mark.parametrize("cls", [fr.LSTM, fr.GRU, fr.RNN])
def test_int8_paths_agree_bit_for_bit_and_threads_do_not_matter(cls, rng, every_thread_runs):
    layer = cls(20, 40, num_layers=2, seed=2)
    x = rng.standard_normal((9, 11, 20)).astype(np.float32)
    q = layer.quantized("int8")
    outputs = []
    for threads in (1, 2):
        fr.set_num_threads(threads)
        for path in paths("int8"):
            assert fr._core._select_reduced_path("int8", path)
            outputs.append(q(x)[0])
    for y in outputs[1:]:
        np.testing.assert_array_equal(y, outputs[0])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cls", [fr.LSTM, fr.GRU])
def test_a_large_state_is_packed_once_for_all_threads(cls, fmt, rng):
    # N * H above the time loop's kPrivateStateElements (16384): h_{t-1} is packed by the threads in
    # turn into one shared operand instead of by each thread for itself. Same results either way.
    layer = cls(3, 600, seed=6, **({"reset_after": False} if cls is fr.GRU else {}))
    x = rng.standard_normal((3, 30, 3)).astype(np.float32)
    q = layer.quantized(fmt)
    threads_before = fr.get_num_threads()
    try:
        fr.set_num_threads(1)
        one = q(x)[0]
        fr.set_num_threads(2)
        np.testing.assert_array_equal(q(x)[0], one)
    finally:
        fr.set_num_threads(threads_before)
    y_ref, _ = reference_forward("gru" if cls is fr.GRU else "lstm", layer, x, fmt)
    np.testing.assert_allclose(one, y_ref, atol=2e-3 if fmt == "int8" else 1e-4, rtol=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunked_input_projection_and_batch_one(fmt, rng):
    layer = fr.GRU(5, 33, seed=4)
    q = layer.quantized(fmt)
    for shape in [(12, 1, 5), (12, 2, 5), (3, 17, 5)]:
        x = rng.standard_normal(shape).astype(np.float32)
        whole = q(x)[0]
        chunk = fr._core._input_chunk_elements()
        try:
            fr._core._set_input_chunk_elements(1)  # one step per chunk
            np.testing.assert_array_equal(q(x)[0], whole)
        finally:
            fr._core._set_input_chunk_elements(chunk)
        y_ref, _ = reference_forward("gru", layer, x, fmt)
        np.testing.assert_allclose(whole, y_ref, atol=2e-3 if fmt == "int8" else 1e-4, rtol=0)


# -- against float32: the accuracy trade-off -------------------------------------------------------------

# The bounds on max |y_q - y_fp32| the README states (PyTorch's default init): int8 0.03, bf16 0.005; the
# plain RNN, with no gate to damp what rounding adds at each step, gets 0.01 for bf16 (measured 0.0054 here).
BOUNDS = {"int8": 0.03, "bf16": 0.005}
RNN_BF16_BOUND = 0.01


@pytest.mark.parametrize("cls", [fr.LSTM, fr.GRU, fr.RNN])
@pytest.mark.parametrize("fmt", FORMATS)
def test_error_against_float32_within_the_documented_bound(cls, fmt, rng):
    layer = cls(64, 128, seed=5).eval()
    x = rng.standard_normal((30, 8, 64)).astype(np.float32)
    error = np.abs(layer.quantized(fmt)(x)[0] - layer(x)[0]).max()
    assert 0 < error <= (RNN_BF16_BOUND if (cls, fmt) == (fr.RNN, "bf16") else BOUNDS[fmt])


# -- the layer API ---------------------------------------------------------------------------------------


def test_small_layers_stay_float32_by_default(rng):
    fr._core._set_reduced_min_weights(DEFAULT_MIN_WEIGHTS)
    assert DEFAULT_MIN_WEIGHTS == 8192
    small = fr.RNN(1, 50, seed=0)  # 2,550 weights
    lecture = fr.LSTM(1, 50, num_layers=2, seed=0)  # the lectures' LSTM(50), 10,200 weights, then 20,000
    assert small.quantized("int8").layer_formats == ["fp32"]
    assert lecture.quantized("int8").layer_formats == ["int8", "int8"]
    x = rng.standard_normal((3, 1, 1)).astype(np.float32)
    np.testing.assert_array_equal(small.quantized("int8")(x)[0], small.eval()(x)[0])


def test_quantized_layer_is_inference_only_and_independent(rng):
    layer = fr.LSTM(8, 16, seed=0)
    q = layer.quantized("int8")
    assert not q.training and layer.training  # the original is untouched
    with pytest.raises(RuntimeError, match="train: this int8 layer"):
        q.train()
    x = rng.standard_normal((4, 2, 8)).astype(np.float32)
    q(x)
    with pytest.raises(RuntimeError):
        q.backward(np.ones((4, 2, 16), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        q.weight_hh_l0[0, 0] = 1.0
    before = q(x)[0]
    layer.weight_hh_l0[:] = 0  # the copy owns its weights
    np.testing.assert_array_equal(q(x)[0], before)
    assert "weight_format='int8'" in repr(q)


def test_quantized_refuses_bad_arguments():
    with pytest.raises(ValueError, match="format: expected 'int8' or 'bf16', got 'fp16'"):
        fr.LSTM(2, 3).quantized("fp16")
    with pytest.raises(ValueError, match="format: int8 layers need dtype float32"):
        fr.GRU(2, 3, dtype=np.float64).quantized("int8")
    with pytest.raises(ValueError, match="weight_format: .*needs dtype float32"):
        fr._core.Plan("lstm", 2, 3, 1, False, True, "float64", weight_format="int8")
    with pytest.raises(ValueError, match="weight_format: expected"):
        fr._core.Plan("lstm", 2, 3, 1, False, True, "float32", weight_format="int4")
    plan = fr._core.Plan("rnn", 2, 3, 1, False, True, "float32", weight_format="bf16")
    plan.set_parameters([np.zeros(s, np.float32) for _, s in plan.parameter_shapes()])
    with pytest.raises(ValueError, match="training: a bf16 layer is inference-only"):
        plan.forward(np.zeros((2, 1, 2), np.float32), None, None, True, False, None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_quantized_layers_copy_pickle_and_save(fmt, tmp_path, rng):
    q = fr.GRU(5, 8, bidirectional=True, seed=1).quantized(fmt)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    y = q(x)[0]
    for other in (copy.deepcopy(q), pickle.loads(pickle.dumps(q))):
        assert other.weight_format == fmt and not other.training
        np.testing.assert_array_equal(other(x)[0], y)
    fr.save(q, tmp_path / "q.npz")
    loaded = fr.load(tmp_path / "q.npz")
    assert loaded.weight_format == fmt
    np.testing.assert_array_equal(loaded(x)[0], y)


def test_step_matches_the_sequence(rng):
    q = fr.LSTM(4, 12, seed=0).quantized("int8")
    x = rng.standard_normal((5, 2, 4)).astype(np.float32)
    y, _ = q(x)
    state = None
    for t in range(5):
        h_t, state = q.step(x[t], state)
        np.testing.assert_array_equal(h_t, y[t])


def test_cpu_info_names_the_paths_and_fusedrnn_isa_caps_them():
    info = fr.cpu_info()
    assert set(info["reduced_precision"]) == {"bf16", "int8"}
    # The best usable path the active ISA allows (FUSEDRNN_ISA may cap this very process too): AVX-512
    # kernels under the avx512 table only, AVX-VNNI under avx512 or avx2, the portable ones always.
    allowed = {
        "avx512": lambda p: True,
        "avx2": lambda p: not p.startswith("avx512"),
        "generic": lambda p: p == "generic",
    }[info["isa"]]
    assert info["reduced_precision"]["int8"] == next(p for p in paths("int8") if allowed(p))
    code = "import fusedrnn as fr; print(fr.cpu_info()['reduced_precision'])"
    env = dict(os.environ, FUSEDRNN_ISA="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    # Under the AVX2 table: AVX-VNNI for int8 where the CPU has it, the portable kernels otherwise.
    int8 = "avx_vnni" if "avx_vnni" in paths("int8") else "generic"
    assert out.stdout.strip() == str({"bf16": "generic", "int8": int8})
