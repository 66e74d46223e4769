"""fr.data.sliding_windows: the lectures' sequence creation."""

import numpy as np
import pytest

import fusedrnn as fr


def test_windows_and_targets():
    series = np.arange(10.0)
    X, y = fr.data.sliding_windows(series, steps=3, horizon=2)
    assert X.shape == (6, 3, 1) and y.shape == (6, 2, 1)
    np.testing.assert_array_equal(X[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(y[0, :, 0], [3, 4])
    np.testing.assert_array_equal(X[-1, :, 0], [5, 6, 7])
    np.testing.assert_array_equal(y[-1, :, 0], [8, 9])
    X2, y2 = fr.data.sliding_windows(np.stack([series, -series], axis=1), steps=4, stride=3)
    assert X2.shape == (2, 4, 2) and y2.shape == (2, 1, 2)
    np.testing.assert_array_equal(X2[1, :, 1], [-3, -4, -5, -6])
    X[0, 0, 0] = 99  # copies, not views of the series
    assert series[0] == 0
    # The lectures' multiples-of-5 data: [5, 10, 15] -> [20, 25, 30]
    X3, y3 = fr.data.sliding_windows(np.arange(5, 100, 5), steps=3, horizon=3, stride=3)
    np.testing.assert_array_equal(X3[0, :, 0], [5, 10, 15])
    np.testing.assert_array_equal(y3[0, :, 0], [20, 25, 30])


def test_bad_arguments():
    for kwargs, match in [
        (dict(steps=0), "steps"),
        (dict(steps=3, horizon=-1), "horizon"),
        (dict(steps=3, stride=0), "stride"),
        (dict(steps=10), "too few"),
    ]:
        with pytest.raises(ValueError, match=match):
            fr.data.sliding_windows(np.arange(10), **kwargs)
    with pytest.raises(TypeError, match="series: expected real numbers"):
        fr.data.sliding_windows(np.array(["a", "b"]), steps=1)
    with pytest.raises(ValueError, match=r"series: expected a \[T\] or \[T, F\] array"):
        fr.data.sliding_windows(np.zeros((3, 2, 2)), steps=1)
