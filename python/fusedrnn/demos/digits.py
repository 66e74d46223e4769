"""Digits row by row (the lectures' MNIST-row idea on scikit-learn's 8x8 digits, shipped with
scikit-learn so it runs offline): each image is a sequence of 8 rows of 8 pixels; LSTM(64) + Dense(10)
with softmax cross-entropy; test accuracy on a held-out 25 % (target >= 95 %). compute_dtype="bfloat16"
trains the LSTM with bf16 products (`fusedrnn.LSTM`)."""

import time

import numpy as np

from fusedrnn import nn

from . import plots


def run(smoke=False, plot_dir=None, compute_dtype="float32"):
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("the digits demo needs scikit-learn: pip install scikit-learn") from err
    start = time.perf_counter()
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)  # [1797, 8 rows, 8 pixels]
    y = digits.target
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    cut = int(0.75 * len(X))
    model = nn.Sequential([nn.LSTM(64, compute_dtype=compute_dtype), nn.Dense(10)], seed=0)
    model.compile(nn.Adam(0.01), "sparse_categorical_crossentropy")
    history = model.fit(X[:cut], y[:cut], epochs=2 if smoke else 30, batch_size=64, verbose=0)
    accuracy = float(np.mean(model.predict(X[cut:]).argmax(axis=1) == y[cut:]))
    seconds = time.perf_counter() - start
    print(f"digits: test accuracy {accuracy:.1%} (target >= 95 %), {seconds:.2f} s")
    result = {"accuracy": accuracy, "seconds": seconds}
    return plots.add_loss_curve(result, history, plot_dir, "digits")
