"""fr.nn's functional API as a student with Keras habits writes it: ``Input``, layers called on
tensors, ``Model(inputs, outputs)`` with several inputs and outputs, compile / fit / predict / evaluate
through the same training loop as Sequential (bitwise equal to a Sequential of the same layers),
summary, get/set_weights, pickling, a tensor feeding several layers (its gradients summed), shared
layers, return_state / initial_state (an encoder-decoder), greedy decoding with step(), and the
seq2seq demo."""

import pickle

import numpy as np
import pytest

from fusedrnn import demos, nn


def _sum_of_three(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 3, 1)).astype(np.float32)
    return X, X.sum(axis=(1, 2))[:, None]


def test_a_chain_trains_bitwise_like_the_sequential_of_the_same_layers():
    X, y = _sum_of_three()
    seq = nn.Sequential([nn.Input(shape=(3, 1)), nn.LSTM(8, activation="relu"), nn.Dense(1)])
    inputs = nn.Input(shape=(3, 1))
    model = nn.Model(inputs, nn.Dense(1)(nn.LSTM(8, activation="relu")(inputs)))
    for w_seq, w_model in zip(seq.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(w_seq, w_model)  # the same seed builds the same weights
    histories = []
    for m in (seq, model):
        m.compile("adam", "mse", metrics=["mae"])
        histories.append(m.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0).history)
    assert histories[0] == histories[1]
    assert list(histories[1]) == ["loss", "mae", "val_loss", "val_mae"]
    for w_seq, w_model in zip(seq.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(w_seq, w_model)
    np.testing.assert_array_equal(seq.predict(X), model.predict(X))
    assert seq.evaluate(X, y, verbose=0) == model.evaluate(X, y, verbose=0)
    assert seq.train_on_batch(X, y) == model.train_on_batch(X, y)


def test_input_is_a_symbolic_tensor_and_sequential_still_takes_it():
    x = nn.Input(shape=(None, 4), name="frames")
    assert isinstance(x, nn.KerasTensor) and x.shape == (None, None, 4) and x.name == "frames"
    h = nn.LSTM(3, return_sequences=True)(x)
    assert h.shape == (None, None, 3)
    assert nn.Dense(2)(h).shape == (None, None, 2)
    with pytest.raises(TypeError, match="no values"):
        np.asarray(x)
    seq = nn.Sequential([nn.Input(shape=(3, 1)), nn.Dense(2)])
    assert seq.built and seq.predict(np.zeros((1, 3, 1))).shape == (1, 3, 2)


def test_two_inputs_lists_and_dicts_and_a_clear_error_for_a_missing_one():
    rng = np.random.default_rng(1)
    a, b = nn.Input(shape=(5, 2), name="a"), nn.Input(shape=(3,), name="b")
    merged = nn.Concatenate()([nn.LSTM(4)(a), nn.Dense(4, activation="relu")(b)])
    model = nn.Model([a, b], nn.Dense(1)(merged))
    A, B = rng.standard_normal((40, 5, 2)), rng.standard_normal((40, 3))
    y = A.sum(axis=(1, 2)) + B.sum(axis=1)
    model.compile(nn.Adam(0.02), "mse")
    history = model.fit([A, B], y, epochs=40, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    np.testing.assert_array_equal(model.predict([A, B]), model.predict({"a": A, "b": B}))
    assert model.predict([A, B]).shape == (40, 1)
    with pytest.raises(ValueError, match="2 arrays"):
        model.predict(A)
    with pytest.raises(ValueError, match=r"X\[1\] \(b\)"):
        model.predict([A, A])
    with pytest.raises(ValueError, match="samples"):
        model.fit([A, B[:10]], y)


def test_several_outputs_with_their_own_losses_weights_and_metrics():
    rng = np.random.default_rng(2)
    x = nn.Input(shape=(6, 1))
    h = nn.LSTM(8)(x)
    total = nn.Dense(1, name="total")(h)
    sign = nn.Dense(2, activation="softmax", name="sign")(h)
    model = nn.Model(x, [total, sign])
    X = rng.standard_normal((64, 6, 1)).astype(np.float32)
    targets = [X.sum(axis=(1, 2)), (X.sum(axis=(1, 2)) > 0).astype(np.int64)]
    model.compile(
        "adam",
        {"total": "mse", "sign": "sparse_categorical_crossentropy"},
        metrics={"sign": ["accuracy"]},
        loss_weights=[1.0, 0.5],
    )
    history = model.fit(X, targets, epochs=2, batch_size=16, verbose=0).history
    assert list(history) == ["loss", "total_loss", "sign_loss", "sign_accuracy"]
    logs = model.evaluate(X, targets, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(logs["total_loss"] + 0.5 * logs["sign_loss"], rel=1e-6)
    pred_total, pred_sign = model.predict(X)
    assert logs["sign_accuracy"] == pytest.approx(np.mean(pred_sign.argmax(axis=1) == targets[1]))
    assert model.evaluate(X, {"total": targets[0], "sign": targets[1]}, verbose=0)[0] == pytest.approx(
        logs["loss"]
    )


def test_a_tensor_feeding_several_layers_gets_the_sum_of_their_gradients():
    # float64 end to end (the merge and attention layers keep it): self-attention plus a residual.
    rng = np.random.default_rng(3)
    x = nn.Input(shape=(4, 3))
    out = nn.Add()([x, nn.Attention()([x, x])])
    model = nn.Model(x, out)
    X = rng.standard_normal((2, 4, 3))
    w = rng.standard_normal((2, 4, 3))
    model.forward([X], training=True)
    model._backward([w])
    analytic = model.input_gradients[0]

    def loss():
        return float(np.sum(w * model.forward([X])[0]))

    numeric = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        keep = X[i]
        X[i] = keep + 1e-6
        up = loss()
        X[i] = keep - 1e-6
        numeric[i] = (up - loss()) / 2e-6
        X[i] = keep
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_a_shared_dense_layer_accumulates_both_calls():
    rng = np.random.default_rng(4)
    a, b = nn.Input(shape=(3,)), nn.Input(shape=(3,))
    shared = nn.Dense(2, use_bias=False)
    model = nn.Model([a, b], nn.Add()([shared(a), shared(b)]))
    assert len(model.get_weights()) == 1  # one layer, counted once
    A, B = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    y = rng.standard_normal((8, 2))
    model.compile("sgd", "mse")
    _, (dW,) = model.compute_gradients([A, B], y)
    # D(a) + D(b) = D(a + b): the gradient of one call on the sum
    single = nn.Dense(2, use_bias=False)
    c = nn.Input(shape=(3,))
    reference = nn.Model(c, single(c))
    reference.set_weights(model.get_weights())
    reference.compile("sgd", "mse")
    _, (dW_ref,) = reference.compute_gradients(A + B, y)
    np.testing.assert_allclose(dW, dW_ref, rtol=1e-5, atol=1e-6)


def test_a_shared_recurrent_layer_predicts_but_refuses_training_in_one_model():
    a, b = nn.Input(shape=(5, 2)), nn.Input(shape=(5, 2))
    lstm = nn.LSTM(3)
    model = nn.Model([a, b], nn.Concatenate()([lstm(a), lstm(b)]))
    A = np.random.default_rng(5).standard_normal((4, 5, 2)).astype(np.float32)
    out = model.predict([A, A[::-1]])
    np.testing.assert_array_equal(out[:, :3], out[::-1, 3:])
    model.compile("adam", "mse")
    with pytest.raises(NotImplementedError, match="several places"):
        model.fit([A, A], np.zeros((4, 6)), verbose=0)


def test_graph_errors_name_the_problem():
    a, b = nn.Input(shape=(3,)), nn.Input(shape=(3,))
    out = nn.Add()([a, b])
    with pytest.raises(ValueError, match="disconnected"):
        nn.Model(a, out)
    with pytest.raises(TypeError, match="symbolic"):
        nn.Model(np.zeros(3), out)
    with pytest.raises(ValueError, match="initial_state"):
        nn.LSTM(4)(nn.Input(shape=(2, 1)), initial_state=[nn.Input(shape=(4,))])


def test_summary_layers_weights_and_pickle():
    x = nn.Input(shape=(3, 1), name="numbers")
    h = nn.LSTM(5, name="encoder")(x)
    model = nn.Model(x, nn.Dense(1, name="head")(h), name="adder")
    text = model.summary(print_fn=None)
    assert "encoder (LSTM)" in text and "head (Dense)" in text and "numbers" in text
    assert f"Total params: {sum(w.size for w in model.get_weights()):,}" in text
    assert [layer.name for layer in model.layers] == ["numbers", "encoder", "head"]
    assert model.get_layer("head").units == 1
    X = np.random.default_rng(6).standard_normal((7, 3, 1)).astype(np.float32)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    weights = [w + 1 for w in model.get_weights()]
    copy.set_weights(weights)
    for w, mine in zip(weights, copy.get_weights(), strict=True):
        np.testing.assert_array_equal(w, mine)
    with pytest.raises(ValueError, match="weights"):
        copy.set_weights(weights[:-1])


def test_callbacks_and_fit_refusals_work_as_for_sequential(tmp_path):
    X, y = _sum_of_three(32)
    x = nn.Input(shape=(3, 1))
    model = nn.Model(x, nn.Dense(1)(nn.Flatten()(x)))
    model.compile("adam", "mse")
    with pytest.raises(RuntimeError, match="compile"):
        nn.Model(x, nn.Dense(1)(nn.Flatten()(x))).fit(X, y)
    with pytest.raises(ValueError, match="at least one sample"):
        model.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="leaves none"):
        model.fit(X[:1], y[:1], validation_split=0.5)
    history = model.fit(
        X, y, epochs=50, verbose=0, callbacks=[nn.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)]
    )
    assert len(history.history["loss"]) == 2  # the first epoch sets the best, the second stops
    best = tmp_path / "best.keras"
    stop = nn.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(
        X, y, epochs=40, validation_split=0.25, verbose=0,
        callbacks=[stop, nn.ModelCheckpoint(str(best), save_best_only=True)],
    )  # fmt: skip
    kept = nn.load_model(best)
    assert kept.evaluate(X[24:], y[24:], verbose=0) == pytest.approx(
        min(history.history["val_loss"]), rel=1e-6
    )
    np.testing.assert_array_equal(kept.predict(X), model.predict(X))  # restored: the best epoch's weights
    with pytest.warns(RuntimeWarning, match="loss became"):
        model.fit(X, np.full_like(y, np.nan), epochs=1, verbose=0)


def _encoder_decoder(attention, units=6):
    enc_in, dec_in = nn.Input(shape=(None, 3)), nn.Input(shape=(None, 2))
    encoder = nn.LSTM(units, return_sequences=True, return_state=True)
    decoder = nn.LSTM(units, return_sequences=True)
    seq, h, c = encoder(enc_in)
    out = decoder(dec_in, initial_state=[h, c])
    if attention is not None:
        out = nn.Concatenate()([out, attention([out, seq])])
    head = nn.Dense(2)
    return nn.Model([enc_in, dec_in], head(out)), encoder, decoder, head


@pytest.mark.parametrize(
    "attention", [None, nn.Attention(), nn.AdditiveAttention()], ids=["plain", "luong", "bahdanau"]
)
def test_encoder_decoder_gradients_match_finite_differences(attention):
    model, *_ = _encoder_decoder(attention)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(8)
    X = [rng.standard_normal((3, 5, 3)).astype(np.float32), rng.standard_normal((3, 4, 2)).astype(np.float32)]
    y = rng.standard_normal((3, 4, 2)).astype(np.float32)
    _, grads = model.compute_gradients(X, y)
    grads = [g.copy() for g in grads]
    params = model.parameters()
    for p, g in zip(params, grads, strict=True):
        for i in list(np.ndindex(p.shape))[:: max(1, p.size // 6)]:
            keep = p[i]
            p[i] = keep + 1e-2
            up = model.compute_gradients(X, y)[0]
            p[i] = keep - 1e-2
            down = model.compute_gradients(X, y)[0]
            p[i] = keep
            assert g[i] == pytest.approx((up - down) / 2e-2, rel=2e-2, abs=2e-4)


def test_greedy_step_decoding_reproduces_the_teacher_forced_forward():
    model, encoder, decoder, head = _encoder_decoder(nn.Attention())
    rng = np.random.default_rng(9)
    source = rng.standard_normal((4, 5, 3)).astype(np.float32)
    target_in = rng.standard_normal((4, 3, 2)).astype(np.float32)
    whole = model.predict([source, target_in])
    seq, h, c = encoder(source)
    states = [h, c]
    attention, concat = model.layers[-3], model.layers[-2]
    for t in range(3):
        y, states = decoder.step(target_in[:, t], states)
        y = concat([y, attention([y[:, None], seq])[:, 0]])
        np.testing.assert_allclose(head(y), whole[:, t], rtol=1e-5, atol=1e-6)


def test_inference_models_share_the_trained_layers_as_in_keras():
    model, encoder, decoder, head = _encoder_decoder(None)
    enc_in = model.inputs[0]
    seq, h, c = encoder(enc_in)
    encoder_model = nn.Model(enc_in, [h, c])
    step_in, h_in, c_in = nn.Input(shape=(1, 2)), nn.Input(shape=(6,)), nn.Input(shape=(6,))
    decoder_with_states = nn.LSTM(6, return_sequences=True, return_state=True)
    out, h_out, c_out = decoder_with_states(step_in, initial_state=[h_in, c_in])
    decoder_model = nn.Model([step_in, h_in, c_in], [head(out), h_out, c_out])
    decoder_with_states.set_weights(decoder.get_weights())
    rng = np.random.default_rng(10)
    source, target_in = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3, 2))
    whole = model.predict([source, target_in])
    h, c = encoder_model.predict(source)
    for t in range(3):
        y, h, c = decoder_model.predict([target_in[:, t : t + 1], h, c])
        np.testing.assert_allclose(y[:, 0], whole[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_seq2seq_demo_translates_dates_with_attention():
    result = demos.run("seq2seq")
    assert result["accuracy"] >= 0.95
    assert result["accuracy_without_attention"] < result["accuracy"]


def test_seq2seq_demo_smoke():
    result = demos.run("seq2seq", smoke=True)
    assert 0 <= result["accuracy"] <= 1


def _seq2seq_model():
    source, target_in = nn.Input(shape=(None,), dtype="int64"), nn.Input(shape=(4,), dtype="int64")
    encoded, h, c = nn.LSTM(8, return_sequences=True, return_state=True)(
        nn.Embedding(9, 4, mask_zero=True)(source)
    )
    decoded = nn.LSTM(8, return_sequences=True)(nn.Embedding(5, 4)(target_in), initial_state=[h, c])
    context = nn.AdditiveAttention()([decoded, encoded])
    out = nn.Dense(5, activation="softmax")(nn.Concatenate()([decoded, context]))
    return nn.Model([source, target_in], out)


def _seq2seq_data(n=40):
    rng = np.random.default_rng(11)
    X = rng.integers(1, 9, (n, 6))
    X[: n // 2, 4:] = 0  # post-padding
    return [X, rng.integers(0, 5, (n, 4))], rng.integers(0, 5, (n, 4))


def test_save_and_load_model_of_a_functional_model(tmp_path):
    model = _seq2seq_model()
    model.compile(nn.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    X, y = _seq2seq_data()
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "s2s.keras")
    loaded = nn.load_model(tmp_path / "s2s.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.evaluate(X, y, verbose=0) == model.evaluate(X, y, verbose=0)
    # the optimizer's state came along: one more step is the same step
    assert loaded.train_on_batch(X, y) == model.train_on_batch(X, y)
    for mine, theirs in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    model.save_weights(tmp_path / "w.keras")
    fresh = _seq2seq_model()
    fresh.load_weights(tmp_path / "w.keras")
    np.testing.assert_array_equal(fresh.predict(X), model.predict(X))


def test_a_tampered_functional_model_file_is_refused_naming_the_path(tmp_path):
    import json

    model = _seq2seq_model()
    path = tmp_path / "m.keras"
    model.save(path)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays["__fusedrnn__"]))
    cases = {
        "a call reading a later call": lambda h: h["nodes"][0]["inputs"].__setitem__(0, [5, 0]),
        "an unknown call option": lambda h: h["nodes"][-1]["options"].__setitem__("eval", True),
        "a wrong shape": lambda h: h["inputs"][1].__setitem__("shape", [4, 3]),
        "an initial_state for a Dense": lambda h: h["nodes"][-1]["inputs"].append([-1, 0]),
        "a layer never called": lambda h: h["layers"].append({"class": "Add", "config": {}}),
    }
    for what, change in cases.items():
        bad = json.loads(json.dumps(header))
        change(bad)
        with open(path, "wb") as file:  # a file object: np.savez would add .npz to the name
            np.savez(file, **{**arrays, "__fusedrnn__": np.array(json.dumps(bad))})
        with pytest.raises(ValueError, match="path: ") as refused:
            nn.load_model(path)
        assert "m.keras" in str(refused.value), what


def test_the_keras_seq2seq_tutorial_with_one_hot_tokens_and_inference_models():
    # Keras's character-level seq2seq example as students paste it: one-hot inputs, a decoder LSTM
    # with return_state=True whose states are dropped in training, categorical cross-entropy, then an
    # encoder model and a decoder model that reuse the trained layers for greedy decoding. The task:
    # reverse a sequence of 4 symbols.
    rng = np.random.default_rng(13)
    tokens, length, start = 5, 4, 5
    seqs = rng.integers(0, tokens, (600, length))
    eye = np.eye(tokens + 1, dtype=np.float32)
    encoder_input_data = eye[seqs]
    decoder_target_data = eye[seqs[:, ::-1]]
    decoder_input_data = eye[np.concatenate([np.full((600, 1), start), seqs[:, ::-1][:, :-1]], axis=1)]

    encoder_inputs = nn.Input(shape=(None, tokens + 1))
    encoder = nn.LSTM(32, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = nn.Input(shape=(None, tokens + 1))
    decoder_lstm = nn.LSTM(32, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = nn.Dense(tokens + 1, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = nn.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer=nn.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        [encoder_input_data, decoder_input_data], decoder_target_data, batch_size=32, epochs=25,
        validation_split=0.2, verbose=0,
    )  # fmt: skip
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]

    encoder_model = nn.Model(encoder_inputs, encoder_states)
    decoder_state_input_h, decoder_state_input_c = nn.Input(shape=(32,)), nn.Input(shape=(32,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_outputs, state_h, state_c = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = nn.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs, state_h, state_c])

    held_out = slice(480, 600)
    states_value = encoder_model.predict(encoder_input_data[held_out], verbose=0)
    target_seq = eye[np.full((120, 1), start)]
    decoded = []
    for _ in range(length):
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled = output_tokens[:, -1].argmax(axis=-1)
        decoded.append(sampled)
        target_seq = eye[sampled][:, None]
        states_value = [h, c]
    exact = np.mean(np.all(np.stack(decoded, axis=1) == seqs[held_out, ::-1], axis=1))
    assert exact >= 0.9, exact
