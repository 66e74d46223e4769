"""Tests of the NumPy reference itself: its gradients against finite differences, and (when torch is
installed) its forward and gradients against torch.nn.LSTM. Everything here is float64."""

import numpy as np
import pytest
from reference_helpers import io_shapes, numerical_grad, random_params

from fusedrnn import reference as ref

T, N, C, H = 3, 2, 3, 4
RTOL, ATOL = 1e-6, 1e-8


def make_params(rng, num_layers, bidirectional, bias=True):
    """Random LSTM parameters with torch.nn.LSTM's state_dict names and shapes."""
    return random_params(rng, "lstm", C, H, num_layers, bidirectional, bias)


# --- one layer, one direction ---------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("state_grads", [True, False])
def test_layer_gradients_match_finite_differences(reverse, bias, state_grads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, N, C))
    h0 = rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H))
    p = make_params(rng, 1, False, bias)
    w_ih, w_hh = p["weight_ih_l0"], p["weight_hh_l0"]
    b_ih, b_hh = p.get("bias_ih_l0"), p.get("bias_hh_l0")
    r1 = rng.standard_normal((T, N, H))
    r2 = rng.standard_normal((N, H)) if state_grads else None
    r3 = rng.standard_normal((N, H)) if state_grads else None

    def loss():
        y, h_n, c_n, _ = ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        total = np.sum(y * r1)
        if state_grads:
            total += np.sum(h_n * r2) + np.sum(c_n * r3)
        return total

    *_, cache = ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    dx, dh0, dc0, grads = ref.lstm_layer_backward(cache, r1, r2, r3)

    expected_keys = {"weight_ih", "weight_hh"} | ({"bias_ih", "bias_hh"} if bias else set())
    assert set(grads) == expected_keys
    checks = [(dx, x), (dh0, h0), (dc0, c0), (grads["weight_ih"], w_ih), (grads["weight_hh"], w_hh)]
    if bias:
        checks += [(grads["bias_ih"], b_ih), (grads["bias_hh"], b_hh)]
    for analytic, arr in checks:
        np.testing.assert_allclose(analytic, numerical_grad(loss, arr), rtol=RTOL, atol=ATOL)


def test_reverse_reads_time_backwards():
    """A reverse layer on x equals a forward layer on x flipped in time, with y flipped back."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((T, N, C))
    h0, c0 = rng.standard_normal((2, N, H))
    p = make_params(rng, 1, False)
    args = (p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"])
    y_rev, h_rev, c_rev, _ = ref.lstm_layer_forward(x, h0, c0, *args, reverse=True)
    y_fwd, h_fwd, c_fwd, _ = ref.lstm_layer_forward(x[::-1], h0, c0, *args)
    np.testing.assert_allclose(y_rev, y_fwd[::-1], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(h_rev, h_fwd, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(c_rev, c_fwd, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("reverse", [False, True])
def test_empty_sequence(reverse):
    rng = np.random.default_rng(3)
    h0, c0 = rng.standard_normal((2, N, H))
    p = make_params(rng, 1, False)
    x = np.zeros((0, N, C))
    y, h_n, c_n, cache = ref.lstm_layer_forward(
        x, h0, c0, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"], reverse
    )
    assert y.shape == (0, N, H)
    np.testing.assert_array_equal(h_n, h0)
    np.testing.assert_array_equal(c_n, c0)

    dh_n, dc_n = rng.standard_normal((2, N, H))
    dx, dh0, dc0, grads = ref.lstm_layer_backward(cache, np.zeros((0, N, H)), dh_n, dc_n)
    assert dx.shape == (0, N, C)
    np.testing.assert_array_equal(dh0, dh_n)
    np.testing.assert_array_equal(dc0, dc_n)
    assert not np.any(grads["weight_ih"])

    y, (h_n, c_n), _ = ref.lstm(x, p, (h0[None], c0[None]))
    assert y.shape == (0, N, H)
    np.testing.assert_array_equal(h_n[0], h0)
    np.testing.assert_array_equal(c_n[0], c0)


def test_dtype_is_kept_and_large_inputs_are_quiet():
    """float32 in, float32 out; saturating pre-activations overflow nowhere (underflow of exp to 0 is
    harmless and expected)."""
    rng = np.random.default_rng(4)
    p = {k: (v * 1e4).astype(np.float32) for k, v in make_params(rng, 1, True).items()}
    x = (rng.standard_normal((T, N, C)) * 1e4).astype(np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y, (h_n, c_n), cache = ref.lstm(x, p, bidirectional=True)
        dx, (dh0, dc0), grads = ref.lstm_backward(cache, np.ones_like(y))
    for a in (y, h_n, c_n, dx, dh0, dc0, *grads.values()):
        assert a.dtype == np.float32
        assert np.all(np.isfinite(a))


# --- the stacked module ---------------------------------------------------------------------------

STACK_CASES = {
    # name: (num_layers, bidirectional, bias, batch_first, unbatched, with_hx)
    "single_layer": (1, False, True, False, False, True),
    "bidirectional": (1, True, True, False, False, True),
    "2_layers_bidirectional": (2, True, True, False, False, True),
    "2_layers_no_bias": (2, False, False, False, False, True),
    "batch_first": (2, True, True, True, False, True),
    "unbatched": (2, True, True, False, True, True),
    "unbatched_batch_first": (1, True, True, True, True, True),
    "hx_none": (2, True, True, False, False, False),
}


@pytest.mark.parametrize("case", list(STACK_CASES), ids=list(STACK_CASES))
def test_stack_gradients_match_finite_differences(case):
    num_layers, bidirectional, bias, batch_first, unbatched, with_hx = STACK_CASES[case]
    rng = np.random.default_rng(5)
    params = make_params(rng, num_layers, bidirectional, bias)
    x_shape, state_shape, y_shape = io_shapes(T, N, C, H, num_layers, bidirectional, batch_first, unbatched)
    x = rng.standard_normal(x_shape)
    hx = (rng.standard_normal(state_shape), rng.standard_normal(state_shape)) if with_hx else None
    r1, r2, r3 = rng.standard_normal(y_shape), *rng.standard_normal((2, *state_shape))

    def forward():
        return ref.lstm(x, params, hx, num_layers, bidirectional, batch_first)

    def loss():
        y, (h_n, c_n), _ = forward()
        return np.sum(y * r1) + np.sum(h_n * r2) + np.sum(c_n * r3)

    y, (h_n, c_n), cache = forward()
    assert y.shape == y_shape
    assert h_n.shape == c_n.shape == state_shape
    dx, (dh0, dc0), grads = ref.lstm_backward(cache, r1, (r2, r3))

    assert dx.shape == x.shape
    assert dh0.shape == dc0.shape == state_shape
    assert set(grads) == set(params)
    np.testing.assert_allclose(dx, numerical_grad(loss, x), rtol=RTOL, atol=ATOL)
    if with_hx:
        np.testing.assert_allclose(dh0, numerical_grad(loss, hx[0]), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(dc0, numerical_grad(loss, hx[1]), rtol=RTOL, atol=ATOL)
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], numerical_grad(loss, p), rtol=RTOL, atol=ATOL, err_msg=name)


def test_stack_without_state_grads_equals_zero_state_grads():
    rng = np.random.default_rng(6)
    params = make_params(rng, 2, True)
    x = rng.standard_normal((T, N, C))
    y, (h_n, _), cache = ref.lstm(x, params, num_layers=2, bidirectional=True)
    dy = rng.standard_normal(y.shape)
    zero = np.zeros_like(h_n)
    dx_a, (dh0_a, dc0_a), grads_a = ref.lstm_backward(cache, dy)
    dx_b, (dh0_b, dc0_b), grads_b = ref.lstm_backward(cache, dy, (zero, zero))
    np.testing.assert_array_equal(dx_a, dx_b)
    np.testing.assert_array_equal(dh0_a, dh0_b)
    np.testing.assert_array_equal(dc0_a, dc0_b)
    for name in grads_a:
        np.testing.assert_array_equal(grads_a[name], grads_b[name])


# --- parity with torch.nn.LSTM (skipped without torch) --------------------------------------------

LAYOUTS = ["time_major", "batch_first", "unbatched"]


def _torch_case(layout, bias, seed):
    """A float64 torch.nn.LSTM (2 layers, bidirectional), its weights as NumPy params, and data."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    module = torch.nn.LSTM(
        C,
        H,
        num_layers=2,
        bias=bias,
        batch_first=layout == "batch_first",
        bidirectional=True,
        dtype=torch.float64,
    )
    params = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    rng = np.random.default_rng(seed)
    if layout == "unbatched":
        x_shape, state_shape = (T, C), (4, H)
    else:
        x_shape = (N, T, C) if layout == "batch_first" else (T, N, C)
        state_shape = (4, N, H)
    x = rng.standard_normal(x_shape)
    h0, c0 = rng.standard_normal((2, *state_shape))
    return torch, module, params, x, h0, c0


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_forward_matches_torch(layout, bias):
    torch, module, params, x, h0, c0 = _torch_case(layout, bias, seed=7)
    with torch.no_grad():
        y_t, (h_t, c_t) = module(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    y, (h_n, c_n), _ = ref.lstm(x, params, (h0, c0), 2, True, layout == "batch_first")
    np.testing.assert_allclose(y, y_t.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n, h_t.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_n, c_t.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_backward_matches_torch_autograd(layout, bias):
    torch, module, params, x, h0, c0 = _torch_case(layout, bias, seed=8)
    rng = np.random.default_rng(9)
    y, (h_n, c_n), cache = ref.lstm(x, params, (h0, c0), 2, True, layout == "batch_first")
    r1, r2, r3 = rng.standard_normal(y.shape), *rng.standard_normal((2, *h_n.shape))

    x_t, h0_t, c0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    y_t, (h_t, c_t) = module(x_t, (h0_t, c0_t))
    loss = (
        (y_t * torch.from_numpy(r1)).sum()
        + (h_t * torch.from_numpy(r2)).sum()
        + (c_t * torch.from_numpy(r3)).sum()
    )
    loss.backward()

    dx, (dh0, dc0), grads = ref.lstm_backward(cache, r1, (r2, r3))
    np.testing.assert_allclose(dx, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh0, h0_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dc0, c0_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    torch_grads = dict(module.named_parameters())
    assert set(grads) == set(torch_grads)
    for name, p in torch_grads.items():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
