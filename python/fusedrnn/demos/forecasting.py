"""Time-series forecasting (the lectures' energy example, with a synthetic series so it runs offline):
hourly 'consumption' with daily and weekly cycles, a trend and noise; 33-step windows -> the next hour
with LSTM(64) + Dense(1); MAE on the last 20 % against the persistence baseline (the next hour = this one).

Real series, with the `data` extra (statsmodels, whose wheel carries them; nothing is downloaded):
``data="sunspots"``, the yearly sunspot numbers 1700-2008 (309 values), and ``data="co2"``, the Mauna Loa
CO2 readings 1958-2001 as monthly means of the weekly ones (526 values, the 59 missing weeks
interpolated)."""

import os
import time

import numpy as np

from fusedrnn import data, nn

from . import plots


def series(hours, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(hours)
    daily = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(4 * np.pi * t / 24)
    weekly = 0.3 * np.sin(2 * np.pi * t / (24 * 7))
    return (10 + 2 * daily + weekly + 0.001 * t + rng.normal(0, 0.2, hours)).astype(np.float32)


SERIES = ("synthetic", "sunspots", "co2")


def real_series(name):
    """One of statsmodels' bundled series as float32 (ImportError naming the extra without statsmodels)."""
    try:
        from statsmodels import datasets
    except ImportError as err:
        raise ImportError(f"data={name!r} needs statsmodels: pip install 'fusedrnn[data]'") from err
    if name == "sunspots":
        return datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float32)
    weekly = datasets.co2.load_pandas().data["co2"].interpolate()
    return weekly.resample("MS").mean().to_numpy(np.float32)


def run(smoke=False, plot_dir=None, data_set="synthetic", compute_dtype="float32"):
    if data_set not in SERIES:
        raise ValueError(f"data_set: expected one of {', '.join(SERIES)}, got {data_set!r}")
    start = time.perf_counter()
    values = series(2000 if smoke else 6000) if data_set == "synthetic" else real_series(data_set)
    # Scaled with the training part's statistics only (the held-out 20 % must not leak into them).
    train_part = values[: int(0.8 * len(values))]
    mean, std = train_part.mean(), train_part.std()
    X, y = data.sliding_windows((values - mean) / std, steps=33, horizon=1)
    y = y[:, 0]
    # A real series drifts out of its training range (CO2 rises every year): the model learns the next
    # step's change from the last value instead, which a level outside the training range does not upset.
    change = data_set != "synthetic"
    target = y - X[:, -1] if change else y
    cut = int(0.8 * len(X))
    model = nn.Sequential([nn.LSTM(64, compute_dtype=compute_dtype), nn.Dense(1)], seed=0)
    model.compile(nn.Adam(0.005), "mse")
    epochs = 3 if smoke else (15 if data_set == "synthetic" else 40)
    batch_size = 64 if data_set == "synthetic" else 32
    history = model.fit(X[:cut], target[:cut], epochs=epochs, batch_size=batch_size, verbose=0)
    pred = model.predict(X[cut:])[:, 0] + (X[cut:, -1, 0] if change else 0)
    pred = pred * std + mean
    truth = y[cut:, 0] * std + mean
    persistence = X[cut:, -1, 0] * std + mean
    mae, baseline = float(np.mean(np.abs(pred - truth))), float(np.mean(np.abs(persistence - truth)))
    seconds = time.perf_counter() - start
    label = "" if data_set == "synthetic" else f" ({data_set})"
    print(
        f"forecasting{label}: MAE {mae:.3f} vs persistence {baseline:.3f} ({baseline / mae:.2f}x better), "
        f"{seconds:.2f} s"
    )
    result = {"mae": mae, "persistence_mae": baseline, "seconds": seconds, "data": data_set}
    also: tuple[str, ...] = ()
    if plot_dir is not None:
        title = f"33-step LSTM forecast: MAE {mae:.3f} vs persistence {baseline:.3f}"
        name = "forecasting.png" if data_set == "synthetic" else f"forecasting_{data_set}.png"
        also = (plots.forecast(truth, pred, persistence, os.path.join(plot_dir, name), title),)
    return plots.add_loss_curve(result, history, plot_dir, "forecasting", *also)
