"""What the layer classes share (`fusedrnn.LSTM`, `GRU`, `RNN` in `fusedrnn.layers`) beyond their
parameters and modes (`fusedrnn._parameters`): construction from the class's option record
(`fusedrnn._options`), pickling and restoring, reduced precision, streaming state and the calls on the
layer's prepared plan (through `fusedrnn._stack`, the call path `fusedrnn.functional` shares).
"""

from __future__ import annotations

import difflib
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Generic, Literal, TypeAlias, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike

from . import _cells, _core, _options, _stack
from . import init as init_module
from ._parameters import ParameterLayer
from ._typing import FloatArray, InitScheme, MergeMode, Seed
from ._validation import real_array

__all__ = ["RecurrentLayer", "StateLike", "errors_name", "restore"]

# What a layer returns as its final state: h_n (GRU, RNN) or (h_n, c_n) (LSTM).
_State = TypeVar("_State", FloatArray, tuple[FloatArray, FloatArray])
# What a state argument takes: h, or (h, c) for an LSTM (either may be None: zeros), as arrays or
# anything np.asarray accepts; None: zeros.
StateLike: TypeAlias = ArrayLike | tuple[ArrayLike | None, ArrayLike | None] | None
_Layer = TypeVar("_Layer", bound="RecurrentLayer[Any]")


class RecurrentLayer(ParameterLayer, Generic[_State]):
    """What LSTM, GRU and RNN share beyond their parameters and modes (`fusedrnn._parameters`): construction
    from the option record, the plan, pickling and restoring, reduced precision, forward and backward,
    the merge of two directions, streaming, repr.

    Never stale, by construction: the plan reads the parameter arrays themselves and packs them (1) at
    every training-mode forward, and (2) once per entry into eval mode, keeping the packs while the layer
    stays in eval mode. While it keeps them the arrays are read-only, so an in-place write raises
    ``ValueError: ... read-only`` instead of silently using stale packs; attribute assignment
    (``lstm.weight_hh_l0 = w``) and `load_state_dict` stay allowed and repack; `train()` makes the arrays
    writable again. In training mode the forward keeps a copy of the parameters' values, and `backward`
    raises a RuntimeError naming a parameter that was changed in place between the two.
    """

    # Set by the constructor (the parameters themselves are read through __getattr__).
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    dropout: float
    bidirectional: bool
    dtype: np.dtype[Any]
    training: bool
    stateful: bool
    init: InitScheme
    merge_mode: MergeMode
    recurrent_dropout: float
    activation: str  # LSTM and GRU (an RNN's is nonlinearity's Keras name)
    recurrent_activation: str  # LSTM and GRU
    compute_dtype: str  # "float32" or "bfloat16" (the products' operands rounded to bf16)
    grads: dict[str, FloatArray]
    dropout_masks: FloatArray | None
    recurrent_dropout_masks: FloatArray | None

    # The key of the class's option record in `fusedrnn._options.OPTIONS`, set by each class.
    _options_key: ClassVar[str] = ""
    # Constructor arguments beyond the record's options and seed (RNN's Keras name for nonlinearity).
    _aliases: ClassVar[tuple[str, ...]] = ()

    def _build(self, arguments: Mapping[str, Any]) -> None:
        """Makes the layer from its constructor's arguments (the ``locals()`` of LSTM / GRU / RNN
        ``__init__``): every option of the class's record checked (`fusedrnn._options.construct`), then
        the plan, then the parameters initialised from ``seed``."""
        record: dict[str, _options.Option] = _options.OPTIONS[self._options_key]
        with errors_name(type(self)):
            _refuse_unknown(arguments["unknown"], (*record, "seed", *self._aliases))
            options = _options.construct(self._options_key, arguments)
            if options["dropout"] > 0 and options["num_layers"] == 1:
                warnings.warn(
                    f"dropout={options['dropout']} does nothing with num_layers=1: dropout acts between "
                    "stacked layers (on every layer's output but the last), as in PyTorch",
                    UserWarning,
                    stacklevel=3,
                )
            self.__dict__.update(options)  # not through __setattr__: nothing is made yet
            self._cell = _options.cell(self._options_key, options)
            self.training = True
            self._initialise(arguments["seed"])

    def _plan_activations(self) -> tuple[str, str]:
        return self.activation, self.recurrent_activation

    def _initialise(self, seed: Seed) -> None:
        # Sizes are checked against the supported limits here, before any parameter is made.
        plan = self._new_plan()

        # PyTorch's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order.
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as err:
            expected = "None, an int >= 0 or a numpy Generator/SeedSequence"
            raise type(err)(f"seed: expected {expected}: {err}") from err
        bound = 1.0 / np.sqrt(self.hidden_size)
        self._params: dict[str, FloatArray] = {}
        for name, shape in plan.parameter_shapes():
            start = _cells.layer_norm_initial(name)  # the norms' gains 1, bias 0 (no draw)
            if start is None:
                self._params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            else:
                self._params[name] = np.full(shape, start, dtype=self.dtype)
        init_module.apply_scheme(
            self._params, self.hidden_size, self.init, rng, _cells.forget_gate(self._cell, self.hidden_size)
        )
        self.grads = _zero_gradients(self._params)
        self._rng = rng  # after the initial weights: the dropout masks
        self.dropout_masks = self.recurrent_dropout_masks = None
        self._attach(plan)

    def _new_plan(self) -> _core.Plan:
        cell = _cells.CELLS[self._cell]
        return _stack.new_plan(
            cell,
            self._stack_sizes(),
            self.bias,
            self._plan_activations(),
            self._weight_format,
            self.compute_dtype,
        )

    def _stack_sizes(self) -> _stack.Sizes:
        D = 2 if self.bidirectional else 1
        return _stack.Sizes(
            self.input_size, self.hidden_size, self.num_layers, D, self.dtype, self._proj_size()
        )

    def _attach(self, plan: _core.Plan) -> None:
        """Derived state: the plan reading the parameters, the call facts, no pending forward."""
        plan.set_parameters(list(self._params.values()))
        self._plan = plan
        self._grad_list = list(self.grads.values())
        self._cell_facts = _cells.CELLS[self._cell]
        self._sizes = self._stack_sizes()
        # (thread id, unbatched, y_shape) of the forward backward would differentiate
        self._pending: tuple[int, bool, tuple[int, ...]] | None = None
        # merge_mode="mul": the two directions' outputs of the pending forward
        self._merge_inputs: tuple[FloatArray, FloatArray] | None = None
        # stateful: (h_n, c_n or None) of the last call, the next call's initial state
        self._state: tuple[FloatArray, FloatArray | None] | None = None
        self._last_forward_was_eval = False
        self._set_writable(self.training)

    # -- pickling and loading (the plan is rebuilt, never pickled) -----------------------------------

    def __getstate__(self) -> dict[str, Any]:
        options = _options.OPTIONS[self._options_key]
        state: dict[str, Any] = {key: self.__dict__[key] for key in options}
        state.update(training=self.training, _params=self._params, _rng=self._rng)
        # Gradients only when some are nonzero: unpickling makes zero ones (_zero_gradients), so a layer
        # never trained (the usual one sent to worker processes) pickles at the size of its parameters,
        # not twice it. Reading never-written gradient pages maps no memory.
        if any(np.any(g) for g in self.grads.values()):
            state["grads"] = self.grads
        if "reset_after" in options:
            state["_cell"] = self._cell  # fusedrnn <= 0.3 read the GRU's form from here
        if self._weight_format != "fp32":
            state["_weight_format"] = self._weight_format
        return state

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self._restore(state, "pickled state", copy=True)

    def _restore(self, state: Mapping[str, Any], where: str, *, copy: bool) -> None:
        """Makes this unmade layer (``cls.__new__(cls)``) from a pickled state or a loaded file.

        Everything is checked as the constructor checks it (`fusedrnn._options`), and the parameters
        against the shapes the kernels derive from the options, before the plan is made; nothing is
        initialised at random. Raises only ValueError, naming ``where``. copy=False adopts the parameter
        arrays (made C-contiguous, aligned and writable, copying only if they are not).
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(state).__name__}")
        class_name = self._options_key
        state = dict(state)
        weight_format = state.pop("_weight_format", "fp32")
        training = state.pop("training", True)
        params = state.pop("_params", None)
        grads = state.pop("grads", None)
        rng = state.pop("_rng", None)
        cell = state.pop("_cell", None)
        options = _options.check(class_name, state, where)
        if not isinstance(weight_format, str) or weight_format not in _options.WEIGHT_FORMATS:
            raise ValueError(
                f"{where}: weight format: expected 'fp32', 'bf16' or 'int8', got {weight_format!r}"
            )
        if not isinstance(training, (bool, np.bool_)):
            raise ValueError(f"{where}: training: expected a bool, got {type(training).__name__}")
        if weight_format != "fp32" and (training or options["dtype"] != "float32" or grads):
            raise ValueError(
                f"{where}: a {weight_format} layer is inference-only (eval mode, no gradients, float32)"
            )
        if rng is None:
            rng = np.random.default_rng()
        elif not isinstance(rng, np.random.Generator):
            raise ValueError(f"{where}: _rng: expected a numpy Generator, got {type(rng).__name__}")
        own_cell = _options.cell(class_name, options)
        # fusedrnn 0.1 named an RNN's cell after its nonlinearity
        if (
            cell is not None
            and cell != own_cell
            and not (class_name == "RNN" and cell in ("rnn_tanh", "rnn_relu"))
        ):
            raise ValueError(f"{where}: _cell: {cell!r} is not the cell of this {class_name} ({own_cell!r})")
        dtype = np.dtype(options["dtype"])
        shapes = _options.parameter_shapes(class_name, options, where)
        params = _checked_arrays(params, "_params", shapes, dtype, where, copy)
        if weight_format != "fp32":
            grads = {}
        elif grads is None:
            grads = _zero_gradients(params)
        else:
            grads = _checked_arrays(grads, "grads", shapes, dtype, where, True)
        options["dtype"] = dtype
        self.__dict__.update(options)  # not through __setattr__: nothing is made yet
        self.__dict__.update(training=bool(training), _params=params, grads=grads, _rng=rng)
        if weight_format != "fp32":
            self._weight_format = weight_format
        self._cell = own_cell
        self.dropout_masks = self.recurrent_dropout_masks = None
        try:
            plan = self._new_plan()
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None
        self._attach(plan)

    # -- reduced precision ----------------------------------------------------------------------------

    def quantized(self: _Layer, format: Literal["int8", "bf16"] = "int8") -> _Layer:
        """An inference-only copy whose input and recurrent products read reduced-precision weights.

        Parameters
        ----------
        format : {"int8", "bf16"}
            ``"int8"``: the weights quantised once per output row (symmetric: scale max|w| / 127), the
            products' other operand (x_t, h_{t-1}, and r * h_{t-1} or o * act(c_t) where a cell has a
            second product) quantised per row the same way at each step, int32 sums, dequantised into
            float32 for the gate math. ``"bf16"``: weights and operands rounded to bfloat16 (to nearest
            even), float32 sums. State, gates and outputs stay float32.

        Returns
        -------
        layer
            A layer of the same class in eval mode, with its own copy of the parameters (read-only):
            the same call signature and outputs as this one, with every option that applies to
            inference (stacks, bidirectional, ``lengths``, activations, projection, both GRU forms,
            `step`). `train` and `backward` raise RuntimeError. Layers with fewer than 8,192 weights
            stay float32 (the reduced formats are not faster there); `layer_formats` tells which do.

        Raises
        ------
        ValueError
            format is not "int8" or "bf16", the layer's dtype is not float32, or its compute_dtype is
            "bfloat16" (a training option: make a float32-compute copy to quantize).

        Notes
        -----
        The kernels use AVX512-VNNI (int8) and AVX512-BF16 (bf16) where the CPU has them, and portable
        kernels elsewhere (``fusedrnn.cpu_info()["reduced_precision"]``); the int8 results are the same
        bits on every path and thread count. Measured errors against float32 are in the README.

        Examples
        --------
        >>> q = fr.LSTM(256, 512).eval().quantized("int8")
        >>> y, (h_n, c_n) = q(x)
        """
        fmt = _reduced_format(format)
        if self.dtype != np.float32:
            raise ValueError(f"format: {fmt} layers need dtype float32, this layer is {self.dtype.name}")
        if getattr(self, "layer_norm", False):
            raise ValueError(f"format: {fmt} kernels have no layer-normalised LSTM (layer_norm=True)")
        if self.compute_dtype != "float32":
            raise ValueError(
                f"format: {fmt} layers are made from compute_dtype='float32' layers, this one computes in "
                f"{self.compute_dtype} (load its state_dict into a float32-compute layer to quantize it)"
            )
        state = self.__getstate__()
        state.update(training=False, _weight_format=fmt, grads={})  # inference-only: no gradients
        layer = type(self).__new__(type(self))
        layer.__setstate__(state)
        return layer

    @property
    def weight_format(self) -> str:
        """ "fp32", or "bf16" / "int8" for a layer made by `quantized`."""
        return self._weight_format

    @property
    def layer_formats(self) -> list[str]:
        """The format each layer of the stack computes its products in ("fp32" for layers that a
        `quantized` layer keeps float32 because they are small)."""
        return list(self._plan.layer_formats)

    @property
    def retained_bytes(self) -> int:
        """Bytes the layer keeps between calls for speed (packed weights, kernel scratch, training
        workspace); it grows to the largest call and is reused by every call no larger."""
        return self._plan.retained_bytes

    # -- computation --------------------------------------------------------------------------------

    def _forward(
        self,
        x: ArrayLike,
        h0: ArrayLike | None,
        c0: ArrayLike | None,
        out: FloatArray | None,
        lengths: ArrayLike | None,
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        if self.stateful and h0 is None and c0 is None and self._state is not None:
            h0, c0 = self._state
            batch = np.shape(x)[0 if self.batch_first else 1] if np.ndim(x) == 3 else None
            if (h0.ndim == 3) != (batch is not None) or (batch is not None and h0.shape[1] != batch):
                carried = h0.shape[1] if h0.ndim == 3 else "unbatched"
                raise ValueError(
                    f"x: this stateful layer carries a state for batch size {carried}; call reset_state() "
                    "before a batch of another size"
                )
        if out is not None and self.merge_mode != "concat":
            raise ValueError(
                f"out: not supported with merge_mode={self.merge_mode!r} (y is merged after the kernels)"
            )
        y, h_n, c_n, unbatched, y_shape, masks = _stack.run_forward(
            self._plan,
            self._cell_facts,
            self._sizes,
            x,
            h0,
            c0,
            self.batch_first,
            self.training,
            keep_packs=not self.training,
            out=out,
            lengths=lengths,
            dropout=self.dropout,
            rng=self._rng,
            recurrent_dropout=self.recurrent_dropout,
        )
        # The masks of the last training forward, or None: dropout between layers [L-1, T, N, D*H]
        # (time-major factors) and recurrent dropout [L*D, N, H]. Set through __dict__: this runs at every
        # call, and __setattr__'s checks cost microseconds on small shapes.
        state = self.__dict__
        state["dropout_masks"], state["recurrent_dropout_masks"] = masks
        state["_pending"] = (threading.get_ident(), unbatched, y_shape) if self.training else None
        state["_last_forward_was_eval"] = not self.training
        state["_merge_inputs"] = None
        if self.stateful:  # the next call starts here (copies: the caller may edit what is returned)
            self._state = (h_n.copy(), None if c_n is None else c_n.copy())
        if self.merge_mode != "concat":
            # Keras's Bidirectional merge of the top layer's two directions (lower layers of a stack feed
            # the next one concatenated, as in PyTorch).
            S = y.shape[-1] // 2
            forward_part, backward_part = y[..., :S], y[..., S:]
            if self.training and self.merge_mode == "mul":
                self._merge_inputs = (forward_part, backward_part)
            y = {
                "sum": forward_part + backward_part,
                "mul": forward_part * backward_part,
                "ave": (forward_part + backward_part) / 2,
            }[self.merge_mode]
        return y, h_n, c_n

    def _backward(
        self, dy: ArrayLike | None, dh_n: ArrayLike | None, dc_n: ArrayLike | None
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        if self._pending is None:
            if self._last_forward_was_eval:
                raise RuntimeError(
                    "backward: the last forward ran in eval mode, which keeps no workspace; "
                    "call train() and run forward again"
                )
            raise RuntimeError(
                "backward: no training-mode forward to differentiate; run the forward again (each backward, "
                "even an interrupted one, uses up the forward before it)"
            )
        thread, unbatched, y_shape = self._pending
        if thread != threading.get_ident():
            raise RuntimeError(
                "backward: the pending forward ran in another thread; a layer's forward/backward pair "
                "belongs to one thread: give each thread its own layer"
            )
        if self.merge_mode != "concat" and dy is not None:
            dy = self._unmerge_gradient(dy, y_shape)
        try:
            dx, dh0, dc0, _ = _stack.run_backward(
                self._plan,
                self._cell_facts,
                self._sizes,
                self.batch_first,
                unbatched,
                y_shape,
                dy,
                dh_n,
                dc_n,
                self._grad_list,
                True,
            )
        finally:
            # The kernels write the gradients over the forward's workspace: once they start, the forward
            # is used up, even by a backward interrupted or failed after that. One refused before them
            # (bad arguments, weights edited since the forward) leaves it pending, so it can be retried.
            if not self._plan.pending:
                self._pending = None
        return dx, dh0, dc0

    def reset_state(self, state: StateLike = None) -> None:
        """For stateful layers: forgets the carried state, or sets it.

        Parameters
        ----------
        state : array_like, (array_like, array_like) or None
            None: the next call starts from zeros. Otherwise the state the next call starts from: h, or
            (h, c) for an LSTM, shaped like the layer's h_n (c_n); copied.
        """
        if state is None:
            self._state = None
            return
        h, c = self._split_state(state)
        h = real_array(h, "state", self.dtype).copy()
        self._state = (h, None if c is None else real_array(c, "state", self.dtype).copy())

    def step(self, x_t: ArrayLike, state: StateLike = None) -> tuple[FloatArray, _State]:
        """One time step, for streaming: the same arithmetic as that step inside a whole sequence
        (bitwise equal results).

        Unidirectional layers only (a reverse direction starts at the end). In eval mode a call with
        arrays of the layer's dtype goes straight to the kernel (about 1.5 us of overhead).

        Parameters
        ----------
        x_t : array_like
            The step's input, [N, C] (or [C]).
        state : array_like, (array_like, array_like) or None
            None: zeros (a stateful layer: its carried state); else h, or (h, c) for an LSTM, each
            [L, N, S] (S = proj_size or hidden_size; c is [L, N, H]).

        Returns
        -------
        h_t : numpy.ndarray
            The top layer's output [N, S] ([S] for an unbatched x_t).
        new_state : numpy.ndarray or (numpy.ndarray, numpy.ndarray)
            h_n, or (h_n, c_n) for an LSTM: the next step's state.

        Raises
        ------
        ValueError
            For a bidirectional layer, or arrays of the wrong shape.

        Examples
        --------
        >>> lstm = fr.LSTM(8, 16).eval()
        >>> state = None
        >>> for x_t in stream:                 # each [N, 8]
        ...     h_t, state = lstm.step(x_t, state)
        """
        h0, c0 = self._split_state(state)
        dtype = self.dtype
        # The eval-mode fast path: arrays the kernel takes as they are go straight to the plan (its checks
        # still name every argument); anything else takes the general path below.
        if (
            not self.training
            and not self.stateful
            and not self.bidirectional
            and type(x_t) is np.ndarray
            and x_t.ndim == 2
            and x_t.dtype == dtype
            and x_t.flags.c_contiguous
            and (h0 is None or (type(h0) is np.ndarray and h0.dtype == dtype and h0.ndim == 3))
            and (c0 is None or (type(c0) is np.ndarray and c0.dtype == dtype and c0.ndim == 3))
        ):
            # The prepared plan, packs kept.
            y, h_n, c_n = self._plan.forward(x_t[None], h0, c0, False, True, None)
            self._last_forward_was_eval = True
            return y[0], self._join_state(h_n, c_n)
        if self.bidirectional:
            raise ValueError(
                "step: a bidirectional layer needs the whole sequence (its reverse direction "
                "starts at the end); call the layer on the sequence"
            )
        if self.stateful and state is None and self._state is not None:
            h0, c0 = self._state
        batched = np.ndim(x_t) == 2
        x = np.asarray(x_t)[:, None] if batched and self.batch_first else np.asarray(x_t)[None]
        y, h_n, c_n = self._forward(x, h0, c0, None, None)
        h_t = (y[:, 0] if self.batch_first else y[0]) if batched else y[0]
        return h_t, self._join_state(h_n, c_n)

    def _split_state(self, state: Any) -> Sequence[Any]:
        return state, None

    def _join_state(self, h_n: FloatArray, c_n: FloatArray | None) -> _State:
        return h_n  # type: ignore[return-value]  # _State is h_n here; LSTM overrides this

    def _unmerge_gradient(self, dy: ArrayLike, y_shape: tuple[int, ...]) -> FloatArray:
        """dL/dy of the merged output -> dL/d[y_forward, y_backward] (the kernels' concatenated y)."""
        merged_shape = tuple(y_shape[:-1]) + (y_shape[-1] // 2,)
        dy = real_array(dy, "dy", self.dtype)
        if dy.shape != merged_shape:
            raise ValueError(
                f"dy: expected shape {merged_shape} (the merged output, merge_mode="
                f"{self.merge_mode!r}), got {dy.shape}"
            )
        if self.merge_mode == "mul":
            forward_part, backward_part = cast("tuple[FloatArray, FloatArray]", self._merge_inputs)
            parts: tuple[FloatArray, FloatArray] = (dy * backward_part, dy * forward_part)
        else:
            half = dy / 2 if self.merge_mode == "ave" else dy
            parts = (half, half)
        return np.concatenate(parts, axis=-1)

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={getattr(self, name)!r}"
            for name, option in _options.OPTIONS[self._options_key].items()
            if option.shown and getattr(self, name) != option.default
        )
        sizes = f"{self.input_size}, {self.hidden_size}"
        reduced = "" if self._weight_format == "fp32" else f", weight_format={self._weight_format!r}"
        return f"{type(self).__name__}({sizes}{extra}, dtype={self.dtype.name}{reduced})"


def _zero_gradients(params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """One zero array per parameter, from np.zeros rather than np.zeros_like: np.zeros takes pages the
    operating system maps only when backward first writes them, so a layer that is never trained (a
    loaded model serving requests) holds its gradients as address space, not memory; zeros_like writes
    every element and doubled such a layer's resident size."""
    return {name: np.zeros(value.shape, dtype=value.dtype) for name, value in params.items()}


def _reduced_format(value: object) -> str:
    aliases = {"int8": "int8", "bf16": "bf16", "bfloat16": "bf16"}
    if not isinstance(value, str) or value not in aliases:
        raise ValueError(f"format: expected 'int8' or 'bf16', got {value!r}")
    return aliases[value]


def _checked_arrays(
    arrays: object,
    what: str,
    shapes: Sequence[tuple[str, tuple[int, ...]]],
    dtype: np.dtype[Any],
    where: str,
    copy: bool,
) -> dict[str, FloatArray]:
    """``{name: array}`` in the kernels' order, each an ndarray of exactly dtype and its shape: a pickled
    state's or a loaded file's parameters (or gradients), else ValueError naming where and the name."""
    if not isinstance(arrays, Mapping):
        raise ValueError(f"{where}: {what}: expected a mapping of parameter names to arrays")
    names = [name for name, _ in shapes]
    missing = [name for name in names if name not in arrays]
    unexpected = [str(name)[:60] for name in arrays if name not in dict(shapes)]
    if missing or unexpected:
        raise ValueError(
            f"{where}: {what}: the parameters do not match the configuration: missing {missing[:8]}, "
            f"unexpected {unexpected[:8]}"
        )
    checked: dict[str, FloatArray] = {}
    for name, shape in shapes:
        value = arrays[name]
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{where}: {what}: {name}: expected an array, got {type(value).__name__}")
        if value.dtype != dtype:
            raise ValueError(f"{where}: parameter {name} is {value.dtype}, the layer {dtype}")
        if value.shape != tuple(shape):
            raise ValueError(f"{where}: {what}: {name}: expected shape {tuple(shape)}, got {value.shape}")
        if copy:
            checked[name] = np.array(value, order="C")
        else:
            checked[name] = np.require(value, requirements=["C", "A", "W", "O"])
    return checked


class errors_name:
    """Prefixes the TypeError / ValueError raised inside a constructor with the public class's name:
    ``fusedrnn.LSTM: hidden_size: expected an int >= 1, got 0``."""

    def __init__(self, cls: type) -> None:
        self.prefix = f"fusedrnn.{cls.__name__}: "

    def __enter__(self) -> errors_name:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, traceback: TracebackType | None
    ) -> Literal[False]:
        if kind in (TypeError, ValueError) and not str(err).startswith(self.prefix):
            raise kind(self.prefix + str(err)).with_traceback(traceback) from None
        return False


# PyTorch / Keras options the layers do not have yet: named as such rather than as unknown.
_NOT_YET: tuple[str, ...] = ()


def _refuse_unknown(unknown: Iterable[str], known: tuple[str, ...]) -> None:
    """TypeError for keyword arguments the constructor does not have, with the closest known name."""
    for name in unknown:
        if name in _NOT_YET:
            raise TypeError(f"{name!r} is not supported yet")
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known arguments: {', '.join(known)}"
        raise TypeError(f"unknown argument {name!r}{hint}")


def restore(layer_class: type[_Layer], state: Mapping[str, Any], where: str, *, copy: bool) -> _Layer:
    """A layer of ``layer_class`` made from a pickled state or a loaded file's options and parameters
    (`fusedrnn.load`, `fusedrnn.onnx.load`): checked as `RecurrentLayer.__setstate__` checks them, only
    ValueError naming ``where``; copy=False adopts the parameter arrays."""
    layer = layer_class.__new__(layer_class)
    layer._restore(state, where, copy=copy)
    return layer
