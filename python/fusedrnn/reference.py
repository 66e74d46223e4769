"""Pure-NumPy LSTM reference: the oracle the fused kernels are tested against.

It follows the equations of DESIGN.md section 1 line by line, with an explicit loop over time.
It is written to be obviously correct, not fast.

Shape legend: ``T`` steps, ``N`` batch, ``C`` input features, ``H`` hidden units,
``L`` layers, ``D`` directions (1, or 2 when bidirectional). Sequences are time-major ``[T,N,C]``.

Gates use PyTorch's order **i, f, g, o**: the rows of ``w_ih [4H,C]``, ``w_hh [4H,H]`` and of the
biases ``[4H]`` come in four blocks of ``H``::

    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)     z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    g       = tanh(z_g)
    c_t     = f * c_{t-1} + i * g
    h_t     = o * tanh(c_t)

Everything is computed in the dtype of the arrays given (float32 or float64).
"""

import numpy as np

__all__ = ["lstm", "lstm_backward", "lstm_layer_backward", "lstm_layer_forward"]


def _sigmoid(x):
    # exp() only ever sees a non-positive argument, so it cannot overflow for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _time_order(T, reverse):
    """The time indices in the order the recurrence visits them."""
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """One layer, one direction.

    x: [T,N,C]; h0, c0: [N,H]; w_ih: [4H,C]; w_hh: [4H,H]; b_ih, b_hh: [4H] or None (no bias).
    With ``reverse`` the recurrence runs from t = T-1 down to 0 (h0 feeds step T-1); y[t] is still
    the output at time t.

    Returns ``y [T,N,H], h_n [N,H], c_n [N,H], cache`` (cache is what `lstm_layer_backward` needs).
    """
    T, N, _ = x.shape
    H = h0.shape[1]
    dtype = np.result_type(x, h0, c0, w_ih, w_hh)
    y = np.empty((T, N, H), dtype)
    gates = np.empty((T, N, 4 * H), dtype)  # activated i, f, g, o at each step
    cs = np.empty((T, N, H), dtype)  # c_t at each step

    h, c = h0, c0
    for t in _time_order(T, reverse):
        z = x[t] @ w_ih.T + h @ w_hh.T
        if b_ih is not None:
            z = z + b_ih
        if b_hh is not None:
            z = z + b_hh
        i = _sigmoid(z[:, 0 * H : 1 * H])
        f = _sigmoid(z[:, 1 * H : 2 * H])
        g = np.tanh(z[:, 2 * H : 3 * H])
        o = _sigmoid(z[:, 3 * H : 4 * H])
        c = f * c + i * g
        h = o * np.tanh(c)
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        cs[t] = c
        y[t] = h

    cache = {
        "x": x, "h0": h0, "c0": c0, "w_ih": w_ih, "w_hh": w_hh,
        "has_bias_ih": b_ih is not None, "has_bias_hh": b_hh is not None,
        "reverse": reverse, "gates": gates, "c": cs, "y": y,
    }  # fmt: skip
    return y, h, c, cache


def lstm_layer_backward(cache, dy, dh_n=None, dc_n=None):
    """BPTT through one layer and direction, for loss = sum_t <dy_t, y_t> + <dh_n, h_n> + <dc_n, c_n>.

    dy: [T,N,H]; dh_n, dc_n: [N,H] or None (zero).
    Returns ``dx [T,N,C], dh0 [N,H], dc0 [N,H], grads`` where grads has "weight_ih", "weight_hh" and,
    when the forward had them, "bias_ih" and "bias_hh".
    """
    x, y, cs, gates = cache["x"], cache["y"], cache["c"], cache["gates"]
    w_ih, w_hh = cache["w_ih"], cache["w_hh"]
    T, N, _ = x.shape
    H = w_hh.shape[1]
    dtype = y.dtype

    dx = np.zeros(x.shape, dtype)
    dw_ih = np.zeros(w_ih.shape, dtype)
    dw_hh = np.zeros(w_hh.shape, dtype)
    db = np.zeros(4 * H, dtype)
    # dh, dc: gradient reaching h_t, c_t from the later steps (from dh_n, dc_n at the last one).
    dh = np.zeros((N, H), dtype) if dh_n is None else dh_n
    dc = np.zeros((N, H), dtype) if dc_n is None else dc_n

    order = _time_order(T, cache["reverse"])
    for k in reversed(range(T)):
        t = order[k]
        h_prev = y[order[k - 1]] if k > 0 else cache["h0"]
        c_prev = cs[order[k - 1]] if k > 0 else cache["c0"]
        i, f, g, o = (gates[t][:, j * H : (j + 1) * H] for j in range(4))

        dh = dh + dy[t]  # h_t feeds both the output y_t and the next step
        tanh_c = np.tanh(cs[t])
        do = dh * tanh_c
        dc = dc + dh * o * (1 - tanh_c**2)
        di = dc * g
        df = dc * c_prev
        dg = dc * i
        # Back through the activations to the pre-activations z = [z_i, z_f, z_g, z_o].
        dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1)

        dx[t] = dz @ w_ih
        dw_ih += dz.T @ x[t]
        dw_hh += dz.T @ h_prev
        db += dz.sum(axis=0)
        dh = dz @ w_hh
        dc = dc * f

    grads = {"weight_ih": dw_ih, "weight_hh": dw_hh}
    # z = ... + b_ih + b_hh, so both biases receive the same gradient.
    if cache["has_bias_ih"]:
        grads["bias_ih"] = db.copy()
    if cache["has_bias_hh"]:
        grads["bias_hh"] = db.copy()
    return dx, dh, dc, grads


def _suffix(layer, direction):
    """torch.nn.LSTM's parameter name suffix: "_l1", "_l1_reverse"."""
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def lstm(x, params, hx=None, num_layers=1, bidirectional=False, batch_first=False):
    """The stacked module, exactly like torch.nn.LSTM (no dropout, no proj_size).

    x: [T,N,C], or [N,T,C] if batch_first, or unbatched [T,C].
    params: torch.nn.LSTM state_dict names ("weight_ih_l0", "bias_hh_l1_reverse", ...); biases absent
    means bias=False.
    hx: None (zeros) or (h0, c0), each [L*D,N,H] ([L*D,H] unbatched).

    Returns ``y, (h_n, c_n), cache`` with y [T,N,D*H] (or [N,T,D*H], or [T,D*H]) and h_n, c_n
    shaped like h0, c0.
    """
    D = 2 if bidirectional else 1
    unbatched = x.ndim == 2
    # Bring everything to time-major [T,N,C] and [L*D,N,H]; undone on the way out.
    if unbatched:
        x = x[:, None, :]
        if hx is not None:
            hx = (hx[0][:, None, :], hx[1][:, None, :])
    elif batch_first:
        x = x.transpose(1, 0, 2)
    T, N, _ = x.shape
    H = params["weight_hh_l0"].shape[1]
    if hx is None:
        zeros = np.zeros((num_layers * D, N, H), x.dtype)
        hx = (zeros, zeros)
    h0, c0 = hx

    caches, h_n, c_n = [], [], []
    layer_input = x
    for layer in range(num_layers):
        outputs = []
        for d in range(D):
            s = _suffix(layer, d)
            k = layer * D + d
            y, h, c, cache = lstm_layer_forward(
                layer_input, h0[k], c0[k],
                params["weight_ih" + s], params["weight_hh" + s],
                params.get("bias_ih" + s), params.get("bias_hh" + s),
                reverse=d == 1,
            )  # fmt: skip
            outputs.append(y)
            h_n.append(h)
            c_n.append(c)
            caches.append(cache)
        # The next layer sees [forward, reverse] outputs side by side.
        layer_input = np.concatenate(outputs, axis=2)

    y, h_n, c_n = layer_input, np.stack(h_n), np.stack(c_n)
    if unbatched:
        y, h_n, c_n = y[:, 0], h_n[:, 0], c_n[:, 0]
    elif batch_first:
        y = y.transpose(1, 0, 2)
    cache = {
        "layers": caches, "num_layers": num_layers, "D": D, "H": H,
        "batch_first": batch_first, "unbatched": unbatched,
    }  # fmt: skip
    return y, (h_n, c_n), cache


def lstm_backward(cache, dy, dhx=None):
    """BPTT through the whole stack, for loss = <dy, y> + <dh_n, h_n> + <dc_n, c_n>.

    dy: shaped like y; dhx: None (zero) or (dh_n, dc_n) shaped like (h_n, c_n).
    Returns ``dx, (dh0, dc0), grads`` with dx shaped like x, dh0 and dc0 like h_n, and grads keyed
    like params.
    """
    L, D, H = cache["num_layers"], cache["D"], cache["H"]
    if cache["unbatched"]:
        dy = dy[:, None, :]
        if dhx is not None:
            dhx = (dhx[0][:, None, :], dhx[1][:, None, :])
    elif cache["batch_first"]:
        dy = dy.transpose(1, 0, 2)
    dh_n, dc_n = (None, None) if dhx is None else dhx

    dh0, dc0 = [None] * (L * D), [None] * (L * D)
    grads = {}
    for layer in reversed(range(L)):
        d_input = 0
        for d in range(D):
            k = layer * D + d
            dx, dh0[k], dc0[k], g = lstm_layer_backward(
                cache["layers"][k],
                dy[:, :, d * H : (d + 1) * H],
                None if dh_n is None else dh_n[k],
                None if dc_n is None else dc_n[k],
            )
            # Both directions read the same layer input, so their input gradients add up.
            d_input = d_input + dx
            for name, v in g.items():
                grads[name + _suffix(layer, d)] = v
        dy = d_input

    dx, dh0, dc0 = dy, np.stack(dh0), np.stack(dc0)
    if cache["unbatched"]:
        dx, dh0, dc0 = dx[:, 0], dh0[:, 0], dc0[:, 0]
    elif cache["batch_first"]:
        dx = dx.transpose(1, 0, 2)
    return dx, (dh0, dc0), grads
