"""The NumPy reference of the layer-normalised LSTM (reference.py's module docstring): its gradients
against finite differences in float64 (every parameter, the gains and the cell norm's bias included,
with stacks, both directions, a projection, recurrent masks and lengths), and its forward against a
direct, step-by-step transcription of the equations. Everything here is float64."""

import numpy as np
import pytest
from reference_helpers import numerical_grad, random_params

from fusedrnn import reference as ref

RTOL, ATOL = 1e-6, 1e-8


def layer_norm_params(rng, C, H, num_layers=1, bidirectional=False, bias=True, proj=0):
    params = random_params(rng, "lstm", C, H, num_layers, bidirectional, bias)
    if proj:
        for name in [n for n in params if n.startswith("weight_hh")]:
            params[name] = rng.standard_normal((4 * H, proj)) * 0.4
            params[name.replace("weight_hh", "weight_hr")] = rng.standard_normal((proj, H)) * 0.4
        D = 2 if bidirectional else 1
        for k in range(1, num_layers):
            for d in range(D):
                s = f"_l{k}" + ("_reverse" if d else "")
                params["weight_ih" + s] = rng.standard_normal((4 * H, D * proj)) * 0.4
    for name in [n for n in params if n.startswith("weight_ih")]:
        s = name[len("weight_ih") :]
        # Gains and bias away from their 1 / 0 initialisation, so that each enters the check.
        params["layernorm_ih_weight" + s] = 1 + 0.3 * rng.standard_normal(4 * H)
        params["layernorm_hh_weight" + s] = 1 + 0.3 * rng.standard_normal(4 * H)
        params["layernorm_c_weight" + s] = 1 + 0.3 * rng.standard_normal(H)
        params["layernorm_c_bias" + s] = 0.3 * rng.standard_normal(H)
    return params


def by_hand(x, h0, c0, p, s="_l0", product=lambda a, w: a @ w.T):
    """One forward layer, written straight from the equations (each a @ w.T computed by `product`)."""

    def ln(v, gain, bias=0.0):
        return gain * (v - v.mean(1, keepdims=True)) / np.sqrt(v.var(1, keepdims=True) + 1e-5) + bias

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    H = c0.shape[1]
    h, c, ys = h0, c0, []
    for x_t in x:
        z = ln(product(x_t, p["weight_ih" + s]), p["layernorm_ih_weight" + s])
        z = z + ln(product(h, p["weight_hh" + s]), p["layernorm_hh_weight" + s])
        z = z + p["bias_ih" + s] + p["bias_hh" + s]
        i, f, g, o = (
            sigmoid(z[:, :H]),
            sigmoid(z[:, H : 2 * H]),
            np.tanh(z[:, 2 * H : 3 * H]),
            sigmoid(z[:, 3 * H :]),
        )
        c = f * c + i * g
        h = o * np.tanh(ln(c, p["layernorm_c_weight" + s], p["layernorm_c_bias" + s]))
        ys.append(h)
    return np.stack(ys), h, c


def test_forward_is_the_equations():
    rng = np.random.default_rng(0)
    T, N, C, H = 5, 3, 4, 6
    p = layer_norm_params(rng, C, H)
    x = rng.standard_normal((T, N, C))
    h0, c0 = rng.standard_normal((2, 1, N, H))
    y, (h_n, c_n), _ = ref.lstm(x, p, (h0, c0), layer_norm=True)
    y_hand, h_hand, c_hand = by_hand(x, h0[0], c0[0], p)
    np.testing.assert_allclose(y, y_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n[0], h_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n[0], c_hand, rtol=1e-12, atol=1e-14)


def test_bf16_products_forward_is_the_equations_and_the_backward_rounds_every_product():
    # compute_dtype="bfloat16"'s model: the forward's two products take rounded operands, the norms do
    # not; the backward computes its four products per step (dx, dW_ih, dW_hh, dh) by the same function.
    rng = np.random.default_rng(4)
    T, N, C, H = 4, 3, 5, 16
    p = layer_norm_params(rng, C, H)
    x = rng.standard_normal((T, N, C))
    h0, c0 = rng.standard_normal((2, 1, N, H))
    bf16 = ref.reduced_product("bf16")
    calls = []

    def product(a, w):
        calls.append((a.shape, w.shape))
        return bf16(a, w)

    y, (h_n, c_n), cache = ref.lstm(x, p, (h0, c0), layer_norm=True, product=product)
    y_hand, h_hand, c_hand = by_hand(x, h0[0], c0[0], p, product=bf16)
    np.testing.assert_allclose(y, y_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n[0], c_hand, rtol=1e-12, atol=1e-14)
    assert np.abs(y - by_hand(x, h0[0], c0[0], p)[0]).max() > 1e-4  # the rounding shows
    assert len(calls) == 2 * T
    ref.lstm_backward(cache, rng.standard_normal(y.shape))
    assert len(calls) == 2 * T + 4 * T
    assert sorted(calls[2 * T : 2 * T + 4]) == sorted(
        [((N, 4 * H), (C, 4 * H)), ((4 * H, N), (C, N)), ((4 * H, N), (H, N)), ((N, 4 * H), (H, 4 * H))]
    )


def test_plain_parameters_with_unit_gains_differ_from_the_plain_lstm():
    # The norms are not identities at their initialisation: a check that the option is not ignored.
    rng = np.random.default_rng(1)
    p = layer_norm_params(rng, 3, 4)
    plain = {k: v for k, v in p.items() if not k.startswith("layernorm")}
    x = rng.standard_normal((4, 2, 3))
    y_ln, _, _ = ref.lstm(x, p, layer_norm=True)
    y_plain, _, _ = ref.lstm(x, plain)
    assert np.abs(y_ln - y_plain).max() > 1e-3


@pytest.mark.parametrize(
    "num_layers,bidirectional,proj,lengths,masks",
    [
        (1, False, 0, False, False),
        (2, True, 0, False, True),
        (1, True, 3, False, False),
        (2, False, 0, True, False),
    ],
)
def test_stack_gradients_match_finite_differences(num_layers, bidirectional, proj, lengths, masks):
    rng = np.random.default_rng(2)
    T, N, C, H = 3, 3, 2, 4
    D = 2 if bidirectional else 1
    p = layer_norm_params(rng, C, H, num_layers, bidirectional, proj=proj)
    S = proj or H
    x = rng.standard_normal((T, N, C))
    hx = (rng.standard_normal((num_layers * D, N, S)), rng.standard_normal((num_layers * D, N, H)))
    options = dict(num_layers=num_layers, bidirectional=bidirectional, layer_norm=True)
    if lengths:
        options["lengths"] = np.array([3, 1, 2])
    if masks:
        options["recurrent_masks"] = rng.uniform(0.5, 1.5, (num_layers * D, N, S))
    y, (h_n, c_n), cache = ref.lstm(x, p, hx, **options)
    dy, dh, dc = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape)

    def loss():
        y, (h_n, c_n), _ = ref.lstm(x, p, hx, **options)
        return np.sum(y * dy) + np.sum(h_n * dh) + np.sum(c_n * dc)

    dx, (dh0, dc0), grads = ref.lstm_backward(cache, dy, (dh, dc))
    assert set(grads) == set(p)
    for analytic, array in [(dx, x), (dh0, hx[0]), (dc0, hx[1])] + [(grads[k], p[k]) for k in p]:
        np.testing.assert_allclose(analytic, numerical_grad(loss, array), rtol=RTOL, atol=ATOL)


def test_parameters_and_option_must_agree():
    rng = np.random.default_rng(3)
    p = layer_norm_params(rng, 2, 3)
    x = rng.standard_normal((2, 1, 2))
    with pytest.raises(ValueError, match="layernorm_ih_weight_l0"):
        ref.lstm(x, p)
    del p["layernorm_c_bias_l0"]
    with pytest.raises(ValueError, match="layernorm_c_bias_l0"):
        ref.lstm(x, p, layer_norm=True)
