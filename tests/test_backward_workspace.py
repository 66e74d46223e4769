"""The backward writes dL/dG over the gates its forward kept (csrc/cells/time_loop_backward.h), so it needs no
[T,N,G*H] buffer of its own for them, and it uses up its forward (csrc/engine/stack_plan.h): a training step
repeats bitwise, whatever the workspace held before, the backward's memory is that much smaller, and a second
backward (even after an interrupted one) is refused with a message saying to run the forward again."""

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import functional as F

pytestmark = pytest.mark.usefixtures("isa")

T, N, C, H = 7, 5, 4, 6
# (cell, options) covering every backward loop and its variants: each cell and GRU form, the layer-normalised
# LSTM's own loop, the projection's two phases, bf16 products and float64.
CASES = [
    ("lstm", {}),
    ("lstm", {"proj_size": 3}),
    ("lstm", {"layer_norm": True}),
    ("lstm", {"compute_dtype": "bfloat16"}),
    ("lstm", {"dtype": np.float64}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("rnn", {}),
]
CASE_IDS = [cell + "".join(f"-{k}" for k in options) for cell, options in CASES]


def make(cell, options, **more):
    kind = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}[cell]
    return kind(C, H, num_layers=2, bidirectional=True, seed=0, **options, **more)


def step(layer, x, lengths, rng_seed=1):
    """One training step: forward, then the backward of fixed upstream gradients; returns every output and
    gradient (copies)."""
    y, state = layer(x, lengths=lengths)
    rng = np.random.default_rng(rng_seed)
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    if isinstance(state, tuple):
        d_state = tuple(rng.standard_normal(s.shape).astype(s.dtype) for s in state)
    else:
        d_state = rng.standard_normal(state.shape).astype(state.dtype)
    layer.zero_grad()
    dx, d_state0 = layer.backward(dy, d_state)
    flat = [y, dx, *(d_state0 if isinstance(d_state0, tuple) else (d_state0,))]
    return [a.copy() for a in flat] + [g.copy() for g in layer.grads.values()]


def assert_bitwise(a, b):
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_array_equal(u, v, err_msg=f"output {i}")


@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("cell, options", CASES, ids=CASE_IDS)
def test_a_training_step_repeats_bitwise(cell, options, with_lengths, rng):
    dtype = options.get("dtype", np.float32)
    x = rng.standard_normal((T, N, C)).astype(dtype)
    other = (3 * rng.standard_normal((T, N, C)) + 1).astype(dtype)
    lengths = np.array([7, 3, 5, 1, 6]) if with_lengths else None
    other_lengths = np.array([2, 7, 4, 7, 1]) if with_lengths else None
    layer = make(cell, options)
    first = step(layer, x, lengths)
    # The same step again, over a workspace the first backward wrote its gradients into.
    assert_bitwise(first, step(layer, x, lengths))
    # And after a step over other values and other segments (lengths) of the workspace.
    step(layer, other, other_lengths)
    assert_bitwise(first, step(layer, x, lengths))


@pytest.mark.parametrize("cell, options", CASES, ids=CASE_IDS)
def test_a_step_with_dropout_does_not_depend_on_the_step_before(cell, options, rng):
    # Recurrent dropout takes other paths through the backward (the GRU reset-before's masked phase 2):
    # two layers drawing the same masks agree on their second step, whatever their first one wrote.
    dtype = options.get("dtype", np.float32)
    x = rng.standard_normal((T, N, C)).astype(dtype)
    firsts = [rng.standard_normal((T, N, C)).astype(dtype) for _ in range(2)]
    results = []
    for first in firsts:
        layer = make(cell, options, dropout=0.3, recurrent_dropout=0.4)
        step(layer, first, None)
        results.append(step(layer, x, None))
    assert_bitwise(*results)


def backward_extra_bytes(layer, x):
    """Memory a training step keeps beyond what its forward alone keeps (the backward's scratch)."""
    y, _ = layer(x)
    after_forward = layer.retained_bytes
    layer.backward(np.ones_like(y))
    return layer.retained_bytes - after_forward


# (cell, options, [T,N,G*H] buffers the backward still keeps besides the saved gates): the GRU keeps
# dL/d(W_hh h + b_hh); the vanilla RNN saves no gates to write over, so keeps its dG.
WORKSPACE_CASES = [
    ("lstm", {}, 0),
    ("lstm", {"layer_norm": True}, 0),
    ("gru", {}, 1),
    ("gru", {"reset_after": False}, 1),
    ("rnn", {}, 1),
]


WORKSPACE_IDS = [cell + "".join(f"-{k}" for k in options) for cell, options, _ in WORKSPACE_CASES]


@pytest.mark.parametrize("cell, options, buffers", WORKSPACE_CASES, ids=WORKSPACE_IDS)
def test_the_backward_keeps_no_copy_of_the_gates(cell, options, buffers, rng, every_thread_runs):
    # Long and wide enough that [T,N,G*H] dwarfs everything else the backward keeps (packed W_hh, its
    # state tiles, GEMM scratch). every_thread_runs: the per-thread scratch follows the thread count, which
    # the contention fallback would otherwise change between the forward and the backward on a busy
    # machine (seen once: the first full run right after an install).
    steps, batch, hidden = 128, 64, 32
    kind = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}[cell]
    layer = kind(C, hidden, seed=0, **options)
    gates = fr._core.cells[layer._plan.cell]["gates"]
    gates_bytes = steps * batch * gates * hidden * 4
    extra = backward_extra_bytes(layer, rng.standard_normal((steps, batch, C)).astype(np.float32))
    assert buffers * gates_bytes <= extra < buffers * gates_bytes + gates_bytes // 4, (extra, gates_bytes)


# --- the contract: a backward uses up its forward --------------------------------------------------


@pytest.mark.parametrize("cell, options", CASES[:1] + CASES[5:], ids=CASE_IDS[:1] + CASE_IDS[5:])
def test_a_second_backward_is_refused_with_what_to_do(cell, options, rng):
    layer = make(cell, options)
    y, _ = layer(rng.standard_normal((T, N, C)).astype(np.float32))
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=r"no training-mode forward .*run the forward again"):
        layer.backward(np.ones_like(y))
    assert not layer._plan.pending


def test_a_plan_refuses_a_second_backward(rng):
    plan = fr._core.Plan("lstm", C, H, 1, False, True, "float32")
    plan.set_parameters([np.ones(shape, np.float32) for _, shape in plan.parameter_shapes()])
    plan.forward(rng.standard_normal((T, N, C)).astype(np.float32), None, None, True, False, None)
    # Refused for its arguments: nothing written, the forward stays pending and the backward can be retried.
    with pytest.raises(ValueError, match="dy: expected shape"):
        plan.backward(np.ones((T, N, H + 1), np.float32), None, None, None, False)
    assert plan.pending
    plan.backward(np.ones((T, N, H), np.float32), None, None, None, False)
    assert not plan.pending
    with pytest.raises(ValueError, match=r"no training-mode forward .*run the forward again"):
        plan.backward(np.ones((T, N, H), np.float32), None, None, None, False)


def test_a_functional_cache_serves_one_backward(rng):
    params = fr.LSTM(C, H, seed=0).state_dict()
    y, _, cache = F.lstm(rng.standard_normal((T, N, C)).astype(np.float32), params, training=True)
    F.lstm_backward(cache, np.ones_like(y))
    with pytest.raises(RuntimeError, match="cache: already used by a backward; run the forward again"):
        F.lstm_backward(cache, np.ones_like(y))
