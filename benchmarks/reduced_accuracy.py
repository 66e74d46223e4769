"""What the reduced-precision formats cost in accuracy: max |y_q - y_fp32| of layer.quantized("int8" |
"bf16") on the benchmark grid's shapes (PyTorch's default initialisation, which fusedrnn's layers share,
and standard normal inputs), and the held-out results of two trained models (the digits and forecasting
demos' models, trained in float32 as the demos train them, then quantised with Sequential.quantized).
Prints markdown tables (the README's and RESULTS.md's).

    python benchmarks/reduced_accuracy.py
"""

import numpy as np

import fusedrnn as fr
from fusedrnn import data, nn
from fusedrnn.demos import forecasting

GRID = {  # name: (T, N, C, H), the benchmark grid's shapes (benchmarks/compare.py)
    "keras-seed": (3, 1, 1, 50),
    "energy": (33, 32, 1, 64),
    "mnist-row": (28, 64, 28, 128),
    "char-lstm": (100, 64, 128, 256),
    "stream-b1": (100, 1, 256, 512),
    "medium": (50, 64, 512, 512),
}
FORMATS = ("int8", "bf16")


def grid_errors():
    lines = ["| cell | " + " | ".join(GRID) + " |", "|---|" + "---|" * len(GRID)]
    for cls in (fr.LSTM, fr.GRU, fr.RNN):
        cells = {fmt: [] for fmt in FORMATS}
        for T, N, C, H in GRID.values():
            layer = cls(C, H, seed=0).eval()
            x = np.random.default_rng(1).standard_normal((T, N, C)).astype(np.float32)
            y = layer(x)[0]
            for fmt in FORMATS:
                q = layer.quantized(fmt)
                error = float(np.max(np.abs(q(x)[0] - y)))
                cells[fmt].append(f"{error:.1e}" + ("" if q.layer_formats == [fmt] else " (fp32)"))
        for fmt in FORMATS:
            lines.append(f"| {cls.__name__} {fmt} | " + " | ".join(cells[fmt]) + " |")
    return "\n".join(lines)


def digits_model():
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    y = digits.target
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    cut = int(0.75 * len(X))
    model = nn.Sequential([nn.LSTM(64), nn.Dense(10)], seed=0)
    model.compile(nn.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(X[:cut], y[:cut], epochs=30, batch_size=64, verbose=0)

    def score(m):
        return f"{100 * np.mean(m.predict(X[cut:]).argmax(axis=1) == y[cut:]):.1f} % accuracy"

    return model, score


def forecasting_model():
    values = forecasting.series(6000)
    mean, std = values.mean(), values.std()
    X, y = data.sliding_windows((values - mean) / std, steps=33, horizon=1)
    y = y[:, 0]
    cut = int(0.8 * len(X))
    model = nn.Sequential([nn.LSTM(64), nn.Dense(1)], seed=0)
    model.compile(nn.Adam(0.005), "mse")
    model.fit(X[:cut], y[:cut], epochs=15, batch_size=64, verbose=0)

    def score(m):
        pred = m.predict(X[cut:])[:, 0] * std + mean
        return f"MAE {np.mean(np.abs(pred - (y[cut:, 0] * std + mean))):.4f}"

    return model, score


def trained_models():
    lines = ["| model (held-out data) | float32 | int8 | bf16 |", "|---|---|---|---|"]
    # The demos' LSTM(64) layers have 16,896 (forecasting) and 20,992 (digits) weights: above the
    # 8,192-weight size rule, so both quantise.
    models = {
        "digits, LSTM(64) + Dense(10)": digits_model,
        "forecasting, LSTM(64) + Dense(1)": forecasting_model,
    }
    for name, make in models.items():
        try:
            model, score = make()
        except ImportError as err:
            lines.append(f"| {name} | skipped: {err} | | |")
            continue
        quantized = [model.quantized(fmt) for fmt in FORMATS]
        lines.append(f"| {name} | " + " | ".join(score(m) for m in [model, *quantized]) + " |")
    return "\n".join(lines)


def main():
    print(f"Reduced kernels: {fr.cpu_info()['reduced_precision']}\n")
    print("max |y_q - y_fp32| (one layer, PyTorch's init, standard normal x):\n")
    print(grid_errors())
    print("\nTrained models, quantised after float32 training:\n")
    print(trained_models())


if __name__ == "__main__":
    main()
