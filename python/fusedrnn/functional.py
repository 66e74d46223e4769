"""Functional API: the fused kernels on plain arrays, for people who manage their own parameters.

Shape legend: ``T`` steps, ``N`` batch, ``C`` input features, ``H`` hidden units, ``G`` gates
(LSTM 4, GRU 3, RNN 1), ``L`` layers, ``D`` directions (2 when bidirectional). Parameters use
PyTorch's state_dict names and shapes (``weight_ih_l0 [G*H,C]``, ``weight_hh_l0 [G*H,H]``,
``bias_ih_l0 [G*H]``, ``bias_hh_l0``, ``..._reverse``) and gate orders (LSTM i,f,g,o; GRU r,z,n).

    y, (h_n, c_n), cache = lstm(x, params, hx, num_layers=2, training=True)
    dx, (dh0, dc0), grads = lstm_backward(cache, dy, (dh_n, dc_n))
    y, h_n, cache = gru(x, params, h0, training=True);  dx, dh0, grads = gru_backward(cache, dy, dh_n)
    y, h_n, cache = rnn(x, params, h0, nonlinearity="relu", training=True)

Each call builds a prepared plan (``_core.Plan``: sizes checked, weights packed, workspace) for that
call only. The layer classes (`fusedrnn.LSTM`, `GRU`, `RNN`) keep one plan for their lifetime and share
this module's argument handling (`_run_forward`, `_run_backward`).
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np

from . import _core
from ._validation import (
    activation,
    check_shape,
    dropout_masks,
    flag,
    kernel_dtype,
    lengths_array,
    positive_int,
    probability,
    real_array,
    recurrent_dropout_masks,
)

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
    """What the Python side knows of a cell: the C++ traits, as exported by ``_core.cells``."""

    name: str  # the _core.Plan cell name
    gates: int
    has_cell_state: bool
    saves_gates: bool
    saves_per_unit: bool
    input_fusable: bool


_CELLS = {name: _Cell(**facts) for name, facts in _core.cells.items()}
_LSTM = _CELLS["lstm"]
_GRU = _CELLS["gru"]
_GRU_RESET_BEFORE = _CELLS["gru_reset_before"]
_RNN = _CELLS["rnn"]
_CELL_NAMES = {name: name for name in _CELLS}


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


def param_shapes(cell, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """{name: shape} in PyTorch's order for ``cell`` ("lstm", "gru", "rnn" or "gru_reset_before"); a
    ValueError names the argument past the size limits."""
    if cell not in _CELL_NAMES:
        raise ValueError(f"cell: expected one of {', '.join(map(repr, _CELL_NAMES))}, got {cell!r}")
    return dict(_core.parameter_shapes(_CELL_NAMES[cell], input_size, hidden_size, num_layers,
                                       bidirectional, bias))  # fmt: skip


class RecurrentCache(NamedTuple):
    """What a backward function needs from a training-mode forward: the plan that ran it (it holds the
    workspace and its own copies of x, the initial states and the weights' values) and the layout of
    the call's arrays."""

    cell: str
    plan: object
    params: dict
    sizes: tuple
    batch_first: bool
    unbatched: bool
    y_shape: tuple
    dropout_masks: object  # [L-1, T, N, D*H] time-major factors of the dropout between layers, or None
    recurrent_masks: object  # [L*D, N, H] factors of the recurrent dropout on h_{t-1}, or None


# The fields each plan's cache was issued with (plan aside), so that a backward refuses a cache whose
# fields were replaced (`_replace`, a hand-built RecurrentCache) with a clear error instead of running on
# layouts that do not match the plan's pending forward.
_ISSUED_CACHES = weakref.WeakKeyDictionary()


def _issue_cache(cell, plan, params, sizes, batch_first, unbatched, y_shape, dropout_masks, recurrent_masks):
    cache = RecurrentCache(cell, plan, params, sizes, batch_first, unbatched, y_shape, dropout_masks,
                           recurrent_masks)  # fmt: skip
    _ISSUED_CACHES[plan] = (cell, params, sizes, batch_first, unbatched, y_shape, dropout_masks,
                            recurrent_masks)  # fmt: skip
    return cache


def _check_issued(cache, caller):
    plan = cache.plan
    issued = _ISSUED_CACHES.get(plan) if isinstance(plan, _core.Plan) else None
    if issued is None:
        raise TypeError(f"cache: its plan was not made by {caller}(..., training=True)")
    fields = ("cell", "params", "sizes", "batch_first", "unbatched", "y_shape", "dropout_masks",
              "recurrent_masks")  # fmt: skip
    for name, value, expected in zip(fields, cache[:1] + cache[2:], issued, strict=True):
        by_identity = name in ("params", "dropout_masks", "recurrent_masks")
        same = value is expected if by_identity else type(value) is type(expected) and value == expected
        if not same:
            raise ValueError(f"cache: field '{name}' differs from what {caller}(..., training=True) returned")


class _Sizes(NamedTuple):
    input_size: int
    hidden_size: int
    num_layers: int
    directions: int
    dtype: np.dtype
    proj_size: int = 0  # LSTM projection P (0: none)

    @property
    def state_size(self):
        """The width of h: P with a projection, else H."""
        return self.proj_size or self.hidden_size


def _new_plan(cell, sizes, bias, activations):
    """The prepared plan of a stack; activations is (activation, recurrent_activation)."""
    return _core.Plan(cell.name, sizes.input_size, sizes.hidden_size, sizes.num_layers, sizes.directions == 2,
                      bias, sizes.dtype.name, *activations, sizes.proj_size)  # fmt: skip


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
    # A projection (LSTM's proj_size): weight_hr_l0 [P, H] and weight_hh_l0 [4H, P].
    proj = "weight_hr_l0" in params and cell.name == "lstm"
    width = "P" if proj else "H"
    if len(w_hh) != 2 or w_hh[1] < 1 or w_hh[0] < G or w_hh[0] % G or (not proj and w_hh[0] != G * w_hh[1]):
        raise ValueError(f"params: weight_hh_l0 must have shape ({G}*H, {width}) with {width} >= 1, "
                         f"got {w_hh}")  # fmt: skip
    if len(w_ih) != 2 or w_ih[1] < 1:
        raise ValueError(f"params: weight_ih_l0 must have shape ({G}*H, C) with C >= 1, got {w_ih}")
    bias = "bias_ih_l0" in params
    H, P = w_hh[0] // G, (w_hh[1] if proj else 0)
    shapes = dict(_core.parameter_shapes(cell.name, w_ih[1], H, num_layers, bidirectional, bias, P))
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
    return converted, _Sizes(w_ih[1], H, num_layers, 2 if bidirectional else 1, dtype, P)


def _time_major(x, sizes, batch_first):
    """x as a C-contiguous [T,N,C] array, and whether it was unbatched."""
    x = real_array(x, "x", sizes.dtype)
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


def _state(value, name, sizes, batch, unbatched):
    """A state (h0 / c0 / dh_n / dc_n) as a C-contiguous [L*D,N,H] array, or None (h0 / dh_n are P wide
    with a projection)."""
    if value is None:
        return None
    value = real_array(value, name, sizes.dtype)
    LD = sizes.num_layers * sizes.directions
    H = sizes.state_size if name in ("h0", "dh_n") else sizes.hidden_size
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


def _output_buffer(out, unbatched, batch_first, shape, dtype):
    """The user's ``out`` array as the plan's time-major y, or None (the plan allocates y)."""
    if out is None:
        return None
    if batch_first and not unbatched:
        raise ValueError("out: not supported with batch_first=True (y is computed time-major)")
    if not isinstance(out, np.ndarray) or out.dtype != dtype or not out.flags.c_contiguous:
        raise TypeError(f"out: expected a C-contiguous {dtype} numpy array")
    check_shape(out, "out", shape, "(the shape of y)")
    return out[:, None, :] if unbatched else out


def _run_forward(plan, cell, sizes, x, h0, c0, batch_first, training, keep_packs, out=None, lengths=None,
                 dropout=0.0, rng=None, recurrent_dropout=0.0):  # fmt: skip
    """One stacked forward on a plan; returns y, h_n, c_n (or None) in the caller's layout, the layout
    facts (unbatched, y_shape) a backward needs and the masks used: (dropout masks [L-1, T, N, D*H]
    time-major, recurrent masks [L*D, N, H]), each or None."""
    x, unbatched = _time_major(x, sizes, batch_first)
    T, N, _ = x.shape
    lengths = lengths_array(lengths, N, T, unbatched)
    masks = recurrent = None
    if training:
        DS = sizes.directions * sizes.state_size
        masks = dropout_masks(rng, dropout, sizes.num_layers, T, N, DS, sizes.dtype)
        slots = sizes.num_layers * sizes.directions
        recurrent = recurrent_dropout_masks(rng, recurrent_dropout, slots, N, sizes.state_size, sizes.dtype)
    h0 = _state(h0, "h0", sizes, N, unbatched)
    c0 = _state(c0, "c0", sizes, N, unbatched) if cell.has_cell_state else None
    DH = sizes.directions * sizes.state_size
    y_shape = (T, DH) if unbatched else ((N, T, DH) if batch_first else (T, N, DH))
    out = _output_buffer(out, unbatched, batch_first, y_shape, sizes.dtype)
    y, h_n, c_n = plan.forward(x, h0, c0, training, keep_packs, out, lengths, masks, recurrent)
    y = _external_layout(y, unbatched, batch_first)
    if unbatched:
        h_n = h_n[:, 0]
        c_n = None if c_n is None else c_n[:, 0]
    return y, h_n, c_n, unbatched, y_shape, (masks, recurrent)


def _run_backward(plan, cell, sizes, batch_first, unbatched, y_shape, dy, dh_n, dc_n, grads, accumulate):
    """The stacked BPTT of the plan's pending forward; returns dx, dh0, dc0 (or None), grads (list)."""
    if dy is not None:
        dy = real_array(dy, "dy", sizes.dtype)
        check_shape(dy, "dy", y_shape, "(the shape of the forward's output y)")
        if unbatched:
            dy = dy[:, None, :]
        elif batch_first:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2))
    N = 1 if unbatched else y_shape[1 if not batch_first else 0]
    dh_n = _state(dh_n, "dh_n", sizes, N, unbatched)
    dc_n = _state(dc_n, "dc_n", sizes, N, unbatched) if cell.has_cell_state else None
    dx, dh0, dc0, grads = plan.backward(dy, dh_n, dc_n, grads, accumulate)
    dx = _external_layout(dx, unbatched, batch_first)
    if unbatched:
        dh0 = dh0[:, 0]
        dc0 = None if dc0 is None else dc0[:, 0]
    return dx, dh0, dc0, grads


def _forward(cell, x, params, h0, c0, num_layers, bidirectional, batch_first, training, dtype, out,
             activations, lengths, dropout, generator, recurrent_dropout=0.0):  # fmt: skip
    """The functional forward: full checks, a plan for this call; returns y, h_n, c_n, cache."""
    num_layers = positive_int(num_layers, "num_layers")
    dropout = probability(dropout, "dropout")
    recurrent_dropout = probability(recurrent_dropout, "recurrent_dropout")
    rng = None
    if training and (dropout > 0 or recurrent_dropout > 0):
        try:
            rng = np.random.default_rng(generator)
        except (TypeError, ValueError) as err:
            raise type(err)(f"generator: expected None, an int >= 0 or a numpy Generator: {err}") from err
    bidirectional = flag(bidirectional, "bidirectional")
    batch_first = flag(batch_first, "batch_first")
    training = flag(training, "training")
    params, sizes = _checked_params(cell, params, num_layers, bidirectional, dtype)
    plan = _new_plan(cell, sizes, "bias_ih_l0" in params, activations)
    plan.set_parameters(list(params.values()))
    y, h_n, c_n, unbatched, y_shape, (masks, recurrent) = _run_forward(
        plan, cell, sizes, x, h0, c0, batch_first, training, keep_packs=False, out=out, lengths=lengths,
        dropout=dropout, rng=rng, recurrent_dropout=recurrent_dropout,
    )  # fmt: skip
    cache = None
    if training:
        cache = _issue_cache(cell.name, plan, params, sizes, batch_first, unbatched, y_shape, masks,
                             recurrent)  # fmt: skip
    return y, h_n, c_n, cache


def _backward(cell, cache, dy, dh_n, dc_n, grads, caller):
    """The functional backward of a cache; returns dx, dh0, dc0 (or None), grads (dict)."""
    if not isinstance(cache, RecurrentCache):
        raise TypeError(
            f"cache: expected the cache returned by {caller}(..., training=True), got {type(cache).__name__}"
        )
    _check_issued(cache, caller)
    if cache.cell != cell.name:
        raise ValueError(f"cache: comes from a {cache.cell} forward, not from {caller}")
    if not cache.plan.pending:
        raise RuntimeError("cache: already used by a backward; run the forward again")
    params = cache.params
    accumulate = grads is not None
    if accumulate:
        _check_grad_buffers(grads, params)
        grad_list = [grads[name] for name in params]
    else:
        grad_list = None
    dx, dh0, dc0, grad_list = _run_backward(cache.plan, cell, cache.sizes, cache.batch_first, cache.unbatched,
                                            cache.y_shape, dy, dh_n, dc_n, grad_list, accumulate)  # fmt: skip
    if not accumulate:
        grads = dict(zip(params, grad_list, strict=True))
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


def _activations(activation_, recurrent_activation):
    return activation(activation_, "activation"), activation(recurrent_activation, "recurrent_activation")


_FORWARD_DOC = """
    x: [T,N,C], [N,T,C] if batch_first, or unbatched [T,C]; any real dtype, converted to ``dtype``
    (default: the dtype of params['weight_ih_l0']).
    params: mapping with PyTorch's names (see `param_names`); biases absent means no bias.
    training: when True, also return the cache the backward function needs (it keeps its own copies
    of x, the initial states and the weights' values); when False no workspace is kept and the cache
    is None.
    out: None, or a C-contiguous array of y's shape and dtype to write y into (not with batch_first).
    dropout, generator: PyTorch's dropout between stacked layers (training only): each layer's output
    but the last is multiplied by 0 (probability dropout) or 1/(1-dropout) before it feeds the next
    layer; the masks come from np.random.default_rng(generator) and are kept in cache.dropout_masks.
    recurrent_dropout: variational recurrent dropout (Keras's name; Gal & Ghahramani): h_{t-1} is
    multiplied by one [N, H] mask per layer-direction (0, or 1/(1-p)) wherever it enters a recurrent
    product, the same mask at every step (training only; cache.recurrent_masks).
    lengths: None, or each sequence's length (ints [N], 1 <= length <= T; a scalar for unbatched x):
    torch's pack_padded_sequence(..., enforce_sorted=False) semantics. y is 0 past each end, the final
    states are each sequence's at its own last step, the reverse direction starts at each sequence's end,
    and the backward ignores the padding (dy there is not read, dx there is 0).
"""

_ACTIVATION_DOC = """
    activation, recurrent_activation: Keras's names and meaning, one of "tanh", "sigmoid", "relu",
    "hard_sigmoid" (Keras 3: relu6(v + 3) / 6), "linear" (or None); defaults tanh / sigmoid, PyTorch's.
"""

_BACKWARD_DOC = """
    dy: gradient of the loss w.r.t. y, shaped like y, or None (zero).
    grads: None to return fresh parameter gradients, or a dict keyed like params whose arrays
    (C-contiguous, the kernel dtype) are accumulated into in place, as PyTorch accumulates ``.grad``.
"""


def lstm(x, params, hx=None, *, num_layers=1, bidirectional=False, batch_first=False, training=False,
         dtype=None, out=None, activation="tanh", recurrent_activation="sigmoid", lengths=None, dropout=0.0,
         generator=None, recurrent_dropout=0.0):  # fmt: skip
    h0, c0 = _pair(hx, "hx", ("h0", "c0"))
    activations = _activations(activation, recurrent_activation)
    y, h_n, c_n, cache = _forward(_LSTM, x, params, h0, c0, num_layers, bidirectional, batch_first,
                                  training, dtype, out, activations, lengths, dropout, generator,
                                  recurrent_dropout)  # fmt: skip
    return y, (h_n, c_n), cache


lstm.__doc__ = (
    """Stacked LSTM forward over whole sequences, as ``torch.nn.LSTM`` (no dropout, no projection), or
    as Keras's ``LSTM`` with its activations: i, f, o = rec(.), g = act(.), h = o * act(c).

    hx: None (zeros) or (h0, c0), each [L*D,N,H] ([L*D,H] unbatched); either may be None."""
    + _FORWARD_DOC
    + _ACTIVATION_DOC
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
        dtype=None, out=None, activation="tanh", recurrent_activation="sigmoid", lengths=None, dropout=0.0,
        generator=None, reset_after=True, recurrent_dropout=0.0):  # fmt: skip
    activations = _activations(activation, recurrent_activation)
    cell = _GRU if flag(reset_after, "reset_after") else _GRU_RESET_BEFORE
    y, h_n, _, cache = _forward(cell, x, params, h0, None, num_layers, bidirectional, batch_first,
                                training, dtype, out, activations, lengths, dropout, generator,
                                  recurrent_dropout)  # fmt: skip
    return y, h_n, cache


gru.__doc__ = (
    """Stacked GRU forward over whole sequences, as ``torch.nn.GRU``: the reset-after form (Keras's
    ``reset_after=True``) in PyTorch's gate order r, z, n (Keras orders its kernels z, r, h):
    r, z = rec(.), n = act(W_in x + b_in + r * (W_hn h + b_hn)), h = (1 - z) * n + z * h_prev;
    reset_after=False: the reset-before form, n = act(W_in x + b_in + W_hn (r * h) + b_hn).

    h0: None (zeros) or [L*D,N,H] ([L*D,H] unbatched)."""
    + _FORWARD_DOC
    + _ACTIVATION_DOC
    + """
    Returns ``y, h_n, cache``: y [T,N,D*H] (or [N,T,D*H], [T,D*H]), h_n [L*D,N,H].
    """
)


def gru_backward(cache, dy, dh_n=None, *, grads=None):
    cell = _GRU_RESET_BEFORE if getattr(cache, "cell", None) == "gru_reset_before" else _GRU
    dx, dh0, _, grads = _backward(cell, cache, dy, dh_n, None, grads, "gru")
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


def rnn(x, params, h0=None, *, nonlinearity="tanh", num_layers=1, bidirectional=False, batch_first=False,
        training=False, dtype=None, out=None, lengths=None, dropout=0.0, generator=None,
        recurrent_dropout=0.0):  # fmt: skip
    activations = (activation(nonlinearity, "nonlinearity"), "sigmoid")  # an RNN has no gates
    y, h_n, _, cache = _forward(_RNN, x, params, h0, None, num_layers, bidirectional, batch_first, training,
                                dtype, out, activations, lengths, dropout, generator,
                                recurrent_dropout)  # fmt: skip
    return y, h_n, cache


rnn.__doc__ = (
    """Stacked Elman RNN forward, as ``torch.nn.RNN``: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    nonlinearity: PyTorch's "tanh" or "relu", or any activation Keras's SimpleRNN takes ("sigmoid",
    "hard_sigmoid", "linear" or None). h0: None (zeros) or [L*D,N,H] ([L*D,H] unbatched)."""
    + _FORWARD_DOC
    + """
    Returns ``y, h_n, cache``.
    """
)


def rnn_backward(cache, dy, dh_n=None, *, grads=None):
    dx, dh0, _, grads = _backward(_RNN, cache, dy, dh_n, None, grads, "rnn")
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
