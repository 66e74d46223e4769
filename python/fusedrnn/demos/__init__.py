"""The lecture notes' examples with fusedrnn (``python -m fusedrnn demo [NAME]``, ``--list``); each demo
module has ``run(smoke=False)`` printing its metric and run time and returning them. Data is synthetic or
generated here, so every demo runs offline on a fresh machine; two also run on real data that an installed
package carries (DATA_SETS)."""

from __future__ import annotations

import importlib
import os

DEMOS = {
    "sum_of_three": "many-to-one: LSTM(50, relu) + Dense(1) learns x1+x2+x3; [50, 51, 52] -> 153",
    "next_two": "one-to-many: from a number n, the next two numbers n+1, n+2; 10 -> [11, 12]",
    "multiples_of_five": "many-to-many: 3 multiples of 5 -> the next 3; [300, 305, 310] -> [315, 320, 325]",
    "forecasting": "a seasonal, noisy 'energy' series: 33-step windows -> the next value, MAE vs persistence",
    "digits": "scikit-learn's 8x8 digits row by row: LSTM(64) + Dense(10), test accuracy (scikit-learn)",
    "sentiment": "synthetic reviews where word order decides (not good / not bad): held-out accuracy",
    "text_generation": "char-level LSTM on standard-library source: loss per char vs unigram, a sample",
    "seq2seq": "encoder-decoder '5 March 2024' -> '2024-03-05', with and without attention, greedy step()",
}


# The demos that draw PNG plots (a directory given to run / `demo --plots DIR`).
PLOTS = ("sum_of_three", "forecasting", "digits")


def script(name, path):
    """What each examples/NAME.py does: runs the demo, with its PNG plots next to the script when it
    draws some and matplotlib is installed."""
    plot_dir = None
    if name in PLOTS:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            pass
        else:
            plot_dir = os.path.dirname(os.path.abspath(path))
    return run(name, plot_dir=plot_dir)


# The demos that also run on real data (`demo NAME --data SET`), and the sets: each comes with an installed
# package (statsmodels' bundled series with the `data` extra; Python's own documentation), never downloaded.
DATA_SETS = {"forecasting": ("synthetic", "sunspots", "co2"), "text_generation": ("python-source", "english")}


# The demos whose LSTM can train with bf16 products (`demo NAME --compute-dtype bfloat16`).
COMPUTE_DTYPES = ("forecasting", "digits")


def run(name, smoke=False, plot_dir=None, data_set=None, compute_dtype=None):
    if name not in DEMOS:
        raise ValueError(f"name: expected one of {', '.join(DEMOS)}, got {name!r}")
    options = {}
    if compute_dtype is not None:
        if name not in COMPUTE_DTYPES:
            raise ValueError(
                f"compute_dtype: demo {name!r} does not take it ({', '.join(COMPUTE_DTYPES)} do)"
            )
        options["compute_dtype"] = compute_dtype
    if data_set is not None:
        if data_set not in DATA_SETS.get(name, ()):
            sets = ", ".join(DATA_SETS.get(name, ())) or "no other data"
            raise ValueError(f"data_set: demo {name!r} takes {sets}; got {data_set!r}")
        options["data_set"] = data_set
    module = importlib.import_module(f"{__name__}.{name}")
    if plot_dir is not None and name in PLOTS:
        options["plot_dir"] = plot_dir
    return module.run(smoke=smoke, **options)
