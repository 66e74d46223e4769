"""Functional API: the fused kernels on plain arrays, for people who manage their own parameters.

Shape legend: ``T`` steps, ``N`` batch, ``C`` input features, ``H`` hidden units, ``L`` layers,
``D`` directions (2 when bidirectional). Parameters use ``torch.nn.LSTM``'s state_dict names and
shapes (``weight_ih_l0 [4H,C]``, ``weight_hh_l0 [4H,H]``, ``bias_ih_l0 [4H]``, ``..._reverse``).

    y, (h_n, c_n), cache = lstm(x, params, hx, num_layers=2, training=True)
    dx, (dh0, dc0), grads = lstm_backward(cache, dy, (dh_n, dc_n))

The layer classes (`fusedrnn.LSTM`) are thin wrappers over these two functions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core
from ._validation import check_shape, flag, kernel_dtype, positive_int, real_array

__all__ = ["LSTMCache", "lstm", "lstm_backward", "lstm_param_names"]

_LSTM_GATES = 4


def _suffix(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def lstm_param_names(num_layers=1, bidirectional=False, bias=True):
    """Parameter names in ``torch.nn.LSTM`` order (layer, direction, then w_ih, w_hh, b_ih, b_hh)."""
    kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
    return [
        kind + _suffix(layer, d)
        for layer in range(num_layers)
        for d in range(2 if bidirectional else 1)
        for kind in kinds
    ]


class LSTMCache(NamedTuple):
    """What `lstm_backward` needs from a training-mode `lstm` call (arrays and the call's options).

    layer_inputs[l]: [T,N,C_l] time-major input of layer l; layer_outputs[l]: [T,N,D*H];
    gates[k], cells[k]: [T,N,4H], [T,N,H] for layer-direction k = l*D + d (activated gates, c_t);
    h0, c0: [L*D,N,H] or None (zeros).
    """

    params: dict
    layer_inputs: list
    layer_outputs: list
    gates: list
    cells: list
    h0: np.ndarray | None
    c0: np.ndarray | None
    num_layers: int
    bidirectional: bool
    batch_first: bool
    unbatched: bool


class _Sizes(NamedTuple):
    input_size: int
    hidden_size: int
    num_layers: int
    directions: int
    bias: bool
    dtype: np.dtype


def _checked_params(params, num_layers, bidirectional, dtype):
    """params converted to the kernel dtype and checked against torch.nn.LSTM's names and shapes."""
    if not hasattr(params, "keys"):
        raise TypeError(f"params: expected a mapping of parameter names to arrays, got {type(params).__name__}")
    for required in ("weight_ih_l0", "weight_hh_l0"):
        if required not in params:
            raise ValueError(f"params: missing '{required}'")
    if dtype is None:
        dtype = getattr(params["weight_ih_l0"], "dtype", None)
        if dtype is None or np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError("params: weight_ih_l0 is not float32/float64; pass dtype= explicitly")
    dtype = kernel_dtype(dtype)
    bias = "bias_ih_l0" in params
    expected = lstm_param_names(num_layers, bidirectional, bias)
    missing = [k for k in expected if k not in params]
    unexpected = [k for k in params if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"params: names do not match an LSTM with num_layers={num_layers}, "
            f"bidirectional={bidirectional}, bias={bias}: missing {missing}, unexpected {unexpected}"
        )
    w_hh = np.shape(params["weight_hh_l0"])
    if len(w_hh) != 2 or w_hh[0] % _LSTM_GATES or w_hh[0] // _LSTM_GATES != w_hh[1] or w_hh[1] < 1:
        raise ValueError(f"params: weight_hh_l0 must have shape (4*H, H) with H >= 1, got {w_hh}")
    H = w_hh[1]
    w_ih = np.shape(params["weight_ih_l0"])
    if len(w_ih) != 2 or w_ih[1] < 1:
        raise ValueError(f"params: weight_ih_l0 must have shape (4*H, C) with C >= 1, got {w_ih}")
    C = w_ih[1]
    D = 2 if bidirectional else 1
    converted = {}
    for layer in range(num_layers):
        layer_in = C if layer == 0 else D * H
        for d in range(D):
            s = _suffix(layer, d)
            shapes = {"weight_ih": (4 * H, layer_in), "weight_hh": (4 * H, H)}
            if bias:
                shapes.update(bias_ih=(4 * H,), bias_hh=(4 * H,))
            for kind, shape in shapes.items():
                name = kind + s
                value = real_array(params[name], f"params['{name}']", dtype)
                check_shape(value, f"params['{name}']", shape, "")
                converted[name] = value
    return converted, _Sizes(C, H, num_layers, D, bias, dtype)


def _time_major(x, sizes, batch_first, copy):
    """x as a C-contiguous [T,N,C] array, and whether it was unbatched."""
    x = real_array(x, "x", sizes.dtype, copy=copy)
    C = sizes.input_size
    if x.ndim == 2:
        check_shape(x, "x", (x.shape[0], C), "= [T, C] (unbatched)")
        return x[:, None, :], True
    if x.ndim != 3:
        raise ValueError(f"x: expected a 3-D [T, N, {C}] or 2-D [T, {C}] array, got shape {x.shape}")
    layout = "[N, T, C] (batch_first)" if batch_first else "[T, N, C]"
    expected = (x.shape[0], x.shape[1], C)
    check_shape(x, "x", expected, f"= {layout}")
    if batch_first:
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    return x, False


def _state(value, name, sizes, batch, unbatched):
    """An initial state (h0 / c0 / dh_n / dc_n) as a C-contiguous [L*D,N,H] array, or None."""
    if value is None:
        return None
    value = real_array(value, name, sizes.dtype)
    LD, H = sizes.num_layers * sizes.directions, sizes.hidden_size
    if unbatched:
        check_shape(value, name, (LD, H), "= [num_layers * num_directions, H] (unbatched input)")
        return value[:, None, :]
    check_shape(value, name, (LD, batch, H), "= [num_layers * num_directions, N, H]")
    return value


def _state_pair(pair, name, sizes, batch, unbatched):
    if pair is None:
        return None, None
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"{name}: expected a pair ({name[0]}h, {name[0]}c) of arrays or None")
    first, second = ("dh_n", "dc_n") if name == "dhx" else ("h0", "c0")
    return (
        _state(pair[0], f"{name}[0] ({first})", sizes, batch, unbatched),
        _state(pair[1], f"{name}[1] ({second})", sizes, batch, unbatched),
    )


def _external_layout(array, unbatched, batch_first):
    """Undoes _time_major for an output [T,N,X]."""
    if unbatched:
        return array[:, 0]
    return array.transpose(1, 0, 2) if batch_first else array


def lstm(x, params, hx=None, *, num_layers=1, bidirectional=False, batch_first=False, training=False,
         dtype=None):
    """Stacked LSTM forward over whole sequences, as ``torch.nn.LSTM`` (no dropout, no projection).

    x: [T,N,C], [N,T,C] if batch_first, or unbatched [T,C]; any real dtype, converted to ``dtype``
    (default: the dtype of params['weight_ih_l0']).
    params: mapping with torch.nn.LSTM's names (see `lstm_param_names`); biases absent means no bias.
    hx: None (zeros) or (h0, c0), each [L*D,N,H] ([L*D,H] unbatched); either may be None.
    training: when True, also return the cache `lstm_backward` needs; when False no workspace is kept
    and the cache is None.

    Returns ``y, (h_n, c_n), cache``: y [T,N,D*H] (or [N,T,D*H], [T,D*H]), h_n and c_n [L*D,N,H].
    """
    num_layers = positive_int(num_layers, "num_layers")
    bidirectional = flag(bidirectional, "bidirectional")
    batch_first = flag(batch_first, "batch_first")
    training = flag(training, "training")
    params, sizes = _checked_params(params, num_layers, bidirectional, dtype)
    # Training keeps x for the weight gradient: copy it so later edits of the caller's array cannot
    # silently change the gradients.
    x, unbatched = _time_major(x, sizes, batch_first, copy=training)
    T, N, _ = x.shape
    h0, c0 = _state_pair(hx, "hx", sizes, N, unbatched)
    L, D, H, dt = num_layers, sizes.directions, sizes.hidden_size, sizes.dtype

    h_n = np.empty((L * D, N, H), dt)
    c_n = np.empty((L * D, N, H), dt)
    layer_inputs, layer_outputs, gates, cells = [], [], [], []
    layer_input = x
    for layer in range(L):
        y = np.empty((T, N, D * H), dt)
        for d in range(D):
            k, s = layer * D + d, _suffix(layer, d)
            g = np.empty((T, N, _LSTM_GATES * H), dt) if training else None
            c = np.empty((T, N, H), dt) if training else None
            _core.lstm_forward(
                x=layer_input, w_ih=params["weight_ih" + s], w_hh=params["weight_hh" + s],
                b_ih=params.get("bias_ih" + s), b_hh=params.get("bias_hh" + s),
                h0=None if h0 is None else h0[k], c0=None if c0 is None else c0[k],
                y=y, y_column=d * H, h_n=h_n[k], c_n=c_n[k], gates=g, cells=c, reverse=d == 1,
            )  # fmt: skip
            gates.append(g)
            cells.append(c)
        layer_inputs.append(layer_input)
        layer_outputs.append(y)
        layer_input = y

    cache = None
    if training:
        cache = LSTMCache(params, layer_inputs, layer_outputs, gates, cells, h0, c0, L, bidirectional,
                          batch_first, unbatched)  # fmt: skip
    out = _external_layout(layer_input, unbatched, batch_first)
    if unbatched:
        h_n, c_n = h_n[:, 0], c_n[:, 0]
    return out, (h_n, c_n), cache


def lstm_backward(cache, dy, dhx=None, *, grads=None):
    """Backpropagation through time of a training-mode `lstm` call.

    The loss is ``sum(dy * y) + sum(dh_n * h_n) + sum(dc_n * c_n)``, i.e. dy, dh_n, dc_n are the
    gradients of the loss with respect to the forward's outputs.
    dy: shaped like y (or None: zero); dhx: None (zero) or (dh_n, dc_n), either may be None.
    grads: None to return fresh parameter gradients, or a dict keyed like params whose arrays
    (C-contiguous, the kernel dtype) are accumulated into in place, as torch accumulates ``.grad``.

    Returns ``dx, (dh0, dc0), grads``: dx shaped like x, dh0 and dc0 like h_n.
    """
    if not isinstance(cache, LSTMCache):
        raise TypeError(
            f"cache: expected the LSTMCache returned by lstm(..., training=True), got {type(cache).__name__}"
        )
    params = cache.params
    L, D = cache.num_layers, 2 if cache.bidirectional else 1
    T, N, _ = cache.layer_inputs[0].shape
    H = params["weight_hh_l0"].shape[1]
    dt = params["weight_hh_l0"].dtype
    sizes = _Sizes(cache.layer_inputs[0].shape[2], H, L, D, "bias_ih_l0" in params, dt)

    if dy is not None:
        dy = real_array(dy, "dy", dt)
        y_shape = _external_layout(cache.layer_outputs[-1], cache.unbatched, cache.batch_first).shape
        check_shape(dy, "dy", y_shape, "(the shape of the forward's output y)")
        if cache.unbatched:
            dy = dy[:, None, :]
        elif cache.batch_first:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
    dh_n, dc_n = _state_pair(dhx, "dhx", sizes, N, cache.unbatched)

    accumulate = grads is not None
    if accumulate:
        _check_grad_buffers(grads, params)
    else:
        grads = {name: np.empty_like(value) for name, value in params.items()}

    dh0 = np.empty((L * D, N, H), dt)
    dc0 = np.empty((L * D, N, H), dt)
    for layer in reversed(range(L)):
        layer_input = cache.layer_inputs[layer]
        dx = np.empty(layer_input.shape, dt)
        for d in range(D):
            k, s = layer * D + d, _suffix(layer, d)
            _core.lstm_backward(
                x=layer_input, w_ih=params["weight_ih" + s], w_hh=params["weight_hh" + s],
                h0=None if cache.h0 is None else cache.h0[k], c0=None if cache.c0 is None else cache.c0[k],
                y=cache.layer_outputs[layer], y_column=d * H, gates=cache.gates[k], cells=cache.cells[k],
                dy=dy, dh_n=None if dh_n is None else dh_n[k], dc_n=None if dc_n is None else dc_n[k],
                dx=dx, dh0=dh0[k], dc0=dc0[k],
                dw_ih=grads["weight_ih" + s], dw_hh=grads["weight_hh" + s],
                db_ih=grads.get("bias_ih" + s), db_hh=grads.get("bias_hh" + s),
                # Both directions read the same layer input: the second adds its input gradient.
                accumulate_dx=d == 1, accumulate_param_grads=accumulate, reverse=d == 1,
            )  # fmt: skip
        dy = dx  # the gradient reaching the layer below through its output

    dx = _external_layout(dy, cache.unbatched, cache.batch_first)
    if cache.unbatched:
        dh0, dc0 = dh0[:, 0], dc0[:, 0]
    return dx, (dh0, dc0), grads


def _check_grad_buffers(grads, params):
    if not hasattr(grads, "keys") or set(grads.keys()) != set(params.keys()):
        raise ValueError(f"grads: expected a dict with exactly the keys {sorted(params)}")
    for name, value in params.items():
        buffer = grads[name]
        if (
            not isinstance(buffer, np.ndarray)
            or buffer.dtype != value.dtype
            or buffer.shape != value.shape
            or not buffer.flags.c_contiguous
            or not buffer.flags.writeable
        ):
            raise ValueError(
                f"grads['{name}']: expected a writable C-contiguous {value.dtype} array of shape {value.shape}"
            )
