"""A backward uses up its forward (csrc/engine/stack_plan.h): once its kernels start, the forward is no longer
pending, whatever happens, and a second backward (even after an interrupted one) is refused with a message
saying to run the forward again; a backward refused for its arguments can be retried."""

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import functional as F

pytestmark = pytest.mark.usefixtures("isa")

T, N, C, H = 7, 5, 4, 6
CASES = [("lstm", {}), ("gru", {}), ("gru", {"reset_after": False}), ("rnn", {})]
CASE_IDS = [cell + "".join(f"-{k}" for k in options) for cell, options in CASES]


def make(cell, options, **more):
    kind = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}[cell]
    return kind(C, H, num_layers=2, bidirectional=True, seed=0, **options, **more)


@pytest.mark.parametrize("cell, options", CASES, ids=CASE_IDS)
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
