"""Sentiment (the lectures' text classification) on a synthetic corpus generated here: short reviews
whose polarity depends on word order ("not good" is negative, "not bad" positive), so a bag of words
cannot solve it. Embedding + LSTM(32) + Dense(2); held-out accuracy (target >= 95 %)."""

import time

import numpy as np

from fusedrnn import nn

POSITIVE = ["good", "great", "excellent", "fun", "lovely", "clever"]
NEGATIVE = ["bad", "boring", "awful", "dull", "weak", "silly"]
FILLER = ["the", "movie", "was", "really", "plot", "acting", "and", "quite", "very", "overall"]


def reviews(count, rng):
    vocabulary = ["<pad>", "not"] + POSITIVE + NEGATIVE + FILLER
    index = {w: i for i, w in enumerate(vocabulary)}
    X = np.zeros((count, 12), np.int64)
    y = np.zeros(count, np.int64)
    for n in range(count):
        positive = rng.random() < 0.5
        negated = rng.random() < 0.5
        word = rng.choice(POSITIVE if positive != negated else NEGATIVE)
        words = list(rng.choice(FILLER, rng.integers(3, 8))) + (["not"] if negated else []) + [word]
        words += list(rng.choice(FILLER, rng.integers(0, 12 - len(words) + 1)))
        X[n, : len(words)] = [index[w] for w in words[:12]]
        y[n] = positive
    return X, y, len(vocabulary)


def run(smoke=False):
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    X, y, vocabulary = reviews(600 if smoke else 4000, rng)
    cut = int(0.8 * len(X))
    model = nn.Sequential([nn.Embedding(vocabulary, 16), nn.LSTM(32), nn.Dense(2)], seed=0)
    model.compile(nn.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(X[:cut], y[:cut], epochs=2 if smoke else 15, batch_size=64, verbose=0)
    accuracy = float(np.mean(model.predict(X[cut:]).argmax(axis=1) == y[cut:]))
    seconds = time.perf_counter() - start
    print(f"sentiment: held-out accuracy {accuracy:.1%} (target >= 95 %), {seconds:.2f} s")
    return {"accuracy": accuracy, "seconds": seconds}
