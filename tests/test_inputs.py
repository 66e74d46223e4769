"""Bad input and input handling of `fusedrnn.LSTM`, `GRU` and `RNN` and of `fusedrnn.functional`'s
lstm / gru / rnn and their backward functions.

Every refused input must raise a Python exception whose message names the argument and the expected
vs received shape or dtype; every accepted input (other real dtypes, any memory layout, lists, empty
sequences or batches, non-finite values) must give the same answer as its plain float C-order form.
Tests taking the `cell` fixture run for each of the three cells; the others cover what only LSTM has
(the (h0, c0) pair, c0, dc_n).
"""

import re
import warnings

import numpy as np
import pytest
from cell_helpers import CELLS, LSTM, Cell

import fusedrnn as fr

T, N, C, H = 5, 2, 3, 4


def make_x(rng, shape=(T, N, C), dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def make_state(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def run_training(cell, layer, x, h0=None, c0=None, dy_seed=7, dhx=True):
    """Training forward + backward with fixed random upstream gradients; returns everything computed
    (y, h_n, c_n, dx, dh0, dc0, grads; c_n and dc0 None without a cell state)."""
    layer.zero_grad()
    layer.train()
    y, h_n, c_n = cell.forward(layer, x, h0, c0)
    rng = np.random.default_rng(dy_seed)
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    dh_n = rng.standard_normal(h_n.shape) if dhx else None
    dc_n = rng.standard_normal(c_n.shape) if dhx and cell.has_c else None
    dx, dh0, dc0 = cell.backward(layer, dy, dh_n, dc_n)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    return y, h_n, c_n, dx, dh0, dc0, grads


def assert_same_results(a, b):
    """Bitwise equality of two run_training results (dtypes included)."""
    *arrays_a, grads_a = a
    *arrays_b, grads_b = b
    for u, v in zip(arrays_a, arrays_b, strict=True):
        assert (u is None) == (v is None)
        if u is not None:
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u, v)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        np.testing.assert_array_equal(grads_a[name], grads_b[name], err_msg=name)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=CELLS, ids=str)
def cell(request):
    return request.param


@pytest.fixture
def layer(cell):
    return cell.layer(C, H, seed=0)


@pytest.fixture
def lstm():
    return fr.LSTM(C, H, seed=0)


def cell_id(value):
    """Test ids name the cell of a parametrised case (pytest's own id for the other values)."""
    return value.name if isinstance(value, Cell) else None


# --- x: shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(C,), (1, T, N, C), (2, 1, 1, 1, C)])
def test_x_wrong_ndim(layer, shape):
    expected = re.escape(f"x: expected a 3-D [T, N, {C}] or 2-D [T, {C}] array, got shape {shape}")
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros(shape, np.float32))


def test_x_scalar_reports_its_own_shape(layer):
    layer.eval()
    with pytest.raises(ValueError, match=re.escape("got shape ()")):
        layer(0.5)


@pytest.mark.parametrize(
    "batch_first, shape, expected",
    [
        (False, (T, N, C + 1), f"x: expected shape ({T}, {N}, {C}) = [T, N, C], got ({T}, {N}, {C + 1})"),
        (
            True,
            (N, T, C + 2),
            f"x: expected shape ({N}, {T}, {C}) = [N, T, C] (batch_first), got ({N}, {T}, {C + 2})",
        ),
        (False, (T, 1), f"x: expected shape ({T}, {C}) = [T, C] (unbatched), got ({T}, 1)"),
    ],
)
def test_x_wrong_feature_size(cell, batch_first, shape, expected):
    layer = cell.layer(C, H, batch_first=batch_first, seed=0)
    with pytest.raises(ValueError, match=re.escape(expected)):
        layer(np.zeros(shape, np.float32))


def test_functional_x_feature_size_follows_weight_ih(rng, cell, layer):
    with pytest.raises(ValueError, match=re.escape(f"x: expected shape ({T}, {N}, {C}) = [T, N, C], got")):
        cell.functional(make_x(rng, (T, N, C + 1)), layer.state_dict())


# --- hx -----------------------------------------------------------------------------------------


STATE_SHAPE_CASES = [
    # (unbatched, which state: 0 = h, 1 = c, bad shape); the c cases only for LSTM
    (False, 0, (1, N + 1, H)),
    (False, 1, (2, N, H)),
    (False, 0, (1, N, H + 1)),
    (False, 1, (N, H)),
    (True, 0, (1, N, H)),
    (True, 1, (1, H + 1)),
    (True, 0, (2, H)),
]
state_shape_cases = pytest.mark.parametrize(
    "cell, unbatched, which, bad_shape",
    [(cell, *case) for cell in CELLS for case in STATE_SHAPE_CASES if cell.has_c or case[1] == 0],
    ids=cell_id,
)


@state_shape_cases
def test_hx_wrong_shape_names_h0_or_c0(rng, cell, unbatched, which, bad_shape):
    x = make_x(rng, (T, C) if unbatched else (T, N, C))
    good = (1, H) if unbatched else (1, N, H)
    states = [np.zeros(good, np.float32), np.zeros(good, np.float32) if cell.has_c else None]
    states[which] = np.zeros(bad_shape, np.float32)
    label = ["h0", "c0"][which]
    expected = rf"\b{label}\b.*: expected shape {re.escape(str(good))}.*got {re.escape(str(bad_shape))}"
    with pytest.raises(ValueError, match=expected):
        cell.forward(cell.layer(C, H, seed=0), x, *states)


def test_hx_wrong_shape_bidirectional_two_layers(rng, cell):
    layer = cell.layer(C, H, num_layers=2, bidirectional=True, seed=0)
    x = make_x(rng)
    h0 = np.zeros((2, N, H), np.float32)  # needs num_layers * num_directions = 4
    c0 = np.zeros((4, N, H), np.float32) if cell.has_c else None
    with pytest.raises(ValueError, match=rf"\bh0\b.*: expected shape \(4, {N}, {H}\).*got \(2, {N}, {H}\)"):
        cell.forward(layer, x, h0, c0)


@pytest.mark.parametrize(
    "hx",
    [
        np.zeros((1, N, H), np.float32),
        (np.zeros((1, N, H), np.float32),),
        (np.zeros((1, N, H), np.float32),) * 3,
        {"h0": np.zeros((1, N, H), np.float32)},
    ],
    ids=["array", "1-tuple", "3-tuple", "dict"],
)
def test_hx_not_a_pair(lstm, rng, hx):
    with pytest.raises(TypeError, match=r"hx: expected .*pair \(h0, c0\)"):
        lstm(make_x(rng), hx)


def test_hx_not_a_pair_message_says_what_was_received(lstm, rng):
    with pytest.raises(TypeError, match=r"hx: expected .*pair \(h0, c0\).*got ndarray"):
        lstm(make_x(rng), np.zeros((1, N, H), np.float32))


def test_hx_refuses_complex_and_bool(rng, cell, layer):
    x = make_x(rng)
    with pytest.raises(TypeError, match=r"\bh0\b.*: expected a real-valued .*got dtype complex128"):
        cell.forward(layer, x, np.zeros((1, N, H), complex))
    with pytest.raises(TypeError, match=r"\bh0\b.*: expected a real-valued .*got dtype bool"):
        cell.forward(layer, x, np.zeros((1, N, H), bool))
    if cell.has_c:
        with pytest.raises(TypeError, match=r"\bc0\b.*: expected a real-valued .*got dtype bool"):
            cell.forward(layer, x, None, np.zeros((1, N, H), bool))


# --- dy / dhx -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, x_shape, bad_dy_shape, y_shape",
    [
        ({}, (T, N, C), (T, N, H + 1), (T, N, H)),
        ({}, (T, N, C), (T + 1, N, H), (T, N, H)),
        ({"batch_first": True}, (N, T, C), (T, N, H), (N, T, H)),
        ({"bidirectional": True}, (T, N, C), (T, N, H), (T, N, 2 * H)),
        ({}, (T, C), (T, 1, H), (T, H)),
    ],
    ids=["features", "steps", "batch_first", "bidirectional", "unbatched"],
)
def test_dy_wrong_shape(rng, cell, kwargs, x_shape, bad_dy_shape, y_shape):
    layer = cell.layer(C, H, seed=0, **kwargs)
    y, _ = layer(make_x(rng, x_shape))
    assert y.shape == y_shape
    expected = f"dy: expected shape {y_shape} (the shape of the forward's output y), got {bad_dy_shape}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        layer.backward(np.zeros(bad_dy_shape, np.float32))


def test_dy_refuses_complex(rng, layer):
    y, _ = layer(make_x(rng))
    with pytest.raises(TypeError, match=r"dy: expected a real-valued .*complex64"):
        layer.backward(y.astype(np.complex64))


@pytest.mark.parametrize(
    "cell, unbatched, which, bad_shape",
    [
        (cell, *case)
        for cell in CELLS
        for case in [
            (False, 0, (1, N, H + 1)),
            (False, 1, (1, N + 1, H)),
            (True, 0, (1, N, H)),
            (True, 1, (H,)),
        ]
        if cell.has_c or case[1] == 0
    ],
    ids=cell_id,
)
def test_dhx_wrong_shape_names_dh_n_or_dc_n(rng, cell, unbatched, which, bad_shape):
    layer = cell.layer(C, H, seed=0)
    y, h_n, c_n = cell.forward(layer, make_x(rng, (T, C) if unbatched else (T, N, C)))
    dhx = [np.zeros_like(h_n), np.zeros_like(c_n) if cell.has_c else None]
    dhx[which] = np.zeros(bad_shape, np.float32)
    label = ["dh_n", "dc_n"][which]
    expected = rf"\b{label}\b.*: expected shape {re.escape(str(h_n.shape))}.*got {re.escape(str(bad_shape))}"
    with pytest.raises(ValueError, match=expected):
        cell.backward(layer, np.zeros_like(y), *dhx)


def test_dhx_not_a_pair(lstm, rng):
    y, (h_n, _) = lstm(make_x(rng))
    with pytest.raises(TypeError, match=r"dhx: expected .*pair \(dh_n, dc_n\)"):
        lstm.backward(np.zeros_like(y), h_n)


# --- x: dtype -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, dtype_text",
    [
        (lambda x: x.astype(np.complex64), "complex64"),
        (lambda x: x.astype(np.complex128), "complex128"),
        (lambda x: x > 0, "bool"),
        (lambda x: x.astype(object), "object"),
        (lambda x: x.astype(str), "<U"),
        (lambda x: np.full(x.shape, "a"), "<U1"),
        (lambda x: x.astype(bytes), "|S"),
    ],
    ids=["complex64", "complex128", "bool", "object", "str", "letters", "bytes"],
)
@pytest.mark.parametrize("api", ["layer", "functional"])
def test_x_non_real_dtype_refused(rng, cell, layer, make, dtype_text, api):
    x = make(make_x(rng))
    expected = r"x: expected a real-valued \(float or integer\) array, got dtype " + re.escape(dtype_text)
    with pytest.raises(TypeError, match=expected):
        if api == "layer":
            layer(x)
        else:
            cell.functional(x, layer.state_dict())


def test_x_ragged_list_refused(layer):
    with pytest.raises(TypeError, match=r"x: expected a real-valued array, could not convert it"):
        layer([[[1.0, 2.0, 3.0]], [[1.0, 2.0]]])


# --- constructor and runtime settings -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"input_size": 0}, ValueError, r"input_size: expected an int >= 1, got 0"),
        ({"hidden_size": -1}, ValueError, r"hidden_size: expected an int >= 1, got -1"),
        ({"num_layers": 1.5}, TypeError, r"num_layers: expected an int, got float"),
        ({"num_layers": 0}, ValueError, r"num_layers: expected an int >= 1, got 0"),
        ({"input_size": True}, TypeError, r"input_size: expected an int, got bool"),
        ({"bias": "yes"}, TypeError, r"bias: expected a bool, got str"),
        ({"batch_first": 1}, TypeError, r"batch_first: expected a bool, got int"),
        ({"bidirectional": None}, TypeError, r"bidirectional: expected a bool, got NoneType"),
        ({"dtype": np.int32}, ValueError, r"dtype: expected float32 or float64, got int32"),
        ({"dtype": np.float16}, ValueError, r"dtype: expected float32 or float64, got float16"),
        ({"dtype": "complex64"}, ValueError, r"dtype: expected float32 or float64, got complex64"),
        ({"dtype": "not-a-dtype"}, TypeError, r"dtype: expected float32 or float64, got 'not-a-dtype'"),
    ],
)
def test_constructor_refuses_bad_arguments(cell, kwargs, error, match):
    args = {"input_size": C, "hidden_size": H, **kwargs}
    with pytest.raises(error, match=match):
        cell.layer(**args)


@pytest.mark.parametrize(
    "n, error, match",
    [
        (0, ValueError, r"n: expected a thread count from 1 to 1024, got 0"),
        (-3, ValueError, r"n: expected a thread count from 1 to 1024, got -3"),
        (10**9, ValueError, r"n: expected a thread count from 1 to 1024, got 1000000000"),
        (1.5, TypeError, r"n: expected an int, got float"),
        (True, TypeError, r"n: expected an int, got bool"),
        ("2", TypeError, r"n: expected an int, got str"),
    ],
)
def test_set_num_threads_refuses_bad_counts(n, error, match):
    before = fr.get_num_threads()
    with pytest.raises(error, match=match):
        fr.set_num_threads(n)
    assert fr.get_num_threads() == before


# --- backward without a usable workspace --------------------------------------------------------


def test_backward_before_any_forward(layer):
    with pytest.raises(RuntimeError, match=r"backward: no training-mode forward"):
        layer.backward(np.zeros((T, N, H), np.float32))


def test_backward_after_eval_forward(rng, layer):
    x = make_x(rng)
    layer(x)  # a training forward first: the eval forward after it must still discard its workspace
    layer.eval()
    y, _ = layer(x)
    with pytest.raises(RuntimeError, match=r"backward: the last forward ran in eval mode"):
        layer.backward(np.zeros_like(y))
    layer.train()
    with pytest.raises(RuntimeError, match=r"eval mode"):
        layer.backward(np.zeros_like(y))


def test_second_backward_needs_a_new_forward(rng, layer):
    y, _ = layer(make_x(rng))
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=r"backward: no training-mode forward"):
        layer.backward(np.ones_like(y))


def test_refused_backward_keeps_the_workspace(rng, layer):
    y, _ = layer(make_x(rng))
    with pytest.raises(ValueError, match=r"dy: expected shape"):
        layer.backward(np.zeros((T, N, H + 1), np.float32))
    dx, _ = layer.backward(np.ones_like(y))
    assert dx.shape == (T, N, C)


# --- functional.<cell>_backward: cache, grads buffers -------------------------------------------


@pytest.fixture
def functional_call(rng, cell):
    params = cell.layer(C, H, seed=0).state_dict()
    y, _, _, cache = cell.functional(make_x(rng), params, training=True)
    return params, y, cache


@pytest.mark.parametrize(
    "not_a_cache, type_name", [(None, "NoneType"), ({}, "dict"), ((1, 2), "tuple"), ("cache", "str")]
)
def test_backward_refuses_a_non_cache(cell, functional_call, not_a_cache, type_name):
    _, y, _ = functional_call
    expected = rf"cache: expected the \w+ returned by {cell.name}\(\.\.\., training=True\), got " + type_name
    with pytest.raises(TypeError, match=expected):
        cell.functional_backward(not_a_cache, np.ones_like(y))


@pytest.mark.parametrize(
    "field, forged",
    [
        ("plan", None),
        ("params", {}),
        ("sizes", (1, 2, 3)),
        ("batch_first", "yes"),
        ("unbatched", None),
        ("y_shape", (1,)),
        ("cell", 3),
    ],
)
def test_backward_refuses_a_forged_cache(cell, functional_call, field, forged):
    _, y, cache = functional_call
    with pytest.raises((TypeError, ValueError), match=r"cache: (field '\w+' differs|its plan was not made)"):
        cell.functional_backward(cache._replace(**{field: forged}), np.ones_like(y))


def test_backward_refuses_a_cache_with_another_calls_plan(rng, cell, layer):
    params = layer.state_dict()
    y, _, _, first = cell.functional(make_x(rng), params, training=True)
    *_, second = cell.functional(make_x(rng), params, training=True)
    with pytest.raises(ValueError, match=r"cache: field 'params' differs"):
        cell.functional_backward(first._replace(plan=second.plan), np.ones_like(y))


def test_eval_returns_no_cache(rng, cell, layer):
    y, _, _, cache = cell.functional(make_x(rng), layer.state_dict(), training=False)
    assert cache is None
    with pytest.raises(TypeError, match=r"cache: expected .*got NoneType"):
        cell.functional_backward(cache, np.ones_like(y))


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g.pop("bias_hh_l0"),
        lambda g: g.update(extra=np.zeros(3, np.float32)),
        lambda g: g.update(weight_ih_l0_reverse=g.pop("weight_ih_l0")),
    ],
    ids=["missing", "unexpected", "renamed"],
)
def test_grads_with_wrong_keys(cell, functional_call, edit):
    params, y, cache = functional_call
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    edit(grads)
    with pytest.raises(ValueError, match=r"grads: expected a dict with exactly the keys \['bias_hh_l0'"):
        cell.functional_backward(cache, np.ones_like(y), grads=grads)


BAD_GRAD_BUFFERS = {  # of weight_hh_l0, [G, H] with G = gates * H rows
    "shape": lambda G: np.zeros((G, H + 1), np.float32),
    "transposed-shape": lambda G: np.zeros((H + 1, G), np.float32),
    "dtype": lambda G: np.zeros((G, H), np.float64),
    "fortran": lambda G: np.zeros((G, H), np.float32, order="F"),
    "read-only": lambda G: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (G, H), (0, 0)),
    "list": lambda G: np.zeros((G, H), np.float32).tolist(),
}


@pytest.mark.parametrize("kind", list(BAD_GRAD_BUFFERS))
def test_grads_with_wrong_buffer(cell, functional_call, kind):
    params, y, cache = functional_call
    G = cell.gates * H
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["weight_hh_l0"] = BAD_GRAD_BUFFERS[kind](G)
    expected = re.escape(
        f"grads['weight_hh_l0']: expected a writable C-contiguous float32 array of shape {(G, H)}"
    )
    with pytest.raises(ValueError, match=expected):
        cell.functional_backward(cache, np.ones_like(y), grads=grads)
    for name in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0"):
        assert not grads[name].any(), "a refused call must not write into the other buffers"


@pytest.mark.parametrize(
    "buffer, received",
    [
        (lambda G: np.zeros((G, H + 1), np.float32), lambda G: re.escape(str((G, H + 1)))),
        (lambda G: np.zeros((G, H), np.float64), lambda G: "float64"),
    ],
    ids=["shape", "dtype"],
)
def test_grads_with_wrong_buffer_names_what_was_received(cell, functional_call, buffer, received):
    params, y, cache = functional_call
    G = cell.gates * H
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["weight_hh_l0"] = buffer(G)
    with pytest.raises(ValueError, match=r"grads\['weight_hh_l0'\]: .*got .*" + received(G)):
        cell.functional_backward(cache, np.ones_like(y), grads=grads)


# --- functional.<cell>: params ------------------------------------------------------------------


def two_layer_params(cell):
    return cell.layer(C, H, num_layers=2, bidirectional=True, seed=0).state_dict()


def call_two_layer(cell, params, rng, **kwargs):
    return cell.functional(make_x(rng), params, num_layers=2, bidirectional=True, **kwargs)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda p: p.pop("bias_hh_l1"), r"missing \['bias_hh_l1'\], unexpected \[\]"),
        (lambda p: p.pop("weight_hh_l1_reverse"), r"missing \['weight_hh_l1_reverse'\], unexpected \[\]"),
        (lambda p: p.update(weight_ih_l2=np.zeros((16, 8))), r"missing \[\], unexpected \['weight_ih_l2'\]"),
        (lambda p: p.update(foo=1.0), r"missing \[\], unexpected \['foo'\]"),
    ],
    ids=["missing-bias", "missing-weight", "extra-layer", "extra-name"],
)
def test_params_with_missing_or_unexpected_names(rng, cell, edit, match):
    params = two_layer_params(cell)
    edit(params)
    with pytest.raises(ValueError, match=r"params: names do not match .*num_layers=2, .*" + match):
        call_two_layer(cell, params, rng)


def test_params_for_another_architecture(rng, cell):
    params = two_layer_params(cell)
    with pytest.raises(ValueError, match=r"params: names do not match .*num_layers=1, bidirectional=True"):
        cell.functional(make_x(rng), params, num_layers=1, bidirectional=True)
    with pytest.raises(ValueError, match=r"params: missing 'weight_ih_l0'"):
        cell.functional(make_x(rng), {"weight_hh_l0": params["weight_hh_l0"]})
    with pytest.raises(TypeError, match=r"params: expected a mapping .*got list"):
        cell.functional(make_x(rng), list(params.values()))


@pytest.mark.parametrize(
    "name, bad_shape, match",
    # Functions of the cell's gate rows G = gates * H and of its gate count.
    [
        (
            "weight_ih_l0",
            lambda G: (G - 1, C),
            lambda G, g: re.escape(f"params['weight_ih_l0']: expected shape {(G, C)}"),
        ),
        (
            "weight_ih_l1",
            lambda G: (G, H),
            lambda G, g: re.escape(f"params['weight_ih_l1']: expected shape {(G, 2 * H)}"),
        ),
        (
            "weight_hh_l1_reverse",
            lambda G: (G, H + 1),
            lambda G, g: re.escape("params['weight_hh_l1_reverse']: expected shape"),
        ),
        (
            "bias_ih_l0_reverse",
            lambda G: (G + 1,),
            lambda G, g: re.escape(f"params['bias_ih_l0_reverse']: expected shape {(G,)}"),
        ),
        (
            "bias_hh_l1",
            lambda G: (G, 1),
            lambda G, g: re.escape(f"params['bias_hh_l1']: expected shape {(G,)}"),
        ),
        (
            "weight_hh_l0",
            lambda G: (G, H + 1),
            lambda G, g: re.escape(f"params: weight_hh_l0 must have shape ({g}*H, H)"),
        ),
    ],
)
def test_params_with_wrong_shapes(rng, cell, name, bad_shape, match):
    G = cell.gates * H
    params = two_layer_params(cell)
    params[name] = np.zeros(bad_shape(G), np.float32)
    with pytest.raises(ValueError, match=match(G, cell.gates) + r".*got " + re.escape(str(bad_shape(G)))):
        call_two_layer(cell, params, rng)


def test_params_non_real_refused(rng, cell):
    params = two_layer_params(cell)
    params["bias_hh_l0"] = params["bias_hh_l0"].astype(np.complex64)
    with pytest.raises(TypeError, match=r"params\['bias_hh_l0'\]: expected a real-valued .*complex64"):
        call_two_layer(cell, params, rng)


def test_params_integer_weights_need_a_dtype(rng, cell):
    params = {k: np.round(v * 4).astype(np.int32) for k, v in two_layer_params(cell).items()}
    with pytest.raises(ValueError, match=r"params: weight_ih_l0 is not .*float32/float64.*pass dtype="):
        call_two_layer(cell, params, rng)
    y, *_ = call_two_layer(cell, params, rng, dtype=np.float64)
    assert y.dtype == np.float64


# --- conversions --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint16, np.float16, np.float64])
def test_other_real_dtypes_are_converted(rng, cell, dtype):
    x = (rng.standard_normal((T, N, C)) * 3).astype(dtype)
    layer = cell.layer(C, H, num_layers=2, seed=0)
    got = run_training(cell, layer, x)
    want = run_training(cell, layer, x.astype(np.float32))
    assert got[0].dtype == np.float32 and got[3].dtype == np.float32
    assert_same_results(got, want)


def test_float32_input_to_float64_layer(rng, cell):
    x = make_x(rng)
    layer = cell.layer(C, H, dtype=np.float64, seed=0)
    got = run_training(cell, layer, x)
    assert all(a.dtype == np.float64 for a in got[:6] if a is not None)
    assert_same_results(got, run_training(cell, layer, x.astype(np.float64)))


def test_functional_converts_to_the_params_dtype(rng, cell, layer):
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    x = make_x(rng)
    y, h_n, c_n, cache = cell.functional(x, params, training=True)
    assert y.dtype == h_n.dtype == np.float64 and (c_n is None or c_n.dtype == np.float64)
    dx, dh0, _, grads = cell.functional_backward(cache, np.ones(y.shape, np.float32))
    assert dx.dtype == dh0.dtype == np.float64
    assert all(g.dtype == np.float64 for g in grads.values())
    y32, *_ = cell.functional(x, params, dtype=np.float32)
    assert y32.dtype == np.float32


NON_CONTIGUOUS = {
    "transposed": lambda a: np.ascontiguousarray(a.transpose(1, 0, 2)).transpose(1, 0, 2),
    "reversed-time": lambda a: np.ascontiguousarray(a[::-1])[::-1],
    "reversed-features": lambda a: np.ascontiguousarray(a[..., ::-1])[..., ::-1],
    "step-slice": lambda a: np.repeat(a, 3, axis=0)[::3],
    "feature-step": lambda a: np.repeat(a, 2, axis=2)[..., ::2],
    "fortran": np.asfortranarray,
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}


def optional(view, a):
    return None if a is None else view(a)


@pytest.mark.parametrize("layout", list(NON_CONTIGUOUS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_any_memory_layout_gives_identical_results(rng, cell, layout, batch_first):
    layer = cell.layer(C, H, num_layers=2, bidirectional=True, batch_first=batch_first, seed=0)
    x = make_x(rng, (N, T, C) if batch_first else (T, N, C))
    h0, c0 = make_state(rng, (4, N, H)), make_state(rng, (4, N, H)) if cell.has_c else None
    view = NON_CONTIGUOUS[layout]
    x_view, h0_view, c0_view = view(x), view(h0), optional(view, c0)
    np.testing.assert_array_equal(x_view, x)
    if layout not in ("fortran", "big-endian"):
        assert not x_view.flags.c_contiguous
    want = run_training(cell, layer, x, h0, c0)
    got = run_training(cell, layer, x_view, h0_view, c0_view)
    assert_same_results(got, want)


def misaligned(a):
    """A read-only copy of a whose data pointer is 1 byte off the dtype's alignment."""
    out = np.frombuffer(b"\0" + a.tobytes(), a.dtype, offset=1).reshape(a.shape)
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


@pytest.mark.parametrize(
    "cell, argument",
    [
        (cell, argument)
        for cell in CELLS
        for argument in ("x-training", "x-eval", "h0", "c0", "dy", "dh_n", "dc_n", "functional-params")
        if cell.has_c or argument not in ("c0", "dc_n")
    ],
    ids=cell_id,
)
def test_misaligned_arrays_are_accepted(rng, cell, argument):
    layer = cell.layer(C, H, seed=0)
    x = make_x(rng)
    h0, c0 = make_state(rng, (1, N, H)), make_state(rng, (1, N, H)) if cell.has_c else None
    layer.train(argument != "x-eval")
    want_y, want_h, want_c = cell.forward(layer, x, h0, c0)
    dy, dh_n, dc_n = np.ones_like(want_y), np.ones_like(want_h), optional(np.ones_like, want_c)
    if argument == "functional-params":
        params = {k: misaligned(v) for k, v in layer.state_dict().items()}
        y, *_ = cell.functional(x, params, h0, c0)
        np.testing.assert_array_equal(y, want_y)
        return
    want_grads = cell.backward(layer, dy, dh_n, dc_n) if layer.training else None
    if argument.startswith("x"):
        x = misaligned(x)
    elif argument == "h0":
        h0 = misaligned(h0)
    elif argument == "c0":
        c0 = misaligned(c0)
    elif argument == "dy":
        dy = misaligned(dy)
    elif argument == "dh_n":
        dh_n = misaligned(dh_n)
    else:
        dc_n = misaligned(dc_n)
    y, _, _ = cell.forward(layer, x, h0, c0)
    np.testing.assert_array_equal(y, want_y)
    if layer.training:
        dx, _, _ = cell.backward(layer, dy, dh_n, dc_n)
        np.testing.assert_array_equal(dx, want_grads[0])


@pytest.mark.parametrize("layout", ["transposed", "reversed-time", "fortran"])
def test_non_contiguous_upstream_gradients(rng, cell, layer, layout):
    x = make_x(rng)
    y, h_n, c_n = cell.forward(layer, x)
    dy, dh_n = make_state(rng, y.shape), make_state(rng, h_n.shape)
    dc_n = make_state(rng, c_n.shape) if cell.has_c else None
    want = cell.backward(layer, dy, dh_n, dc_n)
    layer(x)
    view = NON_CONTIGUOUS[layout]
    got = cell.backward(layer, view(dy), view(dh_n), optional(view, dc_n))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unbatched_non_contiguous(rng, cell, layer):
    x = make_x(rng, (T, C))
    x_view = np.ascontiguousarray(x.T).T
    assert not x_view.flags.c_contiguous
    assert_same_results(run_training(cell, layer, x_view), run_training(cell, layer, x))


def test_python_lists_are_accepted(rng, cell, layer):
    x = make_x(rng)
    h0, c0 = make_state(rng, (1, N, H)), make_state(rng, (1, N, H)) if cell.has_c else None
    want = run_training(cell, layer, x, h0, c0)
    got = run_training(cell, layer, x.tolist(), h0.tolist(), optional(np.ndarray.tolist, c0))
    assert_same_results(got, want)
    layer.train()
    y, h_n, _ = cell.forward(layer, x.tolist())
    dx, _, _ = cell.backward(layer, y.tolist(), h_n.tolist())
    assert dx.dtype == np.float32 and dx.shape == (T, N, C)


def test_lstm_state_pairs_may_be_lists(rng, lstm):
    # hx and dhx as lists rather than tuples: the pair is read by position.
    x = make_x(rng)
    h0, c0 = make_state(rng, (1, N, H)), make_state(rng, (1, N, H))
    want = run_training(LSTM, lstm, x, h0, c0)
    lstm.zero_grad()
    y, (h_n, c_n) = lstm(x, [h0, c0])
    rng_dy = np.random.default_rng(7)
    dy = rng_dy.standard_normal(y.shape).astype(y.dtype)
    dx, _ = lstm.backward(dy, [rng_dy.standard_normal(h_n.shape), rng_dy.standard_normal(c_n.shape)])
    np.testing.assert_array_equal(y, want[0])
    np.testing.assert_array_equal(dx, want[3])


# --- empty sequences and batches ----------------------------------------------------------------


@pytest.mark.parametrize("steps, batch", [(0, N), (T, 0), (0, 0)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_sequences_and_batches(rng, cell, steps, batch, bidirectional, batch_first):
    L, D = 2, 2 if bidirectional else 1
    layer = cell.layer(C, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first, seed=0)
    x = make_x(rng, (batch, steps, C) if batch_first else (steps, batch, C))
    h0 = make_state(rng, (L * D, batch, H))
    c0 = make_state(rng, (L * D, batch, H)) if cell.has_c else None
    # Non-zero gradients from an earlier call: an empty backward must leave them unchanged.
    y_prev, _ = layer(make_x(rng, (2, 1, C) if not batch_first else (1, 2, C)))
    layer.backward(np.ones_like(y_prev))
    before = {k: v.copy() for k, v in layer.grads.items()}

    y, h_n, c_n = cell.forward(layer, x, h0, c0)
    y_shape = (batch, steps, D * H) if batch_first else (steps, batch, D * H)
    assert y.shape == y_shape and y.dtype == np.float32
    assert h_n.shape == (L * D, batch, H) and (c_n is None or c_n.shape == h_n.shape)
    if steps == 0:
        np.testing.assert_array_equal(h_n, h0)
        np.testing.assert_array_equal(c_n, c0)

    dh_n = make_state(rng, h_n.shape)
    dc_n = make_state(rng, h_n.shape) if cell.has_c else None
    dx, dh0, dc0 = cell.backward(layer, np.ones(y_shape, np.float32), dh_n, dc_n)
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert dh0.shape == (L * D, batch, H) and (dc0 is None or dc0.shape == dh0.shape)
    if steps == 0:
        np.testing.assert_array_equal(dh0, dh_n)
        np.testing.assert_array_equal(dc0, dc_n)
    else:
        assert dh0.size == 0
    for name, value in layer.grads.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("shape", [(0, N, C), (T, 0, C), (0, C)])
def test_empty_functional_gradients_are_zero(rng, cell, shape):
    params = cell.layer(C, H, num_layers=2, bidirectional=True, seed=0).state_dict()
    # Leave garbage in freed memory: fresh gradient buffers must still come back zero.
    junk = [np.full(4096, 7.0, np.float32) for _ in range(8)]
    del junk
    x = np.zeros(shape, np.float32)
    y, h_n, c_n, cache = cell.functional(x, params, num_layers=2, bidirectional=True, training=True)
    dh_n, dc_n = np.full_like(h_n, 2.0), optional(lambda c: np.full_like(c, 3.0), c_n)
    dx, dh0, dc0, grads = cell.functional_backward(cache, np.ones_like(y), dh_n, dc_n)
    assert dx.shape == shape
    assert grads.keys() == params.keys()
    for name, g in grads.items():
        assert g.shape == params[name].shape
        assert not g.any(), name
    if shape[0] == 0:
        np.testing.assert_array_equal(dh0, dh_n)
        np.testing.assert_array_equal(dc0, dc_n)


def test_unbatched_empty_sequence(rng, cell, layer):
    h0, c0 = make_state(rng, (1, H)), make_state(rng, (1, H)) if cell.has_c else None
    y, h_n, c_n = cell.forward(layer, np.zeros((0, C)), h0, c0)
    assert y.shape == (0, H)
    np.testing.assert_array_equal(h_n, h0)
    np.testing.assert_array_equal(c_n, c0)
    dx, dh0, dc0 = cell.backward(layer, np.zeros((0, H)), h0, c0)
    assert dx.shape == (0, C)
    np.testing.assert_array_equal(dh0, h0)
    np.testing.assert_array_equal(dc0, c0)


# --- the caller's arrays ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
def test_caller_arrays_are_not_modified(rng, cell, batch_first):
    layer = cell.layer(C, H, num_layers=2, bidirectional=True, batch_first=batch_first, seed=0)
    x = make_x(rng, (N, T, C) if batch_first else (T, N, C))
    h0, c0 = make_state(rng, (4, N, H)), make_state(rng, (4, N, H)) if cell.has_c else None
    inputs = [a for a in (x, h0, c0) if a is not None]
    originals = [a.copy() for a in inputs]
    y, h_n, c_n = cell.forward(layer, x, h0, c0)
    upstream = [np.ones_like(a) for a in (y, h_n, c_n) if a is not None]
    cell.backward(layer, *upstream)
    for array, original in zip(inputs, originals, strict=True):
        np.testing.assert_array_equal(array, original)
    assert all((a == 1).all() for a in upstream)


def upstream_gradients(cell, want):
    """The dy, dh_n, dc_n run_training used for the forward results `want`."""
    rng_dy = np.random.default_rng(7)
    dy = rng_dy.standard_normal(want[0].shape).astype(np.float32)
    dh_n = rng_dy.standard_normal(want[1].shape)
    return dy, dh_n, rng_dy.standard_normal(want[2].shape) if cell.has_c else None


@pytest.mark.parametrize(
    "kwargs, shape",
    [({}, (T, N, C)), ({"batch_first": True}, (N, T, C)), ({}, (T, C)), ({"bidirectional": True}, (T, N, C))],
    ids=["time-major", "batch_first", "unbatched", "bidirectional"],
)
def test_editing_x_after_forward_does_not_change_gradients(rng, cell, kwargs, shape):
    layer = cell.layer(C, H, num_layers=2, seed=0, **kwargs)
    x = make_x(rng, shape)
    want = run_training(cell, layer, x.copy())

    layer.zero_grad()
    layer(x)
    x[...] = 123.0
    dx, dh0, _ = cell.backward(layer, *upstream_gradients(cell, want))
    np.testing.assert_array_equal(dx, want[3])
    np.testing.assert_array_equal(dh0, want[4])
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(g, want[6][name], err_msg=name)


def test_editing_hx_after_forward_does_not_change_gradients(rng, cell, layer):
    x = make_x(rng)
    h0, c0 = make_state(rng, (1, N, H)), make_state(rng, (1, N, H)) if cell.has_c else None
    want = run_training(cell, layer, x, h0.copy(), optional(np.copy, c0))
    layer.zero_grad()
    cell.forward(layer, x, h0, c0)
    h0[...] = 5.0
    if c0 is not None:
        c0[...] = 5.0
    cell.backward(layer, *upstream_gradients(cell, want))
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(g, want[6][name], err_msg=name)


def test_editing_y_after_forward_leaves_gradients_unchanged(rng, cell, layer):
    x = make_x(rng)
    want = run_training(cell, layer, x)
    layer.zero_grad()
    y, _ = layer(x)
    # The backward reads the plan's own copy of the outputs: y is the caller's to edit.
    y *= 2.0
    cell.backward(layer, *upstream_gradients(cell, want))
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(g, want[6][name], err_msg=name)


# --- non-finite and very large values -----------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_nan_in_x_propagates(rng, cell, training):
    layer = cell.layer(C, H, seed=0).train(training)
    x = make_x(rng)
    x[2, 0, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, h_n, c_n = cell.forward(layer, x)
        assert np.isnan(y[2:, 0]).all()
        assert np.isfinite(y[:2]).all() and np.isfinite(y[:, 1]).all()
        assert np.isnan(h_n[:, 0]).all() and np.isfinite(h_n[:, 1]).all()
        if cell.has_c:
            assert np.isnan(c_n[:, 0]).all()
        if training:
            dx, _ = layer.backward(np.ones_like(y))
            assert np.isnan(dx[:3, 0]).any()
            assert np.isfinite(dx[:, 1]).all()


def spiked(x, value):
    """x with a few isolated entries set to ±value (one per row, so W·x never meets inf - inf)."""
    x = x.copy()
    x[0, 0, 0] = value
    x[2, 1, 2] = -value
    x[3, 0, 1] = value
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "case", ["all+1e4", "all-1e4", "mixed-1e4", "spikes+inf", "spikes-inf", "spikes-max"]
)
def test_large_inputs_give_finite_outputs(rng, cell, dtype, case):
    x = make_x(rng, dtype=dtype)
    if case == "all+1e4":
        x = np.full_like(x, 1e4)
    elif case == "all-1e4":
        x = np.full_like(x, -1e4)
    elif case == "mixed-1e4":
        x = np.sign(x) * dtype(1e4)
    elif case == "spikes+inf":
        x = spiked(x, np.inf)
    elif case == "spikes-inf":
        x = spiked(x, -np.inf)
    else:
        x = spiked(x, np.finfo(dtype).max)
    layer = cell.layer(C, H, num_layers=2, bidirectional=True, dtype=dtype, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for training in (False, True):
            layer.train(training)
            outputs = [a for a in cell.forward(layer, x) if a is not None]
            assert all(np.isfinite(a).all() for a in outputs)
            assert np.abs(outputs[0]).max() <= 1.0  # tanh, and GRU's blend of tanh with h0 = 0
        upstream = [np.ones_like(a) for a in outputs]
        gradients = [a for a in cell.backward(layer, *upstream) if a is not None]
        assert all(np.isfinite(a).all() for a in gradients)
        if np.isfinite(x).all():
            # dW_ih = dGᵀ·x: an infinite x legitimately makes 0·inf = NaN there, a finite one must not.
            assert all(np.isfinite(g).all() for g in layer.grads.values())
