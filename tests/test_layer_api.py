"""The layer contract of `fusedrnn.LSTM`, `GRU` and `RNN`: torch.nn's parameter names, shapes, order and
init; state_dict round trips; live parameter attributes; gradient accumulation; train/eval; repr; and,
when torch is installed, outputs and gradients equal to torch.nn.LSTM's / GRU's / RNN's for the same
weights. Every test that holds for all three cells runs for each (cell_helpers.CELLS)."""

import re

import numpy as np
import pytest
from cell_helpers import CELLS

import fusedrnn as fr

T, N, C, H = 6, 3, 3, 5


def make_x(rng, shape=(T, N, C), dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


# --- parameter names, shapes, order (torch.nn's, written out by hand) ----------------------------

G = "G"  # gate rows of every weight and bias: the cell's gates * H, filled in by expected_params

EXPECTED_PARAMS = {
    # (num_layers, bidirectional, bias): [(name, shape), ...] in torch.nn.LSTM's / GRU's / RNN's order
    (1, False, True): [
        ("weight_ih_l0", (G, C)),
        ("weight_hh_l0", (G, H)),
        ("bias_ih_l0", (G,)),
        ("bias_hh_l0", (G,)),
    ],
    (1, True, False): [
        ("weight_ih_l0", (G, C)),
        ("weight_hh_l0", (G, H)),
        ("weight_ih_l0_reverse", (G, C)),
        ("weight_hh_l0_reverse", (G, H)),
    ],
    (2, False, False): [
        ("weight_ih_l0", (G, C)),
        ("weight_hh_l0", (G, H)),
        ("weight_ih_l1", (G, H)),
        ("weight_hh_l1", (G, H)),
    ],
    (2, True, True): [
        ("weight_ih_l0", (G, C)),
        ("weight_hh_l0", (G, H)),
        ("bias_ih_l0", (G,)),
        ("bias_hh_l0", (G,)),
        ("weight_ih_l0_reverse", (G, C)),
        ("weight_hh_l0_reverse", (G, H)),
        ("bias_ih_l0_reverse", (G,)),
        ("bias_hh_l0_reverse", (G,)),
        ("weight_ih_l1", (G, 2 * H)),
        ("weight_hh_l1", (G, H)),
        ("bias_ih_l1", (G,)),
        ("bias_hh_l1", (G,)),
        ("weight_ih_l1_reverse", (G, 2 * H)),
        ("weight_hh_l1_reverse", (G, H)),
        ("bias_ih_l1_reverse", (G,)),
        ("bias_hh_l1_reverse", (G,)),
    ],
    (3, False, True): [
        ("weight_ih_l0", (G, C)),
        ("weight_hh_l0", (G, H)),
        ("bias_ih_l0", (G,)),
        ("bias_hh_l0", (G,)),
        ("weight_ih_l1", (G, H)),
        ("weight_hh_l1", (G, H)),
        ("bias_ih_l1", (G,)),
        ("bias_hh_l1", (G,)),
        ("weight_ih_l2", (G, H)),
        ("weight_hh_l2", (G, H)),
        ("bias_ih_l2", (G,)),
        ("bias_hh_l2", (G,)),
    ],
}
CONFIGS = list(EXPECTED_PARAMS)
cells = pytest.mark.parametrize("cell", CELLS, ids=str)


def expected_params(cell, config):
    rows = cell.gates * H
    return [(name, tuple(rows if d == G else d for d in shape)) for name, shape in EXPECTED_PARAMS[config]]


def make_layer(cell, config, **kwargs):
    num_layers, bidirectional, bias = config
    return cell.layer(C, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias, **kwargs)


@cells
@pytest.mark.parametrize("config", CONFIGS)
def test_parameter_names_shapes_and_order_match_torch(cell, config):
    lstm = make_layer(cell, config, seed=0)
    expected = expected_params(cell, config)
    assert [(k, v.shape) for k, v in lstm.state_dict().items()] == expected
    assert [(k, v.shape) for k, v in lstm.named_parameters()] == expected
    assert [v.shape for v in lstm.parameters()] == [shape for _, shape in expected]
    assert list(lstm.grads) == [name for name, _ in expected]
    for name, shape in expected:
        assert getattr(lstm, name).shape == shape
        assert lstm.grads[name].shape == shape


@cells
@pytest.mark.parametrize("config", CONFIGS)
def test_parameters_are_c_contiguous_arrays_of_the_layer_dtype(cell, config):
    for dtype in (np.float32, np.float64):
        lstm = make_layer(cell, config, dtype=dtype, seed=0)
        assert lstm.dtype == np.dtype(dtype)
        for name, value in lstm.named_parameters():
            assert isinstance(value, np.ndarray) and value.dtype == dtype, name
            assert value.flags.c_contiguous and value.flags.writeable, name
            assert lstm.grads[name].dtype == dtype and not lstm.grads[name].any(), name


@cells
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_and_gradients_have_the_layer_dtype(rng, cell, dtype):
    lstm = cell.layer(C, H, num_layers=2, bidirectional=True, dtype=dtype, seed=0)
    y, h_n, c_n = cell.forward(lstm, make_x(rng))
    dx, dh0, dc0 = cell.backward(lstm, np.ones_like(y), np.ones_like(h_n))
    for array in (y, h_n, c_n, dx, dh0, dc0, *lstm.grads.values()):
        assert array is None or array.dtype == dtype
    assert (c_n is None) == (dc0 is None) == (not cell.has_c)


# --- init ---------------------------------------------------------------------------------------


@cells
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_is_uniform_within_one_over_sqrt_hidden(cell, dtype):
    hidden = 64
    bound = 1.0 / np.sqrt(hidden)
    lstm = cell.layer(C, hidden, num_layers=2, bidirectional=True, dtype=dtype, seed=3)
    values = []
    for name, value in lstm.named_parameters():
        assert np.abs(value).max() <= bound, name
        assert np.unique(value).size > 0.9 * value.size, f"{name} is (nearly) constant"
        assert 0.4 * bound < value.std() < 0.75 * bound, name  # U(-b, b) has std b / sqrt(3)
        values.append(value.ravel())
    everything = np.concatenate(values)
    assert everything.min() < -0.99 * bound and everything.max() > 0.99 * bound
    assert abs(everything.mean()) < 0.02 * bound
    # Every parameter is its own draw, not a copy of another one.
    assert not np.array_equal(lstm.weight_hh_l0, lstm.weight_hh_l0_reverse)
    assert not np.array_equal(lstm.bias_ih_l1, lstm.bias_hh_l1)


@cells
def test_same_seed_same_parameters_different_seed_different(cell):
    config = (2, True, True)
    a, b = make_layer(cell, config, seed=11), make_layer(cell, config, seed=11)
    c = make_layer(cell, config, seed=12)
    for name, value in a.named_parameters():
        np.testing.assert_array_equal(value, getattr(b, name), err_msg=name)
        assert not np.any(value == getattr(c, name)), name
    unseeded = make_layer(cell, config), make_layer(cell, config)
    assert not np.array_equal(unseeded[0].weight_ih_l0, unseeded[1].weight_ih_l0)
    layer = cell.layer
    assert np.array_equal(layer(C, H, seed=np.int64(5)).weight_hh_l0, layer(C, H, seed=5).weight_hh_l0)


@cells
def test_same_seed_same_outputs(rng, cell):
    x = make_x(rng)
    first = cell.forward(cell.layer(C, H, num_layers=2, seed=4), x)
    second = cell.forward(cell.layer(C, H, num_layers=2, seed=4), x)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


# --- state_dict ---------------------------------------------------------------------------------


@cells
@pytest.mark.parametrize("config", CONFIGS)
def test_state_dict_round_trip_gives_identical_outputs(rng, cell, config):
    source, target = make_layer(cell, config, seed=1), make_layer(cell, config, seed=2)
    x = make_x(rng)
    y_source, h_source, c_source = cell.forward(source, x)
    y_before, _ = target(x)
    assert not np.array_equal(y_before, y_source)
    result = target.load_state_dict(source.state_dict())
    assert result == {"missing_keys": [], "unexpected_keys": []}
    y, h_n, c_n = cell.forward(target, x)
    np.testing.assert_array_equal(y, y_source)
    np.testing.assert_array_equal(h_n, h_source)
    np.testing.assert_array_equal(c_n, c_source)
    dy = make_x(rng, y.shape)
    np.testing.assert_array_equal(target.backward(dy)[0], source.backward(dy)[0])
    for name in source.grads:
        np.testing.assert_array_equal(target.grads[name], source.grads[name], err_msg=name)


@cells
def test_state_dict_returns_copies(cell):
    lstm = cell.layer(C, H, num_layers=2, seed=0)
    first, second = lstm.state_dict(), lstm.state_dict()
    for name, value in lstm.named_parameters():
        assert not np.shares_memory(first[name], value), name
        assert not np.shares_memory(first[name], second[name]), name
        first[name] += 1.0
        np.testing.assert_array_equal(value, second[name], err_msg=name)


@cells
def test_load_state_dict_converts_and_keeps_the_live_arrays(cell):
    lstm = cell.layer(C, H, seed=0)
    live = dict(lstm.named_parameters())
    source = cell.layer(C, H, seed=1, dtype=np.float64).state_dict()
    lstm.load_state_dict({k: v.tolist() if k.startswith("bias") else v for k, v in source.items()})
    for name, value in lstm.named_parameters():
        assert value is live[name], name
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, source[name].astype(np.float32), err_msg=name)


@pytest.mark.parametrize(
    "edit, names",
    [
        (lambda d: d.pop("bias_hh_l1"), r"missing keys \['bias_hh_l1'\], unexpected keys \[\]"),
        (
            lambda d: d.update(weight_ih_l2=np.zeros((4, H))),
            r"missing keys \[\], unexpected keys \['weight_ih_l2'\]",
        ),
        (
            lambda d: d.update(weight_ih_l1_reverse=d.pop("weight_ih_l1")),
            r"missing keys \['weight_ih_l1'\], unexpected keys \['weight_ih_l1_reverse'\]",
        ),
    ],
    ids=["missing", "unexpected", "renamed"],
)
@cells
def test_strict_load_refuses_missing_or_unexpected_names(cell, edit, names):
    lstm = cell.layer(C, H, num_layers=2, seed=0)
    before = lstm.state_dict()
    state = cell.layer(C, H, num_layers=2, seed=1).state_dict()
    edit(state)
    with pytest.raises(KeyError, match=r"state_dict: " + names):
        lstm.load_state_dict(state)
    for name, value in lstm.named_parameters():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@cells
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "bad_name, bad_value, error, match",
    [
        (
            "bias_hh_l1",
            lambda g: np.zeros((g, 1)),
            ValueError,
            lambda g: re.escape(f"state_dict['bias_hh_l1']: expected shape {(g,)}, got {(g, 1)}"),
        ),
        (
            "weight_ih_l1",
            lambda g: np.zeros((g, C)),
            ValueError,
            lambda g: re.escape(f"state_dict['weight_ih_l1']: expected shape {(g, H)}, got {(g, C)}"),
        ),
        (
            "weight_hh_l1",
            lambda g: np.zeros((g, H), complex),
            TypeError,
            lambda g: r"state_dict\['weight_hh_l1'\]: expected a real-valued .*complex128",
        ),
    ],
    ids=["bias-shape", "weight-shape", "complex"],
)
def test_failed_load_changes_nothing(cell, bad_name, bad_value, error, match, strict):
    # The bad entry sits in the second layer: a non-atomic load would already have written the first.
    g = cell.gates * H
    lstm = cell.layer(C, H, num_layers=2, seed=0)
    before = lstm.state_dict()
    state = cell.layer(C, H, num_layers=2, seed=1).state_dict()
    state[bad_name] = bad_value(g)
    with pytest.raises(error, match=match(g)):
        lstm.load_state_dict(state, strict=strict)
    for name, value in lstm.named_parameters():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@cells
def test_non_strict_load_takes_a_subset(cell):
    lstm = cell.layer(C, H, num_layers=2, seed=0)
    before = lstm.state_dict()
    source = cell.layer(C, H, num_layers=2, seed=1).state_dict()
    subset = {
        "weight_hh_l1": source["weight_hh_l1"],
        "bias_ih_l0": source["bias_ih_l0"],
        "extra": np.zeros(2),
    }
    result = lstm.load_state_dict(subset, strict=False)
    assert result["unexpected_keys"] == ["extra"]
    assert result["missing_keys"] == [k for k in before if k not in subset]
    for name, value in lstm.named_parameters():
        np.testing.assert_array_equal(value, source[name] if name in subset else before[name], err_msg=name)


@cells
def test_load_state_dict_refuses_a_non_mapping(cell):
    lstm = cell.layer(C, H, seed=0)
    with pytest.raises(TypeError, match=r"state_dict: expected a mapping, got list"):
        lstm.load_state_dict(list(lstm.state_dict().values()))


# --- parameter attributes -----------------------------------------------------------------------


@cells
def test_attribute_access_returns_the_live_array(rng, cell):
    lstm = cell.layer(C, H, seed=0)
    w = lstm.weight_ih_l0
    assert w is lstm.weight_ih_l0 is dict(lstm.named_parameters())["weight_ih_l0"]
    x = make_x(rng)
    y_before, _ = lstm(x)
    w[...] = 0.0  # editing the returned array edits the layer
    np.testing.assert_array_equal(lstm.state_dict()["weight_ih_l0"], 0.0)
    y_after, _ = lstm(x)
    assert not np.array_equal(y_before, y_after)
    with pytest.raises(AttributeError, match=r"no attribute 'weight_ih_l1'"):
        _ = lstm.weight_ih_l1


@cells
def test_in_place_sgd_update_through_attributes(rng, cell):
    lstm = cell.layer(C, H, seed=0)
    y, _ = lstm(make_x(rng))
    lstm.backward(np.ones_like(y))
    w = lstm.weight_ih_l0
    expected = w - np.float32(0.1) * lstm.grads["weight_ih_l0"]
    lstm.weight_ih_l0 -= 0.1 * lstm.grads["weight_ih_l0"]
    assert lstm.weight_ih_l0 is w
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, expected)


@cells
def test_assigning_a_parameter_copies_into_its_storage(cell):
    G = cell.gates * H
    lstm = cell.layer(C, H, seed=0)
    w = lstm.weight_hh_l0
    new = np.random.default_rng(0).standard_normal((G, H))  # float64, converted
    lstm.weight_hh_l0 = new
    assert lstm.weight_hh_l0 is w and w.dtype == np.float32
    np.testing.assert_array_equal(w, new.astype(np.float32))
    new[...] = 0.0  # the layer does not alias the assigned array
    assert w.any()
    lstm.bias_ih_l0 = list(range(G))
    np.testing.assert_array_equal(lstm.bias_ih_l0, np.arange(G, dtype=np.float32))


@cells
@pytest.mark.parametrize(
    "name, value, error, match",
    [
        (
            "weight_ih_l0",
            lambda G: np.zeros((G, C + 1)),
            ValueError,
            lambda G: rf"weight_ih_l0: expected shape \({G}, {C}\), got \({G}, {C + 1}\)",
        ),
        (
            "weight_hh_l0",
            lambda G: np.zeros((H + 1, G)),
            ValueError,
            lambda G: rf"weight_hh_l0: expected shape \({G}, {H}\), got \({H + 1}, {G}\)",
        ),
        (
            "bias_hh_l0",
            lambda G: np.zeros((1, G)),
            ValueError,
            lambda G: rf"bias_hh_l0: expected shape \({G},\), got \(1, {G}\)",
        ),
        (
            "bias_ih_l0",
            lambda G: np.zeros(G, complex),
            TypeError,
            lambda G: r"bias_ih_l0: expected a real-valued .*complex128",
        ),
    ],
)
def test_assigning_a_wrong_parameter_raises_and_changes_nothing(cell, name, value, error, match):
    G = cell.gates * H
    lstm = cell.layer(C, H, seed=0)
    before = lstm.state_dict()
    with pytest.raises(error, match=match(G)):
        setattr(lstm, name, value(G))
    for key, array in lstm.named_parameters():
        np.testing.assert_array_equal(array, before[key], err_msg=key)


# --- gradients ----------------------------------------------------------------------------------


@cells
def test_grads_keys_equal_state_dict_keys(cell):
    for config in CONFIGS:
        lstm = make_layer(cell, config, seed=0)
        assert list(lstm.grads) == list(lstm.state_dict())


@cells
def test_grads_accumulate_across_backward_calls_and_zero_grad_zeroes(rng, cell):
    lstm = cell.layer(C, H, num_layers=2, bidirectional=True, seed=0)
    params = lstm.state_dict()
    x1, x2 = make_x(rng), make_x(rng, (T + 2, N, C))
    expected = {name: np.zeros_like(value) for name, value in params.items()}
    for x in (x1, x2):
        y, _, _, cache = cell.functional(x, params, num_layers=2, bidirectional=True, training=True)
        dy = np.random.default_rng(x.shape[0]).standard_normal(y.shape).astype(np.float32)
        for name, g in cell.functional_backward(cache, dy)[3].items():
            expected[name] += g
    live = dict(lstm.grads)
    for x in (x1, x2):
        y, _ = lstm(x)
        lstm.backward(np.random.default_rng(x.shape[0]).standard_normal(y.shape).astype(np.float32))
    for name, g in lstm.grads.items():
        assert g is live[name], name
        np.testing.assert_allclose(g, expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    lstm.zero_grad()
    for name, g in lstm.grads.items():
        assert g is live[name] and not g.any(), name
    # After zero_grad a backward gives exactly one call's gradients again.
    y, _ = lstm(x1)
    lstm.backward(np.random.default_rng(T).standard_normal(y.shape).astype(np.float32))
    y, _, _, cache = cell.functional(x1, params, num_layers=2, bidirectional=True, training=True)
    dy = np.random.default_rng(T).standard_normal(y.shape).astype(np.float32)
    single = cell.functional_backward(cache, dy)[3]
    for name, g in lstm.grads.items():
        np.testing.assert_allclose(g, single[name], rtol=1e-5, atol=1e-6, err_msg=name)


# --- modes --------------------------------------------------------------------------------------


@cells
def test_train_and_eval_flags(cell):
    lstm = cell.layer(C, H, seed=0)
    assert lstm.training is True
    assert lstm.eval() is lstm and lstm.training is False
    assert lstm.train() is lstm and lstm.training is True
    assert lstm.train(False) is lstm and lstm.training is False
    assert lstm.train(np.bool_(True)).training is True
    with pytest.raises(TypeError, match=r"mode: expected a bool, got str"):
        lstm.train("no")
    assert lstm.training is True


@cells
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first", [False, True])
def test_eval_output_equals_training_output_bitwise(rng, cell, dtype, batch_first):
    lstm = cell.layer(C, H, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=dtype, seed=0)
    x = make_x(rng, (N, T, C) if batch_first else (T, N, C), dtype)
    h0, c0 = make_x(rng, (4, N, H), dtype), make_x(rng, (4, N, H), dtype) if cell.has_c else None
    trained = cell.forward(lstm.train(), x, h0, c0)
    evaluated = cell.forward(lstm.eval(), x, h0, c0)
    for a, b in zip(evaluated, trained, strict=True):
        np.testing.assert_array_equal(a, b)


# --- training ------------------------------------------------------------------------------------


@cells
def test_sgd_steps_reduce_a_simple_loss(rng, cell):
    step = 0.01 if cell.name == "rnn" else 0.05  # no gates damp an RNN's gradients: at 0.05 it overshoots
    lstm = cell.layer(C, H, num_layers=2, batch_first=True, seed=0)
    x = make_x(rng, (N, T, C))
    target = np.tanh(make_x(rng, (N, T, H)))

    def loss_and_grad():
        y, _ = lstm(x)
        return 0.5 * float(np.sum((y - target) ** 2)), y - target

    losses = []
    for _ in range(5):
        loss, dy = loss_and_grad()
        losses.append(loss)
        lstm.zero_grad()
        lstm.backward(dy)
        for name, value in lstm.named_parameters():
            value -= step * lstm.grads[name]
    losses.append(loss_and_grad()[0])
    assert all(b < a for a, b in zip(losses[:-1], losses[1:], strict=True)), losses
    assert losses[-1] < 0.9 * losses[0], losses


# --- repr -----------------------------------------------------------------------------------------


@cells
@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({}, "(3, 5, dtype=float32)"),
        (
            {"num_layers": 2, "bias": False, "bidirectional": True},
            "(3, 5, num_layers=2, bias=False, bidirectional=True, dtype=float32)",
        ),
        ({"batch_first": True, "dtype": np.float64}, "(3, 5, batch_first=True, dtype=float64)"),
        ({"seed": 1, "dtype": "float32"}, "(3, 5, dtype=float32)"),
    ],
)
def test_repr(cell, kwargs, text):
    assert repr(cell.layer(C, H, **kwargs)) == cell.layer.__name__ + text


# --- torch.nn equivalence -----------------------------------------------------------------------


@cells
@pytest.mark.parametrize(
    "dtype, rtol, atol, grad_rtol, grad_atol",
    [(np.float32, 1e-5, 1e-6, 1e-4, 1e-5), (np.float64, 1e-12, 1e-13, 1e-11, 1e-12)],
    ids=["float32", "float64"],
)
def test_torch_state_dict_gives_torch_outputs_and_gradients(
    rng, cell, dtype, rtol, atol, grad_rtol, grad_atol
):
    torch = pytest.importorskip("torch")
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(0)
    torch_layer = getattr(torch.nn, cell.layer.__name__)
    reference = torch_layer(C, H, num_layers=2, bidirectional=True, batch_first=True).to(torch_dtype)
    lstm = cell.layer(C, H, num_layers=2, bidirectional=True, batch_first=True, dtype=dtype, seed=99)
    lstm.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})

    x = make_x(rng, (N, T, C), dtype)
    h0, c0 = make_x(rng, (4, N, H), dtype), make_x(rng, (4, N, H), dtype)
    if not cell.has_c:
        c0 = None
    y, h_n, c_n = cell.forward(lstm, x, h0, c0)
    dy = make_x(rng, y.shape, dtype)
    dh_n, dc_n = make_x(rng, h_n.shape, dtype), make_x(rng, h_n.shape, dtype) if cell.has_c else None
    dx, dh0, dc0 = cell.backward(lstm, dy, dh_n, dc_n)

    states = [a for a in (h0, c0) if a is not None]
    xt, *statest = (torch.tensor(a, requires_grad=True) for a in (x, *states))
    yt, final = reference(xt, tuple(statest) if cell.has_c else statest[0])
    finals = list(final) if cell.has_c else [final]
    upstream = [a for a in (dh_n, dc_n) if a is not None]
    torch.autograd.backward([yt, *finals], [torch.tensor(a) for a in (dy, *upstream)])

    def check(ours, theirs, r, a, what):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=r, atol=a, err_msg=what)

    check(y, yt, rtol, atol, "y")
    check(dx, xt.grad, grad_rtol, grad_atol, "dx")
    for name, ours, theirs in zip(("h_n", "c_n"), (h_n, c_n), finals, strict=False):
        check(ours, theirs, rtol, atol, name)
    for name, ours, start in zip(("dh0", "dc0"), (dh0, dc0), statest, strict=False):
        check(ours, start.grad, grad_rtol, grad_atol, name)
    torch_params = dict(reference.named_parameters())
    assert list(lstm.grads) == list(torch_params)
    for name, g in lstm.grads.items():
        check(g, torch_params[name].grad, grad_rtol, grad_atol, name)


@cells
def test_torch_tensors_load_directly(cell):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    reference = getattr(torch.nn, cell.layer.__name__)(C, H, num_layers=2, bidirectional=True)
    lstm = cell.layer(C, H, num_layers=2, bidirectional=True, seed=0)
    lstm.load_state_dict(reference.state_dict())
    for name, value in reference.state_dict().items():
        np.testing.assert_array_equal(getattr(lstm, name), value.numpy(), err_msg=name)


@pytest.mark.parametrize(
    "layer, torch_count, keras_count",
    # Keras: one bias per gate, but two for GRU's reset_after form (its default, and ours).
    [(fr.LSTM, 10600, 10400), (fr.GRU, 7950, 7950), (fr.RNN, 2650, 2600)],
)
def test_parameter_counts_of_each_cell(layer, torch_count, keras_count):
    assert layer(1, 50).parameter_count() == torch_count
    assert layer(1, 50).parameter_count("keras") == keras_count


def test_summary_and_parameter_counts():
    lstm = fr.LSTM(1, 50)
    assert lstm.parameter_count() == 10600  # the lectures' LSTM(50): PyTorch counts two biases
    assert lstm.parameter_count("keras") == 10400  # Keras one
    printed = []
    text = lstm.summary(print_fn=printed.append)
    assert printed == [text] and "10,600" in text and "10,400" in text and "weight_hh_l0" in text
    assert fr.LSTM(1, 50, bias=False).parameter_count("keras") == 10200
    with pytest.raises(ValueError, match="convention: expected 'torch' or 'keras'"):
        lstm.parameter_count("tf")


def test_many_to_one_backward_takes_none_for_dy():
    # Many-to-one: only the final state has a loss gradient; dy (and dc_n) may be None.
    x = np.ones((3, 2, 1))
    for layer in (fr.LSTM(1, 5, seed=0), fr.GRU(1, 5, seed=0), fr.RNN(1, 5, seed=0)):
        y, states = layer(x)
        h_n = states[0] if isinstance(layer, fr.LSTM) else states
        if isinstance(layer, fr.LSTM):
            dx, _ = layer.backward(dhx=(np.ones_like(h_n), None))
        else:
            dx, _ = layer.backward(dh_n=np.ones_like(h_n))
        assert dx.shape == x.shape and np.abs(dx).sum() > 0


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
@pytest.mark.parametrize("cls", [fr.LSTM, fr.GRU, fr.RNN])
def test_bidirectional_merge_modes(rng, merge_mode, cls):
    # Keras's Bidirectional merge of the top layer's directions, forward and backward: against the concat
    # layer's outputs and gradients combined by hand.
    x = rng.standard_normal((5, 3, 4))
    merged = cls(4, 6, num_layers=2, bidirectional=True, merge_mode=merge_mode, dtype=np.float64, seed=0)
    concat = cls(4, 6, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    y, _ = merged(x)
    yc, _ = concat(x)
    f, b = yc[..., :6], yc[..., 6:]
    want = {"sum": f + b, "mul": f * b, "ave": (f + b) / 2}[merge_mode]
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx, _ = merged.backward(dy)
    d_concat = {"sum": (dy, dy), "mul": (dy * b, dy * f), "ave": (dy / 2, dy / 2)}[merge_mode]
    dxc, _ = concat.backward(np.concatenate(d_concat, axis=-1))
    np.testing.assert_allclose(dx, dxc, rtol=1e-12, atol=1e-12)
    for name in merged.grads:
        np.testing.assert_allclose(merged.grads[name], concat.grads[name], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"dy: expected shape \(5, 3, 6\)"):
        merged(x)
        merged.backward(np.ones((5, 3, 12)))
    with pytest.raises(ValueError, match="merge_mode: 'sum' merges the two directions"):
        cls(4, 6, merge_mode="sum")
    with pytest.raises(ValueError, match="merge_mode: expected one of"):
        cls(4, 6, bidirectional=True, merge_mode="max")
