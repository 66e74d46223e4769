"""One-to-many (the lecture notes): from one number n (one time step), the next two numbers n+1, n+2;
LSTM(50, relu) + Dense(2); predict for 10 (the notes: [11.01, 12.14])."""

import time

import numpy as np

from fusedrnn import nn


def run(smoke=False):
    start = time.perf_counter()
    n = np.arange(1, 46, 3, dtype=np.float32)
    X, y = n[:, None, None], np.stack([n + 1, n + 2], axis=1)
    model = nn.Sequential([nn.LSTM(50, activation="relu", init="keras"), nn.Dense(2)], seed=0)
    model.compile("adam", "mse")
    model.fit(X, y, epochs=50 if smoke else 1000, batch_size=3, verbose=0)
    prediction = model.predict(np.array([[[10.0]]], np.float32))[0]
    seconds = time.perf_counter() - start
    print(f"next_two: 10 -> [{prediction[0]:.2f}, {prediction[1]:.2f}] (expected [11, 12]), {seconds:.2f} s")
    return {"prediction": prediction.tolist(), "seconds": seconds}
