"""The fused kernels (LSTM, GRU, RNN tanh/relu) against the NumPy reference: forward outputs, final
states and every gradient, float32 and float64, over layouts, stacking, directions, bias, states and
activations."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from reference_helpers import assert_grads_close, io_shapes

import fusedrnn as fr
from fusedrnn import functional as F
from fusedrnn import reference

# Every test here runs once per SIMD path the machine supports (conftest.isa).
pytestmark = pytest.mark.usefixtures("isa")

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}
CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu", "gru_reset_before"]
GATED = ("lstm", "gru", "gru_reset_before")
ACTIVATIONS = list(reference.ACTIVATIONS)


def make_layer(cell, C, H, num_layers=1, activations=None, **options):
    """activations: None (the cell's defaults), or (activation, recurrent_activation); an RNN takes the
    first as its nonlinearity."""
    if cell in GATED:
        if activations is not None:
            options.update(activation=activations[0], recurrent_activation=activations[1])
        if cell == "gru_reset_before":
            options.update(reset_after=False)
        return (fr.LSTM if cell == "lstm" else fr.GRU)(C, H, num_layers, **options)
    nonlinearity = cell.removeprefix("rnn_") if activations is None else activations[0]
    return fr.RNN(C, H, num_layers, nonlinearity=nonlinearity, **options)


def num_states(layer):
    return 2 if isinstance(layer, fr.LSTM) else 1


def run_layer(layer, x, states, dy, dstates):
    """Forward + backward through the layer with states as tuples (h,) or (h, c)."""
    if isinstance(layer, fr.LSTM):
        y, (h_n, c_n) = layer(x, states)
        dx, (dh0, dc0) = layer.backward(dy, dstates)
        return y, (h_n, c_n), dx, (dh0, dc0)
    y, h_n = layer(x, None if states is None else states[0])
    dx, dh0 = layer.backward(dy, None if dstates is None else dstates[0])
    return y, (h_n,), dx, (dh0,)


def make_case(
    rng,
    T,
    N,
    C,
    H,
    num_layers=1,
    bidirectional=False,
    bias=True,
    batch_first=False,
    unbatched=False,
    with_hx=True,
    dtype=np.float64,
    cell="lstm",
    activations=None,
):
    layer = make_layer(
        cell,
        C,
        H,
        num_layers,
        activations,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
        dtype=dtype,
        seed=int(rng.integers(1 << 30)),
    )
    x_shape, state_shape, y_shape = io_shapes(T, N, C, H, num_layers, bidirectional, batch_first, unbatched)
    k = num_states(layer)
    x = rng.standard_normal(x_shape).astype(dtype)
    hx = tuple(rng.standard_normal(state_shape).astype(dtype) for _ in range(k)) if with_hx else None
    dy = rng.standard_normal(y_shape).astype(dtype)
    dhx = tuple(rng.standard_normal(state_shape).astype(dtype) for _ in range(k))
    return layer, x, hx, dy, dhx


def reference_result(layer, x, hx, dy, dhx):
    # The reference runs in float64 from the same (rounded) inputs: it is the exact answer the kernel
    # approximates in its own dtype.
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}

    def as64(pair):
        return None if pair is None else tuple(a.astype(np.float64) for a in pair)

    hx, dhx, x, dy = as64(hx), as64(dhx), x.astype(np.float64), dy.astype(np.float64)
    opts = dict(num_layers=layer.num_layers, bidirectional=layer.bidirectional, batch_first=layer.batch_first)
    if not isinstance(layer, fr.RNN):
        opts.update(activation=layer.activation, recurrent_activation=layer.recurrent_activation)
    if isinstance(layer, fr.LSTM):
        y, states, cache = reference.lstm(x, params, hx, **opts)
        dx, dstates, grads = reference.lstm_backward(cache, dy, dhx)
        return y, states, dx, dstates, grads
    if isinstance(layer, fr.GRU):
        y, h_n, cache = reference.gru(
            x, params, None if hx is None else hx[0], reset_after=layer.reset_after, **opts
        )
        dx, dh0, grads = reference.gru_backward(cache, dy, dhx[0])
    else:
        y, h_n, cache = reference.rnn(x, params, None if hx is None else hx[0], layer.nonlinearity, **opts)
        dx, dh0, grads = reference.rnn_backward(cache, dy, dhx[0])
    return y, (h_n,), dx, (dh0,), grads


# Unbounded activations (relu, linear) let values and rounding errors grow along the sequence (gates
# above 1, a linear candidate); float32 results then carry a few times more relative error.
UNBOUNDED = ("relu", "linear")


def explosive(cell, activations):
    """Whether a gated cell's gates are unbounded (relu or linear recurrent activation): products of
    gates and states (GRU's z * h and r * (W_hn h), LSTM's f * c) make the recurrence polynomial in h,
    which grows doubly exponentially (1e22 within 5 steps, past float64 within 3 layers of 4 steps).
    Compared at fixed small shapes in float64 only (test_activations); the sweep leaves them out."""
    return cell in GATED and activations is not None and activations[1] in UNBOUNDED


def assert_matches_reference(layer, x, hx, dy, dhx):
    dtype = layer.dtype.type
    tol = dict(TOLERANCE[dtype])
    activations = (layer.activation, getattr(layer, "recurrent_activation", "sigmoid"))
    if dtype == np.float32 and any(a in UNBOUNDED for a in activations):
        tol = {key: 10 * value for key, value in tol.items()}
    y, states, dx, dstates = run_layer(layer, x, hx, dy, dhx)
    ry, rstates, rdx, rdstates, rgrads = reference_result(layer, x, hx, dy, dhx)
    pairs = [("y", y, ry), ("dx", dx, rdx)]
    pairs += [(f"state_n[{i}]", a, b) for i, (a, b) in enumerate(zip(states, rstates, strict=True))]
    pairs += [(f"dstate0[{i}]", a, b) for i, (a, b) in enumerate(zip(dstates, rdstates, strict=True))]
    for name, got, want in pairs:
        assert got.dtype == dtype, name
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    assert layer.grads.keys() == rgrads.keys()
    assert_grads_close(layer.grads, rgrads, tol["rtol"], tol["atol"])


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "T,N,C,H",
    [(1, 1, 1, 1), (1, 3, 2, 5), (4, 1, 3, 17), (5, 2, 1, 50), (3, 5, 7, 33), (7, 9, 4, 16), (2, 13, 6, 70)],
)
def test_single_layer_shapes(rng, cell, dtype, T, N, C, H):
    assert_matches_reference(*make_case(rng, T, N, C, H, dtype=dtype, cell=cell))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stacks_and_directions(rng, cell, dtype, num_layers, bidirectional):
    assert_matches_reference(*make_case(rng, 4, 3, 5, 19, num_layers, bidirectional, dtype=dtype, cell=cell))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("option", ["no_bias", "batch_first", "unbatched", "no_hx", "unbatched_batch_first"])
def test_options(rng, cell, dtype, option):
    kwargs = {
        "no_bias": dict(bias=False),
        "batch_first": dict(batch_first=True),
        "unbatched": dict(unbatched=True),
        "no_hx": dict(with_hx=False),
        "unbatched_batch_first": dict(unbatched=True, batch_first=True),
    }[option]
    assert_matches_reference(
        *make_case(rng, 5, 3, 4, 21, num_layers=2, bidirectional=True, dtype=dtype, cell=cell, **kwargs)
    )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_without_output_or_state_gradients(rng, cell, dtype):
    layer, x, hx, dy, dhx = make_case(rng, 4, 3, 5, 9, 2, True, dtype=dtype, cell=cell)
    _, _, dx_none, dstates_none = run_layer(layer, x, hx, None, None)
    grads_none = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    zeros = tuple(np.zeros_like(d) for d in dhx)
    _, _, dx_zero, dstates_zero = run_layer(layer, x, hx, np.zeros_like(dy), zeros)
    for a, b in zip((dx_none, *dstates_none), (dx_zero, *dstates_zero), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, 0)
    for name, value in layer.grads.items():
        np.testing.assert_array_equal(grads_none[name], value)


# Every (activation, recurrent_activation) pair of Keras's names; an RNN has only the first.
ACTIVATION_CASES = [(cell, a, r) for cell in GATED for a in ACTIVATIONS for r in ACTIVATIONS]
ACTIVATION_CASES += [("rnn", a, "sigmoid") for a in ACTIVATIONS]


@pytest.mark.parametrize("cell, activation, recurrent_activation", ACTIVATION_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations(rng, cell, dtype, activation, recurrent_activation):
    if dtype == np.float32 and explosive(cell, (activation, recurrent_activation)):
        pytest.skip("grows doubly exponentially: float64 only (see explosive)")
    assert_matches_reference(
        *make_case(
            rng,
            5,
            3,
            4,
            21,
            num_layers=2,
            bidirectional=True,
            dtype=dtype,
            cell=cell,
            activations=(activation, recurrent_activation),
        )
    )


@given(
    cell=st.sampled_from(CELLS),
    T=st.integers(1, 6),
    N=st.integers(1, 9),
    C=st.integers(1, 9),
    H=st.integers(1, 40),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    batch_first=st.booleans(),
    unbatched=st.booleans(),
    with_hx=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
    activations=st.none() | st.tuples(st.sampled_from(ACTIVATIONS), st.sampled_from(ACTIVATIONS)),
)
def test_hypothesis_sweep(
    cell,
    T,
    N,
    C,
    H,
    num_layers,
    bidirectional,
    bias,
    batch_first,
    unbatched,
    with_hx,
    dtype,
    seed,
    activations,
):
    assume(not explosive(cell, activations))
    rng = np.random.default_rng(seed)
    assert_matches_reference(
        *make_case(
            rng,
            T,
            N,
            C,
            H,
            num_layers,
            bidirectional,
            bias,
            batch_first,
            unbatched,
            with_hx,
            dtype,
            cell,
            activations,
        )
    )


FUNCTIONAL = {
    "lstm": (F.lstm, F.lstm_backward, {}),
    "gru": (F.gru, F.gru_backward, {}),
    "gru_reset_before": (F.gru, F.gru_backward, {"reset_after": False}),
    "rnn_tanh": (F.rnn, F.rnn_backward, {"nonlinearity": "tanh"}),
    "rnn_relu": (F.rnn, F.rnn_backward, {"nonlinearity": "relu"}),
}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_fresh_and_accumulated_grads(rng, cell, dtype):
    layer, x, hx, dy, dhx = make_case(rng, 3, 2, 4, 6, 2, True, dtype=dtype, cell=cell)
    forward, backward, options = FUNCTIONAL[cell]
    hx, dhx = (hx, dhx) if cell == "lstm" else (hx[0], dhx[0])
    params = layer.state_dict()
    y, _, cache = forward(x, params, hx, num_layers=2, bidirectional=True, training=True, **options)
    _, _, fresh = backward(cache, dy, dhx)
    accumulated = {k: np.ones_like(v) for k, v in params.items()}
    # A backward uses up its cache: the same forward again for the second one.
    _, _, cache = forward(x, params, hx, num_layers=2, bidirectional=True, training=True, **options)
    _, _, returned = backward(cache, dy, dhx, grads=accumulated)
    assert returned is accumulated
    # Accumulation adds the kernel's sum to the 1 already there: equal up to one rounding at scale 1.
    eps = np.finfo(dtype).eps
    for name in params:
        np.testing.assert_allclose(accumulated[name], fresh[name] + 1, rtol=4 * eps, atol=4 * eps)
    y_eval, _, no_cache = forward(x, params, hx, num_layers=2, bidirectional=True, **options)
    assert no_cache is None
    np.testing.assert_array_equal(y_eval, y)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "T,N,C,H",
    # (3, 4, 600, 3): the weight gradients split by columns, x's and h's side by side past one block of B
    [(6, 5, 7, 37), (4, 33, 20, 130), (3, 1, 5, 300), (5, 2, 3, 70), (4, 3, 9, 33), (3, 4, 600, 3)],
)
def test_results_identical_for_any_thread_count(rng, cell, dtype, T, N, C, H, every_thread_runs):
    layer, x, hx, dy, dhx = make_case(
        rng, T, N, C, H, num_layers=2, bidirectional=True, dtype=dtype, cell=cell
    )
    results = []
    for threads in (1, 2, 3):
        fr.set_num_threads(threads)
        layer.zero_grad()
        y, states, dx, dstates = run_layer(layer, x, hx, dy, dhx)
        results.append([y, dx, *states, *dstates] + [g.copy() for g in layer.grads.values()])
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T,N,C,H,proj", [(5, 64, 3, 24, 0), (4, 50, 40, 16, 5), (3, 97, 1, 9, 0)])
def test_rows_split_across_threads_give_one_thread_results(
    rng, cell, dtype, T, N, C, H, proj, every_thread_runs
):
    # Small layers over many rows split the batch rows across the threads (time_loop_forward.h,
    # split_rows): outputs, states and every gradient as on one thread, with lengths and a projection too.
    options = {"proj_size": proj} if proj and cell == "lstm" else {}
    layer = make_layer(cell, C, H, 2, dtype=dtype, seed=int(rng.integers(1 << 30)), **options)
    x = rng.standard_normal((T, N, C)).astype(dtype)
    y0, states0 = layer(x)
    hx = tuple(rng.standard_normal(a.shape).astype(dtype) for a in num_states_tuple(states0))
    dy = rng.standard_normal(y0.shape).astype(dtype)
    dhx = tuple(rng.standard_normal(a.shape).astype(dtype) for a in hx)
    lengths = np.arange(N) % T + 1
    results = []
    for threads in (1, 2, 3):
        fr.set_num_threads(threads)
        layer.zero_grad()
        y, states, dx, dstates = run_layer(layer, x, hx, dy, dhx)
        results.append([y, dx, *states, *dstates] + [g.copy() for g in layer.grads.values()])
        results[-1].append(layer(x, hx if isinstance(layer, fr.LSTM) else hx[0], lengths=lengths)[0])
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def num_states_tuple(states):
    return states if isinstance(states, tuple) else (states,)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_large_shape_float32_against_float64_reference(rng, cell):
    # Long enough sequences and wide enough layers to exercise several GEMM cache blocks (K > 256,
    # columns > 512) and edge tiles in every direction.
    assert_matches_reference(*make_case(rng, 9, 70, 300, 150, dtype=np.float32, cell=cell))


TORCH_MODULES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}


@pytest.mark.parametrize("cell", [c for c in CELLS if c in TORCH_MODULES])  # torch has no reset-before GRU
def test_torch_parity_float32(cell):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    options = dict(num_layers=2, bidirectional=True, batch_first=True)
    if cell.startswith("rnn_"):
        options["nonlinearity"] = cell.removeprefix("rnn_")
    module = getattr(torch.nn, TORCH_MODULES[cell])(6, 20, **options)
    layer = getattr(fr, TORCH_MODULES[cell])(6, 20, **options)
    layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    rng = np.random.default_rng(0)
    k = num_states(layer)
    x = rng.standard_normal((4, 7, 6)).astype(np.float32)
    hx = tuple(rng.standard_normal((4, 4, 20)).astype(np.float32) for _ in range(k))
    dy = rng.standard_normal((4, 7, 40)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    hxt = tuple(torch.tensor(a, requires_grad=True) for a in hx)
    yt, state_t = module(xt, hxt if k == 2 else hxt[0])
    state_t = state_t if k == 2 else (state_t,)
    (yt * torch.tensor(dy)).sum().backward()
    y, states, dx, dstates = run_layer(layer, x, hx, dy, None)
    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for i in range(k):
        np.testing.assert_allclose(states[i], state_t[i].detach().numpy(), **tol)
        np.testing.assert_allclose(dstates[i], hxt[i].grad.numpy(), **tol)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_input_projection_in_chunks(rng, cell, dtype):
    # Long sequences compute the input projection chunk by chunk with W_ih packed once; shrink the chunk
    # so small shapes take that path too (1 step, and 3 steps, per chunk; both directions).
    saved = fr._core._input_chunk_elements()
    try:
        for steps_per_chunk in (1, 3):
            fr._core._set_input_chunk_elements(
                steps_per_chunk * 5 * {"lstm": 4, "gru": 3, "gru_reset_before": 3}.get(cell, 1) * 600
            )
            assert_matches_reference(
                *make_case(rng, 7, 5, 700, 600, num_layers=1, bidirectional=True, dtype=dtype, cell=cell)
            )
    finally:
        fr._core._set_input_chunk_elements(saved)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fuse_max", [0, 10**6], ids=["projection_gemm", "projection_in_step"])
def test_both_input_projection_paths(rng, isa, cell, dtype, fuse_max):
    # The forward folds x_t W_ih^T into the step's product for small C (cells that allow it) and runs it
    # as a GEMM over chunks of steps otherwise: force each path on shapes of both kinds.
    saved = fr._core._fuse_input_max_features()
    try:
        fr._core._set_fuse_input_max_features(fuse_max)
        for T, N, C, H in [(6, 5, 3, 37), (4, 9, 70, 33), (3, 1, 130, 20)]:
            assert_matches_reference(
                *make_case(rng, T, N, C, H, num_layers=2, bidirectional=True, dtype=dtype, cell=cell)
            )
    finally:
        fr._core._set_fuse_input_max_features(saved)
