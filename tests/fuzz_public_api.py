"""Property-based fuzzing of the public layer API: random cells, sizes, layouts and options, with inputs
that are valid, of the wrong shape, dtype, layout or type. Every case must end in a result equal to the
NumPy reference, or in a clear exception (TypeError, ValueError, RuntimeError, KeyError) that names an
argument; anything else fails.

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
NAMED = re.compile(r"^(x|hx|h0|c0|dy|dhx|dh_n|dc_n|out|backward|state_dict\[.*\]): ")
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
    corruptions = ["x_shape", "x_type", "h_shape", "h_type", "dy_shape", "dy_type"]
    wrong = draw(st.sampled_from([None] * 6 + corruptions))

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
    return dict(cell=cell, C=C, H=H, L=L, bidirectional=bidirectional, batch_first=batch_first, bias=bias,
                dtype=dtype, x=x, states=states, training=training, dy=dy)  # fmt: skip


def _reference(case, layer, x64, states64):
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    options = dict(num_layers=case["L"], bidirectional=case["bidirectional"], batch_first=case["batch_first"])
    if case["cell"] == "lstm":
        return reference.lstm(x64, params, states64, **options)[0]
    if case["cell"] == "gru":
        return reference.gru(x64, params, states64, **options)[0]
    return reference.rnn(x64, params, states64, **options)[0]


def _clean(err):
    counts["clean errors"] += 1
    assert NAMED.match(str(err)), f"message names no argument: {type(err).__name__}: {err}"


@settings(max_examples=int(sys.argv[1]) if len(sys.argv) > 1 else 200, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(cases())
def check(case):
    layer = LAYERS[case["cell"]](case["C"], case["H"], num_layers=case["L"], bias=case["bias"],
                                 batch_first=case["batch_first"], bidirectional=case["bidirectional"],
                                 dtype=case["dtype"], seed=0).train(case["training"])  # fmt: skip
    try:
        y, _ = layer(case["x"], case["states"])
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


if __name__ == "__main__":
    check()
    print(f"fuzz: {sum(counts.values())} cases, {counts['results']} results equal to the reference, "
          f"{counts['clean errors']} clean errors")  # fmt: skip
