"""fr.nn's attention and merge layers as a Keras user calls them: ``Attention()([query, value])``,
``AdditiveAttention``, ``Concatenate``, ``Add``; every gradient (inputs and parameters) against central
finite differences in float64, masks, the causal mask, returned scores, dropout; Keras 3 side by side
(same inputs, same weights) when keras is installed."""

import os

import numpy as np
import pytest

from fusedrnn import nn

RNG = np.random.default_rng(7)


def _numeric(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of x (changed in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = f()
        flat[i] = keep - eps
        down = f()
        flat[i] = keep
        gflat[i] = (up - down) / (2 * eps)
    return grad


def _float64_parameters(layer):
    for name in layer.parameter_names():
        setattr(layer, name, getattr(layer, name).astype(np.float64))


def _check(layer, inputs, options=None, masks=None, n_outputs=1):
    """Gradients of sum(w_k * output_k) for fixed random w against finite differences."""
    options = options or {}
    masks = masks or [None] * len(inputs)
    outs, _ = layer.forward_nodes(inputs, masks, len(inputs), True, False, options)
    weights = [RNG.standard_normal(o.shape) for o in outs][:n_outputs]

    def loss():
        o, _ = layer.forward_nodes(inputs, masks, len(inputs), True, False, options)
        return sum(float(np.sum(w * a)) for w, a in zip(weights, o, strict=False))

    loss()
    layer.zero_grad()
    d_outs = weights + [None] * (len(outs) - len(weights))
    analytic = layer.backward_nodes(d_outs, len(inputs), True, options)
    assert len(analytic) == len(inputs)
    for x, g in zip(inputs, analytic, strict=True):
        np.testing.assert_allclose(g, _numeric(loss, x), rtol=1e-6, atol=1e-8)
    for p, g in zip(layer.parameters(), layer.gradients(), strict=True):
        np.testing.assert_allclose(g, _numeric(loss, p), rtol=1e-5, atol=1e-6)


def _qkv(n=2, tq=3, tv=4, d=5, dv=3):
    return (
        RNG.standard_normal((n, tq, d)),
        RNG.standard_normal((n, tv, dv)),
        RNG.standard_normal((n, tv, d)),
    )


def _built(layer, shapes):
    layer.build(tuple((None,) + s[1:] for s in shapes), np.random.default_rng(0))
    _float64_parameters(layer)
    for p in layer.parameters():  # away from the initial ones, so a wrong gradient cannot hide
        p[...] = RNG.uniform(0.5, 1.5, p.shape)
    return layer


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Attention(),
        lambda: nn.Attention(use_scale=True),
        lambda: nn.Attention(score_mode="concat"),
        lambda: nn.Attention(use_scale=True, score_mode="concat"),
        lambda: nn.AdditiveAttention(),
        lambda: nn.AdditiveAttention(use_scale=False),
    ],
    ids=["dot", "dot-scaled", "concat", "concat-scaled", "additive", "additive-unscaled"],
)
def test_attention_gradients_against_finite_differences(make):
    q, v, k = _qkv()
    query_only = [q, RNG.standard_normal((2, 4, 5))]  # value = key: value's gradient sums both roles
    layer = _built(make(), [a.shape for a in query_only])
    _check(layer, query_only)
    layer = _built(make(), [a.shape for a in (q, v, k)])
    _check(layer, [q, v, k])
    # masks (a padded value step, a padded query step), the causal mask, the returned scores' gradient
    masks = [np.array([[1, 1, 0], [1, 1, 1]], bool), np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool), None]
    _check(layer, [q, v, k], {"use_causal_mask": True, "return_attention_scores": True}, masks, n_outputs=2)


@pytest.mark.parametrize("make", [lambda: nn.Concatenate(), lambda: nn.Concatenate(axis=1), lambda: nn.Add()])
def test_merge_gradients(make):
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 4))
    _check(make(), [a, b])


@pytest.mark.parametrize(
    "axes, shapes",
    [
        ([2, 2], [(2, 3, 4), (2, 5, 4)]),
        ([2, 1], [(2, 3, 5), (2, 5, 4)]),
        (1, [(2, 3, 4), (2, 3, 5)]),
        (1, [(2, 4), (2, 4)]),
    ],
)
def test_dot_gradients(axes, shapes):
    _check(nn.Dot(axes), [RNG.standard_normal(s) for s in shapes])


def test_hand_written_luong_attention_with_dot_equals_the_attention_layer():
    decoder, encoder = nn.Input(shape=(4, 6)), nn.Input(shape=(5, 6))
    weights = nn.Activation("softmax")(nn.dot([decoder, encoder], axes=[2, 2]))
    by_hand = nn.concatenate([nn.dot([weights, encoder], axes=[2, 1]), decoder])
    layer = nn.Concatenate()([nn.Attention()([decoder, encoder]), decoder])
    model = nn.Model([decoder, encoder], [by_hand, layer])
    d, e = RNG.standard_normal((3, 4, 6)), RNG.standard_normal((3, 5, 6))
    mine, theirs = model.predict([d, e])
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    assert nn.add([decoder, decoder]).shape == (None, 4, 6)


def test_attention_weights_are_a_softmax_over_real_value_steps():
    q, _, v = _qkv()
    value_mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool)
    query_mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    out, scores = nn.Attention()([q, v], mask=[query_mask, value_mask], return_attention_scores=True)
    assert out.shape == (2, 3, 5) and scores.shape == (2, 3, 4)
    np.testing.assert_allclose(scores.sum(axis=-1), 1, rtol=1e-12)
    assert np.all(scores[~np.broadcast_to(value_mask[:, None, :], scores.shape)] == 0)
    assert np.all(out[0, 2] == 0)  # a padding query step outputs zeros, as Keras's
    np.testing.assert_allclose(out[query_mask], (scores @ v)[query_mask], rtol=1e-12)
    _, causal = nn.Attention()([q, v], use_causal_mask=True, return_attention_scores=True)
    assert np.all(np.triu(causal[0], 1)[:, :3] == 0) and np.all(causal[:, 0, 1:] == 0)


def test_float32_in_float32_out_and_dropout_only_in_training():
    q, _, v = (a.astype(np.float32) for a in _qkv())
    layer = nn.Attention(dropout=0.5, seed=1)
    out = layer([q, v])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(layer([q, v]), out)  # inference: no dropout
    _, dropped = layer([q, v], training=True, return_attention_scores=True)
    assert np.any(dropped == 0) and np.any(dropped > 1 / 4 * 1.5)


def test_wrong_inputs_are_named():
    q, v, _ = _qkv()
    with pytest.raises(ValueError, match="query and key"):
        nn.Attention()([q, v])
    with pytest.raises(TypeError, match="list"):
        nn.Attention()(q)
    with pytest.raises(ValueError, match="score_mode"):
        nn.Attention(score_mode="general")
    with pytest.raises(ValueError, match="one shape"):
        nn.Add()([q, q[:, :2]])


def test_attention_in_a_functional_model_learns_to_look_up():
    # Every query asks for the value whose key equals it: only attention can answer.
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((512, 6, 4)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=-1, keepdims=True)  # unit keys: a query's best match is its own
    values = rng.standard_normal((512, 6, 1)).astype(np.float32)
    pick = rng.integers(0, 6, 512)
    query = keys[np.arange(512), pick][:, None, :]
    target = values[np.arange(512), pick]
    q_in, k_in, v_in = nn.Input(shape=(1, 4)), nn.Input(shape=(6, 4)), nn.Input(shape=(6, 1))
    out = nn.Flatten()(nn.Attention(use_scale=True)([q_in, v_in, k_in]))
    model = nn.Model([q_in, k_in, v_in], out)
    model.compile(nn.Adam(0.05), "mse")
    history = model.fit([query, keys, values], target, epochs=30, batch_size=64, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    assert model.layers[-2].scale > 1.5  # it sharpened the softmax


# -- Keras 3 side by side ------------------------------------------------------------------------------


_KERAS_WARNINGS = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: nn.Attention(), lambda k: k.layers.Attention()),
        (lambda: nn.Attention(use_scale=True), lambda k: k.layers.Attention(use_scale=True)),
        (lambda: nn.Attention(score_mode="concat"), lambda k: k.layers.Attention(score_mode="concat")),
        (lambda: nn.AdditiveAttention(), lambda k: k.layers.AdditiveAttention()),
        (
            lambda: nn.AdditiveAttention(use_scale=False),
            lambda k: k.layers.AdditiveAttention(use_scale=False),
        ),
    ],
    ids=["dot", "dot-scaled", "concat", "additive", "additive-unscaled"],
)
@_KERAS_WARNINGS
def test_same_outputs_and_scores_as_keras(ours, theirs):
    keras = _keras()
    q, v, k = (a.astype(np.float32) for a in _qkv(n=3, tq=4, tv=5, d=6, dv=2))
    query_mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)
    value_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer, reference = ours(), theirs(keras)
    for causal in (False, True):
        expected = reference(
            [q, v, k], mask=[query_mask, value_mask], return_attention_scores=True, use_causal_mask=causal
        )
        if not causal:
            weights = [keras.ops.convert_to_numpy(w) for w in reference.get_weights()]
            layer([q, v, k])  # built
            if weights:
                weights[0] = RNG.uniform(0.5, 1.5, weights[0].shape).astype(np.float32)
                reference.set_weights(weights)
                layer.set_weights(weights)
                expected = reference(
                    [q, v, k],
                    mask=[query_mask, value_mask],
                    return_attention_scores=True,
                    use_causal_mask=causal,
                )
        got = layer(
            [q, v, k], mask=[query_mask, value_mask], return_attention_scores=True, use_causal_mask=causal
        )
        for mine, theirs_ in zip(got, expected, strict=True):
            np.testing.assert_allclose(mine, keras.ops.convert_to_numpy(theirs_), rtol=1e-5, atol=1e-6)


@_KERAS_WARNINGS
def test_same_merges_as_keras():
    keras = _keras()
    a, b = (
        RNG.standard_normal((2, 3, 4)).astype(np.float32),
        RNG.standard_normal((2, 3, 2)).astype(np.float32),
    )
    for axis in (-1,):
        np.testing.assert_allclose(
            nn.Concatenate(axis=axis)([a, b]),
            keras.ops.convert_to_numpy(keras.layers.Concatenate(axis=axis)([a, b])),
        )
    np.testing.assert_allclose(nn.Add()([a, a]), keras.ops.convert_to_numpy(keras.layers.Add()([a, a])))
    c = RNG.standard_normal((2, 5, 4)).astype(np.float32)
    for axes in ([2, 2], [1, 1]):
        expected = keras.ops.convert_to_numpy(keras.layers.Dot(axes=axes)([a, c if axes == [2, 2] else a]))
        np.testing.assert_allclose(
            nn.Dot(axes=axes)([a, c if axes == [2, 2] else a]), expected, rtol=1e-5, atol=1e-6
        )


@_KERAS_WARNINGS
@pytest.mark.parametrize("attention", ["Attention", "AdditiveAttention"])
def test_an_encoder_decoder_pasted_into_both_predicts_the_same(attention):
    keras = _keras()
    import fusedrnn as fr

    rng = np.random.default_rng(12)
    source = rng.integers(1, 20, (6, 7))
    source[:3, 5:] = 0  # post-padded, masked by the encoder's Embedding
    target_in = rng.integers(0, 9, (6, 4))
    models = []
    for lib in (keras, nn):
        layers = lib.layers if lib is keras else lib
        enc_in = layers.Input(shape=(None,), dtype="int32" if lib is keras else "int64")
        dec_in = layers.Input(shape=(None,), dtype="int32" if lib is keras else "int64")
        x = layers.Embedding(20, 5, mask_zero=True, name="enc_emb")(enc_in)
        encoded, h, c = layers.LSTM(8, return_sequences=True, return_state=True, name="encoder")(x)
        y = layers.Embedding(9, 5, name="dec_emb")(dec_in)
        decoded = layers.LSTM(8, return_sequences=True, name="decoder")(y, initial_state=[h, c])
        context = getattr(layers, attention)(name="attention")([decoded, encoded])
        merged = layers.Concatenate(name="concat")([decoded, context])
        out = layers.Dense(9, activation="softmax", name="head")(merged)
        Model = keras.Model if lib is keras else nn.Model
        models.append(Model([enc_in, dec_in], out))
    k_model, f_model = models
    for name in ("enc_emb", "encoder", "dec_emb", "decoder", "attention", "head"):
        k_layer = k_model.get_layer(name)
        if isinstance(k_layer, keras.layers.RNN):
            weights = [p for _, p in fr.from_keras(k_layer).named_parameters()]
        else:
            weights = [keras.ops.convert_to_numpy(w) for w in k_layer.get_weights()]
        f_model.get_layer(name).set_weights(weights)
    expected = keras.ops.convert_to_numpy(k_model.predict([source, target_in], verbose=0))
    np.testing.assert_allclose(f_model.predict([source, target_in]), expected, rtol=1e-4, atol=1e-5)
