"""Dropout between stacked layers (PyTorch's `dropout=`): the masks' statistics and reproducibility,
exact gradients given the masks (the reference takes them as arguments), p=0 is the plain kernel
bitwise, eval mode drops nothing, with lengths too."""

import warnings

import numpy as np
import pytest
from reference_helpers import assert_grads_close

import fusedrnn as fr
from fusedrnn import functional as F
from fusedrnn import reference

CLASSES = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}


def assert_matches_reference(layer, y, dx, ry, rdx, rgrads):
    tol = TOLERANCE[layer.dtype.type]
    np.testing.assert_allclose(y, ry, **tol)
    np.testing.assert_allclose(dx, rdx, **tol)
    assert_grads_close(layer.grads, rgrads, tol["rtol"], tol["atol"])


def forward_backward(layer, cell, x, dy, lengths=None):
    y, states = layer(x, lengths=lengths)
    dx, _ = layer.backward(dy)
    return y, states, dx


@pytest.mark.parametrize("cell", list(CLASSES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_gradients_given_the_masks_match_the_reference(rng, cell, dtype, with_lengths):
    T, N, C, H = 6, 4, 3, 7
    layer = CLASSES[cell](C, H, num_layers=3, bidirectional=True, dropout=0.4, dtype=dtype, seed=1)
    x = rng.standard_normal((T, N, C)).astype(dtype)
    dy = rng.standard_normal((T, N, 2 * H)).astype(dtype)
    lengths = np.array([6, 2, 5, 1]) if with_lengths else None
    y, states, dx = forward_backward(layer, cell, x, dy, lengths)
    masks = layer.dropout_masks
    assert masks.shape == (2, T, N, 2 * H) and masks.dtype == dtype
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    ref_forward = {"lstm": reference.lstm, "gru": reference.gru, "rnn": reference.rnn}[cell]
    ref_backward = {
        "lstm": reference.lstm_backward,
        "gru": reference.gru_backward,
        "rnn": reference.rnn_backward,
    }[cell]
    opts = dict(num_layers=3, bidirectional=True, lengths=lengths, dropout_masks=masks.astype(np.float64))
    ry, _, cache = ref_forward(x.astype(np.float64), params, None, **opts)
    rdx, _, rgrads = ref_backward(cache, dy.astype(np.float64), None)
    assert_matches_reference(layer, y, dx, ry, rdx, rgrads)


def test_mask_statistics_and_reproducibility():
    p, T, N, H = 0.3, 50, 40, 32
    layer = fr.LSTM(4, H, num_layers=2, dropout=p, seed=7)
    x = np.ones((T, N, 4), np.float32)
    layer(x)
    masks = layer.dropout_masks
    values = np.unique(masks)
    np.testing.assert_allclose(values, [0, 1 / (1 - p)], rtol=1e-7)
    dropped = np.mean(masks == 0)
    n = masks.size
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n), dropped  # 5 sigma of a binomial
    layer(x)
    assert not np.array_equal(layer.dropout_masks, masks)  # a fresh mask per call
    again = fr.LSTM(4, H, num_layers=2, dropout=p, seed=7)
    again(x)
    np.testing.assert_array_equal(again.dropout_masks, masks)  # seed= makes them reproducible


@pytest.mark.parametrize("cell", list(CLASSES))
def test_zero_dropout_and_eval_mode_are_the_plain_kernel(rng, cell):
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    dy = rng.standard_normal((5, 3, 12)).astype(np.float32)
    plain = CLASSES[cell](4, 6, num_layers=2, bidirectional=True, seed=2)
    zero = CLASSES[cell](4, 6, num_layers=2, bidirectional=True, dropout=0.0, seed=2)
    a, b = forward_backward(plain, cell, x, dy), forward_backward(zero, cell, x, dy)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])
    assert zero.dropout_masks is None
    dropping = CLASSES[cell](4, 6, num_layers=2, bidirectional=True, dropout=0.5, seed=2)
    np.testing.assert_array_equal(dropping.eval()(x)[0], plain.eval()(x)[0])
    assert dropping.dropout_masks is None


def test_functional_dropout_keeps_its_masks(rng):
    layer = fr.GRU(3, 5, num_layers=2, seed=0)
    x = rng.standard_normal((4, 2, 3))
    y, _, cache = F.gru(x, layer.state_dict(), num_layers=2, training=True, dropout=0.5, generator=3)
    assert cache.dropout_masks.shape == (1, 4, 2, 5)
    y2, _, cache2 = F.gru(x, layer.state_dict(), num_layers=2, training=True, dropout=0.5, generator=3)
    np.testing.assert_array_equal(y, y2)
    y_eval, _, _ = F.gru(x, layer.state_dict(), num_layers=2, dropout=0.5)
    ref, _, _ = reference.gru(x.astype(np.float64), layer.state_dict(), num_layers=2)
    np.testing.assert_allclose(y_eval, ref, rtol=1e-5, atol=1e-6)  # eval: no dropout
    with pytest.raises(ValueError, match=r"cache: field 'dropout_masks' differs"):
        F.gru_backward(cache._replace(dropout_masks=cache2.dropout_masks), np.ones_like(y))


def test_full_dropout_and_bad_values():
    layer = fr.RNN(2, 3, num_layers=2, dropout=1.0, seed=0)
    x = np.ones((3, 1, 2), np.float32)
    y, _ = layer(x)
    # The second layer sees only zeros: its output is act(b_ih + b_hh + W_hh h) from h0 = 0.
    assert not layer.dropout_masks.any()
    top = fr.RNN(3, 3, seed=0)
    top.load_state_dict({k.replace("_l1", "_l0"): v for k, v in layer.state_dict().items() if "_l1" in k})
    np.testing.assert_allclose(y, top(np.zeros((3, 1, 3), np.float32))[0], rtol=1e-6)
    for value, error, match in [
        (-0.1, ValueError, "dropout: expected a probability"),
        (1.5, ValueError, "dropout: expected a probability"),
        (True, TypeError, "dropout: expected a float"),
        ("0.2", TypeError, "dropout"),
    ]:
        with pytest.raises(error, match=match):
            fr.LSTM(2, 3, num_layers=2, dropout=value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fr.LSTM(2, 3, dropout=0.2)
    assert any("num_layers=1" in str(w.message) for w in caught)


# -- recurrent dropout (Keras's recurrent_dropout; variational, one mask per sequence and layer) --------

CELL_LAYERS = {
    "lstm": (lambda **o: fr.LSTM(**o), reference.lstm, reference.lstm_backward, {}),
    "gru": (lambda **o: fr.GRU(**o), reference.gru, reference.gru_backward, {}),
    "gru_reset_before": (
        lambda **o: fr.GRU(reset_after=False, **o),
        reference.gru,
        reference.gru_backward,
        {"reset_after": False},
    ),
    "rnn": (lambda **o: fr.RNN(**o), reference.rnn, reference.rnn_backward, {}),
}


@pytest.mark.parametrize("cell", list(CELL_LAYERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.usefixtures("isa")
def test_recurrent_dropout_gradients_given_the_masks_match_the_reference(rng, cell, dtype, with_lengths):
    T, N, C, H = 6, 4, 3, 7
    make, ref_forward, ref_backward, extra = CELL_LAYERS[cell]
    layer = make(
        input_size=C,
        hidden_size=H,
        num_layers=2,
        bidirectional=True,
        dropout=0.3,
        recurrent_dropout=0.4,
        dtype=dtype,
        seed=4,
    )
    x = rng.standard_normal((T, N, C)).astype(dtype)
    dy = rng.standard_normal((T, N, 2 * H)).astype(dtype)
    lengths = np.array([6, 2, 5, 1]) if with_lengths else None
    y, _, dx = forward_backward(layer, cell, x, dy, lengths)
    rec = layer.recurrent_dropout_masks
    assert rec.shape == (4, N, H) and rec.dtype == dtype
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    ry, _, cache = ref_forward(
        x.astype(np.float64),
        params,
        None,
        num_layers=2,
        bidirectional=True,
        lengths=lengths,
        dropout_masks=layer.dropout_masks.astype(np.float64),
        recurrent_masks=rec.astype(np.float64),
        **extra,
    )
    rdx, _, rgrads = ref_backward(cache, dy.astype(np.float64), None)
    assert_matches_reference(layer, y, dx, ry, rdx, rgrads)


def test_recurrent_mask_statistics_eval_and_zero():
    p = 0.25
    layer = fr.GRU(3, 64, num_layers=2, bidirectional=True, recurrent_dropout=p, seed=5)
    x = np.ones((4, 50, 3), np.float32)
    layer(x)
    masks = layer.recurrent_dropout_masks
    assert masks.shape == (4, 50, 64)
    np.testing.assert_allclose(np.unique(masks), [0, 1 / (1 - p)], rtol=1e-7)
    assert abs(np.mean(masks == 0) - p) < 5 * np.sqrt(p * (1 - p) / masks.size)
    # eval mode and p = 0 are the plain kernel
    plain = fr.GRU(3, 64, num_layers=2, bidirectional=True, seed=5)
    np.testing.assert_array_equal(layer.eval()(x)[0], plain.eval()(x)[0])
    assert layer.recurrent_dropout_masks is None
    zero = fr.GRU(3, 64, num_layers=2, bidirectional=True, recurrent_dropout=0.0, seed=5)
    plain.train()
    np.testing.assert_array_equal(zero(x)[0], plain(x)[0])
    assert zero.recurrent_dropout_masks is None
    assert "recurrent_dropout=0.25" in repr(layer)
    with pytest.raises(ValueError, match="recurrent_dropout: expected a probability"):
        fr.LSTM(2, 3, recurrent_dropout=2)


def test_functional_recurrent_dropout():
    layer = fr.LSTM(3, 5, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    y, _, cache = F.lstm(x, layer.state_dict(), training=True, recurrent_dropout=0.5, generator=1)
    assert cache.recurrent_masks.shape == (1, 2, 5)
    ref, _, _ = reference.lstm(
        x,
        {k: v.astype(np.float64) for k, v in layer.state_dict().items()},
        recurrent_masks=cache.recurrent_masks.astype(np.float64),
    )
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
