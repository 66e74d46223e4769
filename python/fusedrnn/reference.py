"""Pure-NumPy LSTM reference: the oracle the fused kernels are tested against.

It follows the equations of docs/maths.md line by line, with an explicit loop over time.
It is written to be obviously correct, not fast.

Shape legend: ``T`` steps, ``N`` batch, ``C`` input features, ``H`` hidden units,
``L`` layers, ``D`` directions (1, or 2 when bidirectional). Sequences are time-major ``[T,N,C]``.

Gates use PyTorch's order **i, f, g, o**: the rows of ``w_ih [4H,C]``, ``w_hh [4H,H]`` and of the
biases ``[4H]`` come in four blocks of ``H``::

    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)     z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    g       = tanh(z_g)
    c_t     = f * c_{t-1} + i * g
    h_t     = o * tanh(c_t)

With Keras's ``activation`` (act, default tanh) and ``recurrent_activation`` (rec, default sigmoid),
i, f, o = rec(z_i), rec(z_f), rec(z_o), g = act(z_g) and h_t = o * act(c_t); GRU and RNN likewise (see
their functions). The activations are those of `ACTIVATIONS`.

The layer-normalised LSTM (``layer_norm=True``; Ba, Kiros and Hinton 2016) normalises each row's two
gate products over all 4H gates, each with its own gain, and the cell state before its activation, with a
gain and a bias (LN(v) = gamma * (v - mean(v)) / sqrt(var(v) + LN_EPS) + beta, population variance)::

    z   = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh
    c_t = f * c_{t-1} + i * g                   (i, f, g, o from z as above)
    h_t = o * act(LN_c(c_t))

Everything is computed in the dtype of the arrays given (float32 or float64).
"""

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "LAYER_NORM_PARAMETERS",
    "LN_EPS",
    "gru",
    "gru_backward",
    "gru_layer_backward",
    "gru_layer_forward",
    "lstm",
    "lstm_backward",
    "lstm_layer_backward",
    "lstm_layer_forward",
    "rnn",
    "rnn_backward",
    "rnn_layer_backward",
    "rnn_layer_forward",
]


LN_EPS = 1e-5  # inside the square root of a layer norm's variance


def _layer_norm(v, gain, bias=None):
    """Each row of v normalised over its columns: (gain * v_hat + bias, v_hat, 1 / sigma)."""
    mean = v.mean(axis=1, keepdims=True)
    centred = v - mean
    inv_sigma = 1 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + LN_EPS)
    v_hat = centred * inv_sigma
    out = gain * v_hat
    return (out if bias is None else out + bias), v_hat, inv_sigma


def _layer_norm_backward(d_out, gain, v_hat, inv_sigma):
    """The gradient reaching v, and the gain's (summed over rows), from the gradient of gain*v_hat + bias."""
    dv_hat = d_out * gain
    dv = inv_sigma * (
        dv_hat - dv_hat.mean(axis=1, keepdims=True) - v_hat * (dv_hat * v_hat).mean(axis=1, keepdims=True)
    )
    return dv, (d_out * v_hat).sum(axis=0)


def _sigmoid(x):
    # exp() only ever sees a non-positive argument, so it cannot overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_Function = Callable[[Any], Any]
ACTIVATIONS: dict[str, tuple[_Function, _Function]] = {
    # name: (act(v), act'(v) written with y = act(v))
    "tanh": (np.tanh, lambda y: 1 - y**2),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "relu": (lambda v: np.maximum(v, 0), lambda y: (y > 0).astype(y.dtype)),
    # Keras 3's hard_sigmoid: relu6(v + 3) / 6, slope 1/6 on (-3, 3).
    "hard_sigmoid": (lambda v: np.clip(v + 3, 0, 6) / 6, lambda y: ((y > 0) & (y < 1)).astype(y.dtype) / 6),
    "linear": (lambda v: v, np.ones_like),
}


def _exact_product(a, w):
    return a @ w.T


def _matmul(cache, a, b):
    """a @ b computed as the forward's products were (``cache["product"]``: exactly, or a reduced scheme
    such as `reduced_product("bf16")`, the model of ``compute_dtype="bfloat16"``): the backward's
    products (through the weights, and the weight gradients) round their operands the same way."""
    product = cache.get("product") or _exact_product
    return product(a, b.T)


def _masked(h, mask):
    """h as the recurrent product sees it: times the recurrent-dropout mask [N, H], when there is one."""
    return h if mask is None else h * mask


def _time_order(T, reverse):
    """The time indices in the order the recurrence visits them."""
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def lstm_layer_forward(
    x,
    h0,
    c0,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    reverse=False,
    activation="tanh",
    recurrent_activation="sigmoid",
    recurrent_mask=None,
    w_hr=None,
    product=None,
    layer_norm=None,
):
    """One layer, one direction.

    x: [T,N,C]; h0, c0: [N,H]; w_ih: [4H,C]; w_hh: [4H,H]; b_ih, b_hh: [4H] or None (no bias).
    With ``reverse`` the recurrence runs from t = T-1 down to 0 (h0 feeds step T-1); y[t] is still
    the output at time t. With a projection w_hr [P,H] (PyTorch's proj_size): h_t = W_hr (o * act(c_t)),
    so h0, h_t and y are P-wide and w_hh is [4H,P]. product(a, w) computes every a @ w.T (None: exactly;
    `reduced_product` models the bf16 / int8 kernels). layer_norm: None, or the layer-normalised LSTM's
    (gain_ih [4H], gain_hh [4H], gain_c [H], bias_c [H]) (the module docstring's equations).

    Returns ``y [T,N,H], h_n [N,H], c_n [N,H], cache`` (cache is what `lstm_layer_backward` needs).
    """
    T, N, _ = x.shape
    H = c0.shape[1]
    P = H if w_hr is None else w_hr.shape[0]
    dtype = np.result_type(x, h0, c0, w_ih, w_hh)
    y = np.empty((T, N, P), dtype)
    gates = np.empty((T, N, 4 * H), dtype)  # activated i, f, g, o at each step
    cs = np.empty((T, N, H), dtype)  # c_t at each step
    ms = np.empty((T, N, H), dtype)  # o * act(c_t), which W_hr projects

    act, _ = ACTIVATIONS[activation]
    rec, _ = ACTIVATIONS[recurrent_activation]
    product = product or _exact_product
    # Layer norm: each step's normalised products and cell state with their 1 / sigma, for the backward.
    norms: dict[str, Any] = {}
    if layer_norm is not None:
        for what, width in (("ih", 4 * H), ("hh", 4 * H), ("c", H)):
            norms[what] = np.empty((T, N, width), dtype), np.empty((T, N, 1), dtype)
    h, c = h0, c0
    for t in _time_order(T, reverse):
        if layer_norm is None:
            z = product(x[t], w_ih) + product(_masked(h, recurrent_mask), w_hh)
        else:
            z_ih, norms["ih"][0][t], norms["ih"][1][t] = _layer_norm(product(x[t], w_ih), layer_norm[0])
            z_hh, norms["hh"][0][t], norms["hh"][1][t] = _layer_norm(
                product(_masked(h, recurrent_mask), w_hh), layer_norm[1]
            )
            z = z_ih + z_hh
        if b_ih is not None:
            z = z + b_ih
        if b_hh is not None:
            z = z + b_hh
        i = rec(z[:, 0 * H : 1 * H])
        f = rec(z[:, 1 * H : 2 * H])
        g = act(z[:, 2 * H : 3 * H])
        o = rec(z[:, 3 * H : 4 * H])
        c = f * c + i * g
        if layer_norm is None:
            ms[t] = o * act(c)
        else:
            c_norm, norms["c"][0][t], norms["c"][1][t] = _layer_norm(c, layer_norm[2], layer_norm[3])
            ms[t] = o * act(c_norm)
        h = ms[t] if w_hr is None else product(ms[t], w_hr)
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        cs[t] = c
        y[t] = h

    cache = {
        "x": x,
        "h0": h0,
        "c0": c0,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "has_bias_ih": b_ih is not None,
        "has_bias_hh": b_hh is not None,
        "reverse": reverse,
        "gates": gates,
        "c": cs,
        "y": y,
        "activation": activation,
        "recurrent_activation": recurrent_activation,
        "recurrent_mask": recurrent_mask,
        "w_hr": w_hr,
        "m": ms,
        "layer_norm": layer_norm,
        "norms": norms,
        "product": product,
    }
    return y, h, c, cache


def lstm_layer_backward(cache, dy, dh_n=None, dc_n=None):
    """BPTT through one layer and direction, for loss = sum_t <dy_t, y_t> + <dh_n, h_n> + <dc_n, c_n>.

    dy: [T,N,H]; dh_n, dc_n: [N,H] or None (zero).
    Returns ``dx [T,N,C], dh0 [N,H], dc0 [N,H], grads`` where grads has "weight_ih", "weight_hh" and,
    when the forward had them, "bias_ih" and "bias_hh".
    """
    x, y, cs, gates = cache["x"], cache["y"], cache["c"], cache["gates"]
    w_ih, w_hh, w_hr = cache["w_ih"], cache["w_hh"], cache.get("w_hr")
    T, N, _ = x.shape
    H, P = cs.shape[2], y.shape[2]
    dtype = y.dtype

    dx = np.zeros(x.shape, dtype)
    dw_ih = np.zeros(w_ih.shape, dtype)
    dw_hh = np.zeros(w_hh.shape, dtype)
    db = np.zeros(4 * H, dtype)
    dw_hr = None if w_hr is None else np.zeros(w_hr.shape, dtype)
    layer_norm, norms = cache.get("layer_norm"), cache.get("norms", {})
    if layer_norm is not None:
        d_gains = [np.zeros(g.shape, dtype) for g in layer_norm]  # gain_ih, gain_hh, gain_c, bias_c
    # dh, dc: gradient reaching h_t, c_t from the later steps (from dh_n, dc_n at the last one).
    dh = np.zeros((N, P), dtype) if dh_n is None else dh_n
    dc = np.zeros((N, H), dtype) if dc_n is None else dc_n

    act, act_grad = ACTIVATIONS[cache["activation"]]
    _, rec_grad = ACTIVATIONS[cache["recurrent_activation"]]
    order = _time_order(T, cache["reverse"])
    for k in reversed(range(T)):
        t = order[k]
        h_prev = y[order[k - 1]] if k > 0 else cache["h0"]
        c_prev = cs[order[k - 1]] if k > 0 else cache["c0"]
        i, f, g, o = (gates[t][:, j * H : (j + 1) * H] for j in range(4))

        dh = dh + dy[t]  # h_t feeds both the output y_t and the next step
        if w_hr is not None:  # h_t = W_hr m_t
            dw_hr += _matmul(cache, dh.T, cache["m"][t])
            dh = _matmul(cache, dh, w_hr)  # now dL/dm_t
        if layer_norm is None:
            act_c = act(cs[t])
            do = dh * act_c
            dc = dc + dh * o * act_grad(act_c)
        else:  # m_t = o * act(LN_c(c_t))
            c_hat, inv_sigma = norms["c"][0][t], norms["c"][1][t]
            act_c = act(layer_norm[2] * c_hat + layer_norm[3])
            do = dh * act_c
            d_norm = dh * o * act_grad(act_c)
            dc_norm, d_gain = _layer_norm_backward(d_norm, layer_norm[2], c_hat, inv_sigma)
            d_gains[2] += d_gain
            d_gains[3] += d_norm.sum(axis=0)
            dc = dc + dc_norm
        di = dc * g
        df = dc * c_prev
        dg = dc * i
        # Back through the activations to the pre-activations z = [z_i, z_f, z_g, z_o].
        dz = np.concatenate([di * rec_grad(i), df * rec_grad(f), dg * act_grad(g), do * rec_grad(o)], axis=1)

        # z = P_ih + P_hh + biases, P_ih = W_ih x_t and P_hh = W_hh h_{t-1} (each layer-normalised or not).
        dz_ih = dz_hh = dz
        if layer_norm is not None:
            dz_ih, d_gain_ih = _layer_norm_backward(dz, layer_norm[0], norms["ih"][0][t], norms["ih"][1][t])
            dz_hh, d_gain_hh = _layer_norm_backward(dz, layer_norm[1], norms["hh"][0][t], norms["hh"][1][t])
            d_gains[0] += d_gain_ih
            d_gains[1] += d_gain_hh
        dx[t] = _matmul(cache, dz_ih, w_ih)
        dw_ih += _matmul(cache, dz_ih.T, x[t])
        mask = cache.get("recurrent_mask")
        dw_hh += _matmul(cache, dz_hh.T, _masked(h_prev, mask))
        db += dz.sum(axis=0)
        dh = _masked(_matmul(cache, dz_hh, w_hh), mask)
        dc = dc * f

    grads: dict[str, Any] = {"weight_ih": dw_ih, "weight_hh": dw_hh}
    # z = ... + b_ih + b_hh, so both biases receive the same gradient.
    if cache["has_bias_ih"]:
        grads["bias_ih"] = db.copy()
    if cache["has_bias_hh"]:
        grads["bias_hh"] = db.copy()
    if w_hr is not None:
        grads["weight_hr"] = dw_hr
    if layer_norm is not None:
        grads.update(zip(LAYER_NORM_PARAMETERS, d_gains, strict=True))
    return dx, dh, dc, grads


def gru_layer_forward(
    x,
    h0,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    reverse=False,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    recurrent_mask=None,
    product=None,
):
    """One GRU layer, one direction, gate order r, z, n, rec / act the recurrent activation and
    activation (default sigmoid / tanh); PyTorch's reset-after form (Keras's reset_after=True)::

        r = rec(W_ir x + b_ir + W_hr h + b_hr)          z = rec(W_iz x + b_iz + W_hz h + b_hz)
        n = act(W_in x + b_in + r * (W_hn h + b_hn))    h_t = (1 - z) * n + z * h_{t-1}

    or, with reset_after=False (the original paper's form, Keras's reset_after=False), the reset gate
    applied before the recurrent product: n = act(W_in x + b_in + W_hn (r * h) + b_hn).

    x: [T,N,C]; h0: [N,H]; w_ih: [3H,C]; w_hh: [3H,H]; b_ih, b_hh: [3H] or None; product as in
    `lstm_layer_forward`. Returns ``y [T,N,H], h_n [N,H], cache``.
    """
    T, N, _ = x.shape
    H = h0.shape[1]
    dtype = np.result_type(x, h0, w_ih, w_hh)
    y = np.empty((T, N, H), dtype)
    gates = np.empty((T, N, 3 * H), dtype)  # activated r, z, n at each step
    # reset-after: W_hn h_{t-1} + b_hn, which r multiplies; reset-before: r * h_{t-1}, which W_hn multiplies
    hn = np.empty((T, N, H), dtype)
    zero = np.zeros(3 * H, dtype)
    b_ih_ = zero if b_ih is None else b_ih
    b_hh_ = zero if b_hh is None else b_hh

    act, _ = ACTIVATIONS[activation]
    rec, _ = ACTIVATIONS[recurrent_activation]
    product = product or _exact_product
    h = h0
    for t in _time_order(T, reverse):
        gx = product(x[t], w_ih) + b_ih_
        h_masked = _masked(h, recurrent_mask)  # what the recurrent products see (recurrent dropout)
        gh = product(h_masked, w_hh) + b_hh_
        r = rec(gx[:, :H] + gh[:, :H])
        z = rec(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        if reset_after:
            n = act(gx[:, 2 * H :] + r * gh[:, 2 * H :])
            hn[t] = gh[:, 2 * H :]
        else:
            hn[t] = r * h_masked
            n = act(gx[:, 2 * H :] + product(hn[t], w_hh[2 * H :]) + b_hh_[2 * H :])
        h = (1 - z) * n + z * h
        gates[t] = np.concatenate([r, z, n], axis=1)
        y[t] = h

    cache = {
        "x": x,
        "h0": h0,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "has_bias_ih": b_ih is not None,
        "has_bias_hh": b_hh is not None,
        "reverse": reverse,
        "gates": gates,
        "hn": hn,
        "y": y,
        "activation": activation,
        "recurrent_activation": recurrent_activation,
        "reset_after": reset_after,
        "recurrent_mask": recurrent_mask,
        "product": product,
    }
    return y, h, cache


def gru_layer_backward(cache, dy, dh_n=None):
    """BPTT through one GRU layer and direction, for loss = sum_t <dy_t, y_t> + <dh_n, h_n>.

    Returns ``dx, dh0, grads`` (keys as `lstm_layer_backward`). b_ih and b_hh get different
    gradients in the n gate, where r multiplies only the recurrent part.
    """
    x, y, gates, hn = cache["x"], cache["y"], cache["gates"], cache["hn"]
    w_ih, w_hh = cache["w_ih"], cache["w_hh"]
    T, N, _ = x.shape
    H = w_hh.shape[1]
    dtype = y.dtype
    dx = np.zeros(x.shape, dtype)
    dw_ih, dw_hh = np.zeros(w_ih.shape, dtype), np.zeros(w_hh.shape, dtype)
    db_ih, db_hh = np.zeros(3 * H, dtype), np.zeros(3 * H, dtype)
    dh = np.zeros((N, H), dtype) if dh_n is None else dh_n

    _, act_grad = ACTIVATIONS[cache["activation"]]
    _, rec_grad = ACTIVATIONS[cache["recurrent_activation"]]
    order = _time_order(T, cache["reverse"])
    for k in reversed(range(T)):
        t = order[k]
        h_prev = y[order[k - 1]] if k > 0 else cache["h0"]
        r, z, n = (gates[t][:, j * H : (j + 1) * H] for j in range(3))
        dh = dh + dy[t]
        dn = dh * (1 - z)
        dz = dh * (h_prev - n)
        dn_pre = dn * act_grad(n)
        mask = cache.get("recurrent_mask")
        if cache.get("reset_after", True):
            dr = dn_pre * hn[t]
            dgx = np.concatenate([dr * rec_grad(r), dz * rec_grad(z), dn_pre], axis=1)  # d(W_ih x + b_ih)
            dgh = np.concatenate([dr * rec_grad(r), dz * rec_grad(z), dn_pre * r], axis=1)  # d(W_hh h + b_hh)
            dw_hh += _matmul(cache, dgh.T, _masked(h_prev, mask))
            # through W_hh, and directly through z * h_{t-1}
            dh = _masked(_matmul(cache, dgh, w_hh), mask) + dh * z
        else:
            d_rh = _matmul(cache, dn_pre, w_hh[2 * H :])  # through W_hn (r * h_{t-1})
            dr = d_rh * _masked(h_prev, mask)
            dgx = np.concatenate([dr * rec_grad(r), dz * rec_grad(z), dn_pre], axis=1)
            dgh = dgx  # every recurrent pre-activation gets the same gradient as its input one
            dw_hh[: 2 * H] += _matmul(cache, dgh[:, : 2 * H].T, _masked(h_prev, mask))
            dw_hh[2 * H :] += _matmul(cache, dn_pre.T, hn[t])
            dh = _masked(_matmul(cache, dgh[:, : 2 * H], w_hh[: 2 * H]) + d_rh * r, mask) + dh * z
        dx[t] = _matmul(cache, dgx, w_ih)
        dw_ih += _matmul(cache, dgx.T, x[t])
        db_ih += dgx.sum(axis=0)
        db_hh += dgh.sum(axis=0)

    grads = {"weight_ih": dw_ih, "weight_hh": dw_hh}
    if cache["has_bias_ih"]:
        grads["bias_ih"] = db_ih
    if cache["has_bias_hh"]:
        grads["bias_hh"] = db_hh
    return dx, dh, grads


def rnn_layer_forward(
    x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity="tanh", reverse=False, recurrent_mask=None, product=None
):
    """One Elman RNN layer, one direction: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    x: [T,N,C]; h0: [N,H]; w_ih: [H,C]; w_hh: [H,H]; b_ih, b_hh: [H] or None; product as in
    `lstm_layer_forward`.
    Returns ``y [T,N,H], h_n [N,H], cache``.
    """
    act, _ = ACTIVATIONS[nonlinearity]
    T, N, _ = x.shape
    H = h0.shape[1]
    y = np.empty((T, N, H), np.result_type(x, h0, w_ih, w_hh))
    product = product or _exact_product
    h = h0
    for t in _time_order(T, reverse):
        z = product(x[t], w_ih) + product(_masked(h, recurrent_mask), w_hh)
        if b_ih is not None:
            z = z + b_ih
        if b_hh is not None:
            z = z + b_hh
        h = act(z)
        y[t] = h
    cache = {
        "x": x,
        "h0": h0,
        "w_ih": w_ih,
        "w_hh": w_hh,
        "has_bias_ih": b_ih is not None,
        "has_bias_hh": b_hh is not None,
        "reverse": reverse,
        "y": y,
        "nonlinearity": nonlinearity,
        "recurrent_mask": recurrent_mask,
        "product": product,
    }
    return y, h, cache


def rnn_layer_backward(cache, dy, dh_n=None):
    """BPTT through one RNN layer and direction. Returns ``dx, dh0, grads``."""
    _, act_grad = ACTIVATIONS[cache["nonlinearity"]]
    x, y, w_ih, w_hh = cache["x"], cache["y"], cache["w_ih"], cache["w_hh"]
    T, N, _ = x.shape
    H = w_hh.shape[1]
    dtype = y.dtype
    dx = np.zeros(x.shape, dtype)
    dw_ih, dw_hh, db = np.zeros(w_ih.shape, dtype), np.zeros(w_hh.shape, dtype), np.zeros(H, dtype)
    dh = np.zeros((N, H), dtype) if dh_n is None else dh_n
    order = _time_order(T, cache["reverse"])
    for k in reversed(range(T)):
        t = order[k]
        h_prev = y[order[k - 1]] if k > 0 else cache["h0"]
        dz = (dh + dy[t]) * act_grad(y[t])
        dx[t] = _matmul(cache, dz, w_ih)
        dw_ih += _matmul(cache, dz.T, x[t])
        dw_hh += _matmul(cache, dz.T, _masked(h_prev, cache.get("recurrent_mask")))
        db += dz.sum(axis=0)
        dh = _masked(_matmul(cache, dz, w_hh), cache.get("recurrent_mask"))
    grads = {"weight_ih": dw_ih, "weight_hh": dw_hh}
    if cache["has_bias_ih"]:
        grads["bias_ih"] = db.copy()
    if cache["has_bias_hh"]:
        grads["bias_hh"] = db.copy()
    return dx, dh, grads


# The layer-normalised LSTM's parameters per layer-direction (names take the usual suffix), in the order of
# lstm_layer_forward's layer_norm tuple: shapes [4H], [4H], [H], [H]; initialised to 1, 1, 1, 0.
LAYER_NORM_PARAMETERS = (
    "layernorm_ih_weight",
    "layernorm_hh_weight",
    "layernorm_c_weight",
    "layernorm_c_bias",
)


def _suffix(layer, direction):
    """PyTorch's parameter name suffix: "_l1", "_l1_reverse"."""
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def _stack_forward(
    layer_forward,
    num_states,
    x,
    params,
    states,
    num_layers,
    bidirectional,
    batch_first,
    dropout_masks=None,
    recurrent_masks=None,
):
    """A stacked, optionally bidirectional recurrent module, exactly like torch.nn.LSTM/GRU/RNN.

    layer_forward(x, states_k, w_ih, w_hh, b_ih, b_hh, reverse, recurrent_mask) -> (y, final_states_k,
    cache) runs
    one layer-direction; states is None or a tuple of num_states arrays [L*D,N,H] ([L*D,H] unbatched).
    Returns ``y, final_states (tuple), cache``.
    """
    D = 2 if bidirectional else 1
    unbatched = x.ndim == 2
    # Bring everything to time-major [T,N,C] and [L*D,N,H]; undone on the way out.
    if unbatched:
        x = x[:, None, :]
        if states is not None:
            states = tuple(s[:, None, :] for s in states)
    elif batch_first:
        x = x.transpose(1, 0, 2)
    T, N, _ = x.shape
    H = params["weight_hh_l0"].shape[1]  # the width of h (P with a projection)
    if states is None:
        widths = (H, params["weight_hh_l0"].shape[0] // 4)[:num_states]  # h, and an LSTM's c: [4H, P]
        states = tuple(np.zeros((num_layers * D, N, w), x.dtype) for w in widths)

    caches: list[Any] = []
    finals: Any = []  # per layer-direction, then stacked per state
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for d in range(D):
            s = _suffix(layer, d)
            k = layer * D + d
            y, final, cache = layer_forward(
                layer_input,
                tuple(state[k] for state in states),
                params["weight_ih" + s],
                params["weight_hh" + s],
                params.get("bias_ih" + s),
                params.get("bias_hh" + s),
                d == 1,
                None if recurrent_masks is None else recurrent_masks[k],
                **({"w_hr": params["weight_hr" + s]} if "weight_hr" + s in params else {}),
                **(
                    {"layer_norm": tuple(params[name + s] for name in LAYER_NORM_PARAMETERS)}
                    if LAYER_NORM_PARAMETERS[0] + s in params
                    else {}
                ),
            )
            outputs.append(y)
            finals.append(final)
            caches.append(cache)
        # The next layer sees [forward, reverse] outputs side by side (times its dropout mask).
        layer_input = np.concatenate(outputs, axis=2)
        if dropout_masks is not None and layer < num_layers - 1:
            layer_input = layer_input * dropout_masks[layer]

    y = layer_input
    finals = tuple(np.stack([f[i] for f in finals]) for i in range(num_states))
    if unbatched:
        y, finals = y[:, 0], tuple(f[:, 0] for f in finals)
    elif batch_first:
        y = y.transpose(1, 0, 2)
    cache = {
        "layers": caches,
        "num_layers": num_layers,
        "D": D,
        "H": H,
        "batch_first": batch_first,
        "unbatched": unbatched,
        "dropout_masks": dropout_masks,
    }
    return y, finals, cache


def _stack_backward(layer_backward, num_states, cache, dy, dstates):
    """BPTT through a module built by `_stack_forward`, for loss = <dy, y> + sum <dstate_n, state_n>.

    layer_backward(cache_k, dy_k, dstates_k or None) -> (dx, dstates0_k, grads) runs one
    layer-direction. Returns ``dx, dstates0 (tuple), grads``.
    """
    L, D, H = cache["num_layers"], cache["D"], cache["H"]
    if cache["unbatched"]:
        dy = dy[:, None, :]
        if dstates is not None:
            dstates = tuple(s[:, None, :] for s in dstates)
    elif cache["batch_first"]:
        dy = dy.transpose(1, 0, 2)

    dstates0: Any = [None] * (L * D)  # per layer-direction, then stacked per state
    grads: dict[str, Any] = {}
    for layer in reversed(range(L)):
        d_input = 0
        for d in range(D):
            k = layer * D + d
            dx, dstates0[k], g = layer_backward(
                cache["layers"][k],
                dy[:, :, d * H : (d + 1) * H],
                None if dstates is None else tuple(s[k] for s in dstates),
            )
            # Both directions read the same layer input, so their input gradients add up.
            d_input = d_input + dx
            for name, v in g.items():
                grads[name + _suffix(layer, d)] = v
        if cache["dropout_masks"] is not None and layer > 0:
            d_input = d_input * cache["dropout_masks"][layer - 1]
        dy = d_input

    dx = dy
    dstates0 = tuple(np.stack([s[i] for s in dstates0]) for i in range(num_states))
    if cache["unbatched"]:
        dx, dstates0 = dx[:, 0], tuple(s[:, 0] for s in dstates0)
    elif cache["batch_first"]:
        dx = dx.transpose(1, 0, 2)
    return dx, dstates0, grads


def _forward_by_length(run, x, states, lengths, batch_first, dropout_masks=None, recurrent_masks=None):
    """Per-sequence lengths the obvious way: each sequence n alone, over its first lengths[n] steps, with
    run(x_n [len,1,C], states_n or None, masks_n, recurrent_masks_n) -> (y_n, finals_n, cache_n) the
    stack without lengths (the masks: the sequence's parts of dropout_masks [L-1, T, N, .] and
    recurrent_masks [L*D, N, H], or None). y is zero
    past each sequence's end. Returns ``y, finals, cache``."""
    if batch_first:
        x = x.transpose(1, 0, 2)
    T, N, _ = x.shape
    outputs: list[Any] = []
    finals: Any = []  # per sequence, then joined per state
    caches: list[Any] = []
    for n in range(N):
        states_n = None if states is None else tuple(s[:, n : n + 1] for s in states)
        masks_n = None if dropout_masks is None else dropout_masks[:, : lengths[n], n : n + 1]
        rec_n = None if recurrent_masks is None else recurrent_masks[:, n : n + 1]
        y_n, finals_n, cache_n = run(x[: lengths[n], n : n + 1], states_n, masks_n, rec_n)
        outputs.append(np.concatenate([y_n, np.zeros((T - lengths[n],) + y_n.shape[1:], y_n.dtype)]))
        finals.append(finals_n)
        caches.append(cache_n)
    y = np.concatenate(outputs, axis=1)
    finals = tuple(np.concatenate([f[i] for f in finals], axis=1) for i in range(len(finals[0])))
    if batch_first:
        y = y.transpose(1, 0, 2)
    cache = {"by_length": caches, "lengths": list(lengths), "batch_first": batch_first, "x_shape": x.shape}
    return y, finals, cache


def _backward_by_length(run_backward, cache, dy, dstates):
    """The backward of `_forward_by_length`: each sequence's own BPTT (dy past its end is not read), the
    parameter gradients summed over sequences. Returns ``dx, dstates0, grads``."""
    if cache["batch_first"]:
        dy = dy.transpose(1, 0, 2)
    dx = np.zeros(cache["x_shape"], dy.dtype)
    dstates0: Any = []  # per sequence, then joined per state
    grads: dict[str, Any] = {}
    for n, (cache_n, length) in enumerate(zip(cache["by_length"], cache["lengths"], strict=True)):
        dstates_n = None if dstates is None else tuple(s[:, n : n + 1] for s in dstates)
        dx_n, dstates0_n, grads_n = run_backward(cache_n, dy[:length, n : n + 1], dstates_n)
        dx[:length, n : n + 1] = dx_n
        dstates0.append(dstates0_n)
        for name, g in grads_n.items():
            grads[name] = grads[name] + g if name in grads else g
    dstates0 = tuple(np.concatenate([d[i] for d in dstates0], axis=1) for i in range(len(dstates0[0])))
    if cache["batch_first"]:
        dx = dx.transpose(1, 0, 2)
    return dx, dstates0, grads


def _lstm_layer(**activations):
    def run(x, states, w_ih, w_hh, b_ih, b_hh, reverse, recurrent_mask, w_hr=None, layer_norm=None):
        y, h, c, cache = lstm_layer_forward(
            x,
            states[0],
            states[1],
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            reverse,
            recurrent_mask=recurrent_mask,
            w_hr=w_hr,
            layer_norm=layer_norm,
            **activations,
        )
        return y, (h, c), cache

    return run


def _lstm_layer_backward(cache, dy, dstates):
    dh_n, dc_n = (None, None) if dstates is None else dstates
    dx, dh0, dc0, grads = lstm_layer_backward(cache, dy, dh_n, dc_n)
    return dx, (dh0, dc0), grads


def lstm(
    x,
    params,
    hx=None,
    num_layers=1,
    bidirectional=False,
    batch_first=False,
    activation="tanh",
    recurrent_activation="sigmoid",
    lengths=None,
    dropout_masks=None,
    recurrent_masks=None,
    product=None,
    layer_norm=False,
):
    """The stacked module, exactly like torch.nn.LSTM (a projection when params hold weight_hr_l*), with
    Keras's activations and, with ``lengths`` ([N] ints), torch's packed-sequence semantics (each
    sequence run alone). dropout_masks:
    None, or [L-1, T, N, D*H] time-major factors multiplying each layer's output but the last (torch's
    dropout between layers, with the masks given). recurrent_masks: None, or [L*D, N, H] factors on
    h_{t-1} wherever it enters a recurrent product (variational recurrent dropout, one mask per
    layer-direction and sequence, the same at every step).

    x: [T,N,C], or [N,T,C] if batch_first, or unbatched [T,C].
    params: torch.nn.LSTM state_dict names ("weight_ih_l0", "bias_hh_l1_reverse", ...); biases absent
    means bias=False.
    hx: None (zeros) or (h0, c0), each [L*D,N,H] ([L*D,H] unbatched).

    product: None (exact products), or `reduced_product(format)`: the bf16 / int8 kernels' scheme;
    `reduced_product("bf16")` also models ``compute_dtype="bfloat16"`` training, whose backward
    (`lstm_backward`) then rounds every product's operands the same way.
    layer_norm: the layer-normalised LSTM (the module docstring); params then hold, per layer-direction,
    "layernorm_ih_weight_l0" [4H], "layernorm_hh_weight_l0" [4H], "layernorm_c_weight_l0" [H] and
    "layernorm_c_bias_l0" [H] (`LAYER_NORM_PARAMETERS` with the usual suffixes).

    Returns ``y, (h_n, c_n), cache`` with y [T,N,D*H] (or [N,T,D*H], or [T,D*H]) and h_n, c_n
    shaped like h0, c0.
    """
    normalised = [name for name in params if name.startswith(LAYER_NORM_PARAMETERS)]
    if normalised and not layer_norm:
        raise ValueError(f"params: {normalised[0]!r} belongs to a layer_norm=True LSTM")
    if layer_norm:
        D = 2 if bidirectional else 1
        for k in range(num_layers):
            for d in range(D):
                missing = [
                    n + _suffix(k, d) for n in LAYER_NORM_PARAMETERS if n + _suffix(k, d) not in params
                ]
                if missing:
                    raise ValueError(f"params: layer_norm=True needs {missing}")
    layer = _lstm_layer(activation=activation, recurrent_activation=recurrent_activation, product=product)
    if lengths is not None:

        def run(x_n, hx_n, masks_n, rec_n):
            return _stack_forward(
                layer, 2, x_n, params, hx_n, num_layers, bidirectional, False, masks_n, rec_n
            )

        y, (h_n, c_n), cache = _forward_by_length(
            run, x, hx, lengths, batch_first, dropout_masks, recurrent_masks
        )
        return y, (h_n, c_n), cache
    y, (h_n, c_n), cache = _stack_forward(
        layer, 2, x, params, hx, num_layers, bidirectional, batch_first, dropout_masks, recurrent_masks
    )
    return y, (h_n, c_n), cache


def lstm_backward(cache, dy, dhx=None):
    """BPTT through the whole stack, for loss = <dy, y> + <dh_n, h_n> + <dc_n, c_n>.

    dy: shaped like y; dhx: None (zero) or (dh_n, dc_n) shaped like (h_n, c_n).
    Returns ``dx, (dh0, dc0), grads`` with dx shaped like x, dh0 and dc0 like h_n, and grads keyed
    like params.
    """
    if "by_length" in cache:

        def run_backward(cache_n, dy_n, dhx_n):
            return _stack_backward(_lstm_layer_backward, 2, cache_n, dy_n, dhx_n)

        dx, (dh0, dc0), grads = _backward_by_length(run_backward, cache, dy, dhx)
        return dx, (dh0, dc0), grads
    dx, (dh0, dc0), grads = _stack_backward(_lstm_layer_backward, 2, cache, dy, dhx)
    return dx, (dh0, dc0), grads


def _single_state_layer(layer_forward, **options):
    def run(x, states, w_ih, w_hh, b_ih, b_hh, reverse, recurrent_mask):
        y, h, cache = layer_forward(
            x, states[0], w_ih, w_hh, b_ih, b_hh, reverse=reverse, recurrent_mask=recurrent_mask, **options
        )
        return y, (h,), cache

    return run


def _single_state_backward(layer_backward):
    def run(cache, dy, dstates):
        dx, dh0, grads = layer_backward(cache, dy, None if dstates is None else dstates[0])
        return dx, (dh0,), grads

    return run


def gru(
    x,
    params,
    h0=None,
    num_layers=1,
    bidirectional=False,
    batch_first=False,
    activation="tanh",
    recurrent_activation="sigmoid",
    lengths=None,
    dropout_masks=None,
    reset_after=True,
    recurrent_masks=None,
    product=None,
):
    """The stacked module, exactly like torch.nn.GRU, with Keras's activations and optional ``lengths``,
    ``dropout_masks`` and ``product`` (as `lstm`); reset_after=False: the reset-before form
    (`gru_layer_forward`).
    h0: None or [L*D,N,H] ([L*D,H] unbatched). Returns ``y, h_n, cache``."""
    layer = _single_state_layer(
        gru_layer_forward,
        activation=activation,
        recurrent_activation=recurrent_activation,
        reset_after=reset_after,
        product=product,
    )
    return _single_state_stack(
        layer, x, params, h0, num_layers, bidirectional, batch_first, lengths, dropout_masks, recurrent_masks
    )


def _single_state_stack(
    layer, x, params, h0, num_layers, bidirectional, batch_first, lengths, dropout_masks, recurrent_masks
):
    states = None if h0 is None else (h0,)
    if lengths is not None:

        def run(x_n, states_n, masks_n, rec_n):
            return _stack_forward(
                layer, 1, x_n, params, states_n, num_layers, bidirectional, False, masks_n, rec_n
            )

        y, (h_n,), cache = _forward_by_length(
            run, x, states, lengths, batch_first, dropout_masks, recurrent_masks
        )
        return y, h_n, cache
    y, (h_n,), cache = _stack_forward(
        layer, 1, x, params, states, num_layers, bidirectional, batch_first, dropout_masks, recurrent_masks
    )
    return y, h_n, cache


def _single_state_stack_backward(layer_backward, cache, dy, dh_n):
    dstates = None if dh_n is None else (dh_n,)
    if "by_length" in cache:

        def run_backward(cache_n, dy_n, dstates_n):
            return _stack_backward(_single_state_backward(layer_backward), 1, cache_n, dy_n, dstates_n)

        dx, (dh0,), grads = _backward_by_length(run_backward, cache, dy, dstates)
        return dx, dh0, grads
    dx, (dh0,), grads = _stack_backward(_single_state_backward(layer_backward), 1, cache, dy, dstates)
    return dx, dh0, grads


def gru_backward(cache, dy, dh_n=None):
    """BPTT through a `gru` stack, for loss = <dy, y> + <dh_n, h_n>. Returns ``dx, dh0, grads``."""
    return _single_state_stack_backward(gru_layer_backward, cache, dy, dh_n)


def rnn(
    x,
    params,
    h0=None,
    nonlinearity="tanh",
    num_layers=1,
    bidirectional=False,
    batch_first=False,
    lengths=None,
    dropout_masks=None,
    recurrent_masks=None,
    product=None,
):
    """The stacked module, exactly like torch.nn.RNN; nonlinearity: any of `ACTIVATIONS`; lengths,
    dropout_masks, recurrent_masks and product as in `lstm`. Returns ``y, h_n, cache``."""
    layer = _single_state_layer(rnn_layer_forward, nonlinearity=nonlinearity, product=product)
    return _single_state_stack(
        layer, x, params, h0, num_layers, bidirectional, batch_first, lengths, dropout_masks, recurrent_masks
    )


def rnn_backward(cache, dy, dh_n=None):
    """BPTT through an `rnn` stack, for loss = <dy, y> + <dh_n, h_n>. Returns ``dx, dh0, grads``."""
    return _single_state_stack_backward(rnn_layer_backward, cache, dy, dh_n)


# -- the reduced-precision schemes (the kernels of layer.quantized(), csrc/reduced/) ---------------------


def bf16_round(a):
    """a rounded to the nearest bfloat16 (ties to even), as float32 values; NaN stays NaN."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    out = rounded.view(np.float32)
    return np.where(np.isnan(a), np.float32(np.nan), out)


def int8_quantize_rows(a):
    """Symmetric per-row int8 quantisation of a [M, K] (float32 arithmetic, as the kernels do it):
    ``q, scale`` with q = round_even(clip(a * (127 / max|row|), -127, 127)) as int64 and scale =
    max|row| / 127 (0 for a zero row, NaN for a row holding an inf or NaN)."""
    a = np.asarray(a, np.float32)
    largest = np.max(np.abs(a), axis=1) if a.shape[1] else np.zeros(a.shape[0], np.float32)
    finite = np.all(np.isfinite(a), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(finite, largest / np.float32(127), np.float32(np.nan)).astype(np.float32)
        inverse = np.where(finite & (largest > 0), np.float32(127) / largest, np.float32(0))
        inverse = inverse.astype(np.float32)
        q = np.rint(np.clip(a * inverse[:, None], -127, 127))
    return np.nan_to_num(q).astype(np.int64), scale


def reduced_product(format):
    """``product(a, w)`` = a @ w.T as the kernels of `format` compute it, for the reference forwards.

    "int8": a's rows and w's rows quantised by `int8_quantize_rows`, the integer sums exact, then
    float32(sum) * w_scale * a_scale in float32: bit for bit what every int8 path computes.
    "bf16": both rounded by `bf16_round`, the products summed in float64 (the kernels sum in float32, in
    an order of their own, so they differ from this by float32 rounding of the sums)."""
    if format == "int8":

        def product(a, w):
            qa, sa = int8_quantize_rows(a)
            qw, sw = int8_quantize_rows(w)
            sums = (qa @ qw.T).astype(np.float32)
            return (sums * sw[None, :]) * sa[:, None]
    elif format == "bf16":

        def product(a, w):
            return bf16_round(a).astype(np.float64) @ bf16_round(w).astype(np.float64).T
    else:
        raise ValueError(f"format: expected 'int8' or 'bf16', got {format!r}")
    return product
