"""The fused LSTM kernels against the NumPy reference: forward outputs, final states and every
gradient, float32 and float64, over layouts, stacking, directions, bias and states."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fusedrnn as fr
from fusedrnn import functional as F
from fusedrnn import reference

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}


def make_case(rng, T, N, C, H, num_layers=1, bidirectional=False, bias=True, batch_first=False,
              unbatched=False, with_hx=True, dtype=np.float64):  # fmt: skip
    lstm = fr.LSTM(C, H, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                   dtype=dtype, seed=int(rng.integers(1 << 30)))  # fmt: skip
    D = 2 if bidirectional else 1
    if unbatched:
        x_shape, state_shape, y_shape = (T, C), (num_layers * D, H), (T, D * H)
    else:
        x_shape = (N, T, C) if batch_first else (T, N, C)
        y_shape = (N, T, D * H) if batch_first else (T, N, D * H)
        state_shape = (num_layers * D, N, H)
    x = rng.standard_normal(x_shape).astype(dtype)
    hx = tuple(rng.standard_normal(state_shape).astype(dtype) for _ in range(2)) if with_hx else None
    dy = rng.standard_normal(y_shape).astype(dtype)
    dhx = tuple(rng.standard_normal(state_shape).astype(dtype) for _ in range(2))
    return lstm, x, hx, dy, dhx


def reference_result(lstm, x, hx, dy, dhx):
    # The reference runs in float64 from the same (rounded) inputs: it is the exact answer the kernel
    # approximates in its own dtype.
    params = {k: v.astype(np.float64) for k, v in lstm.state_dict().items()}
    as64 = (lambda pair: None if pair is None else tuple(a.astype(np.float64) for a in pair))
    y, (h_n, c_n), cache = reference.lstm(x.astype(np.float64), params, as64(hx), lstm.num_layers,
                                          lstm.bidirectional, lstm.batch_first)  # fmt: skip
    dx, (dh0, dc0), grads = reference.lstm_backward(cache, dy.astype(np.float64), as64(dhx))
    return y, h_n, c_n, dx, dh0, dc0, grads


def assert_matches_reference(lstm, x, hx, dy, dhx):
    dtype = lstm.dtype.type
    tol = TOLERANCE[dtype]
    y, (h_n, c_n) = lstm(x, hx)
    dx, (dh0, dc0) = lstm.backward(dy, dhx)
    ry, rh, rc, rdx, rdh0, rdc0, rgrads = reference_result(lstm, x, hx, dy, dhx)
    for name, got, want in [("y", y, ry), ("h_n", h_n, rh), ("c_n", c_n, rc), ("dx", dx, rdx),
                            ("dh0", dh0, rdh0), ("dc0", dc0, rdc0)]:  # fmt: skip
        assert got.dtype == dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    assert lstm.grads.keys() == rgrads.keys()
    for name, want in rgrads.items():
        # Gradients sum over T*N terms: scale the absolute tolerance with their magnitude.
        np.testing.assert_allclose(lstm.grads[name], want, err_msg=name, rtol=tol["rtol"],
                                   atol=tol["atol"] * max(1.0, np.abs(want).max()))  # fmt: skip


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "T,N,C,H",
    [(1, 1, 1, 1), (1, 3, 2, 5), (4, 1, 3, 17), (5, 2, 1, 50), (3, 5, 7, 33), (7, 9, 4, 16), (2, 13, 6, 70)],
)
def test_single_layer_shapes(rng, dtype, T, N, C, H):
    assert_matches_reference(*make_case(rng, T, N, C, H, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stacks_and_directions(rng, dtype, num_layers, bidirectional):
    assert_matches_reference(*make_case(rng, 4, 3, 5, 19, num_layers, bidirectional, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("option", ["no_bias", "batch_first", "unbatched", "no_hx", "unbatched_batch_first"])
def test_options(rng, dtype, option):
    kwargs = {
        "no_bias": dict(bias=False),
        "batch_first": dict(batch_first=True),
        "unbatched": dict(unbatched=True),
        "no_hx": dict(with_hx=False),
        "unbatched_batch_first": dict(unbatched=True, batch_first=True),
    }[option]
    assert_matches_reference(*make_case(rng, 5, 3, 4, 21, num_layers=2, bidirectional=True, dtype=dtype,
                                        **kwargs))  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_without_output_or_state_gradients(rng, dtype):
    lstm, x, hx, dy, dhx = make_case(rng, 4, 3, 5, 9, 2, True, dtype=dtype)
    lstm(x, hx)
    dx_none, (dh_none, dc_none) = lstm.backward(None, None)
    grads_none = {k: v.copy() for k, v in lstm.grads.items()}
    lstm.zero_grad()
    lstm(x, hx)
    zeros = np.zeros_like(dhx[0])
    dx_zero, (dh_zero, dc_zero) = lstm.backward(np.zeros_like(dy), (zeros, zeros))
    for a, b in [(dx_none, dx_zero), (dh_none, dh_zero), (dc_none, dc_zero)]:
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, 0)
    for name, value in lstm.grads.items():
        np.testing.assert_array_equal(grads_none[name], value)


@given(
    T=st.integers(1, 6), N=st.integers(1, 9), C=st.integers(1, 9), H=st.integers(1, 40),
    num_layers=st.integers(1, 3), bidirectional=st.booleans(), bias=st.booleans(),
    batch_first=st.booleans(), unbatched=st.booleans(), with_hx=st.booleans(),
    dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_hypothesis_sweep(T, N, C, H, num_layers, bidirectional, bias, batch_first, unbatched, with_hx,
                          dtype, seed):  # fmt: skip
    rng = np.random.default_rng(seed)
    assert_matches_reference(*make_case(rng, T, N, C, H, num_layers, bidirectional, bias, batch_first,
                                        unbatched, with_hx, dtype))  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_fresh_and_accumulated_grads(rng, dtype):
    lstm, x, hx, dy, dhx = make_case(rng, 3, 2, 4, 6, 2, True, dtype=dtype)
    params = lstm.state_dict()
    y, state, cache = F.lstm(x, params, hx, num_layers=2, bidirectional=True, training=True)
    dx, _, fresh = F.lstm_backward(cache, dy, dhx)
    accumulated = {k: np.ones_like(v) for k, v in params.items()}
    _, _, returned = F.lstm_backward(cache, dy, dhx, grads=accumulated)
    assert returned is accumulated
    for name in params:
        np.testing.assert_allclose(accumulated[name], fresh[name] + 1, rtol=1e-6 if dtype == np.float32 else 1e-14)
    y_eval, _, no_cache = F.lstm(x, params, hx, num_layers=2, bidirectional=True)
    assert no_cache is None
    np.testing.assert_array_equal(y_eval, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T,N,C,H", [(6, 5, 7, 37), (4, 33, 20, 130), (3, 1, 5, 300)])
def test_results_identical_for_any_thread_count(rng, dtype, T, N, C, H):
    lstm, x, hx, dy, dhx = make_case(rng, T, N, C, H, num_layers=2, bidirectional=True, dtype=dtype)
    results = []
    saved = fr.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fr.set_num_threads(threads)
            lstm.zero_grad()
            y, (h_n, c_n) = lstm(x, hx)
            dx, (dh0, dc0) = lstm.backward(dy, dhx)
            results.append([y, h_n, c_n, dx, dh0, dc0] + [g.copy() for g in lstm.grads.values()])
    finally:
        fr.set_num_threads(saved)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_large_shape_float32_against_float64_reference(rng):
    # Long enough sequences and wide enough layers to exercise several GEMM cache blocks (K > 256,
    # columns > 512) and edge tiles in every direction.
    assert_matches_reference(*make_case(rng, 9, 70, 300, 150, dtype=np.float32))


def test_torch_parity_float32():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.LSTM(6, 20, num_layers=2, bidirectional=True, batch_first=True)
    lstm = fr.LSTM(6, 20, num_layers=2, bidirectional=True, batch_first=True)
    lstm.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 7, 6)).astype(np.float32)
    hx = tuple(rng.standard_normal((4, 4, 20)).astype(np.float32) for _ in range(2))
    dy = rng.standard_normal((4, 7, 40)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    hxt = tuple(torch.tensor(a, requires_grad=True) for a in hx)
    yt, (ht, ct) = module(xt, hxt)
    (yt * torch.tensor(dy)).sum().backward()
    y, (h_n, c_n) = lstm(x, hx)
    dx, (dh0, dc0) = lstm.backward(dy)
    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(h_n, ht.detach().numpy(), **tol)
    np.testing.assert_allclose(c_n, ct.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(dh0, hxt[0].grad.numpy(), **tol)
    np.testing.assert_allclose(dc0, hxt[1].grad.numpy(), **tol)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(lstm.grads[name], p.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
