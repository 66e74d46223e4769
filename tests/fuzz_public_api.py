"""Property-based fuzzing of the public layer API: random cells, sizes, layouts and options (activations,
GRU form, per-sequence lengths, dropout and recurrent dropout), with inputs that are valid, of the wrong
shape, dtype, layout or type; and the functional API with corrupted params, gradient buffers and forged
caches. Every case must end in a result equal to the NumPy reference, or in a clear exception
(TypeError, ValueError, RuntimeError, KeyError) that names an argument; anything else fails.

    python tests/fuzz_public_api.py 10000      # on demand; CI runs a few hundred (tests/test_fuzz.py)

Run as its own process (the test starts it with a timeout), so a crash or a hang fails the test instead of
ending the test run. Prints the counts of results and clean errors.
"""

from __future__ import annotations

import re
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fusedrnn as fr
from fusedrnn import reference

CLEAN = (TypeError, ValueError, RuntimeError, KeyError)
NAMED = re.compile(
    r"^(x|hx|h0|c0|dy|dhx|dh_n|dc_n|out|lengths|backward|cache|grads(\[.*\])?|params(\[.*\])?|"
    r"state_dict\[.*\]): "
)
ACTIVATIONS = ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"]
# Unbounded gates make gated cells explode (tests/test_kernels.py).
BOUNDED = ["tanh", "sigmoid", "hard_sigmoid"]
LAYERS = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}
TOLERANCE = {np.float32: 2e-4, np.float64: 1e-9}
counts = {"results": 0, "clean errors": 0}


def _array(draw, shape, dtype_kind):
    """An array of `shape` in a drawn layout and dtype, or something that is not a float array."""
    values = draw(st.integers(0, 2**31)) % 1000 / 1000.0 - 0.5
    base = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape) + values
    if dtype_kind == "float":
        dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.float16]))
        array = base.astype(dtype)
        layout = draw(st.sampled_from(["c", "fortran", "strided", "readonly"]))
        if layout == "fortran":
            array = np.asfortranarray(array)
        elif layout == "strided":
            array = np.repeat(array, 2, axis=-1)[..., ::2] if array.ndim else array
        elif layout == "readonly":
            array.flags.writeable = False
        return array
    not_floats = [base.astype(np.complex64), base > 0, base.astype(object), base.tolist(), "x"]
    return draw(st.sampled_from(not_floats))


@st.composite
def cases(draw):
    cell = draw(st.sampled_from(sorted(LAYERS)))
    C, H, L = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 2))
    bidirectional, batch_first, bias = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    T, N, unbatched = draw(st.integers(0, 4)), draw(st.integers(1, 3)), draw(st.booleans())
    D = 2 if bidirectional else 1
    x_shape = (T, C) if unbatched else ((N, T, C) if batch_first else (T, N, C))
    state_shape = (L * D, H) if unbatched else (L * D, N, H)
    y_shape = x_shape[:-1] + (D * H,)
    corruptions = ["x_shape", "x_type", "h_shape", "h_type", "dy_shape", "dy_type", "lengths"]
    wrong = draw(st.sampled_from([None] * 7 + corruptions))
    options = {}
    if draw(st.booleans()):
        options["activation"] = draw(st.sampled_from(ACTIVATIONS))
        if cell != "rnn":
            options["recurrent_activation"] = draw(st.sampled_from(BOUNDED))
    if cell == "gru":
        options["reset_after"] = draw(st.booleans())
    if draw(st.booleans()):
        options["dropout"] = draw(st.sampled_from([0.0, 0.3, 1.0])) if L > 1 else 0.0
        options["recurrent_dropout"] = draw(st.sampled_from([0.0, 0.5]))
    lengths = None
    if T > 0 and draw(st.booleans()):
        n = 1 if unbatched else N
        lengths = [draw(st.integers(1, T)) for _ in range(n)]
        if unbatched and draw(st.booleans()):
            lengths = lengths[0]
    if wrong == "lengths":
        lengths = draw(
            st.sampled_from(
                [
                    [0] * (1 if unbatched else N),
                    [T + 1] * (1 if unbatched else N),
                    [1.5] * (1 if unbatched else N),
                    [1] * (N + 1),
                    "1",
                    [True],
                ]
            )
        )

    def shaped(shape, corrupt_shape, corrupt_type):
        if corrupt_type:
            return _array(draw, shape, "other")
        if corrupt_shape:
            shape = shape[:-1] + (shape[-1] + draw(st.integers(1, 2)),) if draw(st.booleans()) else shape[1:]
        return _array(draw, shape, "float")

    x = shaped(x_shape, wrong == "x_shape", wrong == "x_type")
    states = None
    if draw(st.booleans()):
        h0 = shaped(state_shape, wrong == "h_shape", wrong == "h_type")
        states = (h0, _array(draw, state_shape, "float")) if cell == "lstm" else h0
    training = draw(st.booleans())
    dy = None if draw(st.booleans()) else shaped(y_shape, wrong == "dy_shape", wrong == "dy_type")
    return dict(
        cell=cell,
        C=C,
        H=H,
        L=L,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
        dtype=dtype,
        x=x,
        states=states,
        training=training,
        dy=dy,
        options=options,
        lengths=lengths,
    )


def _reference(case, layer, x64, states64):
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    options = dict(num_layers=case["L"], bidirectional=case["bidirectional"], batch_first=case["batch_first"])
    given = case["options"]
    if layer.dropout_masks is not None:
        options["dropout_masks"] = layer.dropout_masks.astype(np.float64)
    if layer.recurrent_dropout_masks is not None:
        options["recurrent_masks"] = layer.recurrent_dropout_masks.astype(np.float64)
    lengths = case["lengths"]
    unbatched = x64.ndim == 2
    if lengths is not None and unbatched:  # the reference takes lengths for batched input only
        x64 = x64[:, None]
        states64 = (
            None
            if states64 is None
            else (tuple(s[:, None] for s in states64) if case["cell"] == "lstm" else states64[:, None])
        )
        options["lengths"] = np.atleast_1d(lengths)
        options["batch_first"] = False
    elif lengths is not None:
        options["lengths"] = np.asarray(lengths)
    if case["cell"] == "lstm":
        y = reference.lstm(
            x64,
            params,
            states64,
            activation=given.get("activation", "tanh"),
            recurrent_activation=given.get("recurrent_activation", "sigmoid"),
            **options,
        )[0]
    elif case["cell"] == "gru":
        y = reference.gru(
            x64,
            params,
            states64,
            activation=given.get("activation", "tanh"),
            recurrent_activation=given.get("recurrent_activation", "sigmoid"),
            reset_after=given.get("reset_after", True),
            **options,
        )[0]
    else:
        y = reference.rnn(x64, params, states64, given.get("activation", "tanh"), **options)[0]
    return y[:, 0] if lengths is not None and unbatched else y


def _clean(err):
    counts["clean errors"] += 1
    assert NAMED.match(str(err)), f"message names no argument: {type(err).__name__}: {err}"


@settings(
    max_examples=int(sys.argv[1]) if len(sys.argv) > 1 else 200,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(cases())
def check(case):
    layer = LAYERS[case["cell"]](
        case["C"],
        case["H"],
        num_layers=case["L"],
        bias=case["bias"],
        batch_first=case["batch_first"],
        bidirectional=case["bidirectional"],
        dtype=case["dtype"],
        seed=0,
        **case["options"],
    ).train(case["training"])
    try:
        y, _ = layer(case["x"], case["states"], lengths=case["lengths"])
    except CLEAN as err:
        _clean(err)
        return
    counts["results"] += 1
    x64 = np.asarray(case["x"], dtype=np.float64)
    states = case["states"]
    if states is None:
        states64 = None
    elif case["cell"] == "lstm":
        states64 = tuple(np.asarray(s, np.float64) for s in states)
    else:
        states64 = np.asarray(states, np.float64)
    want = _reference(case, layer, x64, states64)
    tol = TOLERANCE[case["dtype"]]
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
    if case["training"]:
        try:
            dx, _ = layer.backward(case["dy"])
        except CLEAN as err:
            _clean(err)
            return
        assert dx.shape == x64.shape and np.isfinite(dx).all()


FUNCTIONAL = {
    "lstm": (fr.functional.lstm, fr.functional.lstm_backward, reference.lstm),
    "gru": (fr.functional.gru, fr.functional.gru_backward, reference.gru),
    "rnn": (fr.functional.rnn, fr.functional.rnn_backward, reference.rnn),
}


@st.composite
def functional_cases(draw):
    cell = draw(st.sampled_from(sorted(FUNCTIONAL)))
    C, H, L = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 2))
    bidirectional, bias = draw(st.booleans()), draw(st.booleans())
    T, N = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    layer = LAYERS[cell](C, H, num_layers=L, bias=bias, bidirectional=bidirectional, dtype=dtype, seed=1)
    params = layer.state_dict()
    wrong = draw(st.sampled_from([None] * 5 + ["missing", "extra", "shape", "dtype", "grads", "cache"]))
    name = draw(st.sampled_from(sorted(params)))
    if wrong == "missing":
        del params[name]
    elif wrong == "extra":
        params["weight_ih_l9"] = params[name]
    elif wrong == "shape":
        params[name] = params[name][..., :-1] if params[name].shape[-1] > 1 else params[name][None]
    elif wrong == "dtype":
        params[name] = params[name].astype(draw(st.sampled_from([np.complex64, np.bool_, object])))
    x = _array(draw, (T, N, C), "float")
    grads = None
    if draw(st.booleans()) or wrong == "grads":
        grads = {k: np.zeros(np.shape(v), dtype) for k, v in layer.state_dict().items()}
        if wrong == "grads":
            grads[name] = draw(
                st.sampled_from(
                    [grads[name][..., ::-1], grads[name].astype(np.float16), grads[name].ravel(), [0.0]]
                )
            )
    return dict(
        cell=cell,
        L=L,
        bidirectional=bidirectional,
        dtype=dtype,
        params=params,
        x=x,
        grads=grads,
        wrong=wrong,
        forge=draw(st.sampled_from(["plan", "params", "sizes", "y_shape", "cell"])),
    )


@settings(
    max_examples=int(sys.argv[1]) // 2 if len(sys.argv) > 1 else 100,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(functional_cases())
def check_functional(case):
    forward, backward, ref = FUNCTIONAL[case["cell"]]
    options = dict(num_layers=case["L"], bidirectional=case["bidirectional"])
    try:
        y, _, cache = forward(case["x"], case["params"], None, training=True, dtype=case["dtype"], **options)
    except CLEAN as err:
        _clean(err)
        return
    counts["results"] += 1
    params64 = {k: np.asarray(v, np.float64) for k, v in case["params"].items()}
    want = ref(np.asarray(case["x"], np.float64), params64, None, **options)[0]
    tol = TOLERANCE[case["dtype"]]
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)
    if case["wrong"] == "cache":
        forged = {"plan": None, "params": {}, "sizes": (1, 2), "y_shape": (1,), "cell": 7}[case["forge"]]
        cache = cache._replace(**{case["forge"]: forged})
    try:
        dx, _, grads = backward(cache, np.ones_like(y), None, grads=case["grads"])
    except CLEAN as err:
        _clean(err)
        return
    assert dx.shape == np.shape(case["x"]) and all(np.isfinite(g).all() for g in grads.values())


if __name__ == "__main__":
    check()
    check_functional()
    print(
        f"fuzz: {sum(counts.values())} cases, {counts['results']} results equal to the reference, "
        f"{counts['clean errors']} clean errors"
    )
