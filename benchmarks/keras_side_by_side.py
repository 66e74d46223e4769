"""The same small models in Keras 3 (when installed; KERAS_BACKEND, default torch) and in fusedrnn.nn,
side by side in one run: time per epoch (median over the epochs after the first) and the final metric.

    python benchmarks/keras_side_by_side.py [--epochs-scale 1.0]

Models (the lecture notes'): sum of three numbers (LSTM(50, relu) + Dense(1), batch 32), scikit-learn's
digits row by row (LSTM(64) + Dense(10), batch 64; needs scikit-learn) and 33-step forecasting
(LSTM(64) + Dense(1), batch 64). Both use Adam with the same learning rate and Keras's initialisers.
"""

import argparse
import os
import statistics
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


def tasks():
    from fusedrnn.demos import forecasting

    X = np.array([[i, i + 1, i + 2] for i in range(1, 100, 3)], np.float32)[:, :, None]
    probe = np.array([[[50], [51], [52]]], np.float32)
    sum3 = dict(
        name="sum_of_three",
        X=X,
        y=X.sum(axis=1),
        units=50,
        activation="relu",
        outputs=1,
        loss="mse",
        lr=0.001,
        epochs=300,
        batch=32,
        test=(probe, None),
    )
    values = forecasting.series(4000)
    values = (values - values.mean()) / values.std()
    from fusedrnn import data

    Xf, yf = data.sliding_windows(values, steps=33)
    cut = int(0.8 * len(Xf))
    fore = dict(
        name="forecasting",
        X=Xf[:cut],
        y=yf[:cut, 0],
        units=64,
        activation="tanh",
        outputs=1,
        loss="mse",
        lr=0.005,
        epochs=10,
        batch=64,
        test=(Xf[cut:], yf[cut:, 0]),
    )
    out = [sum3, fore]
    try:
        from sklearn.datasets import load_digits

        d = load_digits()
        Xd, yd = (d.images / 16.0).astype(np.float32), d.target
        order = np.random.default_rng(0).permutation(len(Xd))
        Xd, yd = Xd[order], yd[order]
        c = int(0.75 * len(Xd))
        out.append(
            dict(
                name="digits",
                X=Xd[:c],
                y=yd[:c],
                units=64,
                activation="tanh",
                outputs=10,
                loss="sparse_categorical_crossentropy",
                lr=0.01,
                epochs=30,
                batch=64,
                test=(Xd[c:], yd[c:]),
            )
        )
    except ImportError:
        pass
    return out


def metric(task, pred):
    X, y = task["test"]
    if task["name"] == "sum_of_three":
        return f"[50,51,52] -> {float(pred[0, 0]):.2f}"
    if task["name"] == "digits":
        return f"accuracy {np.mean(pred.argmax(axis=1) == y):.1%}"
    return f"MAE {np.mean(np.abs(pred[:, 0] - y[:, 0])):.4f}"


def run_fusedrnn(task, epochs):
    from fusedrnn import nn

    model = nn.Sequential(
        [nn.LSTM(task["units"], activation=task["activation"], init="keras"), nn.Dense(task["outputs"])],
        seed=0,
    )
    model.compile(nn.Adam(task["lr"]), task["loss"])
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(task["X"], task["y"], epochs=1, batch_size=task["batch"], verbose=0)
        times.append(time.perf_counter() - start)
    return times, metric(task, model.predict(task["test"][0]))


def run_keras(task, epochs):
    import keras

    keras.utils.set_random_seed(0)
    recurrent = keras.layers.LSTM(task["units"], activation=task["activation"])
    head = keras.layers.Dense(task["outputs"])
    model = keras.Sequential([keras.Input(task["X"].shape[1:]), recurrent, head])
    loss = "mse" if task["loss"] == "mse" else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(task["lr"]), loss)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(task["X"], task["y"], epochs=1, batch_size=task["batch"], verbose=0)
        times.append(time.perf_counter() - start)
    return times, metric(task, np.asarray(model.predict(task["test"][0], verbose=0)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-scale", type=float, default=1.0)
    args = parser.parse_args()
    try:
        import keras
    except ImportError:
        keras = None
    import fusedrnn as fr

    versions = f", keras {keras.__version__} ({keras.backend.backend()} backend)" if keras else ", no keras"
    print(f"fusedrnn {fr.__version__} ({fr.cpu_info()['isa']}, {fr.get_num_threads()} threads){versions}")
    for task in tasks():
        epochs = max(2, int(task["epochs"] * args.epochs_scale))
        rows = [("fusedrnn",) + run_fusedrnn(task, epochs)]
        if keras is not None:
            rows.append(("keras",) + run_keras(task, epochs))
        for who, times, result in rows:
            per_epoch = statistics.median(times[1:])
            print(
                f"  {task['name']:13s} {who:9s} {per_epoch * 1e3:8.2f} ms/epoch  ({epochs} epochs)  {result}"
            )
        if len(rows) == 2:
            speedup = statistics.median(rows[1][1][1:]) / statistics.median(rows[0][1][1:])
            print(f"  {task['name']:13s} fusedrnn {speedup:.1f}x faster per epoch")


if __name__ == "__main__":
    main()
