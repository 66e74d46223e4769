"""Size arguments past the kernels' limits: a ValueError naming the argument and the limit, raised before
anything is allocated, from every layer, fr.functional entry point, fr.nn layer and fr.sklearn estimator;
wrong types a TypeError naming the argument; numpy integers accepted like ints."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fusedrnn as fr
from fusedrnn import _core, nn

LIMITS = _core._size_limits
SIZE, HIDDEN, LAYERS = LIMITS["size"], LIMITS["hidden_size"], LIMITS["num_layers"]

# (what is built, the argument, its limit): each callable takes the value of that argument.
SIZE_ARGUMENTS = [
    *[(f"{cls.__name__}.input_size", lambda v, c=cls: c(v, 4), SIZE) for cls in (fr.LSTM, fr.GRU, fr.RNN)],
    *[(f"{cls.__name__}.hidden_size", lambda v, c=cls: c(3, v), HIDDEN) for cls in (fr.LSTM, fr.GRU, fr.RNN)],
    *[
        (f"{cls.__name__}.num_layers", lambda v, c=cls: c(3, 4, num_layers=v), LAYERS)
        for cls in (fr.LSTM, fr.GRU, fr.RNN)
    ],
    ("functional.param_names.num_layers", lambda v: fr.functional.param_names(v), LAYERS),
    ("functional.param_shapes.input_size", lambda v: fr.functional.param_shapes("gru", v, 4), SIZE),
    ("functional.param_shapes.hidden_size", lambda v: fr.functional.param_shapes("lstm", 3, v), HIDDEN),
    ("functional.param_shapes.num_layers", lambda v: fr.functional.param_shapes("rnn", 3, 4, v), LAYERS),
    ("nn.Dense.units", lambda v: nn.Dense(v), SIZE),
    ("nn.Embedding.input_dim", lambda v: nn.Embedding(v, 1), SIZE),
    ("nn.Embedding.output_dim", lambda v: nn.Embedding(1, v), SIZE),
    *[(f"nn.{f.__name__}.units", lambda v, f=f: f(v), HIDDEN) for f in (nn.LSTM, nn.GRU, nn.SimpleRNN)],
]
_ARGUMENT = {label: label.rsplit(".", 1)[1] for label, _, _ in SIZE_ARGUMENTS}


def _functional_call(num_layers):
    x = np.zeros((2, 1, 3), np.float32)
    params = {"weight_ih_l0": np.zeros((16, 3), np.float32), "weight_hh_l0": np.zeros((16, 4), np.float32)}
    return fr.functional.lstm(x, params, num_layers=num_layers)


SIZE_ARGUMENTS.append(("functional.lstm.num_layers", _functional_call, LAYERS))
_ARGUMENT["functional.lstm.num_layers"] = "num_layers"


@pytest.mark.parametrize("label, make, limit", SIZE_ARGUMENTS, ids=[a[0] for a in SIZE_ARGUMENTS])
@pytest.mark.parametrize("excess", [1, 2**31, 2**63, 10**30])
def test_sizes_past_the_limit_name_the_argument_and_the_limit(label, make, limit, excess):
    with pytest.raises(ValueError, match=rf"{_ARGUMENT[label]}: \d+ is above the supported limit {limit}\b"):
        make(limit + excess)


@pytest.mark.parametrize("label, make, limit", SIZE_ARGUMENTS, ids=[a[0] for a in SIZE_ARGUMENTS])
@pytest.mark.parametrize(
    "bad, kind",
    [
        (0, ValueError),
        (-1, ValueError),
        (-(10**30), ValueError),
        (2.0, TypeError),
        (True, TypeError),
        ("3", TypeError),
        (None, TypeError),
        (np.float32(3), TypeError),
    ],
)
def test_sizes_that_are_not_positive_ints(label, make, limit, bad, kind):
    with pytest.raises(kind, match=_ARGUMENT[label]):
        make(bad)


@given(value=st.integers(min_value=HIDDEN + 1))
def test_any_hidden_size_past_the_limit(value):
    with pytest.raises(ValueError, match=f"fusedrnn.LSTM: hidden_size: {value} is above the supported limit"):
        fr.LSTM(1, value)


@pytest.mark.parametrize("integer", [np.int8, np.int64, np.uint16, np.uint64])
def test_numpy_integers_are_sizes(integer):
    lstm = fr.LSTM(integer(3), integer(4), num_layers=integer(2), proj_size=integer(2))
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.proj_size) == (3, 4, 2, 2)
    assert type(lstm.hidden_size) is int
    assert nn.Dense(integer(3)).units == 3
    assert fr.functional.param_shapes("gru", integer(3), integer(4))["weight_hh_l0"] == (12, 4)


def test_projection_size():
    with pytest.raises(ValueError, match=rf"proj_size: \d+ is above the supported limit {SIZE}\b"):
        fr.LSTM(3, 4, proj_size=10**30)
    for bad, kind in ((-1, ValueError), (2.0, TypeError), (True, TypeError), (4, ValueError)):
        with pytest.raises(kind, match="proj_size"):
            fr.LSTM(3, 4, proj_size=bad)


def test_the_python_limits_are_the_kernels():
    # Just past each limit, C++ itself refuses the same sizes with the same bound in its message.
    cases = [
        ("input_size", (SIZE + 1, 4, 1)),
        ("hidden_size", (3, HIDDEN + 1, 1)),
        ("num_layers", (3, 4, LAYERS + 1)),
    ]
    for name, (C, H, L) in cases:
        limit = LIMITS[name if name != "input_size" else "size"]
        with pytest.raises(ValueError, match=rf"{name}: \d+ is above the supported limit {limit}\b"):
            _core.parameter_shapes("lstm", C, H, L, False, True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: fr.LSTM(SIZE, 2**20),  # each size fits, the parameter count does not
        lambda: fr.GRU(3, HIDDEN),
        lambda: fr.RNN(2**20, 2**16, num_layers=LAYERS),
        lambda: nn.Embedding(2**31 - 1, 2**20),
        lambda: nn.Sequential([nn.Dense(2**30)]).build((None, 2**10)),
    ],
)
def test_too_many_parameters_refused_before_allocating(make):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"parameters, above the supported \d+"):
            make()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_sklearn_sizes():
    pytest.importorskip("sklearn")
    from fusedrnn.sklearn import RecurrentRegressor

    X, y = np.zeros((4, 3), np.float32), np.zeros(4)
    with pytest.raises(ValueError, match=rf"hidden_size: \d+ is above the supported limit {HIDDEN}\b"):
        RecurrentRegressor(hidden_size=10**30).fit(X, y)
    with pytest.raises(ValueError, match=rf"num_layers: \d+ is above the supported limit {LAYERS}\b"):
        RecurrentRegressor(num_layers=LAYERS + 1).fit(X, y)
    for name in ("hidden_size", "num_layers", "batch_size"):
        with pytest.raises(TypeError, match=name):
            RecurrentRegressor(**{name: 2.5}).fit(X, y)
    with pytest.raises(ValueError, match="epochs"):
        RecurrentRegressor(epochs=-1).fit(X, y)


def test_fit_sizes():
    model = nn.Sequential([nn.Dense(1)])
    model.compile("sgd", "mse")
    X, y = np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32)
    for kwargs, kind in (
        ({"batch_size": 0}, ValueError),
        ({"batch_size": 1.5}, TypeError),
        ({"epochs": -1}, ValueError),
        ({"epochs": 2.0}, TypeError),
    ):
        with pytest.raises(kind, match=next(iter(kwargs))):
            model.fit(X, y, verbose=0, **kwargs)
    assert model.fit(X, y, epochs=np.int64(2), batch_size=np.uint8(3), verbose=0)["loss"]


@pytest.mark.parametrize("batch_first", [False, True])
def test_call_past_the_size_limit_is_refused_before_any_copy(batch_first):
    # A broadcast view of 64 GiB: converting it (dtype, or batch_first's transpose) would allocate that much.
    layer = fr.LSTM(4, 8, batch_first=batch_first, dtype=np.float64)
    x = np.lib.stride_tricks.as_strided(np.zeros(4, np.float32), shape=(2**20, 2**12, 4), strides=(0, 0, 4))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"x: T\*N = \d+\*\d+ is above the supported limit"):
            layer(x)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
