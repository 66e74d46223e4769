"""Per-sequence lengths (torch's pack_padded_sequence(..., enforce_sorted=False) semantics) in the fused
kernels: forward, final states and every gradient against the NumPy reference (each sequence run alone)
and against torch's packed LSTM / GRU / RNN, over cells, stacking, directions, layouts and dtypes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_helpers import assert_grads_close

import fusedrnn as fr
from fusedrnn import reference

pytestmark = pytest.mark.usefixtures("isa")

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}
CELLS = ["lstm", "gru", "rnn", "gru_reset_before"]


def make_layer(cell, C, H, **options):
    if cell == "gru_reset_before":
        return fr.GRU(C, H, reset_after=False, **options)
    return {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}[cell](C, H, **options)


def states_of(cell, h, c):
    return (h, c) if cell == "lstm" else h


def run_layer(layer, cell, x, hx, lengths, dy, dhx):
    if cell == "lstm":
        y, (h_n, c_n) = layer(x, hx, lengths=lengths)
        dx, (dh0, dc0) = layer.backward(dy, dhx)
        return y, [h_n, c_n], dx, [dh0, dc0]
    y, h_n = layer(x, None if hx is None else hx[0], lengths=lengths)
    dx, dh0 = layer.backward(dy, dhx[0])
    return y, [h_n], dx, [dh0]


def run_reference(layer, cell, x, hx, lengths, dy, dhx):
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}

    def as64(t):
        return None if t is None else tuple(a.astype(np.float64) for a in t)

    hx, dhx, x, dy = as64(hx), as64(dhx), x.astype(np.float64), dy.astype(np.float64)
    opts = dict(
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        batch_first=layer.batch_first,
        lengths=lengths,
    )
    if cell == "lstm":
        y, states, cache = reference.lstm(x, params, hx, **opts)
        dx, dstates, grads = reference.lstm_backward(cache, dy, dhx)
        return y, list(states), dx, list(dstates), grads
    if cell == "rnn":
        forward, backward = reference.rnn, reference.rnn_backward
    else:
        forward, backward = reference.gru, reference.gru_backward
        opts["reset_after"] = cell == "gru"
    y, h_n, cache = forward(x, params, None if hx is None else hx[0], **opts)
    dx, dh0, grads = backward(cache, dy, dhx[0])
    return y, [h_n], dx, [dh0], grads


def make_case(rng, cell, T, N, C, H, num_layers, bidirectional, batch_first, with_hx, dtype, lengths=None):
    layer = make_layer(
        cell,
        C,
        H,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        dtype=dtype,
        seed=int(rng.integers(1 << 30)),
    )
    D = 2 if bidirectional else 1
    x = rng.standard_normal((N, T, C) if batch_first else (T, N, C)).astype(dtype)
    k = 2 if cell == "lstm" else 1
    hx = (
        tuple(rng.standard_normal((num_layers * D, N, H)).astype(dtype) for _ in range(k))
        if with_hx
        else None
    )
    dy = rng.standard_normal((N, T, D * H) if batch_first else (T, N, D * H)).astype(dtype)
    dhx = tuple(rng.standard_normal((num_layers * D, N, H)).astype(dtype) for _ in range(k))
    if lengths is None:
        lengths = rng.integers(1, T + 1, size=N)
    return layer, x, hx, np.asarray(lengths), dy, dhx


def assert_matches_reference(cell, layer, x, hx, lengths, dy, dhx):
    dtype = layer.dtype.type
    tol = TOLERANCE[dtype]
    y, states, dx, dstates = run_layer(layer, cell, x, hx, lengths, dy, dhx)
    ry, rstates, rdx, rdstates, rgrads = run_reference(layer, cell, x, hx, lengths, dy, dhx)
    for name, got, want in (
        [("y", y, ry), ("dx", dx, rdx)]
        + [(f"state[{i}]", a, b) for i, (a, b) in enumerate(zip(states, rstates, strict=True))]
        + [(f"dstate0[{i}]", a, b) for i, (a, b) in enumerate(zip(dstates, rdstates, strict=True))]
    ):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=name, **tol)
    assert_grads_close(layer.grads, rgrads, tol["rtol"], tol["atol"])
    # Padding: y is exactly zero there, and so is dx.
    time_major = (lambda a: a.transpose(1, 0, 2)) if layer.batch_first else (lambda a: a)
    for n, length in enumerate(lengths):
        assert not time_major(y)[length:, n].any()
        assert not time_major(dx)[length:, n].any()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (1, True), (2, True), (3, False)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_reference(rng, cell, dtype, num_layers, bidirectional, batch_first):
    case = make_case(
        rng, cell, 7, 6, 3, 9, num_layers, bidirectional, batch_first, True, dtype, lengths=[3, 7, 1, 7, 4, 3]
    )
    assert_matches_reference(cell, *case)


@given(
    cell=st.sampled_from(CELLS),
    T=st.integers(1, 7),
    N=st.integers(1, 9),
    C=st.integers(1, 5),
    H=st.integers(1, 20),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    with_hx=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_hypothesis_sweep(cell, T, N, C, H, num_layers, bidirectional, batch_first, with_hx, dtype, seed):
    rng = np.random.default_rng(seed)
    assert_matches_reference(
        cell, *make_case(rng, cell, T, N, C, H, num_layers, bidirectional, batch_first, with_hx, dtype)
    )


@pytest.mark.parametrize("cell", CELLS)
def test_full_lengths_equal_no_lengths_bitwise(rng, cell):
    layer, x, hx, _, dy, dhx = make_case(rng, cell, 5, 4, 3, 8, 2, True, False, True, np.float32)
    plain = run_layer(layer, cell, x, hx, None, dy, dhx)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    full = run_layer(layer, cell, x, hx, [5, 5, 5, 5], dy, dhx)
    for a, b in zip(
        [plain[0], *plain[1], plain[2], *plain[3]], [full[0], *full[1], full[2], *full[3]], strict=True
    ):
        np.testing.assert_array_equal(a, b)
    for name, g in grads.items():
        np.testing.assert_array_equal(layer.grads[name], g)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_eval_mode_and_functional(rng, cell):
    layer, x, hx, lengths, _, _ = make_case(rng, cell, 6, 5, 3, 8, 2, True, False, True, np.float64)
    layer.eval()
    h0 = hx if cell == "lstm" else hx[0]
    y_eval, s_eval = layer(x, h0, lengths=lengths)
    forward = {"lstm": fr.functional.lstm, "gru": fr.functional.gru, "rnn": fr.functional.rnn}[cell]
    y_f, s_f, cache = forward(x, layer.state_dict(), h0, num_layers=2, bidirectional=True, lengths=lengths)
    assert cache is None
    np.testing.assert_array_equal(y_eval, y_f)
    np.testing.assert_array_equal(np.asarray(s_eval), np.asarray(s_f))


def test_bad_lengths_are_refused():
    lstm = fr.LSTM(2, 3)
    x = np.zeros((4, 2, 2), np.float32)
    for lengths, error, match in [
        ([1, 5], ValueError, r"lengths: every length must be in \[1, T\] = \[1, 4\]"),
        ([0, 2], ValueError, r"lengths: every length must be in"),
        ([1, 2, 3], ValueError, r"lengths: expected shape \(2,\)"),
        ([1.0, 2.0], TypeError, "lengths: expected integers"),
        ([True, True], TypeError, "lengths: expected integers"),
    ]:
        with pytest.raises(error, match=match):
            lstm(x, lengths=lengths)
    with pytest.raises(ValueError, match=r"lengths: lengths\[1\] = 9 is outside \[1, T\]"):
        lstm._plan.forward(x, None, None, False, False, None, np.array([1, 9]))
    y, _ = lstm(x[:, 0], lengths=3)  # unbatched: a scalar
    assert not y[3:].any()


TORCH = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])  # torch has no reset-before GRU
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_torch_packed_sequences(cell, batch_first):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    T, N, C, H = 9, 7, 4, 6
    torch.manual_seed(0)
    options = dict(num_layers=2, bidirectional=True, batch_first=batch_first)
    module = getattr(torch.nn, TORCH[cell])(C, H, **options).double()
    layer = make_layer(cell, C, H, dtype=np.float64, **options)
    layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    rng = np.random.default_rng(5)
    lengths = np.array([4, 9, 1, 9, 6, 2, 4])
    x = rng.standard_normal((N, T, C) if batch_first else (T, N, C))
    states = [rng.standard_normal((4, N, H)) for _ in range(2 if cell == "lstm" else 1)]
    dy = rng.standard_normal((N, T, 2 * H) if batch_first else (T, N, 2 * H))
    dstates = [rng.standard_normal((4, N, H)) for _ in states]

    xt = torch.tensor(x, requires_grad=True)
    st_ = [torch.tensor(s, requires_grad=True) for s in states]
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, final = module(packed, tuple(st_) if cell == "lstm" else st_[0])
    yt, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    finals = list(final) if cell == "lstm" else [final]
    loss = (yt * torch.tensor(dy)).sum() + sum(
        (f * torch.tensor(d)).sum() for f, d in zip(finals, dstates, strict=True)
    )
    loss.backward()

    hx = tuple(states) if cell == "lstm" else states[0]
    y, final_mine = layer(x, hx, lengths=lengths)
    finals_mine = list(final_mine) if cell == "lstm" else [final_mine]
    dx, d0 = layer.backward(dy, tuple(dstates) if cell == "lstm" else dstates[0])
    d0 = list(d0) if cell == "lstm" else [d0]
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    for a, b in zip(finals_mine, finals, strict=True):
        np.testing.assert_allclose(a, b.detach().numpy(), **tol)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for a, b in zip(d0, st_, strict=True):
        np.testing.assert_allclose(a, b.grad.numpy(), **tol)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(layer.grads[name], p.grad.numpy(), err_msg=name, **tol)


def test_pad_sequences_feeds_lengths():
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((t, 3)) for t in (4, 1, 6)]
    padded, lengths = fr.pad_sequences(seqs)
    assert padded.shape == (6, 3, 3) and padded.dtype == np.float32
    np.testing.assert_array_equal(lengths, [4, 1, 6])
    np.testing.assert_array_equal(padded[4:, 0], 0)
    lstm = fr.LSTM(3, 5, dtype=np.float32, seed=0).eval()
    y, (h_n, _) = lstm(padded, lengths=lengths)
    for n, s in enumerate(seqs):  # each sequence alone gives the same result
        y_n, (h_n_alone, _) = lstm(s.astype(np.float32)[:, None])
        np.testing.assert_allclose(y[: len(s), n], y_n[:, 0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(h_n[:, n], h_n_alone[:, 0], rtol=1e-6, atol=1e-7)
    first, _ = fr.pad_sequences([[1, 2], [3]], batch_first=True, padding_value=-1, dtype=np.float64)
    np.testing.assert_array_equal(first, [[[1], [2]], [[3], [-1]]])
    for bad, error, match in [
        ([], TypeError, "non-empty list"),
        ([np.zeros((0, 2))], ValueError, "T_n >= 1"),
        ([np.zeros((2, 2)), np.zeros((2, 3))], ValueError, "has 3 features"),
        (["ab"], TypeError, "real-valued"),
    ]:
        with pytest.raises(error, match=match):
            fr.pad_sequences(bad)
