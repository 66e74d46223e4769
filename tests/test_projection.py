"""LSTM with a projection (PyTorch's proj_size: h_t = W_hr (o * act(c_t)), P-wide): the fused kernels
against the NumPy reference (forward, final states, every gradient, float32 and float64) over shapes,
stacking, directions, layouts, bias, lengths, dropout, both input-projection paths and thread counts, and
against torch.nn.LSTM(proj_size=P)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_helpers import assert_grads_close

import fusedrnn as fr
from fusedrnn import reference

pytestmark = pytest.mark.usefixtures("isa")

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}


def make_case(
    rng,
    T,
    N,
    C,
    H,
    P,
    num_layers=1,
    bidirectional=False,
    batch_first=False,
    bias=True,
    dtype=np.float64,
    unbatched=False,
    with_hx=True,
    **options,
):
    layer = fr.LSTM(
        C,
        H,
        num_layers=num_layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
        proj_size=P,
        dtype=dtype,
        seed=int(rng.integers(1 << 30)),
        **options,
    )
    D = 2 if bidirectional else 1
    LD = num_layers * D
    if unbatched:
        x_shape, h_shape, c_shape, y_shape = (T, C), (LD, P), (LD, H), (T, D * P)
    else:
        x_shape = (N, T, C) if batch_first else (T, N, C)
        h_shape, c_shape = (LD, N, P), (LD, N, H)
        y_shape = x_shape[:-1] + (D * P,)

    def r(shape):
        return rng.standard_normal(shape).astype(dtype)

    hx = (r(h_shape), r(c_shape)) if with_hx else None
    return layer, r(x_shape), hx, r(y_shape), (r(h_shape), r(c_shape))


def check(layer, x, hx, dy, dhx, lengths=None):
    dtype = layer.dtype.type
    tol = TOLERANCE[dtype]
    y, (h_n, c_n) = layer(x, hx, lengths=lengths)
    dx, (dh0, dc0) = layer.backward(dy, dhx)
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}

    def as64(t):
        return None if t is None else tuple(a.astype(np.float64) for a in t)

    opts = dict(
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        batch_first=layer.batch_first,
        lengths=lengths,
        activation=layer.activation,
        recurrent_activation=layer.recurrent_activation,
    )
    if layer.dropout_masks is not None:
        opts["dropout_masks"] = layer.dropout_masks.astype(np.float64)
    if layer.recurrent_dropout_masks is not None:
        opts["recurrent_masks"] = layer.recurrent_dropout_masks.astype(np.float64)
    ry, (rh, rc), cache = reference.lstm(x.astype(np.float64), params, as64(hx), **opts)
    rdx, (rdh0, rdc0), rgrads = reference.lstm_backward(cache, dy.astype(np.float64), as64(dhx))
    for name, got, want in [
        ("y", y, ry),
        ("h_n", h_n, rh),
        ("c_n", c_n, rc),
        ("dx", dx, rdx),
        ("dh0", dh0, rdh0),
        ("dc0", dc0, rdc0),
    ]:
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    assert any(name.startswith("weight_hr") for name in rgrads)
    assert_grads_close(layer.grads, rgrads, tol["rtol"], tol["atol"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "T,N,C,H,P", [(1, 1, 1, 2, 1), (5, 3, 4, 6, 3), (4, 9, 70, 40, 17), (3, 2, 5, 33, 32), (6, 13, 3, 70, 20)]
)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
def test_matches_reference(rng, dtype, T, N, C, H, P, num_layers, bidirectional):
    check(*make_case(rng, T, N, C, H, P, num_layers, bidirectional, dtype=dtype))


@pytest.mark.parametrize(
    "option",
    ["no_bias", "batch_first", "unbatched", "no_hx", "lengths", "dropout", "recurrent_dropout", "relu"],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_options(rng, option, dtype):
    kwargs = {
        "no_bias": dict(bias=False),
        "batch_first": dict(batch_first=True),
        "unbatched": dict(unbatched=True),
        "no_hx": dict(with_hx=False),
        "dropout": dict(dropout=0.4),
        "recurrent_dropout": dict(recurrent_dropout=0.4),
        "relu": dict(activation="relu"),
    }.get(option, {})
    case = make_case(rng, 6, 4, 5, 12, 5, num_layers=2, bidirectional=True, dtype=dtype, **kwargs)
    check(*case, lengths=np.array([6, 2, 5, 1]) if option == "lengths" else None)


@pytest.mark.parametrize("fuse_max", [0, 10**6], ids=["projection_gemm", "projection_in_step"])
def test_both_input_projection_paths(rng, fuse_max):
    saved = fr._core._fuse_input_max_features()
    try:
        fr._core._set_fuse_input_max_features(fuse_max)
        check(*make_case(rng, 5, 6, 9, 20, 7, num_layers=2, bidirectional=True, dtype=np.float64))
    finally:
        fr._core._set_fuse_input_max_features(saved)


def test_results_identical_for_any_thread_count(rng, every_thread_runs):
    layer, x, hx, dy, dhx = make_case(
        rng, 6, 33, 20, 130, 47, num_layers=2, bidirectional=True, dtype=np.float32
    )
    results = []
    for threads in (1, 2, 3):
        fr.set_num_threads(threads)
        layer.zero_grad()
        y, (h, c) = layer(x, hx)
        dx, (dh0, dc0) = layer.backward(dy, dhx)
        results.append([y, h, c, dx, dh0, dc0] + [g.copy() for g in layer.grads.values()])
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@given(
    T=st.integers(1, 5),
    N=st.integers(1, 7),
    C=st.integers(1, 6),
    H=st.integers(2, 30),
    P_fraction=st.floats(0.01, 0.99),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_hypothesis_sweep(T, N, C, H, P_fraction, num_layers, bidirectional, batch_first, dtype, seed):
    P = max(1, min(H - 1, int(P_fraction * H)))
    rng = np.random.default_rng(seed)
    check(*make_case(rng, T, N, C, H, P, num_layers, bidirectional, batch_first, dtype=dtype))


def test_parameters_shapes_and_errors():
    lstm = fr.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=5)
    shapes = {k: v.shape for k, v in lstm.state_dict().items()}
    assert shapes["weight_hh_l0"] == (32, 5) and shapes["weight_hr_l0"] == (5, 8)
    assert shapes["weight_ih_l1"] == (32, 10)
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    with pytest.raises(ValueError, match=r"h0: expected shape \(4, 2, 5\)"):
        lstm(np.zeros((3, 2, 3)), (np.zeros((4, 2, 8)), np.zeros((4, 2, 8))))
    for bad in (8, 9, -1, 2.5, True):
        with pytest.raises((ValueError, TypeError), match="proj_size"):
            fr.LSTM(3, 8, proj_size=bad)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_torch(batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    T, N, C, H, P = 7, 5, 4, 9, 4
    options = dict(num_layers=2, bidirectional=True, batch_first=batch_first, proj_size=P)
    module = torch.nn.LSTM(C, H, **options).double()
    layer = fr.LSTM(C, H, dtype=np.float64, **options)
    layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, T, C) if batch_first else (T, N, C))
    h0, c0 = rng.standard_normal((4, N, P)), rng.standard_normal((4, N, H))
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    yt, (ht, ct) = module(xt, (h0t, c0t))
    y, (h, c) = layer(x, (h0, c0))
    dy, dh, dc = rng.standard_normal(y.shape), rng.standard_normal(h.shape), rng.standard_normal(c.shape)
    ((yt * torch.tensor(dy)).sum() + (ht * torch.tensor(dh)).sum() + (ct * torch.tensor(dc)).sum()).backward()
    dx, (dh0, dc0) = layer.backward(dy, (dh, dc))
    tol = dict(rtol=1e-10, atol=1e-12)
    for a, b in [(y, yt), (h, ht), (c, ct), (dx, xt.grad), (dh0, h0t.grad), (dc0, c0t.grad)]:
        np.testing.assert_allclose(a, b.detach().numpy(), **tol)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), err_msg=name, **tol)
