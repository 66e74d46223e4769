"""The private _core checks its arguments on its own: a wrong call raises, it never reads or writes out
of bounds (fusedrnn's Python layer validates user input before it gets there)."""

import numpy as np
import pytest

import fusedrnn as fr

F32 = np.float32


def rnn_args(**changes):
    args = dict(
        x=np.ones((2, 1, 3), F32), w_ih=np.ones((5, 3), F32), w_hh=np.ones((5, 5), F32), b_ih=None,
        b_hh=None, h0=None, y=np.zeros((2, 1, 5), F32), y_column=0, h_n=np.zeros((1, 5), F32),
        training=False, reverse=False,
    )  # fmt: skip
    args.update(changes)
    return args


def test_valid_call_runs():
    args = rnn_args()
    fr._core.rnn_tanh_forward(**args)
    assert np.all(args["y"] > 0)


@pytest.mark.parametrize("y_column", [-1, 1, 2**62, 2**63 - 1])
def test_y_column_out_of_range_is_refused(y_column):
    with pytest.raises(ValueError, match="y_column"):
        fr._core.rnn_tanh_forward(**rnn_args(y_column=y_column))


@pytest.mark.parametrize(
    "changes, error, match",
    [
        (dict(x=np.ones((2, 1, 3), np.float64)), TypeError, "w_ih: expected dtype float64"),
        (dict(w_hh=np.ones((5, 4), F32)), ValueError, "w_(ih|hh): expected shape"),
        (dict(h_n=np.zeros((2, 5), F32)), ValueError, "h_n: expected shape"),
        (dict(y=np.zeros((2, 1, 5), F32)[:, :, ::-1]), ValueError, "y: expected a C-contiguous"),
        (dict(x=[[1.0]]), TypeError, "x"),
    ],
)
def test_bad_arrays_are_refused(changes, error, match):
    with pytest.raises(error, match=match):
        fr._core.rnn_tanh_forward(**rnn_args(**changes))


def test_unknown_and_missing_keywords_are_refused():
    with pytest.raises(TypeError, match="unexpected keyword argument 'c0'"):
        fr._core.rnn_tanh_forward(**rnn_args(c0=None))
    args = rnn_args()
    del args["h_n"]
    with pytest.raises(TypeError, match="missing keyword argument 'h_n'"):
        fr._core.rnn_tanh_forward(**args)
