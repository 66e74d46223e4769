"""Every kernel option together, against the NumPy reference: a hypothesis sweep over cell (LSTM with and
without projection, both GRU forms, RNN), activations, lengths, dropout between layers, recurrent dropout,
stacking, directions, layouts, bias and dtype; forward, final states and every gradient (the masks are the
layer's own, given to the reference)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference_helpers import assert_grads_close, assert_scaled_close

import fusedrnn as fr
from fusedrnn import reference

pytestmark = pytest.mark.usefixtures("isa")

TOLERANCE = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=5e-4, atol=5e-5)}
BOUNDED = ["tanh", "sigmoid", "hard_sigmoid"]  # unbounded gates explode (tests/test_kernels.py, explosive)
ANY = BOUNDED + ["relu", "linear"]


@given(
    cell=st.sampled_from(["lstm", "lstm_proj", "gru", "gru_reset_before", "rnn"]),
    T=st.integers(1, 6),
    N=st.integers(1, 6),
    C=st.integers(1, 5),
    H=st.integers(2, 12),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
    activation=st.sampled_from(ANY),
    recurrent_activation=st.sampled_from(BOUNDED),
    dropout=st.sampled_from([0.0, 0.5]),
    recurrent_dropout=st.sampled_from([0.0, 0.3]),
    with_lengths=st.booleans(),
    with_states=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_all_options_together(
    cell,
    T,
    N,
    C,
    H,
    num_layers,
    bidirectional,
    batch_first,
    bias,
    activation,
    recurrent_activation,
    dropout,
    recurrent_dropout,
    with_lengths,
    with_states,
    dtype,
    seed,
):
    rng = np.random.default_rng(seed)
    options = dict(
        num_layers=num_layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
        dtype=dtype,
        seed=seed % 1000,
        recurrent_dropout=recurrent_dropout,
        dropout=dropout if num_layers > 1 else 0.0,
    )
    P = 0
    if cell in ("lstm", "lstm_proj"):
        P = max(1, H // 2) if cell == "lstm_proj" else 0
        layer = fr.LSTM(
            C, H, activation=activation, recurrent_activation=recurrent_activation, proj_size=P, **options
        )
    elif cell.startswith("gru"):
        layer = fr.GRU(
            C,
            H,
            activation=activation,
            recurrent_activation=recurrent_activation,
            reset_after=cell == "gru",
            **options,
        )
    else:
        layer = fr.RNN(C, H, nonlinearity=activation, **options)
    S, D = P or H, 2 if bidirectional else 1
    x = rng.standard_normal((N, T, C) if batch_first else (T, N, C)).astype(dtype)
    lengths = rng.integers(1, T + 1, size=N) if with_lengths else None
    h0 = rng.standard_normal((num_layers * D, N, S)).astype(dtype) if with_states else None
    c0 = rng.standard_normal((num_layers * D, N, H)).astype(dtype) if with_states else None
    dy = rng.standard_normal(x.shape[:-1] + (D * S,)).astype(dtype)
    dh = rng.standard_normal((num_layers * D, N, S)).astype(dtype)
    dc = rng.standard_normal((num_layers * D, N, H)).astype(dtype)
    lstm = isinstance(layer, fr.LSTM)
    y, states = layer(x, (h0, c0) if lstm else h0, lengths=lengths)
    dx, dstates = layer.backward(dy, (dh, dc) if lstm else dh)

    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    opts = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, lengths=lengths)
    if layer.dropout_masks is not None:
        opts["dropout_masks"] = layer.dropout_masks.astype(np.float64)
    if layer.recurrent_dropout_masks is not None:
        opts["recurrent_masks"] = layer.recurrent_dropout_masks.astype(np.float64)

    def as64(a):
        return None if a is None else a.astype(np.float64)

    if lstm:
        ry, rstates, cache = reference.lstm(
            x.astype(np.float64),
            params,
            None if h0 is None else (as64(h0), as64(c0)),
            activation=activation,
            recurrent_activation=recurrent_activation,
            **opts,
        )
        rdx, rdstates, rgrads = reference.lstm_backward(cache, as64(dy), (as64(dh), as64(dc)))
        pairs = [
            (states[0], rstates[0]),
            (states[1], rstates[1]),
            (dstates[0], rdstates[0]),
            (dstates[1], rdstates[1]),
        ]
    elif cell.startswith("gru"):
        ry, rh, cache = reference.gru(
            x.astype(np.float64),
            params,
            as64(h0),
            activation=activation,
            recurrent_activation=recurrent_activation,
            reset_after=cell == "gru",
            **opts,
        )
        rdx, rdh0, rgrads = reference.gru_backward(cache, as64(dy), as64(dh))
        pairs = [(states, rh), (dstates, rdh0)]
    else:
        ry, rh, cache = reference.rnn(x.astype(np.float64), params, as64(h0), activation, **opts)
        rdx, rdh0, rgrads = reference.rnn_backward(cache, as64(dy), as64(dh))
        pairs = [(states, rh), (dstates, rdh0)]
    tol = TOLERANCE[dtype]
    # Unbounded activations (relu, linear candidates) let values grow over the steps: scale atol with them.
    for got, want in [(y, ry), (dx, rdx)] + pairs:
        assert got.shape == want.shape
        assert_scaled_close(got, want, tol["rtol"], tol["atol"])
    assert_grads_close(layer.grads, rgrads, tol["rtol"], tol["atol"])
