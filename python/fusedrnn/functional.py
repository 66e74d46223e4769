"""Functional API: the fused kernels on plain arrays, for people who manage their own parameters.

Shape legend: ``T`` steps, ``N`` batch, ``C`` input features, ``H`` hidden units, ``G`` gates
(LSTM 4, GRU 3, RNN 1), ``L`` layers, ``D`` directions (2 when bidirectional). Parameters use
PyTorch's state_dict names and shapes (``weight_ih_l0 [G*H,C]``, ``weight_hh_l0 [G*H,H]``,
``bias_ih_l0 [G*H]``, ``bias_hh_l0``, ``..._reverse``) and gate orders (LSTM i,f,g,o; GRU r,z,n).

    y, (h_n, c_n), cache = lstm(x, params, hx, num_layers=2, training=True)
    dx, (dh0, dc0), grads = lstm_backward(cache, dy, (dh_n, dc_n))
    y, h_n, cache = gru(x, params, h0, training=True);  dx, dh0, grads = gru_backward(cache, dy, dh_n)
    y, h_n, cache = rnn(x, params, h0, nonlinearity="relu", training=True)

The layer classes (`fusedrnn.LSTM`, `GRU`, `RNN`) are thin wrappers over these functions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core
from ._validation import check_shape, flag, kernel_dtype, positive_int, real_array

__all__ = [
    "RecurrentCache",
    "gru",
    "gru_backward",
    "lstm",
    "lstm_backward",
    "param_names",
    "rnn",
    "rnn_backward",
]


class _Cell(NamedTuple):
    """What the Python side needs to know of a cell's kernels."""

    name: str  # the _core kernel prefix and the function name users call
    gates: int
    has_cell_state: bool
    saves_gates: bool
    saves_per_unit: bool


_LSTM = _Cell("lstm", 4, True, True, True)
_GRU = _Cell("gru", 3, False, True, True)
_RNN = {
    "tanh": _Cell("rnn_tanh", 1, False, False, False),
    "relu": _Cell("rnn_relu", 1, False, False, False),
}


def _suffix(layer, direction):
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def param_names(num_layers=1, bidirectional=False, bias=True):
    """Parameter names in PyTorch's order (layer, direction, then w_ih, w_hh, b_ih, b_hh); the same
    for LSTM, GRU and RNN."""
    kinds = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ())
    return [
        kind + _suffix(layer, d)
        for layer in range(num_layers)
        for d in range(2 if bidirectional else 1)
        for kind in kinds
    ]


def param_shapes(gates, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """{name: shape} in PyTorch's order for a cell with ``gates`` gates."""
    D, GH = (2 if bidirectional else 1), gates * hidden_size
    shapes = {}
    for layer in range(num_layers):
        layer_in = input_size if layer == 0 else D * hidden_size
        for d in range(D):
            s = _suffix(layer, d)
            shapes["weight_ih" + s] = (GH, layer_in)
            shapes["weight_hh" + s] = (GH, hidden_size)
            if bias:
                shapes["bias_ih" + s] = (GH,)
                shapes["bias_hh" + s] = (GH,)
    return shapes


class RecurrentCache(NamedTuple):
    """What a backward function needs from a training-mode forward (arrays and the call's options).

    layer_inputs[l]: [T,N,C_l] time-major input of layer l; layer_outputs[l]: [T,N,D*H];
    gates[k], saved[k]: the kernel's workspace for layer-direction k = l*D + d ([T,N,G*H] activated
    gates and [T,N,H] per-unit values, or None for cells that need none);
    h0, c0: [L*D,N,H] initial states or None (zeros).
    """

    cell: str
    params: dict
    layer_inputs: list
    layer_outputs: list
    gates: list
    saved: list
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
    dtype: np.dtype


def _checked_params(cell, params, num_layers, bidirectional, dtype):
    """params converted to the kernel dtype and checked against PyTorch's names and shapes."""
    if not hasattr(params, "keys"):
        raise TypeError(
            f"params: expected a mapping of parameter names to arrays, got {type(params).__name__}"
        )
    for required in ("weight_ih_l0", "weight_hh_l0"):
        if required not in params:
            raise ValueError(f"params: missing '{required}'")
    if dtype is None:
        dtype = getattr(params["weight_ih_l0"], "dtype", None)
        if dtype is None or np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError("params: weight_ih_l0 is not a float32/float64 array; pass dtype= explicitly")
    dtype = kernel_dtype(dtype)
    G = cell.gates
    w_hh, w_ih = np.shape(params["weight_hh_l0"]), np.shape(params["weight_ih_l0"])
    if len(w_hh) != 2 or w_hh[1] < 1 or w_hh[0] != G * w_hh[1]:
        raise ValueError(f"params: weight_hh_l0 must have shape ({G}*H, H) with H >= 1, got {w_hh}")
    if len(w_ih) != 2 or w_ih[1] < 1:
        raise ValueError(f"params: weight_ih_l0 must have shape ({G}*H, C) with C >= 1, got {w_ih}")
    bias = "bias_ih_l0" in params
    shapes = param_shapes(G, w_ih[1], w_hh[1], num_layers, bidirectional, bias)
    missing = [k for k in shapes if k not in params]
    unexpected = [k for k in params if k not in shapes]
    if missing or unexpected:
        raise ValueError(
            f"params: names do not match a {cell.name} with num_layers={num_layers}, "
            f"bidirectional={bidirectional}, bias={bias}: missing {missing}, unexpected {unexpected}"
        )
    converted = {}
    for name, shape in shapes.items():
        value = real_array(params[name], f"params['{name}']", dtype)
        check_shape(value, f"params['{name}']", shape, "")
        converted[name] = value
    return converted, _Sizes(w_ih[1], w_hh[1], num_layers, 2 if bidirectional else 1, dtype)


def _time_major(x, sizes, batch_first, copy):
    """x as a C-contiguous [T,N,C] array (a copy when ``copy``), and whether it was unbatched."""
    x = real_array(x, "x", sizes.dtype, copy=copy and not batch_first)  # batch_first copies below
    C = sizes.input_size
    if x.ndim == 2:
        check_shape(x, "x", (x.shape[0], C), "= [T, C] (unbatched)")
        return x[:, None, :], True
    if x.ndim != 3:
        raise ValueError(f"x: expected a 3-D [T, N, {C}] or 2-D [T, {C}] array, got shape {x.shape}")
    layout = "[N, T, C] (batch_first)" if batch_first else "[T, N, C]"
    check_shape(x, "x", (x.shape[0], x.shape[1], C), f"= {layout}")
    if batch_first:
        x = np.ascontiguousarray(x.transpose(1, 0, 2))
    return x, False


def _state(value, name, sizes, batch, unbatched, copy=False):
    """A state (h0 / c0 / dh_n / dc_n) as a C-contiguous [L*D,N,H] array (a copy when ``copy``), or
    None."""
    if value is None:
        return None
    value = real_array(value, name, sizes.dtype, copy=copy)
    LD, H = sizes.num_layers * sizes.directions, sizes.hidden_size
    if unbatched:
        check_shape(value, name, (LD, H), "= [num_layers * num_directions, H] (unbatched input)")
        return value[:, None, :]
    check_shape(value, name, (LD, batch, H), "= [num_layers * num_directions, N, H]")
    return value


def _pair(pair, name, names):
    """(first, second) from None or a 2-sequence; a TypeError naming ``name`` otherwise."""
    if pair is None:
        return None, None
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        got = type(pair).__name__ + (f" of length {len(pair)}" if isinstance(pair, (tuple, list)) else "")
        raise TypeError(f"{name}: expected None or a pair ({names[0]}, {names[1]}) of arrays, got {got}")
    return pair


def _external_layout(array, unbatched, batch_first):
    """Undoes _time_major for an output [T,N,X]."""
    if unbatched:
        return array[:, 0]
    return array.transpose(1, 0, 2) if batch_first else array


def _forward(cell, x, params, h0, c0, num_layers, bidirectional, batch_first, training, dtype, sizes=None):
    """The stacked forward shared by every cell; returns y, h_n, c_n (or None), cache (or None).

    sizes: given by the layer classes, whose parameters are already validated C-contiguous arrays of
    the right dtype and shapes (their setters guarantee it); the checks are then skipped, which is most
    of the per-call cost on tiny sequences.
    """
    num_layers = positive_int(num_layers, "num_layers")
    bidirectional = flag(bidirectional, "bidirectional")
    batch_first = flag(batch_first, "batch_first")
    training = flag(training, "training")
    if sizes is None:
        params, sizes = _checked_params(cell, params, num_layers, bidirectional, dtype)
    # Training keeps x for the weight gradient: copy it so later edits of the caller's array cannot
    # silently change the gradients.
    x, unbatched = _time_major(x, sizes, batch_first, copy=training)
    T, N, _ = x.shape
    # Training keeps the initial states too (for dW_hh and the first step's gradients).
    h0 = _state(h0, "h0", sizes, N, unbatched, copy=training)
    c0 = _state(c0, "c0", sizes, N, unbatched, copy=training) if cell.has_cell_state else None
    L, D, H, dt = num_layers, sizes.directions, sizes.hidden_size, sizes.dtype
    kernel = getattr(_core, cell.name + "_forward")

    h_n = np.empty((L * D, N, H), dt)
    c_n = np.empty((L * D, N, H), dt) if cell.has_cell_state else None
    layer_inputs, layer_outputs, gates, saved = [], [], [], []
    layer_input = x
    for layer in range(L):
        y = np.empty((T, N, D * H), dt)
        for d in range(D):
            k, s = layer * D + d, _suffix(layer, d)
            args = dict(
                x=layer_input, w_ih=params["weight_ih" + s], w_hh=params["weight_hh" + s],
                b_ih=params.get("bias_ih" + s), b_hh=params.get("bias_hh" + s),
                h0=None if h0 is None else h0[k], y=y, y_column=d * H, h_n=h_n[k],
                training=training, reverse=d == 1,
            )  # fmt: skip
            if cell.has_cell_state:
                args.update(c0=None if c0 is None else c0[k], c_n=c_n[k])
            g = np.empty((T, N, cell.gates * H), dt) if training and cell.saves_gates else None
            v = np.empty((T, N, H), dt) if training and cell.saves_per_unit else None
            if cell.saves_gates:
                args.update(gates=g)
            if cell.saves_per_unit:
                args.update(saved=v)
            kernel(**args)
            gates.append(g)
            saved.append(v)
        layer_inputs.append(layer_input)
        layer_outputs.append(y)
        layer_input = y

    cache = None
    if training:
        cache = RecurrentCache(cell.name, params, layer_inputs, layer_outputs, gates, saved, h0, c0, L,
                               bidirectional, batch_first, unbatched)  # fmt: skip
    out = _external_layout(layer_input, unbatched, batch_first)
    if training:
        # y is also the workspace the backward reads (h_t): hand it out read-only so an in-place edit
        # raises instead of silently changing the gradients.
        out = out.view()
        out.flags.writeable = False
    if unbatched:
        h_n = h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    return out, h_n, c_n, cache


def _backward(cell, cache, dy, dh_n, dc_n, grads, caller):
    """The stacked BPTT shared by every cell; returns dx, dh0, dc0 (or None), grads."""
    if not isinstance(cache, RecurrentCache):
        raise TypeError(
            f"cache: expected the cache returned by {caller}(..., training=True), got {type(cache).__name__}"
        )
    if cache.cell != cell.name:
        raise ValueError(f"cache: comes from a {cache.cell} forward, not from {caller}")
    params = cache.params
    L, D = cache.num_layers, 2 if cache.bidirectional else 1
    T, N, C = cache.layer_inputs[0].shape
    H = params["weight_hh_l0"].shape[1]
    dt = params["weight_hh_l0"].dtype
    sizes = _Sizes(C, H, L, D, dt)

    if dy is not None:
        dy = real_array(dy, "dy", dt)
        y_shape = _external_layout(cache.layer_outputs[-1], cache.unbatched, cache.batch_first).shape
        check_shape(dy, "dy", y_shape, "(the shape of the forward's output y)")
        if cache.unbatched:
            dy = dy[:, None, :]
        elif cache.batch_first:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
    dh_n = _state(dh_n, "dh_n", sizes, N, cache.unbatched)
    dc_n = _state(dc_n, "dc_n", sizes, N, cache.unbatched) if cell.has_cell_state else None

    accumulate = grads is not None
    if accumulate:
        _check_grad_buffers(grads, params)
    else:
        grads = {name: np.empty_like(value) for name, value in params.items()}

    kernel = getattr(_core, cell.name + "_backward")
    dh0 = np.empty((L * D, N, H), dt)
    dc0 = np.empty((L * D, N, H), dt) if cell.has_cell_state else None
    for layer in reversed(range(L)):
        layer_input = cache.layer_inputs[layer]
        dx = np.empty(layer_input.shape, dt)
        for d in range(D):
            k, s = layer * D + d, _suffix(layer, d)
            args = dict(
                x=layer_input, w_ih=params["weight_ih" + s], w_hh=params["weight_hh" + s],
                h0=None if cache.h0 is None else cache.h0[k],
                y=cache.layer_outputs[layer], y_column=d * H, dy=dy,
                dh_n=None if dh_n is None else dh_n[k], dx=dx, dh0=dh0[k],
                dw_ih=grads["weight_ih" + s], dw_hh=grads["weight_hh" + s],
                db_ih=grads.get("bias_ih" + s), db_hh=grads.get("bias_hh" + s),
                # Both directions read the same layer input: the second adds its input gradient.
                accumulate_dx=d == 1, accumulate_param_grads=accumulate, reverse=d == 1,
            )  # fmt: skip
            if cell.has_cell_state:
                args.update(c0=None if cache.c0 is None else cache.c0[k],
                            dc_n=None if dc_n is None else dc_n[k], dc0=dc0[k])  # fmt: skip
            if cell.saves_gates:
                args.update(gates=cache.gates[k])
            if cell.saves_per_unit:
                args.update(saved=cache.saved[k])
            kernel(**args)
        dy = dx  # the gradient reaching the layer below through its output

    dx = _external_layout(dy, cache.unbatched, cache.batch_first)
    if cache.unbatched:
        dh0 = dh0[:, 0]
        dc0 = None if dc0 is None else dc0[:, 0]
    return dx, dh0, dc0, grads


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
            got = (
                f"a {type(buffer).__name__}"
                if not isinstance(buffer, np.ndarray)
                else f"{buffer.dtype} array of shape {buffer.shape}, "
                f"C-contiguous={buffer.flags.c_contiguous}, writable={buffer.flags.writeable}"
            )
            raise ValueError(
                f"grads['{name}']: expected a writable C-contiguous {value.dtype} array "
                f"of shape {value.shape}, got {got}"
            )


_FORWARD_DOC = """
    x: [T,N,C], [N,T,C] if batch_first, or unbatched [T,C]; any real dtype, converted to ``dtype``
    (default: the dtype of params['weight_ih_l0']).
    params: mapping with PyTorch's names (see `param_names`); biases absent means no bias.
    training: when True, also return the cache the backward function needs; when False no
    workspace is kept and the cache is None.
"""

_BACKWARD_DOC = """
    dy: gradient of the loss w.r.t. y, shaped like y, or None (zero).
    grads: None to return fresh parameter gradients, or a dict keyed like params whose arrays
    (C-contiguous, the kernel dtype) are accumulated into in place, as PyTorch accumulates ``.grad``.
"""


def lstm(x, params, hx=None, *, num_layers=1, bidirectional=False, batch_first=False, training=False,
         dtype=None):  # fmt: skip
    h0, c0 = _pair(hx, "hx", ("h0", "c0"))
    y, h_n, c_n, cache = _forward(_LSTM, x, params, h0, c0, num_layers, bidirectional, batch_first,
                                  training, dtype)  # fmt: skip
    return y, (h_n, c_n), cache


lstm.__doc__ = (
    """Stacked LSTM forward over whole sequences, as ``torch.nn.LSTM`` (no dropout, no projection).

    hx: None (zeros) or (h0, c0), each [L*D,N,H] ([L*D,H] unbatched); either may be None."""
    + _FORWARD_DOC
    + """
    Returns ``y, (h_n, c_n), cache``: y [T,N,D*H] (or [N,T,D*H], [T,D*H]), h_n and c_n [L*D,N,H].
    """
)


def lstm_backward(cache, dy, dhx=None, *, grads=None):
    dh_n, dc_n = _pair(dhx, "dhx", ("dh_n", "dc_n"))
    dx, dh0, dc0, grads = _backward(_LSTM, cache, dy, dh_n, dc_n, grads, "lstm")
    return dx, (dh0, dc0), grads


lstm_backward.__doc__ = (
    """Backpropagation through time of a training-mode `lstm` call, for the loss
    ``sum(dy * y) + sum(dh_n * h_n) + sum(dc_n * c_n)``.

    dhx: None (zero) or (dh_n, dc_n), either may be None."""
    + _BACKWARD_DOC
    + """
    Returns ``dx, (dh0, dc0), grads``: dx shaped like x, dh0 and dc0 like h_n.
    """
)


def gru(x, params, h0=None, *, num_layers=1, bidirectional=False, batch_first=False, training=False,
        dtype=None):  # fmt: skip
    y, h_n, _, cache = _forward(_GRU, x, params, h0, None, num_layers, bidirectional, batch_first,
                                training, dtype)  # fmt: skip
    return y, h_n, cache


gru.__doc__ = (
    """Stacked GRU forward over whole sequences, as ``torch.nn.GRU`` (reset-after form, gates r,z,n).

    h0: None (zeros) or [L*D,N,H] ([L*D,H] unbatched)."""
    + _FORWARD_DOC
    + """
    Returns ``y, h_n, cache``: y [T,N,D*H] (or [N,T,D*H], [T,D*H]), h_n [L*D,N,H].
    """
)


def gru_backward(cache, dy, dh_n=None, *, grads=None):
    dx, dh0, _, grads = _backward(_GRU, cache, dy, dh_n, None, grads, "gru")
    return dx, dh0, grads


gru_backward.__doc__ = (
    """Backpropagation through time of a training-mode `gru` call, for the loss
    ``sum(dy * y) + sum(dh_n * h_n)``.

    dh_n: None (zero) or shaped like h_n."""
    + _BACKWARD_DOC
    + """
    Returns ``dx, dh0, grads``.
    """
)


def _rnn_cell(nonlinearity):
    if nonlinearity not in _RNN:
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    return _RNN[nonlinearity]


def rnn(x, params, h0=None, *, nonlinearity="tanh", num_layers=1, bidirectional=False, batch_first=False,
        training=False, dtype=None):  # fmt: skip
    y, h_n, _, cache = _forward(_rnn_cell(nonlinearity), x, params, h0, None, num_layers, bidirectional,
                                batch_first, training, dtype)  # fmt: skip
    return y, h_n, cache


rnn.__doc__ = (
    """Stacked Elman RNN forward, as ``torch.nn.RNN``: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    nonlinearity: "tanh" or "relu". h0: None (zeros) or [L*D,N,H] ([L*D,H] unbatched)."""
    + _FORWARD_DOC
    + """
    Returns ``y, h_n, cache``.
    """
)


def rnn_backward(cache, dy, dh_n=None, *, grads=None):
    if not isinstance(cache, RecurrentCache) or not cache.cell.startswith("rnn_"):
        cell = _RNN["tanh"]  # lets _backward raise its message about the wrong cache
    else:
        cell = _RNN[cache.cell.removeprefix("rnn_")]
    dx, dh0, _, grads = _backward(cell, cache, dy, dh_n, None, grads, "rnn")
    return dx, dh0, grads


rnn_backward.__doc__ = (
    """Backpropagation through time of a training-mode `rnn` call, for the loss
    ``sum(dy * y) + sum(dh_n * h_n)``.

    dh_n: None (zero) or shaped like h_n."""
    + _BACKWARD_DOC
    + """
    Returns ``dx, dh0, grads``.
    """
)
