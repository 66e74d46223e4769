"""Encoder-decoder (sequence to sequence) on a toy translation: dates as people write them ("5 March
2024", "Mar 5, 2024", "05/03/2024") to ISO ("2024-03-05"), character by character. The functional API
as Keras users write it: an encoder LSTM hands its final states to a decoder LSTM (teacher forcing in
training: the decoder reads the target shifted by a start token), with and without Luong attention over
the encoder's outputs. At inference the decoder runs greedily one `step()` at a time from the start
token. Held-out exact-match accuracy (the whole date right; target >= 95 % with attention)."""

import time
from typing import Any

import numpy as np

from fusedrnn import nn

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
SOURCE = "<" + " ,/0123456789" + "".join(sorted(set("".join(MONTHS))))  # "<": padding (id 0)
TARGET = "^0123456789-"  # "^": the decoder's start token
T_OUT = 10


def human(day, month, year, style):
    name = MONTHS[month - 1]
    return [
        f"{day} {name} {year}",
        f"{day:02d} {name[:3]} {year}",
        f"{name} {day}, {year}",
        f"{name[:3]} {day}, {year}",
        f"{day:02d}/{month:02d}/{year}",
        f"{day} {name[:3]} {year}",
    ][style]


def dates(count, rng):
    """`count` distinct dates: (the human forms, the ISO forms)."""
    seen: set[str] = set()
    sources: list[str] = []
    targets: list[str] = []
    while len(sources) < count:
        year, month = int(rng.integers(1950, 2050)), int(rng.integers(1, 13))
        day, style = int(rng.integers(1, DAYS[month - 1] + 1)), int(rng.integers(6))
        text = human(day, month, year, style)
        if text in seen:
            continue
        seen.add(text)
        sources.append(text)
        targets.append(f"{year:04d}-{month:02d}-{day:02d}")
    return sources, targets


def encode(sources, targets):
    width = max(map(len, sources))
    X = np.zeros((len(sources), width), np.int64)  # post-padded with 0
    for n, text in enumerate(sources):
        X[n, : len(text)] = [SOURCE.index(c) for c in text]
    Y = np.array([[TARGET.index(c) for c in t] for t in targets], np.int64)
    decoder_in = np.concatenate([np.zeros((len(Y), 1), np.int64), Y[:, :-1]], axis=1)  # teacher forcing
    return X, decoder_in, Y


def build(attention, units=64, seed=0):
    """The training model and its layers (shared with the step-by-step decoder)."""
    encoder_in = nn.Input(shape=(None,), dtype="int64", name="source")
    decoder_in = nn.Input(shape=(T_OUT,), dtype="int64", name="target_in")
    layers: dict[str, Any] = {
        "encoder_embedding": nn.Embedding(len(SOURCE), 32, mask_zero=True),
        "encoder": nn.LSTM(units, return_sequences=True, return_state=True),
        "decoder_embedding": nn.Embedding(len(TARGET), 32),
        "decoder": nn.LSTM(units, return_sequences=True),
        "attention": nn.Attention() if attention else None,
        "concat": nn.Concatenate() if attention else None,
        "head": nn.Dense(len(TARGET), activation="softmax"),
    }
    encoded, h, c = layers["encoder"](layers["encoder_embedding"](encoder_in))
    decoded = layers["decoder"](layers["decoder_embedding"](decoder_in), initial_state=[h, c])
    if attention:
        context = layers["attention"]([decoded, encoded])  # the query: the decoder's outputs
        decoded = layers["concat"]([decoded, context])
    model = nn.Model([encoder_in, decoder_in], layers["head"](decoded), seed=seed)
    return model, layers


def greedy(layers, X):
    """Decodes X greedily: the encoder once, then the decoder one step() at a time from "^"."""
    mask = X != 0
    encoded, h, c = layers["encoder"](layers["encoder_embedding"].forward(X, False), mask=mask)
    states = [h, c]
    token = np.zeros(len(X), np.int64)
    out = np.zeros((len(X), T_OUT), np.int64)
    for t in range(T_OUT):
        y, states = layers["decoder"].step(layers["decoder_embedding"].forward(token, False), states)
        if layers["attention"] is not None:
            context = layers["attention"]([y[:, None, :], encoded], mask=[None, mask])[:, 0]
            y = layers["concat"]([y, context])
        token = layers["head"].forward(y, False).argmax(axis=-1)
        out[:, t] = token
    return out


def text(tokens):
    return "".join(TARGET[t] for t in tokens)


def run(smoke=False):
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    sources, targets = dates(800 if smoke else 5000, rng)
    X, decoder_in, Y = encode(sources, targets)
    cut = len(X) - (200 if smoke else 1000)
    results = {}
    for attention in (False, True):
        began = time.perf_counter()
        model, layers = build(attention)
        model.compile(nn.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        epochs = 1 if smoke else 4
        model.fit([X[:cut], decoder_in[:cut]], Y[:cut], epochs=epochs, batch_size=64, verbose=0)
        trained = time.perf_counter() - began
        decoded = greedy(layers, X[cut:])
        exact = float(np.mean(np.all(decoded == Y[cut:], axis=1)))
        key = "attention" if attention else "plain"
        results[key] = {"accuracy": exact, "train_seconds": trained, "decoded": decoded}
        label = "with attention   " if attention else "without attention"
        print(
            f"seq2seq {label}: held-out exact match {exact:.1%} ({cut} dates, {epochs} epochs, "
            f"trained in {trained:.1f} s)"
        )
    for n in range(cut, cut + 4):
        plain, attended = (text(results[k]["decoded"][n - cut]) for k in ("plain", "attention"))
        print(f"  {sources[n]!r:>22} -> {attended} (without attention: {plain}; truth {targets[n]})")
    seconds = time.perf_counter() - start
    print(f"seq2seq: target >= 95 % with attention, {seconds:.1f} s in all")
    return {
        "accuracy": results["attention"]["accuracy"],
        "accuracy_without_attention": results["plain"]["accuracy"],
        "train_seconds": results["attention"]["train_seconds"] + results["plain"]["train_seconds"],
        "seconds": seconds,
    }
