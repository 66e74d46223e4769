"""Many-to-one (the lecture notes): LSTM(50, activation='relu') + Dense(1), adam, mse, 1000 epochs on
[[1,2,3], [4,5,6], ...] -> their sums; predict [50, 51, 52] (the notes: 152.93)."""

import time

import numpy as np

from fusedrnn import nn

from . import plots


def run(smoke=False, plot_dir=None):
    start = time.perf_counter()
    X = np.array([[i, i + 1, i + 2] for i in range(1, 100, 3)], np.float32)[:, :, None]
    y = X.sum(axis=1)
    model = nn.Sequential([nn.LSTM(50, activation="relu", init="keras"), nn.Dense(1)], seed=0)
    model.compile("adam", "mse")
    history = model.fit(X, y, epochs=50 if smoke else 1000, batch_size=len(X), verbose=0)
    prediction = float(model.predict(np.array([[[50.0], [51.0], [52.0]]], np.float32))[0, 0])
    seconds = time.perf_counter() - start
    print(f"sum_of_three: [50, 51, 52] -> {prediction:.2f} (expected 153), {seconds:.2f} s")
    result = {"prediction": prediction, "seconds": seconds}
    return plots.add_loss_curve(result, history, plot_dir, "sum_of_three")
