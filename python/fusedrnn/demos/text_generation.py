"""Character-level text generation (the lectures' char-RNN), on a corpus every Python install has: the
source of a few standard-library modules, or (``data_set="english"``) the English prose of Python's
reference documentation. Embedding + LSTM(128, return_sequences=True) + per-step
Dense(vocabulary), softmax cross-entropy at every step; reports the held-out loss per character against
the unigram baseline and samples text with a temperature."""

import inspect
import time

import numpy as np

from fusedrnn import nn

CORPORA = ("python-source", "english")


def corpus(characters, data_set="python-source"):
    """python-source: a few standard-library modules' source. english: the prose of Python's own
    reference documentation (pydoc_data, which CPython ships for help()), its indented code examples
    left out."""
    if data_set == "english":
        try:
            from pydoc_data.topics import topics
        except ImportError as err:  # some distributions package the documentation topics apart
            raise ImportError("data_set='english' needs pydoc_data (Python's documentation topics)") from err
        # Prose lines only: not the indented code examples, nor the "*****" rules under headings.
        lines = (line.strip() for text in topics.values() for line in text.splitlines() if line[:3] != "   ")
        prose = (line for line in lines if line and line.strip("*=-~^") != "")
        text = " ".join(" ".join(prose).split())[:characters]
    else:
        import argparse
        import textwrap

        text = (inspect.getsource(textwrap) + inspect.getsource(argparse))[:characters]
    return "".join(c if c.isprintable() or c == "\n" else " " for c in text)


def sample(model, seed_text, index, chars, length, temperature, rng):
    tokens = [index[c] for c in seed_text]
    for _ in range(length):
        logits = model.predict(np.array([tokens[-40:]]))[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        tokens.append(int(rng.choice(len(p), p=p / p.sum())))
    return "".join(chars[t] for t in tokens)


def run(smoke=False, data_set="python-source"):
    if data_set not in CORPORA:
        raise ValueError(f"data_set: expected one of {', '.join(CORPORA)}, got {data_set!r}")
    start = time.perf_counter()
    text = corpus(6000 if smoke else 40000, data_set)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    encoded = np.array([index[c] for c in text])
    windows = np.lib.stride_tricks.sliding_window_view(encoded, 41)[::20]
    X, y = windows[:, :-1], windows[:, 1:]
    cut = int(0.9 * len(X))
    model = nn.Sequential(
        [nn.Embedding(len(chars), 32), nn.LSTM(128, return_sequences=True), nn.Dense(len(chars))], seed=0
    )
    model.compile(nn.Adam(0.01, clipnorm=5.0), "sparse_categorical_crossentropy")
    model.fit(X[:cut], y[:cut], epochs=10 if smoke else 20, batch_size=64, verbose=0)
    loss = model.evaluate(X[cut:], y[cut:])
    counts = np.bincount(encoded, minlength=len(chars)) / len(encoded)
    unigram = float(-np.sum(counts * np.log(np.maximum(counts, 1e-12))))
    rng = np.random.default_rng(0)
    seed_text = "The " if data_set == "english" else "def "
    generated = sample(model, seed_text, index, chars, 80 if not smoke else 10, 0.5, rng)
    seconds = time.perf_counter() - start
    label = "" if data_set == "python-source" else f" ({data_set})"
    print(
        f"text_generation{label}: held-out loss {loss:.2f} nats/char vs unigram {unigram:.2f}, "
        f"{seconds:.2f} s"
    )
    print("  sample (temperature 0.5):", repr(generated))
    return {"loss": loss, "unigram": unigram, "sample": generated, "seconds": seconds, "data": data_set}
