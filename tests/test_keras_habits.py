"""fr.nn as a student who just finished the lecture notes writes Keras (issue 22): each habit as that
student would write it, with its numbers checked where they are defined (metrics recomputed from the
predictions, gradients against finite differences, saved models against the originals)."""

import json
import os
import zipfile

import numpy as np
import pytest
from reference_helpers import numerical_grad

from fusedrnn.nn import (
    GRU,
    LSTM,
    Activation,
    Bidirectional,
    Callback,
    CategoricalCrossentropy,
    Dense,
    Dropout,
    EarlyStopping,
    Embedding,
    Flatten,
    Input,
    Masking,
    ModelCheckpoint,
    RepeatVector,
    Sequential,
    SimpleRNN,
    SparseCategoricalCrossentropy,
    TimeDistributed,
    load_model,
)
from fusedrnn.nn.activations import ACTIVATIONS


def sum_of_three():
    X = np.array([[i, i + 1, i + 2] for i in range(1, 100, 3)], np.float32)[:, :, None]
    return X, X.sum(axis=1)


def lecture_model():
    model = Sequential()
    model.add(LSTM(50, activation="relu", input_shape=(3, 1)))
    model.add(Dense(1))
    return model


def test_the_lecture_lines_paste():
    X, Y = sum_of_three()
    model = lecture_model()
    model.compile(optimizer="adam", loss="mse")
    # Built from input_shape= before any data, as Keras's: summary right away.
    text = model.summary(print_fn=None)
    assert "Total params: 10,651" in text
    # Named and typed as Keras prints them, with Keras's own count (one bias vector) beside ours, so the
    # lecture's table (10,400 + 51) can be found in it.
    assert text.splitlines()[1].startswith("lstm") and "(LSTM)" in text and "(Dense)" in text
    assert "Keras counts 10,451" in text
    history = model.fit(X, Y, epochs=300, validation_split=0.2, verbose=0)
    assert sorted(history.history) == ["loss", "val_loss"]
    assert len(history.history["loss"]) == 300 and history.epoch == list(range(300))
    assert history.history["loss"][-1] < history.history["loss"][0] / 10
    assert history["loss"] is history.history["loss"]  # fr.nn's earlier dict still indexes
    prediction = model.predict(np.array([[[50], [51], [52]]]), verbose=0)
    assert prediction.shape == (1, 1)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(np.mean((model.predict(X) - Y) ** 2), rel=1e-5)


def test_input_shape_forms():
    mlp = Sequential([Dense(8, activation="relu", input_shape=(3,)), Dense(1)])
    assert mlp.built and mlp.summary(print_fn=None).endswith("Total params: 41")
    assert Sequential([Dense(8, input_dim=3), Dense(1)]).get_weights()[0].shape == (3, 8)
    model = Sequential([Input(shape=(3, 1)), LSTM(50, activation="relu"), Dense(1)])
    assert [w.shape for w in model.get_weights()] == [w.shape for w in lecture_model().get_weights()]
    # Built as the layers are added (the torch weights' path needs the fusedrnn layer at once), with
    # the same parameters as a model built at its first fit.
    assert lecture_model().layers[0].layer.hidden_size == 50
    lazy = Sequential([LSTM(50, activation="relu"), Dense(1)])
    lazy.build((None, 3, 1))
    for a, b in zip(lazy.get_weights(), lecture_model().get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="input_shape: expected the shape of one sample"):
        Dense(1, input_shape=(0,))
    with pytest.raises(ValueError, match="X: the model was built for samples of shape"):
        mlp.predict(np.zeros((2, 4)))


def test_metrics_in_fit_evaluate_and_history(rng):
    X = rng.standard_normal((64, 5, 2)).astype(np.float32)
    y = X[:, -1, :1] * 2
    model = Sequential([GRU(8, input_shape=(5, 2)), Dense(1)])
    model.compile("adam", "mse", metrics=["mae", "mse"])
    history = model.fit(X, y, epochs=3, batch_size=16, validation_data=(X[:16], y[:16]), verbose=0)
    assert list(history.history) == ["loss", "mae", "mse", "val_loss", "val_mae", "val_mse"]
    # The training mse metric is the loss itself (both means over the batches as they were trained).
    np.testing.assert_allclose(history.history["mse"], history.history["loss"], rtol=1e-5)
    loss, mae, mse = model.evaluate(X, y, verbose=0)
    pred = model.predict(X)
    assert mae == pytest.approx(np.mean(np.abs(pred - y)), rel=1e-6)
    assert mse == pytest.approx(loss, rel=1e-6)
    assert model.evaluate(X, y, verbose=0, return_dict=True) == {"loss": loss, "mae": mae, "mse": mse}
    assert model.train_on_batch(X[:8], y[:8])[1:] != []  # [loss, mae, mse], as Keras


def classification(rng, n=120, classes=3):
    X = rng.standard_normal((n, 6, 2)).astype(np.float32)
    labels = (X[:, :, 0].sum(axis=1) > 0).astype(np.int64) + (X[:, :, 1].sum(axis=1) > 1)
    return X, labels.astype(np.int64), np.eye(classes, dtype=np.float32)[labels]


def test_softmax_classifier_with_accuracy(rng):
    X, labels, one_hot = classification(rng)
    model = Sequential([LSTM(16, input_shape=(6, 2)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, labels, epochs=40, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.7
    probabilities = model.predict(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    loss, accuracy = model.evaluate(X, labels, verbose=0)
    assert accuracy == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))
    assert loss == pytest.approx(-np.mean(np.log(probabilities[np.arange(len(X)), labels])), rel=1e-4)
    # One-hot targets with categorical_crossentropy: the same loss and accuracy.
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.evaluate(X, one_hot, verbose=0) == pytest.approx([loss, accuracy], rel=1e-5)
    # A linear head with from_logits=True: the same numbers from the logits.
    logits = Sequential([LSTM(16, input_shape=(6, 2)), Dense(3)])
    logits.compile("adam", SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    logits.set_weights(model.get_weights())
    assert logits.evaluate(X, labels, verbose=0) == pytest.approx([loss, accuracy], rel=1e-4)
    logits.compile("adam", CategoricalCrossentropy(from_logits=True))
    assert logits.evaluate(X, one_hot, verbose=0) == pytest.approx(loss, rel=1e-4)


def test_binary_classifier(rng):
    X = rng.standard_normal((80, 4, 1)).astype(np.float32)
    y = (X.sum(axis=(1, 2)) > 0).astype(np.float32)
    model = Sequential([SimpleRNN(8, input_shape=(4, 1)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=30, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(X, y, verbose=0)
    assert accuracy == pytest.approx(np.mean((model.predict(X)[:, 0] > 0.5) == y))
    assert history.history["accuracy"][-1] > 0.8


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_dense_activation_has_its_gradient(rng, name):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    dense = Dense(4, activation=name)
    dense.build(x.shape, rng)
    r = rng.standard_normal((3, 4, 4))

    def loss():
        return float(np.sum(dense.forward(x, True).astype(np.float64) * r))

    dense.zero_grad()
    dense.forward(x, True)
    dx = dense.backward(r.astype(np.float32))
    np.testing.assert_allclose(dx, numerical_grad(loss, x, 1e-2), rtol=3e-2, atol=3e-3)
    np.testing.assert_allclose(dense.dW, numerical_grad(loss, dense.W, 1e-2), rtol=3e-2, atol=3e-3)


@pytest.mark.parametrize(
    "loss, target",
    [
        (CategoricalCrossentropy(), "one_hot"),
        (CategoricalCrossentropy(from_logits=True), "one_hot"),
        (SparseCategoricalCrossentropy(), "labels"),
        (SparseCategoricalCrossentropy(from_logits=True), "labels"),
    ],
)
def test_cross_entropy_gradients(rng, loss, target):
    pred = rng.uniform(0.05, 1.0, (5, 4))
    if not loss.from_logits:
        pred /= pred.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, 5)
    y = np.eye(4)[labels] if target == "one_hot" else labels
    _, grad = loss(pred, y)
    np.testing.assert_allclose(
        grad, numerical_grad(lambda: loss(pred, y)[0], pred, 1e-6), rtol=1e-4, atol=1e-8
    )


def test_callbacks_as_objects_with_keras_hooks(rng):
    X = rng.standard_normal((32, 5, 2)).astype(np.float32)
    y = X[:, -1, :1]

    class Recorder(Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_train_begin(self, logs=None):
            self.calls.append("begin")

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append((epoch, sorted(logs)))
            if epoch == 2:
                self.model.stop_training = True

        def on_train_batch_end(self, batch, logs=None):
            self.calls.append("batch")

    recorder = Recorder()
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    history = model.fit(X, y, epochs=10, batch_size=16, callbacks=[recorder], verbose=0)
    assert len(history.history["loss"]) == 3
    assert recorder.calls[0] == "begin" and recorder.calls.count("batch") == 6
    assert recorder.calls[-1] == (2, ["loss", "mae"])
    assert recorder.model is model and recorder.params["epochs"] == 10
    # fr.nn's earlier form still works: a function that returns True to stop.
    history = model.fit(X, y, epochs=10, callbacks=[lambda m, epoch, logs: epoch == 1], verbose=0)
    assert len(history.history["loss"]) == 2


def test_early_stopping_on_loss_without_validation_data(rng):
    X = rng.standard_normal((32, 5, 2)).astype(np.float32)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile("sgd", "mse")
    stop = EarlyStopping(monitor="loss", patience=2, min_delta=10.0)  # nothing improves by 10
    history = model.fit(X, X[:, -1, :1], epochs=50, callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 2
    # Keras's default monitor without validation data: a warning, and training goes on.
    with pytest.warns(UserWarning, match="'val_loss', which is not in the logs"):
        history = model.fit(X, X[:, -1, :1], epochs=4, callbacks=[EarlyStopping()], verbose=0)
    assert len(history.history["loss"]) == 4


def test_model_checkpoint(rng, tmp_path):
    X = rng.standard_normal((48, 5, 2)).astype(np.float32)
    y = X[:, -1, :1]
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    model.compile("adam", "mse")
    best = ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_loss", save_best_only=True)
    every = ModelCheckpoint(str(tmp_path / "epoch{epoch:02d}.keras"))
    history = model.fit(X, y, epochs=5, validation_split=0.25, callbacks=[best, every], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["best.keras"] + [f"epoch{e:02d}.keras" for e in range(1, 6)]
    restored = load_model(tmp_path / "best.keras")
    assert restored.evaluate(X[36:], y[36:], verbose=0) == pytest.approx(
        min(history.history["val_loss"]), rel=1e-5
    )
    last = load_model(tmp_path / "epoch05.keras")
    np.testing.assert_array_equal(last.predict(X), model.predict(X))


def test_get_and_set_weights_copy_a_model():
    X, Y = sum_of_three()
    model = lecture_model()
    other = Sequential([LSTM(50, activation="relu", input_shape=(3, 1)), Dense(1)], seed=5)
    assert not np.array_equal(other.predict(X), model.predict(X))
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    weights = model.get_weights()
    weights[0] += 1  # copies: the model is unchanged
    np.testing.assert_array_equal(model.predict(X), other.predict(X))
    with pytest.raises(ValueError, match=r"weights\[0\]: expected shape"):
        model.set_weights([w.T for w in model.get_weights()])
    assert [w.shape for w in model.layers[1].get_weights()] == [(50, 1), (1,)]


def test_save_and_load_model(rng, tmp_path):
    X, labels, _ = classification(rng)
    model = Sequential(
        [
            Masking(mask_value=0.0, input_shape=(6, 2)),
            Bidirectional(LSTM(8, return_sequences=True)),
            GRU(6),
            Dense(3, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, labels, epochs=2, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.evaluate(X, labels, verbose=0) == model.evaluate(X, labels, verbose=0)
    # The optimizer's state came along: one more epoch of each is the same epoch (no dropout here: the
    # random streams start again from the seed).
    a = model.fit(X, labels, epochs=1, shuffle=False, verbose=0).history["loss"]
    b = loaded.fit(X, labels, epochs=1, shuffle=False, verbose=0).history["loss"]
    assert a == b
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    # np.load lists it; no pickle.
    with np.load(tmp_path / "model.keras", allow_pickle=False) as archive:
        header = json.loads(str(archive["__fusedrnn__"]))
        assert header["format"] == "fusedrnn-model" and "layers.3.kernel" in archive.files
    # Weights only, into a model of the same layers.
    model.save_weights(tmp_path / "w.keras")
    fresh = Sequential([type(layer).from_config(layer.get_config(), "") for layer in model.layers], seed=9)
    fresh.load_weights(tmp_path / "w.keras")
    np.testing.assert_array_equal(fresh.predict(X), model.predict(X))


def test_saved_layers_round_trip(rng, tmp_path):
    tokens = rng.integers(1, 20, (10, 7))
    model = Sequential(
        [
            Embedding(20, 4, input_shape=(7,)),
            SimpleRNN(5, return_sequences=True),
            TimeDistributed(Dense(3, activation="tanh")),
            Flatten(),
            Dropout(0.2),
            RepeatVector(2),
            LSTM(3, num_layers=2, return_sequences=True),
            Activation("softmax"),
        ]
    )
    model.save(tmp_path / "m.npz")  # never compiled: no compile settings
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.loss is None
    np.testing.assert_array_equal(loaded.predict(tokens), model.predict(tokens))


def test_hostile_model_files_are_refused_naming_the_path(rng, tmp_path):
    model = lecture_model()
    model.compile("adam", "mse")
    path = tmp_path / "model.keras"
    model.save(path)
    data = path.read_bytes()

    def refused(content, match):
        bad = tmp_path / "bad.keras"
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=match) as info:
            load_model(bad)
        assert repr(str(bad)) in str(info.value)

    refused(data[: len(data) // 2], "not a readable .npz archive")
    refused(b"not a zip", "not a readable .npz archive")

    def rewrite(header_edit=None, drop=None, add=None):
        with zipfile.ZipFile(path) as source, np.load(path) as arrays:
            header = json.loads(str(arrays["__fusedrnn__"]))
            members = {
                name[:-4]: arrays[name[:-4]] for name in source.namelist() if name != "__fusedrnn__.npy"
            }
        if header_edit:
            header_edit(header)
        members.pop(drop, None)
        members.update(add or {})
        out = tmp_path / "edited.keras"
        with open(out, "wb") as file:
            np.savez(file, __fusedrnn__=np.array(json.dumps(header)), **members)
        return out.read_bytes()

    refused(rewrite(lambda h: h.update(version=2)), "format version 2")
    refused(rewrite(lambda h: h["layers"][0].update({"class": "os.system"})), "unknown layer class")
    refused(rewrite(lambda h: h["layers"][1]["config"].update(units=10**12)), "units")
    refused(rewrite(lambda h: h["layers"][0]["config"].update(units=2**30)), "hidden_size|limit")
    refused(rewrite(lambda h: h["layers"][0]["config"]["options"].update(dropout="x")), "dropout")
    refused(rewrite(lambda h: h.update(input_shape=[3, 7])), "do not match|shape")
    refused(rewrite(drop="layers.1.bias"), "missing")
    refused(rewrite(add={"extra": np.zeros(3, np.float32)}), "unexpected")
    refused(rewrite(add={"layers.1.bias": np.zeros(1, np.float64)}), "float64")
    refused(
        rewrite(lambda h: h["compile"]["optimizer"].update(config={"learning_rate": "1"})), "learning_rate"
    )
    import fusedrnn as fr

    fr.save(fr.LSTM(1, 2), tmp_path / "layer.npz")
    with pytest.raises(ValueError, match="layer file: read it with fusedrnn.load"):
        load_model(tmp_path / "layer.npz")


def test_layers_that_reshape_have_their_gradients(rng):
    from test_nn import check_layer

    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    check_layer(Flatten(), x, rng)
    check_layer(RepeatVector(3), x[:, 0], rng)
    check_layer(TimeDistributed(Dense(2, activation="softmax")), x, rng)
    check_layer(Bidirectional(GRU(3), merge_mode="sum"), x, rng)
    check_layer(Bidirectional(LSTM(3), merge_mode="mul"), x, rng)
    check_layer(Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave"), x, rng)


def test_time_distributed_dense_is_dense_on_every_step(rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    a = Sequential([TimeDistributed(Dense(2), input_shape=(5, 3))])
    b = Sequential([Dense(2, input_shape=(5, 3))])
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def test_bidirectional_is_the_fused_bidirectional_layer(rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    a = Sequential([Bidirectional(LSTM(6), input_shape=(5, 3)), Dense(1)])
    b = Sequential([LSTM(6, bidirectional=True, input_shape=(5, 3)), Dense(1)])
    b.set_weights(a.get_weights())
    assert a.predict(x).shape == (4, 1)
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(6), merge_mode=None)


def test_return_state_and_initial_state(rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    encoder = LSTM(6, return_state=True)
    output, h, c = encoder(x)
    assert output.shape == h.shape == c.shape == (4, 6)
    np.testing.assert_array_equal(output, h)
    decoder = LSTM(6, return_sequences=True)
    y = decoder(x, initial_state=[h, c])
    assert y.shape == (4, 5, 6)
    assert not np.allclose(y, decoder(x))
    both = Bidirectional(LSTM(3, return_state=True))(x)
    assert len(both) == 5 and both[0].shape == (4, 6)
    with pytest.raises(ValueError, match="return_state=True"):
        Sequential([LSTM(3, return_state=True)])


def test_masking_runs_each_sequence_over_its_real_steps(rng):
    lengths = np.array([5, 2, 4, 1])
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0  # post-padding, as pad_sequences(padding="post")
    model = Sequential([Masking(input_shape=(5, 3)), LSTM(4, return_sequences=True), GRU(3), Dense(1)])
    model.compile("adam", "mse")
    padded = model.predict(x)
    for i, n in enumerate(lengths):  # each sample alone, unpadded: the same output
        np.testing.assert_allclose(model.predict(x[i : i + 1, :n]), padded[i : i + 1], rtol=1e-5, atol=1e-6)
    model.fit(x, np.ones((4, 1)), epochs=2, verbose=0)
    pre = x[:, ::-1].copy()
    with pytest.raises(ValueError, match="padding before a real step"):
        model.predict(pre)
    with pytest.raises(ValueError, match="still carries the padding mask"):
        Sequential([Masking(input_shape=(5, 3)), LSTM(4, return_sequences=True)]).predict(x)


def test_embedding_mask_zero(rng):
    tokens = rng.integers(1, 30, (6, 8))
    lengths = np.array([8, 3, 5, 1, 7, 2])
    for i, n in enumerate(lengths):
        tokens[i, n:] = 0
    model = Sequential(
        [Embedding(30, 4, mask_zero=True), Bidirectional(GRU(5)), Dense(2, activation="softmax")]
    )
    out = model.predict(tokens)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(model.predict(tokens[i : i + 1, :n]), out[i : i + 1], rtol=1e-5, atol=1e-6)


def test_compute_gradients_then_apply_is_train_on_batch(rng):
    X = rng.standard_normal((16, 5, 2)).astype(np.float32)
    y = X[:, -1, :1]
    a = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    b = Sequential([LSTM(4, input_shape=(5, 2)), Dense(1)])
    for model in (a, b):
        model.compile("adam", "mse")
    loss_a = a.train_on_batch(X, y)
    loss_b, grads = b.compute_gradients(X, y)
    assert [g.shape for g in grads] == [p.shape for p in b.get_weights()]
    b.apply_gradients(grads)
    assert loss_a == loss_b
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    # Between the two halves a wrapper may change the gradients in place (here: halve them, as an
    # average with a worker whose gradients were zero would).
    loss, grads = a.compute_gradients(X, y)
    for g in grads:
        g *= 0.5
    a.apply_gradients(grads)


def test_stateful_reset_states(rng):
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    model = Sequential([LSTM(5, stateful=True, input_shape=(4, 3)), Dense(1)])
    first = model.predict(x)
    assert not np.array_equal(model.predict(x), first)  # the state carried over
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x), first)


def test_predict_stays_batch_invariant_with_the_new_layers(rng):
    tokens = rng.integers(1, 30, (37, 9))
    tokens[::3, 6:] = 0
    model = Sequential(
        [
            Embedding(30, 8, mask_zero=True),
            Bidirectional(LSTM(6, return_sequences=True)),
            GRU(5),
            Dense(4, activation="softmax"),
        ]
    )
    whole = model.predict(tokens, batch_size=None)
    for batch_size in (1, 5, 16):
        np.testing.assert_array_equal(model.predict(tokens, batch_size=batch_size), whole)
    np.testing.assert_array_equal(model.predict(tokens[::-1], batch_size=7)[::-1], whole)


def test_verbose_prints_keras_lines(capsys):
    X, Y = sum_of_three()
    model = lecture_model()
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(X, Y, epochs=2, verbose=2)
    err = capsys.readouterr().err
    assert "Epoch 2/2" in err and "mae" in err
    model.predict(X, verbose=0)
    model.evaluate(X, Y, verbose=0)
    assert capsys.readouterr().err == ""
