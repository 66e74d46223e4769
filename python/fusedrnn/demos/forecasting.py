"""Time-series forecasting (the lectures' energy example, with a synthetic series so it runs offline):
hourly 'consumption' with daily and weekly cycles, a trend and noise; 33-step windows -> the next hour
with LSTM(64) + Dense(1); MAE on the last 20 % against the persistence baseline (the next hour = this one)."""

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


def run(smoke=False, plot_dir=None):
    start = time.perf_counter()
    values = series(2000 if smoke else 6000)
    mean, std = values.mean(), values.std()
    X, y = data.sliding_windows((values - mean) / std, steps=33, horizon=1)
    y = y[:, 0]
    cut = int(0.8 * len(X))
    model = nn.Sequential([nn.LSTM(64), nn.Dense(1)], seed=0)
    model.compile(nn.Adam(0.005), "mse")
    history = model.fit(X[:cut], y[:cut], epochs=3 if smoke else 15, batch_size=64, verbose=0)
    pred = model.predict(X[cut:])[:, 0] * std + mean
    truth = y[cut:, 0] * std + mean
    persistence = X[cut:, -1, 0] * std + mean
    mae, baseline = float(np.mean(np.abs(pred - truth))), float(np.mean(np.abs(persistence - truth)))
    seconds = time.perf_counter() - start
    print(
        f"forecasting: MAE {mae:.3f} vs persistence {baseline:.3f} ({baseline / mae:.2f}x better), "
        f"{seconds:.2f} s"
    )
    result = {"mae": mae, "persistence_mae": baseline, "seconds": seconds}
    also: tuple[str, ...] = ()
    if plot_dir is not None:
        title = f"33-step LSTM forecast: MAE {mae:.3f} vs persistence {baseline:.3f}"
        also = (plots.forecast(truth, pred, persistence, os.path.join(plot_dir, "forecasting.png"), title),)
    return plots.add_loss_curve(result, history, plot_dir, "forecasting", *also)
