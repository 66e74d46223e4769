"""Streaming and stateful use: layer.step equals the same steps of a whole-sequence call bitwise,
stateful layers carry their state between calls (Keras semantics) and reset_state forgets it, and
truncated BPTT chains chunks through dh0."""

import numpy as np
import pytest

import fusedrnn as fr

CLASSES = [fr.LSTM, fr.GRU, fr.RNN]


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("C", [3, 100])  # both input-projection paths
@pytest.mark.parametrize("batch_first", [False, True])
def test_steps_equal_the_whole_sequence_bitwise(rng, cls, C, batch_first):
    layer = cls(C, 16, num_layers=2, batch_first=batch_first, seed=0).eval()
    x = rng.standard_normal((4, 7, C) if batch_first else (7, 4, C)).astype(np.float32)
    y, final = layer(x)
    state, outputs = None, []
    for t in range(7):
        h, state = layer.step(x[:, t] if batch_first else x[t], state)
        outputs.append(h)
    np.testing.assert_array_equal(np.stack(outputs, axis=1 if batch_first else 0), y)
    for a, b in zip(
        np.atleast_1d(state) if cls is not fr.LSTM else state,
        np.atleast_1d(final) if cls is not fr.LSTM else final,
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", CLASSES)
def test_step_general_path_unbatched_lists_and_training(rng, cls):
    layer = cls(3, 5, seed=1).eval()
    x = rng.standard_normal((4, 3))
    y, _ = layer(x)  # unbatched sequence [T, C]
    state = None
    for t in range(4):
        h, state = layer.step(x[t].tolist(), state)  # a list, unbatched: the general path
        np.testing.assert_allclose(h, y[t], rtol=1e-6, atol=1e-7)
    layer.train()
    h, state = layer.step(x[0])
    dx, _ = layer.backward(np.ones_like(h)[None])  # a training step is a T=1 forward: backward works
    assert dx.shape == (1, 3)
    with pytest.raises(ValueError, match="step: a bidirectional layer"):
        cls(3, 5, bidirectional=True).step(x[0])


@pytest.mark.parametrize("cls", CLASSES)
def test_stateful_layers_carry_the_state(rng, cls):
    x = rng.standard_normal((6, 2, 3)).astype(np.float32)
    stateful = cls(3, 5, stateful=True, seed=2).eval()
    plain = cls(3, 5, seed=2).eval()
    y_whole, _ = plain(x)
    y1, _ = stateful(x[:4])
    y2, final = stateful(x[4:])  # starts where the first call ended
    np.testing.assert_allclose(np.concatenate([y1, y2]), y_whole, rtol=1e-6, atol=1e-7)
    stateful.reset_state()
    np.testing.assert_array_equal(stateful(x[4:])[0], plain(x[4:])[0])
    with pytest.raises(ValueError, match="x: this stateful layer carries a state for batch size 2"):
        stateful(x[:, :1])
    stateful.reset_state(final)
    np.testing.assert_array_equal(stateful(x[4:])[0], plain(x[4:], final)[0])
    assert "stateful=True" in repr(stateful)


def test_truncated_bptt_chains_chunks_through_dh0(rng):
    # The gradient of a loss on the second chunk w.r.t. the first chunk's parameters flows through the
    # state: chunk 2's dh0/dc0 is chunk 1's dh_n/dc_n. Chained, it equals the whole-sequence gradient.
    x = rng.standard_normal((8, 2, 3))
    dy = rng.standard_normal((8, 2, 5))
    whole = fr.LSTM(3, 5, dtype=np.float64, seed=3)
    whole(x)
    dx_whole, _ = whole.backward(dy)
    chunked = fr.LSTM(3, 5, dtype=np.float64, seed=3)
    _, state = chunked(x[:4])
    first_grads_needed = state
    y2, _ = chunked(x[4:], first_grads_needed)
    dx2, (dh0, dc0) = chunked.backward(dy[4:])
    chunked(x[:4])
    dx1, _ = chunked.backward(dy[:4], (dh0, dc0))
    np.testing.assert_allclose(np.concatenate([dx1, dx2]), dx_whole, rtol=1e-10, atol=1e-12)
    for name in whole.grads:
        np.testing.assert_allclose(chunked.grads[name], whole.grads[name], rtol=1e-10, atol=1e-12)
