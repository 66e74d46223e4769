"""Bad input and input handling of `fusedrnn.LSTM` and `fusedrnn.functional.lstm / lstm_backward`.

Every refused input must raise a Python exception whose message names the argument and the expected
vs received shape or dtype; every accepted input (other real dtypes, any memory layout, lists, empty
sequences or batches, non-finite values) must give the same answer as its plain float C-order form.
"""

import re
import warnings

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import functional as F

T, N, C, H = 5, 2, 3, 4


def make_x(rng, shape=(T, N, C), dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def make_state(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def run_training(lstm, x, hx=None, dy_seed=7, dhx=True):
    """Training forward + backward with fixed random upstream gradients; returns everything computed."""
    lstm.zero_grad()
    lstm.train()
    y, (h_n, c_n) = lstm(x, hx)
    rng = np.random.default_rng(dy_seed)
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    state_grads = (rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape)) if dhx else None
    dx, (dh0, dc0) = lstm.backward(dy, state_grads)
    grads = {k: v.copy() for k, v in lstm.grads.items()}
    return y, h_n, c_n, dx, dh0, dc0, grads


def assert_same_results(a, b):
    """Bitwise equality of two run_training results (dtypes included)."""
    *arrays_a, grads_a = a
    *arrays_b, grads_b = b
    for u, v in zip(arrays_a, arrays_b, strict=True):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        np.testing.assert_array_equal(grads_a[name], grads_b[name], err_msg=name)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def lstm():
    return fr.LSTM(C, H, seed=0)


# --- x: shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(C,), (1, T, N, C), (2, 1, 1, 1, C)])
def test_x_wrong_ndim(lstm, shape):
    expected = re.escape(f"x: expected a 3-D [T, N, {C}] or 2-D [T, {C}] array, got shape {shape}")
    with pytest.raises(ValueError, match=expected):
        lstm(np.zeros(shape, np.float32))


def test_x_scalar_reports_its_own_shape(lstm):
    lstm.eval()
    with pytest.raises(ValueError, match=re.escape("got shape ()")):
        lstm(0.5)


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
def test_x_wrong_feature_size(batch_first, shape, expected):
    lstm = fr.LSTM(C, H, batch_first=batch_first, seed=0)
    with pytest.raises(ValueError, match=re.escape(expected)):
        lstm(np.zeros(shape, np.float32))


def test_functional_x_feature_size_follows_weight_ih(rng):
    params = fr.LSTM(C, H, seed=0).state_dict()
    with pytest.raises(ValueError, match=re.escape(f"x: expected shape ({T}, {N}, {C}) = [T, N, C], got")):
        F.lstm(make_x(rng, (T, N, C + 1)), params)


# --- hx -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unbatched, which, bad_shape",
    [
        (False, 0, (1, N + 1, H)),
        (False, 1, (2, N, H)),
        (False, 0, (1, N, H + 1)),
        (False, 1, (N, H)),
        (True, 0, (1, N, H)),
        (True, 1, (1, H + 1)),
        (True, 0, (2, H)),
    ],
)
def test_hx_wrong_shape_names_h0_or_c0(lstm, rng, unbatched, which, bad_shape):
    x = make_x(rng, (T, C) if unbatched else (T, N, C))
    good = (1, H) if unbatched else (1, N, H)
    hx = [np.zeros(good, np.float32), np.zeros(good, np.float32)]
    hx[which] = np.zeros(bad_shape, np.float32)
    label = ["h0", "c0"][which]
    expected = rf"\b{label}\b.*: expected shape {re.escape(str(good))}.*got {re.escape(str(bad_shape))}"
    with pytest.raises(ValueError, match=expected):
        lstm(x, tuple(hx))


def test_hx_wrong_shape_bidirectional_two_layers(rng):
    lstm = fr.LSTM(C, H, num_layers=2, bidirectional=True, seed=0)
    x = make_x(rng)
    h0 = np.zeros((2, N, H), np.float32)  # needs num_layers * num_directions = 4
    c0 = np.zeros((4, N, H), np.float32)
    with pytest.raises(ValueError, match=rf"\bh0\b.*: expected shape \(4, {N}, {H}\).*got \(2, {N}, {H}\)"):
        lstm(x, (h0, c0))


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


def test_hx_refuses_complex_and_bool(lstm, rng):
    x = make_x(rng)
    with pytest.raises(TypeError, match=r"\bh0\b.*: expected a real-valued .*got dtype complex128"):
        lstm(x, (np.zeros((1, N, H), complex), None))
    with pytest.raises(TypeError, match=r"\bc0\b.*: expected a real-valued .*got dtype bool"):
        lstm(x, (None, np.zeros((1, N, H), bool)))


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
def test_dy_wrong_shape(rng, kwargs, x_shape, bad_dy_shape, y_shape):
    lstm = fr.LSTM(C, H, seed=0, **kwargs)
    y, _ = lstm(make_x(rng, x_shape))
    assert y.shape == y_shape
    expected = f"dy: expected shape {y_shape} (the shape of the forward's output y), got {bad_dy_shape}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        lstm.backward(np.zeros(bad_dy_shape, np.float32))


def test_dy_refuses_complex(lstm, rng):
    y, _ = lstm(make_x(rng))
    with pytest.raises(TypeError, match=r"dy: expected a real-valued .*complex64"):
        lstm.backward(y.astype(np.complex64))


@pytest.mark.parametrize(
    "unbatched, which, bad_shape",
    [(False, 0, (1, N, H + 1)), (False, 1, (1, N + 1, H)), (True, 0, (1, N, H)), (True, 1, (H,))],
)
def test_dhx_wrong_shape_names_dh_n_or_dc_n(lstm, rng, unbatched, which, bad_shape):
    y, (h_n, c_n) = lstm(make_x(rng, (T, C) if unbatched else (T, N, C)))
    dhx = [np.zeros_like(h_n), np.zeros_like(c_n)]
    dhx[which] = np.zeros(bad_shape, np.float32)
    label = ["dh_n", "dc_n"][which]
    expected = rf"\b{label}\b.*: expected shape {re.escape(str(h_n.shape))}.*got {re.escape(str(bad_shape))}"
    with pytest.raises(ValueError, match=expected):
        lstm.backward(np.zeros_like(y), tuple(dhx))


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
def test_x_non_real_dtype_refused(rng, make, dtype_text, api):
    x = make(make_x(rng))
    expected = r"x: expected a real-valued \(float or integer\) array, got dtype " + re.escape(dtype_text)
    with pytest.raises(TypeError, match=expected):
        if api == "layer":
            fr.LSTM(C, H, seed=0)(x)
        else:
            F.lstm(x, fr.LSTM(C, H, seed=0).state_dict())


def test_x_ragged_list_refused(lstm):
    with pytest.raises(TypeError, match=r"x: expected a real-valued array, could not convert it"):
        lstm([[[1.0, 2.0, 3.0]], [[1.0, 2.0]]])


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
def test_constructor_refuses_bad_arguments(kwargs, error, match):
    args = {"input_size": C, "hidden_size": H, **kwargs}
    with pytest.raises(error, match=match):
        fr.LSTM(**args)


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


def test_backward_before_any_forward(lstm):
    with pytest.raises(RuntimeError, match=r"backward: no training-mode forward"):
        lstm.backward(np.zeros((T, N, H), np.float32))


def test_backward_after_eval_forward(lstm, rng):
    x = make_x(rng)
    lstm(x)  # a training forward first: the eval forward after it must still discard its workspace
    lstm.eval()
    y, _ = lstm(x)
    with pytest.raises(RuntimeError, match=r"backward: the last forward ran in eval mode"):
        lstm.backward(np.zeros_like(y))
    lstm.train()
    with pytest.raises(RuntimeError, match=r"eval mode"):
        lstm.backward(np.zeros_like(y))


def test_second_backward_needs_a_new_forward(lstm, rng):
    y, _ = lstm(make_x(rng))
    lstm.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=r"backward: no training-mode forward"):
        lstm.backward(np.ones_like(y))


def test_refused_backward_keeps_the_workspace(lstm, rng):
    y, _ = lstm(make_x(rng))
    with pytest.raises(ValueError, match=r"dy: expected shape"):
        lstm.backward(np.zeros((T, N, H + 1), np.float32))
    dx, _ = lstm.backward(np.ones_like(y))
    assert dx.shape == (T, N, C)


# --- functional.lstm_backward: cache, grads buffers ---------------------------------------------


@pytest.fixture
def functional_call(rng):
    params = fr.LSTM(C, H, seed=0).state_dict()
    y, _, cache = F.lstm(make_x(rng), params, training=True)
    return params, y, cache


@pytest.mark.parametrize(
    "not_a_cache, type_name", [(None, "NoneType"), ({}, "dict"), ((1, 2), "tuple"), ("cache", "str")]
)
def test_lstm_backward_refuses_a_non_cache(functional_call, not_a_cache, type_name):
    _, y, _ = functional_call
    expected = r"cache: expected the \w+ returned by lstm\(\.\.\., training=True\), got " + type_name
    with pytest.raises(TypeError, match=expected):
        F.lstm_backward(not_a_cache, np.ones_like(y))


@pytest.mark.parametrize(
    "field, forged",
    [("plan", None), ("params", {}), ("sizes", (1, 2, 3)), ("batch_first", "yes"), ("unbatched", None),
     ("y_shape", (1,)), ("cell", 3)],  # fmt: skip
)
def test_lstm_backward_refuses_a_forged_cache(functional_call, field, forged):
    _, y, cache = functional_call
    with pytest.raises((TypeError, ValueError), match=r"cache: (field '\w+' differs|its plan was not made)"):
        F.lstm_backward(cache._replace(**{field: forged}), np.ones_like(y))


def test_backward_refuses_a_cache_with_another_calls_plan(rng):
    params = fr.LSTM(C, H, seed=0).state_dict()
    y, _, first = F.lstm(make_x(rng), params, training=True)
    _, _, second = F.lstm(make_x(rng), params, training=True)
    with pytest.raises(ValueError, match=r"cache: field 'params' differs"):
        F.lstm_backward(first._replace(plan=second.plan), np.ones_like(y))


def test_lstm_eval_returns_no_cache(rng):
    params = fr.LSTM(C, H, seed=0).state_dict()
    y, _, cache = F.lstm(make_x(rng), params, training=False)
    assert cache is None
    with pytest.raises(TypeError, match=r"cache: expected .*got NoneType"):
        F.lstm_backward(cache, np.ones_like(y))


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g.pop("bias_hh_l0"),
        lambda g: g.update(extra=np.zeros(3, np.float32)),
        lambda g: g.update(weight_ih_l0_reverse=g.pop("weight_ih_l0")),
    ],
    ids=["missing", "unexpected", "renamed"],
)
def test_grads_with_wrong_keys(functional_call, edit):
    params, y, cache = functional_call
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    edit(grads)
    with pytest.raises(ValueError, match=r"grads: expected a dict with exactly the keys \['bias_hh_l0'"):
        F.lstm_backward(cache, np.ones_like(y), grads=grads)


BAD_GRAD_BUFFERS = {
    "shape": lambda: np.zeros((4 * H, H + 1), np.float32),
    "transposed-shape": lambda: np.zeros((H, 4 * H), np.float32),
    "dtype": lambda: np.zeros((4 * H, H), np.float64),
    "fortran": lambda: np.zeros((4 * H, H), np.float32, order="F"),
    "read-only": lambda: np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (4 * H, H), (0, 0)),
    "list": lambda: np.zeros((4 * H, H), np.float32).tolist(),
}


@pytest.mark.parametrize("kind", list(BAD_GRAD_BUFFERS))
def test_grads_with_wrong_buffer(functional_call, kind):
    params, y, cache = functional_call
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["weight_hh_l0"] = BAD_GRAD_BUFFERS[kind]()
    expected = re.escape(
        f"grads['weight_hh_l0']: expected a writable C-contiguous float32 array of shape {(4 * H, H)}"
    )
    with pytest.raises(ValueError, match=expected):
        F.lstm_backward(cache, np.ones_like(y), grads=grads)
    for name in ("weight_ih_l0", "bias_ih_l0", "bias_hh_l0"):
        assert not grads[name].any(), "a refused call must not write into the other buffers"


@pytest.mark.parametrize(
    "buffer, received",
    [(np.zeros((4 * H, H + 1), np.float32), r"\(16, 5\)"), (np.zeros((4 * H, H), np.float64), "float64")],
    ids=["shape", "dtype"],
)
def test_grads_with_wrong_buffer_names_what_was_received(functional_call, buffer, received):
    params, y, cache = functional_call
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    grads["weight_hh_l0"] = buffer
    with pytest.raises(ValueError, match=r"grads\['weight_hh_l0'\]: .*got .*" + received):
        F.lstm_backward(cache, np.ones_like(y), grads=grads)


# --- functional.lstm: params --------------------------------------------------------------------


def two_layer_params():
    return fr.LSTM(C, H, num_layers=2, bidirectional=True, seed=0).state_dict()


def call_two_layer(params, rng, **kwargs):
    return F.lstm(make_x(rng), params, num_layers=2, bidirectional=True, **kwargs)


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
def test_params_with_missing_or_unexpected_names(rng, edit, match):
    params = two_layer_params()
    edit(params)
    with pytest.raises(ValueError, match=r"params: names do not match .*num_layers=2, .*" + match):
        call_two_layer(params, rng)


def test_params_for_another_architecture(rng):
    params = two_layer_params()
    with pytest.raises(ValueError, match=r"params: names do not match .*num_layers=1, bidirectional=True"):
        F.lstm(make_x(rng), params, num_layers=1, bidirectional=True)
    with pytest.raises(ValueError, match=r"params: missing 'weight_ih_l0'"):
        F.lstm(make_x(rng), {"weight_hh_l0": params["weight_hh_l0"]})
    with pytest.raises(TypeError, match=r"params: expected a mapping .*got list"):
        F.lstm(make_x(rng), list(params.values()))


@pytest.mark.parametrize(
    "name, bad_shape, match",
    [
        ("weight_ih_l0", (4 * H - 1, C), re.escape(f"params['weight_ih_l0']: expected shape {(4 * H, C)}")),
        ("weight_ih_l1", (4 * H, H), re.escape(f"params['weight_ih_l1']: expected shape {(4 * H, 2 * H)}")),
        ("weight_hh_l1_reverse", (4 * H, H + 1), re.escape("params['weight_hh_l1_reverse']: expected shape")),
        (
            "bias_ih_l0_reverse",
            (4 * H + 1,),
            re.escape(f"params['bias_ih_l0_reverse']: expected shape {(4 * H,)}"),
        ),
        ("bias_hh_l1", (4 * H, 1), re.escape(f"params['bias_hh_l1']: expected shape {(4 * H,)}")),
        ("weight_hh_l0", (4 * H, H + 1), re.escape("params: weight_hh_l0 must have shape (4*H, H)")),
    ],
)
def test_params_with_wrong_shapes(rng, name, bad_shape, match):
    params = two_layer_params()
    params[name] = np.zeros(bad_shape, np.float32)
    with pytest.raises(ValueError, match=match + r".*got " + re.escape(str(bad_shape))):
        call_two_layer(params, rng)


def test_params_non_real_refused(rng):
    params = two_layer_params()
    params["bias_hh_l0"] = params["bias_hh_l0"].astype(np.complex64)
    with pytest.raises(TypeError, match=r"params\['bias_hh_l0'\]: expected a real-valued .*complex64"):
        call_two_layer(params, rng)


def test_params_integer_weights_need_a_dtype(rng):
    params = {k: np.round(v * 4).astype(np.int32) for k, v in two_layer_params().items()}
    with pytest.raises(ValueError, match=r"params: weight_ih_l0 is not .*float32/float64.*pass dtype="):
        call_two_layer(params, rng)
    y, _, _ = call_two_layer(params, rng, dtype=np.float64)
    assert y.dtype == np.float64


# --- conversions --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint16, np.float16, np.float64])
def test_other_real_dtypes_are_converted(rng, dtype):
    x = (rng.standard_normal((T, N, C)) * 3).astype(dtype)
    lstm = fr.LSTM(C, H, num_layers=2, seed=0)
    got = run_training(lstm, x)
    want = run_training(lstm, x.astype(np.float32))
    assert got[0].dtype == np.float32 and got[3].dtype == np.float32
    assert_same_results(got, want)


def test_float32_input_to_float64_layer(rng):
    x = make_x(rng)
    lstm = fr.LSTM(C, H, dtype=np.float64, seed=0)
    got = run_training(lstm, x)
    assert all(a.dtype == np.float64 for a in got[:6])
    assert_same_results(got, run_training(lstm, x.astype(np.float64)))


def test_functional_converts_to_the_params_dtype(rng):
    params = {k: v.astype(np.float64) for k, v in fr.LSTM(C, H, seed=0).state_dict().items()}
    x = make_x(rng)
    y, (h_n, c_n), cache = F.lstm(x, params, training=True)
    assert y.dtype == h_n.dtype == c_n.dtype == np.float64
    dx, (dh0, _), grads = F.lstm_backward(cache, np.ones(y.shape, np.float32))
    assert dx.dtype == dh0.dtype == np.float64
    assert all(g.dtype == np.float64 for g in grads.values())
    y32, _, _ = F.lstm(x, params, dtype=np.float32)
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


@pytest.mark.parametrize("layout", list(NON_CONTIGUOUS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_any_memory_layout_gives_identical_results(rng, layout, batch_first):
    lstm = fr.LSTM(C, H, num_layers=2, bidirectional=True, batch_first=batch_first, seed=0)
    x = make_x(rng, (N, T, C) if batch_first else (T, N, C))
    h0, c0 = make_state(rng, (4, N, H)), make_state(rng, (4, N, H))
    view = NON_CONTIGUOUS[layout]
    x_view, h0_view, c0_view = view(x), view(h0), view(c0)
    np.testing.assert_array_equal(x_view, x)
    if layout not in ("fortran", "big-endian"):
        assert not x_view.flags.c_contiguous
    want = run_training(lstm, x, (h0, c0))
    got = run_training(lstm, x_view, (h0_view, c0_view))
    assert_same_results(got, want)


def misaligned(a):
    """A read-only copy of a whose data pointer is 1 byte off the dtype's alignment."""
    out = np.frombuffer(b"\0" + a.tobytes(), a.dtype, offset=1).reshape(a.shape)
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


@pytest.mark.parametrize(
    "argument",
    [
        "x-training",
        "x-eval",
        "h0",
        "c0",
        "dy",
        "dc_n",
        "functional-params",
    ],
)
def test_misaligned_arrays_are_accepted(rng, argument):
    lstm = fr.LSTM(C, H, seed=0)
    x = make_x(rng)
    hx = make_state(rng, (1, N, H)), make_state(rng, (1, N, H))
    lstm.train(argument != "x-eval")
    want_y, want_state = lstm(x, hx)
    dy, dhx = np.ones_like(want_y), (np.ones_like(want_state[0]), np.ones_like(want_state[1]))
    if argument == "functional-params":
        params = {k: misaligned(v) for k, v in lstm.state_dict().items()}
        y, _, _ = F.lstm(x, params, hx)
        np.testing.assert_array_equal(y, want_y)
        return
    want_grads = lstm.backward(dy, dhx) if lstm.training else None
    if argument.startswith("x"):
        x = misaligned(x)
    elif argument == "h0":
        hx = misaligned(hx[0]), hx[1]
    elif argument == "c0":
        hx = hx[0], misaligned(hx[1])
    elif argument == "dy":
        dy = misaligned(dy)
    else:
        dhx = dhx[0], misaligned(dhx[1])
    y, _ = lstm(x, hx)
    np.testing.assert_array_equal(y, want_y)
    if lstm.training:
        dx, _ = lstm.backward(dy, dhx)
        np.testing.assert_array_equal(dx, want_grads[0])


@pytest.mark.parametrize("layout", ["transposed", "reversed-time", "fortran"])
def test_non_contiguous_upstream_gradients(rng, lstm, layout):
    x = make_x(rng)
    y, (h_n, c_n) = lstm(x)
    dy, dh_n, dc_n = make_state(rng, y.shape), make_state(rng, h_n.shape), make_state(rng, c_n.shape)
    want = lstm.backward(dy, (dh_n, dc_n))
    lstm(x)
    view = NON_CONTIGUOUS[layout]
    got = lstm.backward(view(dy), (view(dh_n), view(dc_n)))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1][0], want[1][0])
    np.testing.assert_array_equal(got[1][1], want[1][1])


def test_unbatched_non_contiguous(rng, lstm):
    x = make_x(rng, (T, C))
    x_view = np.ascontiguousarray(x.T).T
    assert not x_view.flags.c_contiguous
    assert_same_results(run_training(lstm, x_view), run_training(lstm, x))


def test_python_lists_are_accepted(rng, lstm):
    x = make_x(rng)
    h0, c0 = make_state(rng, (1, N, H)), make_state(rng, (1, N, H))
    want = run_training(lstm, x, (h0, c0))
    got = run_training(lstm, x.tolist(), [h0.tolist(), c0.tolist()])
    assert_same_results(got, want)
    lstm.train()
    y, (h_n, c_n) = lstm(x.tolist())
    dx, _ = lstm.backward(y.tolist(), [h_n.tolist(), None])
    assert dx.dtype == np.float32 and dx.shape == (T, N, C)


# --- empty sequences and batches ----------------------------------------------------------------


@pytest.mark.parametrize("steps, batch", [(0, N), (T, 0), (0, 0)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_sequences_and_batches(rng, steps, batch, bidirectional, batch_first):
    L, D = 2, 2 if bidirectional else 1
    lstm = fr.LSTM(C, H, num_layers=L, bidirectional=bidirectional, batch_first=batch_first, seed=0)
    x = make_x(rng, (batch, steps, C) if batch_first else (steps, batch, C))
    h0, c0 = make_state(rng, (L * D, batch, H)), make_state(rng, (L * D, batch, H))
    # Non-zero gradients from an earlier call: an empty backward must leave them unchanged.
    y_prev, _ = lstm(make_x(rng, (2, 1, C) if not batch_first else (1, 2, C)))
    lstm.backward(np.ones_like(y_prev))
    before = {k: v.copy() for k, v in lstm.grads.items()}

    y, (h_n, c_n) = lstm(x, (h0, c0))
    y_shape = (batch, steps, D * H) if batch_first else (steps, batch, D * H)
    assert y.shape == y_shape and y.dtype == np.float32
    assert h_n.shape == c_n.shape == (L * D, batch, H)
    if steps == 0:
        np.testing.assert_array_equal(h_n, h0)
        np.testing.assert_array_equal(c_n, c0)

    dh_n, dc_n = make_state(rng, h_n.shape), make_state(rng, c_n.shape)
    dx, (dh0, dc0) = lstm.backward(np.ones(y_shape, np.float32), (dh_n, dc_n))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert dh0.shape == dc0.shape == (L * D, batch, H)
    if steps == 0:
        np.testing.assert_array_equal(dh0, dh_n)
        np.testing.assert_array_equal(dc0, dc_n)
    else:
        assert dh0.size == 0
    for name, value in lstm.grads.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("shape", [(0, N, C), (T, 0, C), (0, C)])
def test_empty_functional_gradients_are_zero(rng, shape):
    params = fr.LSTM(C, H, num_layers=2, bidirectional=True, seed=0).state_dict()
    # Leave garbage in freed memory: fresh gradient buffers must still come back zero.
    junk = [np.full(4096, 7.0, np.float32) for _ in range(8)]
    del junk
    y, (h_n, c_n), cache = F.lstm(np.zeros(shape, np.float32), params, num_layers=2, bidirectional=True,
                                  training=True)  # fmt: skip
    dh_n, dc_n = np.full_like(h_n, 2.0), np.full_like(c_n, 3.0)
    dx, (dh0, dc0), grads = F.lstm_backward(cache, np.ones_like(y), (dh_n, dc_n))
    assert dx.shape == shape
    assert grads.keys() == params.keys()
    for name, g in grads.items():
        assert g.shape == params[name].shape
        assert not g.any(), name
    if shape[0] == 0:
        np.testing.assert_array_equal(dh0, dh_n)
        np.testing.assert_array_equal(dc0, dc_n)


def test_unbatched_empty_sequence(rng, lstm):
    h0, c0 = make_state(rng, (1, H)), make_state(rng, (1, H))
    y, (h_n, c_n) = lstm(np.zeros((0, C)), (h0, c0))
    assert y.shape == (0, H)
    np.testing.assert_array_equal(h_n, h0)
    np.testing.assert_array_equal(c_n, c0)
    dx, (dh0, dc0) = lstm.backward(np.zeros((0, H)), (h0, c0))
    assert dx.shape == (0, C)
    np.testing.assert_array_equal(dh0, h0)
    np.testing.assert_array_equal(dc0, c0)


# --- the caller's arrays ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
def test_caller_arrays_are_not_modified(rng, batch_first):
    lstm = fr.LSTM(C, H, num_layers=2, bidirectional=True, batch_first=batch_first, seed=0)
    x = make_x(rng, (N, T, C) if batch_first else (T, N, C))
    h0, c0 = make_state(rng, (4, N, H)), make_state(rng, (4, N, H))
    originals = [a.copy() for a in (x, h0, c0)]
    y, (h_n, c_n) = lstm(x, (h0, c0))
    dy, dh_n, dc_n = np.ones_like(y), np.ones_like(h_n), np.ones_like(c_n)
    lstm.backward(dy, (dh_n, dc_n))
    for array, original in zip((x, h0, c0), originals, strict=True):
        np.testing.assert_array_equal(array, original)
    assert (dy == 1).all() and (dh_n == 1).all() and (dc_n == 1).all()


@pytest.mark.parametrize(
    "kwargs, shape",
    [({}, (T, N, C)), ({"batch_first": True}, (N, T, C)), ({}, (T, C)), ({"bidirectional": True}, (T, N, C))],
    ids=["time-major", "batch_first", "unbatched", "bidirectional"],
)
def test_editing_x_after_forward_does_not_change_gradients(rng, kwargs, shape):
    lstm = fr.LSTM(C, H, num_layers=2, seed=0, **kwargs)
    x = make_x(rng, shape)
    want = run_training(lstm, x.copy())

    lstm.zero_grad()
    y, _ = lstm(x)
    x[...] = 123.0
    rng_dy = np.random.default_rng(7)
    dy = rng_dy.standard_normal(y.shape).astype(np.float32)
    dh_n = rng_dy.standard_normal(want[1].shape)
    dc_n = rng_dy.standard_normal(want[2].shape)
    dx, (dh0, dc0) = lstm.backward(dy, (dh_n, dc_n))
    np.testing.assert_array_equal(dx, want[3])
    np.testing.assert_array_equal(dh0, want[4])
    for name, g in lstm.grads.items():
        np.testing.assert_array_equal(g, want[6][name], err_msg=name)


def test_editing_hx_after_forward_does_not_change_gradients(rng, lstm):
    x = make_x(rng)
    h0, c0 = make_state(rng, (1, N, H)), make_state(rng, (1, N, H))
    want = run_training(lstm, x, (h0.copy(), c0.copy()))
    lstm.zero_grad()
    y, _ = lstm(x, (h0, c0))
    h0[...] = 5.0
    c0[...] = 5.0
    rng_dy = np.random.default_rng(7)
    dy = rng_dy.standard_normal(y.shape).astype(np.float32)
    lstm.backward(dy, (rng_dy.standard_normal(want[1].shape), rng_dy.standard_normal(want[2].shape)))
    for name, g in lstm.grads.items():
        np.testing.assert_array_equal(g, want[6][name], err_msg=name)


def test_editing_y_after_forward_leaves_gradients_unchanged(rng, lstm):
    x = make_x(rng)
    want = run_training(lstm, x)
    lstm.zero_grad()
    y, _ = lstm(x)
    # The backward reads the plan's own copy of the outputs: y is the caller's to edit.
    y *= 2.0
    rng_dy = np.random.default_rng(7)
    dy = rng_dy.standard_normal(y.shape).astype(np.float32)
    lstm.backward(dy, (rng_dy.standard_normal(want[1].shape), rng_dy.standard_normal(want[2].shape)))
    for name, g in lstm.grads.items():
        np.testing.assert_array_equal(g, want[6][name], err_msg=name)


# --- non-finite and very large values -----------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_nan_in_x_propagates(rng, training):
    lstm = fr.LSTM(C, H, seed=0).train(training)
    x = make_x(rng)
    x[2, 0, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, (h_n, c_n) = lstm(x)
        assert np.isnan(y[2:, 0]).all()
        assert np.isfinite(y[:2]).all() and np.isfinite(y[:, 1]).all()
        assert np.isnan(h_n[:, 0]).all() and np.isnan(c_n[:, 0]).all()
        assert np.isfinite(h_n[:, 1]).all()
        if training:
            dx, (dh0, _) = lstm.backward(np.ones_like(y))
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
    "case",
    ["all+1e4", "all-1e4", "mixed-1e4", "spikes+inf", "spikes-inf", "spikes-max"],
)
def test_large_inputs_give_finite_outputs(rng, dtype, case):
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
    lstm = fr.LSTM(C, H, num_layers=2, bidirectional=True, dtype=dtype, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for training in (False, True):
            lstm.train(training)
            y, (h_n, c_n) = lstm(x)
            assert np.isfinite(y).all() and np.isfinite(h_n).all() and np.isfinite(c_n).all()
            assert np.abs(y).max() <= 1.0
        dx, (dh0, dc0) = lstm.backward(np.ones_like(y), (np.ones_like(h_n), np.ones_like(c_n)))
        assert np.isfinite(dx).all() and np.isfinite(dh0).all() and np.isfinite(dc0).all()
        if np.isfinite(x).all():
            # dW_ih = dGᵀ·x: an infinite x legitimately makes 0·inf = NaN there, a finite one must not.
            assert all(np.isfinite(g).all() for g in lstm.grads.values())
