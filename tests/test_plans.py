"""The layers run on prepared plans (_core.Plan): packed weights are never stale, memory is retained,
and what a plan keeps for backward cannot be changed behind its back.

The rule under test (python/fusedrnn/layers.py): eval mode keeps packs and makes the parameters
read-only; assignment and load_state_dict repack; train() makes them writable and packs per forward;
backward refuses parameters changed in place since its forward."""

import multiprocessing
import pickle
import threading

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import functional as F

T, N, C, H = 5, 3, 4, 6
LAYERS = {
    "lstm": lambda **kw: fr.LSTM(C, H, **kw),
    "gru": lambda **kw: fr.GRU(C, H, **kw),
    "rnn": lambda **kw: fr.RNN(C, H, nonlinearity="relu", **kw),
}
FUNCTIONAL = {
    "lstm": lambda x, p: F.lstm(x, p, num_layers=2, bidirectional=True)[0],
    "gru": lambda x, p: F.gru(x, p, num_layers=2, bidirectional=True)[0],
    "rnn": lambda x, p: F.rnn(x, p, nonlinearity="relu", num_layers=2, bidirectional=True)[0],
}


@pytest.fixture(params=list(LAYERS))
def cell(request):
    return request.param


def make(cell, seed=0):
    return LAYERS[cell](num_layers=2, bidirectional=True, seed=seed)


def make_x(rng, shape=(T, N, C)):
    return rng.standard_normal(shape).astype(np.float32)


def expected_y(cell, layer, x):
    """The output for the layer's current parameter values, from a plan made for this call only."""
    return FUNCTIONAL[cell](x, layer.state_dict())


def output(layer, x):
    return layer(x)[0]


# --- eval mode: packs kept, parameters read-only -------------------------------------------------


def test_eval_makes_parameters_read_only_and_train_writable(cell, rng):
    layer = make(cell).eval()
    output(layer, make_x(rng))
    for name, p in layer.named_parameters():
        assert not p.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            p *= 2  # the README's in-place update, refused while packs are kept
    layer.train()
    for name, p in layer.named_parameters():
        assert p.flags.writeable, name


def test_eval_attribute_assignment_repacks(cell, rng):
    layer, x = make(cell).eval(), make_x(rng)
    before = output(layer, x)
    layer.weight_hh_l1_reverse = layer.weight_hh_l1_reverse * 0.5
    layer.bias_ih_l0 = np.ones_like(layer.bias_ih_l0)
    after = output(layer, x)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, expected_y(cell, layer, x))
    assert not layer.weight_hh_l1_reverse.flags.writeable  # still locked: still in eval mode


def test_eval_load_state_dict_repacks(cell, rng):
    layer, other, x = make(cell).eval(), make(cell, seed=1), make_x(rng)
    output(layer, x)
    layer.load_state_dict(other.state_dict())
    np.testing.assert_array_equal(output(layer, x), output(other.eval(), x))
    layer.load_state_dict({"weight_ih_l0": np.zeros_like(layer.weight_ih_l0)}, strict=False)
    np.testing.assert_array_equal(output(layer, x), expected_y(cell, layer, x))


def test_packs_follow_the_isa_in_use(cell, rng, isa):
    # A layer that packed under one SIMD path (tile sizes differ) must repack under another.
    layer, x = make(cell).eval(), make_x(rng, (T, 9, C))
    previous = fr.cpu_info()["isa"]
    fr._core._select_isa("generic")
    output(layer, x)
    fr._core._select_isa(isa)
    np.testing.assert_allclose(output(layer, x), expected_y(cell, layer, x), rtol=1e-5, atol=1e-6)
    fr._core._select_isa(previous)


# --- training mode: in-place updates, stale checks -----------------------------------------------


def test_training_sgd_loop_in_place_updates_take_effect(cell, rng):
    layer, x = make(cell), make_x(rng)
    for _ in range(3):
        y = output(layer, x)
        np.testing.assert_array_equal(y, expected_y(cell, layer, x))
        layer.zero_grad()
        layer.backward(np.ones_like(y))
        for name, p in layer.named_parameters():
            p -= 0.1 * layer.grads[name]  # the README's SGD step


def test_in_place_edit_between_forward_and_backward_is_refused(cell, rng):
    layer = make(cell)
    y = output(layer, make_x(rng))
    kept = layer.weight_ih_l1[0, 0]
    layer.weight_ih_l1[0, 0] += 1.0
    expected = "backward: weight_ih_l1 was modified after the training-mode forward"
    with pytest.raises(RuntimeError, match=expected):
        layer.backward(np.ones_like(y))
    layer.weight_ih_l1[0, 0] = kept  # back to the forward's values: the gradients belong to it again
    layer.backward(np.ones_like(y))


def test_assignment_between_forward_and_backward_is_refused(cell, rng):
    layer = make(cell)
    y = output(layer, make_x(rng))
    layer.bias_hh_l0_reverse = layer.bias_hh_l0_reverse + 1.0
    with pytest.raises(RuntimeError, match="bias_hh_l0_reverse was modified"):
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("shape, batch_first", [((1, T, C), True), ((N, 1, C), True), ((T, C), False)])
def test_training_keeps_its_own_copy_of_x(cell, rng, shape, batch_first):
    # Layouts where no conversion is needed used to hand the caller's own array to the backward.
    layer = LAYERS[cell](batch_first=batch_first, seed=0)
    x = make_x(rng, shape)
    y = output(layer, x)
    dy = np.ones_like(y)
    layer.backward(dy)
    want = {k: v.copy() for k, v in layer.grads.items()}
    layer.zero_grad()
    output(layer, x)
    x *= 3.0
    layer.backward(dy)
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(g, want[name], err_msg=name)


# --- memory -------------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_memory_is_retained_not_reallocated(cell, rng, training):
    layer = make(cell).train(training)
    x = make_x(rng, (20, 8, C))
    output(layer, x)
    if training:
        layer.backward(None, None)
    kept = layer.retained_bytes
    assert kept > 0
    for shape in [(20, 8, C), (3, 2, C), (20, 8, C)]:
        y = output(layer, make_x(rng, shape))
        if training:
            layer.backward(np.ones_like(y))
        assert layer.retained_bytes == kept


def test_out_receives_y(cell, rng):
    layer, x = make(cell).eval(), make_x(rng)
    out = np.full((T, N, 2 * H), np.nan, np.float32)
    y = layer(x, out=out)[0]
    assert y is out
    np.testing.assert_array_equal(out, expected_y(cell, layer, x))
    with pytest.raises(ValueError, match="out: expected shape"):
        layer(x, out=np.empty((T, N, H), np.float32))
    with pytest.raises(TypeError, match="out: expected a C-contiguous float32"):
        layer(x, out=np.empty((T, N, 2 * H), np.float64))


# --- pickle, processes, threads -----------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_pickled_layers_and_arrays_give_identical_results(cell, rng, training):
    layer = make(cell).train(training)
    x = make_x(rng)
    copy = pickle.loads(pickle.dumps(layer))
    x_copy = pickle.loads(pickle.dumps(x))
    np.testing.assert_array_equal(output(copy, x_copy), output(layer, x))
    assert copy.training == training
    assert all(p.flags.writeable == training for p in copy.parameters())
    if training:
        y = output(copy, x_copy)
        copy.backward(np.ones_like(y))


def _run_in_child(layer, x):
    return layer(x)[0]


# Python 3.12+ warns about fork() in a process with threads (OpenMP's count): that warning is the point.
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_layers_work_in_worker_processes(rng, method):
    layer, x = make("lstm").eval(), make_x(rng)
    work = fr._core._min_flops_per_thread()
    fr._core._set_min_flops_per_thread(1)  # the parent runs a multi-threaded region before forking
    try:
        output(layer, x)
    finally:
        fr._core._set_min_flops_per_thread(work)
    context = multiprocessing.get_context(method)
    with context.Pool(1) as pool:
        y = pool.apply_async(_run_in_child, (layer, x)).get(timeout=60)
    np.testing.assert_array_equal(y, output(layer, x))


def test_backward_from_another_thread_is_refused(rng):
    layer = make("lstm")
    y = output(layer, make_x(rng))
    errors = []

    def other():
        try:
            layer.backward(np.ones_like(y))
        except RuntimeError as err:
            errors.append(str(err))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert errors and "the pending forward ran in another thread" in errors[0]
    layer.backward(np.ones_like(y))  # the forward's own thread still can


@pytest.mark.parametrize(
    "name, value",
    [
        ("num_layers", 1),
        ("bidirectional", False),
        ("hidden_size", 3),
        ("dtype", np.float64),
        ("input_size", 2),
        ("bias", False),
    ],
)
def test_configuration_is_fixed(cell, name, value):
    layer = make(cell)
    with pytest.raises(AttributeError, match=f"{name}: fixed when the layer is made"):
        setattr(layer, name, value)
    layer.batch_first = True  # a layout choice, not part of the plan: allowed


@pytest.mark.parametrize("lengths", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_concurrent_directions_give_identical_results(cell, rng, training, lengths, every_thread_runs):
    # Two threads: the directions of each layer run side by side (one thread each) or one after the
    # other (two threads each), and one thread; forward and backward (with lengths, each direction keeps
    # its own running states), every output, state and gradient must be bitwise the same.
    layer, x = make(cell).train(training), make_x(rng, (7, 9, C))
    kwargs = {"lengths": np.array([7, 3, 5, 7, 1, 6, 2, 7, 4])} if lengths else {}
    saved = fr._core._concurrent_directions()
    dy = rng.standard_normal((7, 9, 2 * layer.hidden_size)).astype(np.float32)
    results = []
    try:
        for threads, concurrent in ((2, False), (2, True), (1, True)):
            fr.set_num_threads(threads)
            fr._core._set_concurrent_directions(concurrent)
            y, *state = layer(x, **kwargs)
            result = [y.copy(), *(np.array(s, copy=True) for s in state)]
            if training:
                layer.zero_grad()
                dx, dstate = layer.backward(dy)
                result += [dx, *(np.array(d, copy=True) for d in np.atleast_1d(dstate) if d is not None)]
                result += [g.copy() for g in layer.grads.values()]
            results.append(result)
    finally:
        fr._core._set_concurrent_directions(saved)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_h0_none_means_exactly_zeros_with_nan_input(cell, rng):
    # With a NaN in x, the first step's dG is NaN; dW_hh gets dG^T h0, which is NaN for explicit zeros
    # (0 * NaN) and must be the same for h0=None.
    layer = LAYERS[cell](seed=0)
    x = make_x(rng, (1, N, C))
    x[0, 0, 0] = np.nan
    grads = []
    for h0 in (None, np.zeros((1, N, H), np.float32)):
        hx = None if h0 is None else ((h0, h0) if cell == "lstm" else h0)
        y = layer(x, hx)[0]
        layer.zero_grad()
        layer.backward(np.ones_like(y))
        grads.append({k: v.copy() for k, v in layer.grads.items()})
    for name in grads[0]:
        np.testing.assert_array_equal(np.isnan(grads[0][name]), np.isnan(grads[1][name]), err_msg=name)
    if cell != "rnn":  # relu's derivative at NaN is 0 here, so its dG stays finite
        assert np.isnan(grads[0]["weight_hh_l0"]).any()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(seed="abc"), TypeError, "seed: expected None, an int >= 0"),
        (dict(seed=-1), ValueError, "seed: expected None, an int >= 0"),
        (dict(dtype=None), TypeError, "dtype: expected float32 or float64, got None"),
    ],
)
def test_constructor_messages_name_the_argument(cell, kwargs, error, match):
    with pytest.raises(error, match=match):
        LAYERS[cell](**kwargs)
