"""Many-to-many (the lecture notes): three consecutive multiples of 5 -> the next three; LSTM(50, relu)
+ Dense(3); predict for [300, 305, 310] (the notes: [315.30, 321.04, 327.00])."""

import time

import numpy as np

from fusedrnn import data, nn


def run(smoke=False):
    start = time.perf_counter()
    series = np.arange(5, 5 * 120, 5, dtype=np.float32)
    X, y = data.sliding_windows(series, steps=3, horizon=3, stride=3)
    scale = 100.0  # inputs of a few hundred: scaled for the optimiser, the prediction scaled back
    model = nn.Sequential([nn.LSTM(50, activation="relu", init="keras"), nn.Dense(3)], seed=0)
    model.compile("adam", "mse")
    model.fit(X / scale, y[:, :, 0] / scale, epochs=50 if smoke else 1000, batch_size=3, verbose=0)
    prediction = model.predict(np.array([[[300.0], [305.0], [310.0]]], np.float32) / scale)[0] * scale
    seconds = time.perf_counter() - start
    text = ", ".join(f"{v:.2f}" for v in prediction)
    print(f"multiples_of_five: [300, 305, 310] -> [{text}] (expected [315, 320, 325]), {seconds:.2f} s")
    return {"prediction": prediction.tolist(), "seconds": seconds}
