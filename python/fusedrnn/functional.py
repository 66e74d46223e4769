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
call only. The layer classes (`fusedrnn.LSTM`, `GRU`, `RNN`) are this module's siblings, not its users:
both run through the private call path `fusedrnn._stack`, the layers keeping one plan for their lifetime.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _cells, _core
from ._cells import Cell
from ._stack import Sizes, StatePair, new_plan, pair, run_backward, run_forward
from ._typing import Activation, FloatArray, Seed
from ._validation import (
    activation,
    check_shape,
    compute_dtype_with,
    flag,
    kernel_dtype,
    probability,
    real_array,
    size,
)
from ._validation import compute_dtype as checked_compute_dtype

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


def param_names(num_layers: int = 1, bidirectional: bool = False, bias: bool = True) -> list[str]:
    """The parameter names in PyTorch's order, the same for LSTM, GRU and RNN (without projection).

    Parameters
    ----------
    num_layers : int
        L, layers stacked.
    bidirectional : bool
        Whether each layer has a reverse direction (names ending in ``_reverse``).
    bias : bool
        Whether the biases ``bias_ih`` and ``bias_hh`` are included.

    Returns
    -------
    list of str
        By layer, then direction, then ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.

    Examples
    --------
    >>> fr.functional.param_names(num_layers=2, bias=False)
    ['weight_ih_l0', 'weight_hh_l0', 'weight_ih_l1', 'weight_hh_l1']
    """
    num_layers = size(num_layers, "num_layers", "num_layers")
    # The names are the kernels' (every cell has the same ones without a projection).
    return [
        name for name, _ in _core.parameter_shapes("rnn", 1, 1, num_layers, bool(bidirectional), bool(bias))
    ]


def param_shapes(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
) -> dict[str, tuple[int, ...]]:
    """{name: shape} in PyTorch's order for ``cell`` ("lstm", "lstm_layer_norm", "gru", "rnn" or
    "gru_reset_before"); a ValueError names the argument past the size limits."""
    if cell not in _cells.CELLS:
        raise ValueError(f"cell: expected one of {', '.join(map(repr, _cells.CELLS))}, got {cell!r}")
    input_size = size(input_size, "input_size")
    hidden_size = size(hidden_size, "hidden_size", "hidden_size")
    num_layers = size(num_layers, "num_layers", "num_layers")
    return dict(_core.parameter_shapes(cell, input_size, hidden_size, num_layers, bidirectional, bias))


class RecurrentCache(NamedTuple):
    """What a backward function needs from a training-mode forward: the plan that ran it (it holds the
    workspace and its own copies of x, the initial states and the weights' values) and the layout of
    the call's arrays."""

    cell: str
    plan: _core.Plan
    params: dict[str, FloatArray]
    sizes: Sizes
    batch_first: bool
    unbatched: bool
    y_shape: tuple[int, ...]
    dropout_masks: FloatArray | None  # [L-1, T, N, D*H] time-major factors of the dropout between layers
    recurrent_masks: FloatArray | None  # [L*D, N, H] factors of the recurrent dropout on h_{t-1}


# The fields each plan's cache was issued with (plan aside), so that a backward refuses a cache whose
# fields were replaced (`_replace`, a hand-built RecurrentCache) with a clear error instead of running on
# layouts that do not match the plan's pending forward.
_ISSUED_CACHES: weakref.WeakKeyDictionary[_core.Plan, tuple[object, ...]] = weakref.WeakKeyDictionary()


def _issue_cache(
    cell: str,
    plan: _core.Plan,
    params: dict[str, FloatArray],
    sizes: Sizes,
    batch_first: bool,
    unbatched: bool,
    y_shape: tuple[int, ...],
    dropout_masks: FloatArray | None,
    recurrent_masks: FloatArray | None,
) -> RecurrentCache:
    cache = RecurrentCache(
        cell, plan, params, sizes, batch_first, unbatched, y_shape, dropout_masks, recurrent_masks
    )
    _ISSUED_CACHES[plan] = (
        cell,
        params,
        sizes,
        batch_first,
        unbatched,
        y_shape,
        dropout_masks,
        recurrent_masks,
    )
    return cache


def _check_issued(cache: RecurrentCache, caller: str) -> None:
    plan = cache.plan
    issued = _ISSUED_CACHES.get(plan) if isinstance(plan, _core.Plan) else None
    if issued is None:
        raise TypeError(f"cache: its plan was not made by {caller}(..., training=True)")
    fields = (
        "cell",
        "params",
        "sizes",
        "batch_first",
        "unbatched",
        "y_shape",
        "dropout_masks",
        "recurrent_masks",
    )
    for name, value, expected in zip(fields, cache[:1] + cache[2:], issued, strict=True):
        by_identity = name in ("params", "dropout_masks", "recurrent_masks")
        same = value is expected if by_identity else type(value) is type(expected) and value == expected
        if not same:
            raise ValueError(f"cache: field '{name}' differs from what {caller}(..., training=True) returned")


def _checked_params(
    cell: Cell, params: Mapping[str, ArrayLike], num_layers: int, bidirectional: bool, dtype: DTypeLike | None
) -> tuple[dict[str, FloatArray], Sizes]:
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
        raise ValueError(
            f"params: weight_hh_l0 must have shape ({G}*H, {width}) with {width} >= 1, got {w_hh}"
        )
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
    converted: dict[str, FloatArray] = {}
    for name, shape in shapes.items():
        value = real_array(params[name], f"params['{name}']", dtype)
        check_shape(value, f"params['{name}']", shape, "")
        converted[name] = value
    return converted, Sizes(w_ih[1], H, num_layers, 2 if bidirectional else 1, dtype, P)


def _forward(
    cell: Cell,
    x: ArrayLike,
    params: Mapping[str, ArrayLike],
    h0: ArrayLike | None,
    c0: ArrayLike | None,
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    training: bool,
    dtype: DTypeLike | None,
    out: FloatArray | None,
    activations: tuple[str, str],
    lengths: ArrayLike | None,
    dropout: float,
    generator: Seed,
    recurrent_dropout: float = 0.0,
    compute_dtype: str = "float32",
) -> tuple[FloatArray, FloatArray, FloatArray | None, RecurrentCache | None]:
    """The functional forward: full checks, a plan for this call; returns y, h_n, c_n, cache."""
    num_layers = size(num_layers, "num_layers", "num_layers")
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
    compute_dtype = checked_compute_dtype(compute_dtype)
    params, sizes = _checked_params(cell, params, num_layers, bidirectional, dtype)
    compute_dtype_with(compute_dtype, sizes.dtype)
    plan = new_plan(cell, sizes, "bias_ih_l0" in params, activations, compute_dtype=compute_dtype)
    plan.set_parameters(list(params.values()))
    y, h_n, c_n, unbatched, y_shape, (masks, recurrent) = run_forward(
        plan,
        cell,
        sizes,
        x,
        h0,
        c0,
        batch_first,
        training,
        keep_packs=False,
        out=out,
        lengths=lengths,
        dropout=dropout,
        rng=rng,
        recurrent_dropout=recurrent_dropout,
    )
    cache = None
    if training:
        cache = _issue_cache(
            cell.name, plan, params, sizes, batch_first, unbatched, y_shape, masks, recurrent
        )
    return y, h_n, c_n, cache


def _backward(
    cell: Cell,
    cache: RecurrentCache,
    dy: ArrayLike | None,
    dh_n: ArrayLike | None,
    dc_n: ArrayLike | None,
    grads: dict[str, FloatArray] | None,
    caller: str,
) -> tuple[FloatArray, FloatArray, FloatArray | None, dict[str, FloatArray]]:
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
    if grads is not None:
        _check_grad_buffers(grads, params)
        grad_list = [grads[name] for name in params]
    else:
        grad_list = None
    dx, dh0, dc0, grad_list = run_backward(
        cache.plan,
        cell,
        cache.sizes,
        cache.batch_first,
        cache.unbatched,
        cache.y_shape,
        dy,
        dh_n,
        dc_n,
        grad_list,
        accumulate,
    )
    if grads is None:
        grads = dict(zip(params, grad_list, strict=True))
    return dx, dh0, dc0, grads


def _check_grad_buffers(grads: Mapping[str, object], params: Mapping[str, FloatArray]) -> None:
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


def _activations(activation_: Activation, recurrent_activation: Activation) -> tuple[str, str]:
    return activation(activation_, "activation"), activation(recurrent_activation, "recurrent_activation")


def lstm(
    x: ArrayLike,
    params: Mapping[str, ArrayLike],
    hx: StatePair | None = None,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    training: bool = False,
    dtype: DTypeLike | None = None,
    out: FloatArray | None = None,
    activation: Activation = "tanh",
    recurrent_activation: Activation = "sigmoid",
    lengths: ArrayLike | None = None,
    dropout: float = 0.0,
    generator: Seed = None,
    recurrent_dropout: float = 0.0,
    layer_norm: bool = False,
    compute_dtype: str = "float32",
) -> tuple[FloatArray, tuple[FloatArray, FloatArray], RecurrentCache | None]:
    """Stacked LSTM forward over whole sequences, as ``torch.nn.LSTM``, or as Keras's ``LSTM`` with its
    activations: ``i, f, o = rec(.)``, ``g = act(.)``, ``c = f * c_prev + i * g``, ``h = o * act(c)``
    (``h = W_hr (o * act(c))`` when params has ``weight_hr_l0``, PyTorch's projection).

    Parameters
    ----------
    x : array_like
        [T, N, C], [N, T, C] if batch_first, or unbatched [T, C]; any real dtype, converted to ``dtype``.
    params : mapping of str to array_like
        PyTorch's names and shapes (see `param_names`); biases absent means no bias.
    hx : (array_like, array_like) or None
        (h0, c0), each [L*D, N, H] ([L*D, H] unbatched); either may be None; None: zeros.
    num_layers : int
        L, layers stacked.
    bidirectional : bool
        Whether params has a reverse direction for every layer (D = 2).
    batch_first : bool
        x and y are [N, T, features].
    training : bool
        True: also return the cache `lstm_backward` needs (it keeps its own copies of x, the initial
        states and the weights' values); False: no workspace is kept and the cache is None.
    dtype : {numpy.float32, numpy.float64} or None
        The kernel dtype; None: the dtype of params['weight_ih_l0'].
    out : numpy.ndarray or None
        A C-contiguous array of y's shape and dtype to write y into (not with batch_first).
    activation, recurrent_activation : {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"} or None
        Keras's names and meaning (act and rec above; hard_sigmoid is Keras 3's relu6(v + 3) / 6, None is
        "linear"); defaults tanh and sigmoid, PyTorch's.
    lengths : array_like or None
        Each sequence's length (ints [N], 1 <= length <= T; a scalar for unbatched x), with PyTorch's
        ``pack_padded_sequence(..., enforce_sorted=False)`` semantics: y is 0 past each end, the final
        states are each sequence's at its own last step, the reverse direction starts at each sequence's
        end, and the backward ignores the padding (dy there is not read, dx there is 0).
    dropout : float
        PyTorch's dropout between stacked layers (training only): each layer's output but the last is
        multiplied by 0 (probability dropout) or 1/(1-dropout) before it feeds the next layer.
    generator : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source of the dropout masks, ``np.random.default_rng(generator)``; the masks are kept in
        ``cache.dropout_masks`` and ``cache.recurrent_masks``.
    recurrent_dropout : float
        Variational recurrent dropout (Keras's name; Gal & Ghahramani, training only): h_{t-1} is
        multiplied by one [N, H] mask per layer and direction (0, or 1/(1-p)) wherever it enters a
        recurrent product, the same mask at every step.
    compute_dtype : {"float32", "bfloat16"}
        "bfloat16" (alias "bf16"): mixed-precision training, as the layers' ``compute_dtype``: every
        product's operands rounded to bfloat16, float32 sums, everything else float32 (dtype float32
        only).
    layer_norm : bool
        The layer-normalised LSTM (`fusedrnn.LSTM`'s ``layer_norm``): params then also hold, per layer and
        direction, ``layernorm_ih_weight_l0`` and ``layernorm_hh_weight_l0`` [4*H],
        ``layernorm_c_weight_l0`` and ``layernorm_c_bias_l0`` [H] (no projection).

    Returns
    -------
    y : numpy.ndarray
        [T, N, D*H] ([N, T, D*H] if batch_first, [T, D*H] unbatched).
    (h_n, c_n) : (numpy.ndarray, numpy.ndarray)
        The final states, each [L*D, N, H] ([L*D, H] unbatched).
    cache : RecurrentCache or None
        What `lstm_backward` needs (training=True), else None.

    Raises
    ------
    TypeError
        An argument of the wrong type (a non-real array, params not a mapping, hx not a pair).
    ValueError
        Parameter names or shapes that do not match, or an input of the wrong shape.

    Examples
    --------
    >>> params = fr.LSTM(8, 16, seed=0).state_dict()
    >>> y, (h_n, c_n), cache = fr.functional.lstm(x, params, training=True)
    >>> dx, (dh0, dc0), grads = fr.functional.lstm_backward(cache, np.ones_like(y))
    """
    h0, c0 = pair(hx, "hx", ("h0", "c0"))
    activations = _activations(activation, recurrent_activation)
    cell = _cells.LSTM_LAYER_NORM if flag(layer_norm, "layer_norm") else _cells.LSTM
    y, h_n, c_n, cache = _forward(
        cell,
        x,
        params,
        h0,
        c0,
        num_layers,
        bidirectional,
        batch_first,
        training,
        dtype,
        out,
        activations,
        lengths,
        dropout,
        generator,
        recurrent_dropout,
        compute_dtype,
    )
    return y, (h_n, c_n), cache  # type: ignore[return-value]  # an LSTM's c_n is an array


def lstm_backward(
    cache: RecurrentCache,
    dy: ArrayLike | None,
    dhx: StatePair | None = None,
    *,
    grads: dict[str, FloatArray] | None = None,
) -> tuple[FloatArray, tuple[FloatArray, FloatArray], dict[str, FloatArray]]:
    """Backpropagation through time of a training-mode `lstm` call, for the loss
    ``sum(dy * y) + sum(dh_n * h_n) + sum(dc_n * c_n)``.

    Parameters
    ----------
    cache : RecurrentCache
        The cache a `lstm` call with training=True returned (each is used once).
    dy : array_like or None
        The gradient of the loss with respect to y, shaped like y; None: zero.
    dhx : (array_like, array_like) or None
        (dh_n, dc_n), shaped like h_n and c_n, either may be None; None: zero.
    grads : dict of str to numpy.ndarray, optional
        None: return fresh parameter gradients. Else a dict keyed like params whose arrays (writable,
        C-contiguous, the kernel dtype) are accumulated into in place, as PyTorch accumulates ``.grad``.

    Returns
    -------
    dx : numpy.ndarray
        Shaped like x.
    (dh0, dc0) : (numpy.ndarray, numpy.ndarray)
        Shaped like h_n and c_n.
    grads : dict of str to numpy.ndarray
        The parameter gradients keyed like params (the given dict when grads was given).

    Raises
    ------
    TypeError
        cache is not one `lstm` returned.
    ValueError
        A gradient's shape does not match, or grads has other keys or arrays.
    RuntimeError
        The cache was already used by a backward (one that started, even if it was interrupted).
    """
    dh_n, dc_n = pair(dhx, "dhx", ("dh_n", "dc_n"))
    cell = _cells.LSTM_LAYER_NORM if getattr(cache, "cell", None) == "lstm_layer_norm" else _cells.LSTM
    dx, dh0, dc0, grads_out = _backward(cell, cache, dy, dh_n, dc_n, grads, "lstm")
    return dx, (dh0, dc0), grads_out  # type: ignore[return-value]  # an LSTM's dc0 is an array


def gru(
    x: ArrayLike,
    params: Mapping[str, ArrayLike],
    h0: ArrayLike | None = None,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    training: bool = False,
    dtype: DTypeLike | None = None,
    out: FloatArray | None = None,
    activation: Activation = "tanh",
    recurrent_activation: Activation = "sigmoid",
    lengths: ArrayLike | None = None,
    dropout: float = 0.0,
    generator: Seed = None,
    reset_after: bool = True,
    recurrent_dropout: float = 0.0,
    compute_dtype: str = "float32",
) -> tuple[FloatArray, FloatArray, RecurrentCache | None]:
    """Stacked GRU forward over whole sequences, as ``torch.nn.GRU``, in PyTorch's gate order r, z, n
    (Keras orders its kernels z, r, h): ``r, z = rec(.)``, ``n = act(W_in x + b_in + r * (W_hn h +
    b_hn))``, ``h = (1 - z) * n + z * h_prev``.

    Parameters
    ----------
    x : array_like
        [T, N, C], [N, T, C] if batch_first, or unbatched [T, C]; any real dtype, converted to ``dtype``.
    params : mapping of str to array_like
        PyTorch's names and shapes (see `param_names`); biases absent means no bias.
    h0 : array_like or None
        The initial state [L*D, N, H] ([L*D, H] unbatched); None: zeros.
    num_layers : int
        L, layers stacked.
    bidirectional : bool
        Whether params has a reverse direction for every layer (D = 2).
    batch_first : bool
        x and y are [N, T, features].
    training : bool
        True: also return the cache `gru_backward` needs (it keeps its own copies of x, the initial
        state and the weights' values); False: no workspace is kept and the cache is None.
    dtype : {numpy.float32, numpy.float64} or None
        The kernel dtype; None: the dtype of params['weight_ih_l0'].
    out : numpy.ndarray or None
        A C-contiguous array of y's shape and dtype to write y into (not with batch_first).
    activation, recurrent_activation : {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"} or None
        Keras's names and meaning (act and rec above; hard_sigmoid is Keras 3's relu6(v + 3) / 6, None is
        "linear"); defaults tanh and sigmoid, PyTorch's.
    lengths : array_like or None
        Each sequence's length (ints [N], 1 <= length <= T; a scalar for unbatched x), with PyTorch's
        ``pack_padded_sequence(..., enforce_sorted=False)`` semantics (see `lstm`).
    dropout : float
        PyTorch's dropout between stacked layers (training only), as in `lstm`.
    generator : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source of the dropout masks, ``np.random.default_rng(generator)``.
    reset_after : bool
        True: the reset-after form above (PyTorch's; Keras's ``reset_after=True``); False: the
        reset-before form, ``n = act(W_in x + b_in + W_hn (r * h) + b_hn)``.
    recurrent_dropout : float
        Variational recurrent dropout on h_{t-1} (training only), as in `lstm`.
    compute_dtype : {"float32", "bfloat16"}
        "bfloat16" (alias "bf16"): mixed-precision training, as the layers' ``compute_dtype``: every
        product's operands rounded to bfloat16, float32 sums, everything else float32 (dtype float32
        only).

    Returns
    -------
    y : numpy.ndarray
        [T, N, D*H] ([N, T, D*H] if batch_first, [T, D*H] unbatched).
    h_n : numpy.ndarray
        The final state [L*D, N, H] ([L*D, H] unbatched).
    cache : RecurrentCache or None
        What `gru_backward` needs (training=True), else None.

    Raises
    ------
    TypeError
        An argument of the wrong type (a non-real array, params not a mapping).
    ValueError
        Parameter names or shapes that do not match, or an input of the wrong shape.
    """
    activations = _activations(activation, recurrent_activation)
    cell = _cells.GRU if flag(reset_after, "reset_after") else _cells.GRU_RESET_BEFORE
    y, h_n, _, cache = _forward(
        cell,
        x,
        params,
        h0,
        None,
        num_layers,
        bidirectional,
        batch_first,
        training,
        dtype,
        out,
        activations,
        lengths,
        dropout,
        generator,
        recurrent_dropout,
        compute_dtype,
    )
    return y, h_n, cache


def gru_backward(
    cache: RecurrentCache,
    dy: ArrayLike | None,
    dh_n: ArrayLike | None = None,
    *,
    grads: dict[str, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
    """Backpropagation through time of a training-mode `gru` call, for the loss
    ``sum(dy * y) + sum(dh_n * h_n)``.

    Parameters
    ----------
    cache : RecurrentCache
        The cache a `gru` call with training=True returned (each is used once).
    dy : array_like or None
        The gradient of the loss with respect to y, shaped like y; None: zero.
    dh_n : array_like or None
        The gradient with respect to h_n, shaped like h_n; None: zero.
    grads : dict of str to numpy.ndarray, optional
        None: return fresh parameter gradients. Else a dict keyed like params whose arrays (writable,
        C-contiguous, the kernel dtype) are accumulated into in place, as PyTorch accumulates ``.grad``.

    Returns
    -------
    dx : numpy.ndarray
        Shaped like x.
    dh0 : numpy.ndarray
        Shaped like h_n.
    grads : dict of str to numpy.ndarray
        The parameter gradients keyed like params (the given dict when grads was given).

    Raises
    ------
    TypeError
        cache is not one `gru` returned.
    ValueError
        A gradient's shape does not match, or grads has other keys or arrays.
    RuntimeError
        The cache was already used by a backward (one that started, even if it was interrupted).
    """
    cell = _cells.GRU_RESET_BEFORE if getattr(cache, "cell", None) == "gru_reset_before" else _cells.GRU
    dx, dh0, _, grads_out = _backward(cell, cache, dy, dh_n, None, grads, "gru")
    return dx, dh0, grads_out


def rnn(
    x: ArrayLike,
    params: Mapping[str, ArrayLike],
    h0: ArrayLike | None = None,
    *,
    nonlinearity: Activation = "tanh",
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    training: bool = False,
    dtype: DTypeLike | None = None,
    out: FloatArray | None = None,
    lengths: ArrayLike | None = None,
    dropout: float = 0.0,
    generator: Seed = None,
    recurrent_dropout: float = 0.0,
    compute_dtype: str = "float32",
) -> tuple[FloatArray, FloatArray, RecurrentCache | None]:
    """Stacked Elman RNN forward, as ``torch.nn.RNN``: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Parameters
    ----------
    x : array_like
        [T, N, C], [N, T, C] if batch_first, or unbatched [T, C]; any real dtype, converted to ``dtype``.
    params : mapping of str to array_like
        PyTorch's names and shapes (see `param_names`); biases absent means no bias.
    h0 : array_like or None
        The initial state [L*D, N, H] ([L*D, H] unbatched); None: zeros.
    nonlinearity : {"tanh", "relu", "sigmoid", "hard_sigmoid", "linear"} or None
        act: PyTorch's "tanh" or "relu", or any activation Keras's SimpleRNN takes (None is "linear").
    num_layers : int
        L, layers stacked.
    bidirectional : bool
        Whether params has a reverse direction for every layer (D = 2).
    batch_first : bool
        x and y are [N, T, features].
    training : bool
        True: also return the cache `rnn_backward` needs (it keeps its own copies of x, the initial
        state and the weights' values); False: no workspace is kept and the cache is None.
    dtype : {numpy.float32, numpy.float64} or None
        The kernel dtype; None: the dtype of params['weight_ih_l0'].
    out : numpy.ndarray or None
        A C-contiguous array of y's shape and dtype to write y into (not with batch_first).
    lengths : array_like or None
        Each sequence's length (ints [N], 1 <= length <= T; a scalar for unbatched x), with PyTorch's
        ``pack_padded_sequence(..., enforce_sorted=False)`` semantics (see `lstm`).
    dropout : float
        PyTorch's dropout between stacked layers (training only), as in `lstm`.
    generator : int, numpy.random.Generator, numpy.random.SeedSequence or None
        The source of the dropout masks, ``np.random.default_rng(generator)``.
    recurrent_dropout : float
        Variational recurrent dropout on h_{t-1} (training only), as in `lstm`.
    compute_dtype : {"float32", "bfloat16"}
        "bfloat16" (alias "bf16"): mixed-precision training, as the layers' ``compute_dtype``: every
        product's operands rounded to bfloat16, float32 sums, everything else float32 (dtype float32
        only).

    Returns
    -------
    y : numpy.ndarray
        [T, N, D*H] ([N, T, D*H] if batch_first, [T, D*H] unbatched).
    h_n : numpy.ndarray
        The final state [L*D, N, H] ([L*D, H] unbatched).
    cache : RecurrentCache or None
        What `rnn_backward` needs (training=True), else None.

    Raises
    ------
    TypeError
        An argument of the wrong type (a non-real array, params not a mapping).
    ValueError
        Parameter names or shapes that do not match, or an input of the wrong shape.
    """
    activations = (activation(nonlinearity, "nonlinearity"), "sigmoid")  # an RNN has no gates
    y, h_n, _, cache = _forward(
        _cells.RNN,
        x,
        params,
        h0,
        None,
        num_layers,
        bidirectional,
        batch_first,
        training,
        dtype,
        out,
        activations,
        lengths,
        dropout,
        generator,
        recurrent_dropout,
        compute_dtype,
    )
    return y, h_n, cache


def rnn_backward(
    cache: RecurrentCache,
    dy: ArrayLike | None,
    dh_n: ArrayLike | None = None,
    *,
    grads: dict[str, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
    """Backpropagation through time of a training-mode `rnn` call, for the loss
    ``sum(dy * y) + sum(dh_n * h_n)``.

    Parameters
    ----------
    cache : RecurrentCache
        The cache an `rnn` call with training=True returned (each is used once).
    dy : array_like or None
        The gradient of the loss with respect to y, shaped like y; None: zero.
    dh_n : array_like or None
        The gradient with respect to h_n, shaped like h_n; None: zero.
    grads : dict of str to numpy.ndarray, optional
        None: return fresh parameter gradients. Else a dict keyed like params whose arrays (writable,
        C-contiguous, the kernel dtype) are accumulated into in place, as PyTorch accumulates ``.grad``.

    Returns
    -------
    dx : numpy.ndarray
        Shaped like x.
    dh0 : numpy.ndarray
        Shaped like h_n.
    grads : dict of str to numpy.ndarray
        The parameter gradients keyed like params (the given dict when grads was given).

    Raises
    ------
    TypeError
        cache is not one `rnn` returned.
    ValueError
        A gradient's shape does not match, or grads has other keys or arrays.
    RuntimeError
        The cache was already used by a backward (one that started, even if it was interrupted).
    """
    dx, dh0, _, grads_out = _backward(_cells.RNN, cache, dy, dh_n, None, grads, "rnn")
    return dx, dh0, grads_out
