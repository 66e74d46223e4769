"""The private _core checks its arguments on its own: a wrong call raises, it never reads or writes out
of bounds (fusedrnn's Python layer validates user input before it gets there)."""

import pickle

import numpy as np
import pytest

import fusedrnn as fr

F32 = np.float32
C, H = 3, 5


def rnn_plan(dtype="float32"):
    plan = fr._core.Plan("rnn", C, H, 1, False, True, dtype)
    plan.set_parameters([np.ones(shape, dtype) for _, shape in plan.parameter_shapes()])
    return plan


def test_valid_call_runs():
    y, h_n, c_n = rnn_plan().forward(np.ones((2, 1, C), F32), None, None, False, False, None)
    assert y.shape == (2, 1, H) and h_n.shape == (1, 1, H) and c_n is None
    assert np.all(y > 0)


def test_cell_facts_come_from_the_traits():
    assert fr._core.cells["lstm"] == dict(
        name="lstm", gates=4, has_cell_state=True, saves_gates=True, saves_per_unit=True, input_fusable=True
    )
    assert fr._core.cells["gru"]["gates"] == 3 and not fr._core.cells["gru"]["has_cell_state"]
    assert not fr._core.cells["rnn"]["saves_gates"]


@pytest.mark.parametrize(
    "changes, error, match",
    [
        (dict(x=np.ones((2, 1, C), np.float64)), TypeError, "x: expected dtype float32"),
        (dict(x=np.ones((2, 1, C + 1), F32)), ValueError, "x: expected shape"),
        (dict(x=np.ones((2, C), F32)), ValueError, "x: expected a 3-D"),
        (dict(x=np.ones((2, 1, C), F32)[:, :, ::-1]), ValueError, "x: expected a C-contiguous"),
        (dict(x=[[[1.0]]]), TypeError, "x"),
        (dict(h0=np.zeros((2, 1, H), F32)), ValueError, "h0: expected shape"),
        (dict(c0=np.zeros((1, 1, H), F32)), ValueError, "c0: a rnn has no cell state"),
        (dict(out=np.zeros((2, 1, H), F32)[:, :, ::-1]), ValueError, "out: expected a C-contiguous"),
        (dict(out=np.zeros((2, 1, H), F32)[..., :0]), ValueError, "out: expected shape"),
    ],
)
def test_bad_forward_arrays_are_refused(changes, error, match):
    args = dict(x=np.ones((2, 1, C), F32), h0=None, c0=None, training=False, keep_packs=False, out=None)
    args.update(changes)
    with pytest.raises(error, match=match):
        rnn_plan().forward(**args)


def test_out_must_not_overlap_the_inputs():
    x = np.ones((2, 1, C), F32)
    out = np.zeros((2, 1, H), F32)
    with pytest.raises(ValueError, match="out: must not share memory with h0"):
        rnn_plan().forward(x, out[:1], None, False, False, out)
    shared = np.ones((2, 1, H), F32)
    plan = fr._core.Plan("rnn", H, H, 1, False, True, "float32")
    plan.set_parameters([np.ones(shape, F32) for _, shape in plan.parameter_shapes()])
    with pytest.raises(ValueError, match="out: must not share memory with x"):
        plan.forward(shared, None, None, False, False, shared)


def test_parameters_are_checked_by_name():
    plan = fr._core.Plan("lstm", C, H, 1, False, True, "float32")
    shapes = dict(plan.parameter_shapes())
    params = [np.ones(shape, F32) for shape in shapes.values()]
    params[1] = np.ones((4 * H, H + 1), F32)
    with pytest.raises(ValueError, match=r"weight_hh_l0: expected shape \(20, 5\)"):
        plan.set_parameters(params)
    with pytest.raises(ValueError, match="params: expected 4 arrays, got 3"):
        plan.set_parameters(params[:3])
    with pytest.raises(ValueError, match="forward: set_parameters first"):
        plan.forward(np.ones((2, 1, C), F32), None, None, False, False, None)


def test_backward_checks_its_arrays():
    plan = rnn_plan()
    with pytest.raises(ValueError, match="backward: no training-mode forward"):
        plan.backward(None, None, None, None, False)
    plan.forward(np.ones((2, 1, C), F32), None, None, True, False, None)
    with pytest.raises(ValueError, match="dy: expected shape"):
        plan.backward(np.ones((2, 2, H), F32), None, None, None, False)
    with pytest.raises(ValueError, match=r"grads\['bias_hh_l0'\]: array is read-only"):
        grads = [np.zeros(shape, F32) for _, shape in plan.parameter_shapes()]
        grads[3].flags.writeable = False
        plan.backward(None, None, None, grads, True)
    with pytest.raises(ValueError, match="grads: accumulating needs the arrays"):
        plan.backward(None, None, None, None, True)
    dx, dh0, dc0, grads = plan.backward(np.ones((2, 1, H), F32), None, None, None, False)
    assert dx.shape == (2, 1, C) and dc0 is None and [g.shape for g in grads] == [(H, C), (H, H), (H,), (H,)]


@pytest.mark.parametrize(
    "args, match",
    [
        (("lstm", 0, 4, 1, False, True, "float32"), "input_size: expected an int >= 1"),
        (("lstm", 3, 2**40, 1, False, True, "float32"), "hidden_size: .* above the supported limit"),
        (("lstm", 1, 1, 10**12, False, True, "float32"), "num_layers: .* above the supported limit"),
        (("lstm", 2**30, 2**20, 1, False, True, "float32"), "parameters, above the supported"),
        (("lstn", 3, 4, 1, False, True, "float32"), "cell: expected 'lstm'"),
        (("lstm", 3, 4, 1, False, True, "float16"), "dtype: expected 'float32' or 'float64'"),
    ],
)
def test_sizes_are_bounded_up_front(args, match):
    with pytest.raises(ValueError, match=match):
        fr._core.Plan(*args)


def test_unpickled_arrays_are_accepted():
    # Equal dtypes that are distinct objects (as after pickle) must pass the dtype checks.
    x = pickle.loads(pickle.dumps(np.ones((2, 1, C), F32)))
    y, _, _ = rnn_plan().forward(x, None, None, False, False, None)
    assert np.all(y > 0)
