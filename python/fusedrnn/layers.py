"""Layer classes: parameters, gradients and train/eval state around `fusedrnn.functional`.

Parameters are NumPy arrays named, shaped, ordered and initialised exactly as in PyTorch, so a
``torch.nn.LSTM`` state_dict loads unchanged and gives the same outputs.
"""

from __future__ import annotations

import difflib
import numbers
import threading
import warnings

import numpy as np

from . import _core, functional
from . import init as init_module
from ._validation import activation as _activation
from ._validation import flag, kernel_dtype, positive_int, probability, real_array

__all__ = ["GRU", "LSTM", "RNN"]


class _RecurrentLayer:
    """What LSTM, GRU and RNN share: the plan, parameters, gradients, modes, forward and backward.

    Never stale, by construction: the plan reads the parameter arrays themselves and packs them (1) at
    every training-mode forward, and (2) once per entry into eval mode, keeping the packs while the layer
    stays in eval mode. While it keeps them the arrays are read-only, so an in-place write raises
    ``ValueError: ... read-only`` instead of silently using stale packs; attribute assignment
    (``lstm.weight_hh_l0 = w``) and `load_state_dict` stay allowed and repack; `train()` makes the arrays
    writable again. In training mode the forward keeps a copy of the parameters' values, and `backward`
    raises a RuntimeError naming a parameter that was changed in place between the two.
    """

    _cell = ""  # the _core.Plan cell name, set by each subclass
    _weight_format = "fp32"  # the products' weight format; quantized() layers have "bf16" or "int8"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=np.float32, seed=None, *, activation="tanh",
                 recurrent_activation="sigmoid", recurrent_dropout=0.0, init="torch", merge_mode="concat",
                 stateful=False, **unknown):  # fmt: skip
        with _errors_name(type(self)):
            self._options(unknown, stateful, init, merge_mode, bidirectional, recurrent_dropout)
            self.activation = _activation(activation, "activation")
            self.recurrent_activation = _activation(recurrent_activation, "recurrent_activation")
            self._configure(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                            dtype, seed)  # fmt: skip

    # Every constructor argument (the subclasses' included), for the unknown-argument message.
    _ARGUMENTS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                  "bidirectional", "dtype", "seed", "init", "merge_mode", "stateful", "activation",
                  "recurrent_activation",
                  "recurrent_dropout")  # fmt: skip

    def _plan_activations(self):
        return self.activation, self.recurrent_activation

    def _options(self, unknown, stateful, init, merge_mode, bidirectional, recurrent_dropout):
        """The keyword options every class checks the same way (the constructors share them)."""
        _refuse_unknown(unknown, self._ARGUMENTS)
        self.stateful = flag(stateful, "stateful")
        self.init = _init_scheme(init)
        self.merge_mode = _merge_mode(merge_mode, bidirectional)
        self.recurrent_dropout = probability(recurrent_dropout, "recurrent_dropout")

    def _configure(self, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                   dtype, seed):  # fmt: skip
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.dropout = probability(dropout, "dropout")
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                f"dropout={self.dropout} does nothing with num_layers=1: dropout acts between stacked "
                "layers (on every layer's output but the last), as in PyTorch",
                UserWarning,
                stacklevel=4,
            )
        self.bias = flag(bias, "bias")
        self.batch_first = flag(batch_first, "batch_first")
        self.bidirectional = flag(bidirectional, "bidirectional")
        if dtype is None:  # np.dtype(None) would silently mean float64
            raise TypeError("dtype: expected float32 or float64, got None")
        self.dtype = kernel_dtype(dtype)
        self.training = True
        # Sizes are checked against the supported limits here, before any parameter is made.
        plan = self._new_plan()

        # PyTorch's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order.
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as err:
            expected = "None, an int >= 0 or a numpy Generator/SeedSequence"
            raise type(err)(f"seed: expected {expected}: {err}") from err
        bound = 1.0 / np.sqrt(self.hidden_size)
        self._params = {}
        for name, shape in plan.parameter_shapes():
            self._params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        init_module.apply_scheme(self, self.init, rng)
        self.grads = {name: np.zeros_like(value) for name, value in self._params.items()}
        self._rng = rng  # after the initial weights: the dropout masks
        self.dropout_masks = self.recurrent_dropout_masks = None
        self._attach(plan)

    def _new_plan(self):
        return _core.Plan(self._cell, self.input_size, self.hidden_size, self.num_layers, self.bidirectional,
                          self.bias, self.dtype.name, *self._plan_activations(),
                          self._proj_size(), self._weight_format)  # fmt: skip

    def _proj_size(self):
        return 0

    def _attach(self, plan):
        """Derived state: the plan reading the parameters, the call facts, no pending forward."""
        plan.set_parameters(list(self._params.values()))
        self._plan = plan
        self._grad_list = list(self.grads.values())
        self._cell_facts = functional._CELLS[self._cell]
        D = 2 if self.bidirectional else 1
        self._sizes = functional._Sizes(self.input_size, self.hidden_size, self.num_layers, D, self.dtype,
                                        self._proj_size())  # fmt: skip
        self._pending = None  # (thread id, unbatched, y_shape) of the forward backward would differentiate
        self._merge_inputs = None  # merge_mode="mul": the two directions' outputs of the pending forward
        self._state = None  # stateful: (h_n, c_n or None) of the last call, the next call's initial state
        self._last_forward_was_eval = False
        self._set_writable(self.training)

    def _set_writable(self, writable):
        for value in self._params.values():
            value.flags.writeable = writable

    # -- pickling (the plan is rebuilt, not pickled) ------------------------------------------------

    def __getstate__(self):
        keep = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                "dtype", "training", "_params", "grads", "_rng", "init", "merge_mode",
                "stateful")  # fmt: skip
        state = {key: self.__dict__[key] for key in keep + self._extra_state}
        if self._weight_format != "fp32":
            state["_weight_format"] = self._weight_format
        return state

    def __setstate__(self, state):
        state = dict(state)
        if state.get("_cell", "").startswith("rnn_"):
            del state["_cell"]  # pickles of 0.1.0 RNNs named their cell "rnn_tanh" / "rnn_relu"
        for key, default in self._state_defaults:
            state.setdefault(key, default)
        state.setdefault("_rng", np.random.default_rng())
        state.setdefault("init", "torch")
        state.setdefault("merge_mode", "concat")
        state.setdefault("stateful", False)
        self.__dict__.update(state)
        self.dropout_masks = self.recurrent_dropout_masks = None

        def own_copies(arrays):
            return {name: np.array(value, dtype=self.dtype, order="C") for name, value in arrays.items()}

        self._params = own_copies(state["_params"])
        self.grads = own_copies(state["grads"])
        self._attach(self._new_plan())

    _extra_state = ("activation", "recurrent_activation", "recurrent_dropout")
    # Pickles of 0.1.0 had none of these.
    _state_defaults = (("activation", "tanh"), ("recurrent_activation", "sigmoid"), ("dropout", 0.0),
                       ("recurrent_dropout", 0.0))  # fmt: skip

    # -- parameters ---------------------------------------------------------------------------------

    def __getattr__(self, name):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # The configuration the plan was built for: fixed for the layer's lifetime (reassigning num_layers
    # used to run a different stack than the parameters described).
    _CONFIGURATION = (
        "input_size", "hidden_size", "num_layers", "bias", "bidirectional", "dtype", "nonlinearity",
        "activation", "recurrent_activation", "dropout", "reset_after", "recurrent_dropout", "proj_size",
    )  # fmt: skip

    def __setattr__(self, name, value):
        if name[0] == "_":  # private state (every call sets some): neither a parameter nor configuration
            object.__setattr__(self, name, value)
            return
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            # Assigning a parameter copies into its storage (so `lstm.weight_ih_l0 -= lr * g` works
            # and the array stays C-contiguous in the layer's dtype).
            self._assign(name, value)
        elif name in self._CONFIGURATION and "_plan" in self.__dict__:
            raise AttributeError(f"{name}: fixed when the layer is made; make a new layer instead")
        else:
            object.__setattr__(self, name, value)

    def _assign(self, name, value):
        target = self._params[name]
        array = real_array(value, name, self.dtype)
        if array.shape != target.shape:
            raise ValueError(f"{name}: expected shape {target.shape}, got {array.shape}")
        if array is not target:
            self._write_parameters({name: array})

    def _write_parameters(self, arrays):
        """Copies arrays into the parameters' storage: the one way the layer writes its parameters."""
        self._plan.drop_packs()
        for name, array in arrays.items():
            target = self._params[name]
            target.flags.writeable = True
            np.copyto(target, array)
            target.flags.writeable = self.training

    def named_parameters(self):
        """(name, array) pairs in torch's order; the arrays are the layer's own (edit in place in
        training mode; read-only in eval mode, see the class docstring)."""
        return list(self._params.items())

    def parameters(self):
        return list(self._params.values())

    def to_keras_weights(self):
        """The list a Keras layer's ``set_weights`` takes (see `fusedrnn.keras_interop`)."""
        from .keras_interop import to_keras_weights

        return to_keras_weights(self)

    def parameter_count(self, convention="torch"):
        """Number of parameters: as PyTorch and fusedrnn count them ("torch": two biases, b_ih and
        b_hh), or as Keras counts the same layer ("keras": one bias per gate for LSTM and SimpleRNN, two
        for GRU's reset_after form), e.g. the lectures' LSTM(50) on 1 feature: 10,600 vs 10,400."""
        if convention not in ("torch", "keras"):
            raise ValueError(f"convention: expected 'torch' or 'keras', got {convention!r}")
        total = sum(value.size for value in self._params.values())
        if convention == "keras" and self.bias and self._cell != "gru":
            total -= sum(value.size for name, value in self._params.items() if name.startswith("bias_hh"))
        return total

    def summary(self, print_fn=print):
        """A Keras-style table of the parameters (name, shape, count) with both totals; printed with
        print_fn (None: not printed) and returned."""
        rows = [(name, str(value.shape), f"{value.size:,}") for name, value in self._params.items()]
        width = max(len(r[0]) for r in rows + [("parameter", "", "")])
        shape_width = max(len(r[1]) for r in rows + [("", "shape", "")])
        count_width = max(len(r[2]) for r in rows + [("", "", "count")])
        lines = [repr(self), f"  {'parameter':<{width}}  {'shape':<{shape_width}}  {'count':>{count_width}}"]
        lines += [f"  {n:<{width}}  {sh:<{shape_width}}  {c:>{count_width}}" for n, sh, c in rows]
        torch_total, keras_total = self.parameter_count("torch"), self.parameter_count("keras")
        lines.append(f"  total: {torch_total:,} parameters (PyTorch's count: biases b_ih and b_hh)")
        if keras_total != torch_total:
            lines.append(f"  as Keras counts this layer (one bias): {keras_total:,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def state_dict(self):
        """Copies of the parameters keyed by torch.nn.LSTM's names."""
        return {name: value.copy() for name, value in self._params.items()}

    def load_state_dict(self, state_dict, strict=True):
        """Loads parameters (NumPy arrays, or anything np.asarray accepts, e.g. CPU torch tensors).

        strict: names must match exactly; otherwise only the names present are loaded. Shapes must
        always match. Values are converted to the layer's dtype. Nothing is changed if any check fails.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        missing = [k for k in self._params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self._params]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        staged = {}
        for name in self._params:
            if name in state_dict:
                array = real_array(state_dict[name], f"state_dict['{name}']", self.dtype)
                if array.shape != self._params[name].shape:
                    raise ValueError(
                        f"state_dict['{name}']: expected shape {self._params[name].shape}, got {array.shape}"
                    )
                staged[name] = array
        self._write_parameters(staged)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    # -- modes --------------------------------------------------------------------------------------

    def train(self, mode=True):
        """Training mode (mode=True): parameters writable, packed at every forward. eval() = train(False):
        parameters read-only, packed once and kept."""
        mode = flag(mode, "mode")
        if mode and self._weight_format != "fp32":
            raise RuntimeError(
                f"train: this {self._weight_format} layer (from quantized()) is inference-only; train the "
                "float32 layer and quantise it again"
            )
        self.training = mode
        if self.training:
            self._plan.drop_packs()
        self._set_writable(self.training)
        return self

    def eval(self):
        return self.train(False)

    # -- reduced precision ----------------------------------------------------------------------------

    def quantized(self, format="int8"):
        """An inference-only copy whose recurrent and input products read reduced-precision weights.

        ``format="int8"``: weights quantised once per output row (symmetric, scale max|w|/127), the
        products' other operand (x_t, h_{t-1}) quantised per row at each step the same way, int32 sums,
        dequantised into float32 for the gate math; ``"bf16"``: weights and operands rounded to bfloat16,
        float32 sums. State, gates and outputs stay float32. Same call signature and outputs as this layer
        (every option that applies in eval mode: stacks, bidirectional, lengths, activations, projection,
        both GRU forms); `train()` and `backward` refuse. Layers with fewer than 65,536 weights stay
        float32, where the reduced formats would not be faster (`layer_formats` tells which do). Uses
        AVX512-VNNI / AVX512-BF16 where the CPU has them, exact portable kernels elsewhere
        (`fusedrnn.cpu_info()`). Needs dtype float32.
        """
        fmt = _reduced_format(format)
        if self.dtype != np.float32:
            raise ValueError(f"format: {fmt} layers need dtype float32, this layer is {self.dtype.name}")
        state = self.__getstate__()
        state.update(training=False, _weight_format=fmt, stateful=self.stateful)
        state["grads"] = {name: np.zeros((0,), self.dtype) for name in self.grads}
        layer = type(self).__new__(type(self))
        layer.__setstate__(state)
        layer.__dict__["grads"] = {}
        return layer

    @property
    def weight_format(self):
        """"fp32", or "bf16" / "int8" for a layer made by quantized()."""
        return self._weight_format

    @property
    def layer_formats(self):
        """The format each layer's products use (a quantized() layer keeps small layers float32)."""
        return list(self._plan.layer_formats)

    @property
    def retained_bytes(self):
        """Memory the layer keeps between calls for speed (packed weights, kernel scratch, training
        workspace); it grows to the largest call and is reused by every call no larger."""
        return self._plan.retained_bytes

    # -- computation --------------------------------------------------------------------------------

    def _forward(self, x, h0, c0, out, lengths):
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
        y, h_n, c_n, unbatched, y_shape, masks = functional._run_forward(
            self._plan, self._cell_facts, self._sizes, x, h0, c0, self.batch_first, self.training,
            keep_packs=not self.training, out=out, lengths=lengths, dropout=self.dropout, rng=self._rng,
            recurrent_dropout=self.recurrent_dropout,
        )  # fmt: skip
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
            y = {"sum": forward_part + backward_part, "mul": forward_part * backward_part,
                 "ave": (forward_part + backward_part) / 2}[self.merge_mode]  # fmt: skip
        return y, h_n, c_n

    def _backward(self, dy, dh_n, dc_n):
        if self._pending is None:
            if self._last_forward_was_eval:
                raise RuntimeError(
                    "backward: the last forward ran in eval mode, which keeps no workspace; "
                    "call train() and run forward again"
                )
            raise RuntimeError("backward: no training-mode forward to differentiate; call forward first")
        thread, unbatched, y_shape = self._pending
        if thread != threading.get_ident():
            raise RuntimeError(
                "backward: the pending forward ran in another thread; a layer's forward/backward pair "
                "belongs to one thread: give each thread its own layer"
            )
        if self.merge_mode != "concat" and dy is not None:
            dy = self._unmerge_gradient(dy, y_shape)
        dx, dh0, dc0, _ = functional._run_backward(
            self._plan, self._cell_facts, self._sizes, self.batch_first, unbatched, y_shape, dy, dh_n, dc_n,
            self._grad_list, True,
        )  # fmt: skip
        # Released only after a successful backward: a call refused for bad arguments can be retried.
        self._pending = None
        return dx, dh0, dc0

    def reset_state(self, state=None):
        """stateful layers: forget the carried state (the next call starts from zeros), or set it: h, or
        (h, c) for an LSTM, shaped like the layer's h_n (c_n)."""
        if state is None:
            self._state = None
            return
        h, c = self._split_state(state)
        h = real_array(h, "state", self.dtype).copy()
        self._state = (h, None if c is None else real_array(c, "state", self.dtype).copy())

    def step(self, x_t, state=None):
        """One time step, for streaming: ``h_t, new_state = layer.step(x_t, state)`` with x_t [N, C] (or
        [C]), state None (zeros; a stateful layer's carried state), h, or (h, c) for an LSTM, each
        [L, N, S]; h_t is the top layer's output [N, S]. The same arithmetic as that step inside a whole
        sequence (bitwise equal results). Unidirectional layers only (a reverse direction starts at the
        end). In eval mode a call goes straight to the kernel (about 1.5 us of overhead)."""
        h0, c0 = self._split_state(state)
        dtype = self.dtype
        # The eval-mode fast path: arrays the kernel takes as they are go straight to the plan (its checks
        # still name every argument); anything else takes the general path below.
        if (not self.training and not self.stateful and not self.bidirectional and type(x_t) is np.ndarray
                and x_t.ndim == 2 and x_t.dtype == dtype and x_t.flags.c_contiguous
                and (h0 is None or (type(h0) is np.ndarray and h0.dtype == dtype and h0.ndim == 3))
                and (c0 is None or (type(c0) is np.ndarray and c0.dtype == dtype
                                    and c0.ndim == 3))):  # fmt: skip
            # The prepared plan, packs kept.
            y, h_n, c_n = self._plan.forward(x_t[None], h0, c0, False, True, None)
            self._last_forward_was_eval = True
            return y[0], self._join_state(h_n, c_n)
        if self.bidirectional:
            raise ValueError("step: a bidirectional layer needs the whole sequence (its reverse direction "
                             "starts at the end); call the layer on the sequence")  # fmt: skip
        if self.stateful and state is None and self._state is not None:
            h0, c0 = self._state
        batched = np.ndim(x_t) == 2
        x = np.asarray(x_t)[:, None] if batched and self.batch_first else np.asarray(x_t)[None]
        y, h_n, c_n = self._forward(x, h0, c0, None, None)
        h_t = (y[:, 0] if self.batch_first else y[0]) if batched else y[0]
        return h_t, self._join_state(h_n, c_n)

    def _split_state(self, state):
        return state, None

    def _join_state(self, h_n, c_n):
        return h_n

    def _unmerge_gradient(self, dy, y_shape):
        """dL/dy of the merged output -> dL/d[y_forward, y_backward] (the kernels' concatenated y)."""
        merged_shape = tuple(y_shape[:-1]) + (y_shape[-1] // 2,)
        dy = real_array(dy, "dy", self.dtype)
        if dy.shape != merged_shape:
            raise ValueError(f"dy: expected shape {merged_shape} (the merged output, merge_mode="
                             f"{self.merge_mode!r}), got {dy.shape}")  # fmt: skip
        if self.merge_mode == "mul":
            forward_part, backward_part = self._merge_inputs
            parts = (dy * backward_part, dy * forward_part)
        else:
            half = dy / 2 if self.merge_mode == "ave" else dy
            parts = (half, half)
        return np.concatenate(parts, axis=-1)

    _REPR_DEFAULTS = (("num_layers", 1), ("bias", True), ("batch_first", False), ("dropout", 0.0),
                      ("bidirectional", False), ("activation", "tanh"),
                      ("recurrent_activation", "sigmoid"), ("recurrent_dropout", 0.0),
                      ("init", "torch"), ("merge_mode", "concat"), ("stateful", False))  # fmt: skip

    def __repr__(self):
        extra = "".join(
            f", {key}={getattr(self, key)!r}"
            for key, default in self._REPR_DEFAULTS
            if getattr(self, key) != default
        )
        sizes = f"{self.input_size}, {self.hidden_size}"
        reduced = "" if self._weight_format == "fp32" else f", weight_format={self._weight_format!r}"
        return f"{type(self).__name__}({sizes}{extra}, dtype={self.dtype.name}{reduced})"


_UNSET = object()


MERGE_MODES = ("concat", "sum", "mul", "ave")


def _reduced_format(value):
    aliases = {"int8": "int8", "bf16": "bf16", "bfloat16": "bf16"}
    if not isinstance(value, str) or value not in aliases:
        raise ValueError(f"format: expected 'int8' or 'bf16', got {value!r}")
    return aliases[value]


def _merge_mode(value, bidirectional):
    if value not in MERGE_MODES:
        raise ValueError(f"merge_mode: expected one of {', '.join(map(repr, MERGE_MODES))}, got {value!r}")
    if value != "concat" and not bidirectional:
        raise ValueError(f"merge_mode: {value!r} merges the two directions: it needs bidirectional=True")
    return value


def _init_scheme(value):
    if value not in init_module.SCHEMES:
        raise ValueError(f"init: expected one of {', '.join(map(repr, init_module.SCHEMES))}, got {value!r}")
    return value


class _errors_name:
    """Prefixes the TypeError / ValueError raised inside a constructor with the public class's name:
    ``fusedrnn.LSTM: hidden_size: expected an int >= 1, got 0``."""

    def __init__(self, cls):
        self.prefix = f"fusedrnn.{cls.__name__}: "

    def __enter__(self):
        return self

    def __exit__(self, kind, err, traceback):
        if kind in (TypeError, ValueError) and not str(err).startswith(self.prefix):
            raise kind(self.prefix + str(err)).with_traceback(traceback) from None
        return False


# PyTorch / Keras options the layers do not have yet: named as such rather than as unknown.
_NOT_YET = ()


def _refuse_unknown(unknown, known):
    """TypeError for keyword arguments the constructor does not have, with the closest known name."""
    for name in unknown:
        if name in _NOT_YET:
            raise TypeError(f"{name!r} is not supported yet")
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known arguments: {', '.join(known)}"
        raise TypeError(f"unknown argument {name!r}{hint}")


_FORWARD_DOC = """
        x: [T,N,C] ([N,T,C] if batch_first, or unbatched [T,C]), any real dtype (converted).
        out: None, or a C-contiguous array of y's shape and the layer's dtype to write y into (not with
        batch_first). lengths: None, or each sequence's length (ints [N], 1..T): torch's
        pack_padded_sequence semantics (see `fusedrnn.functional.lstm`); backward uses the same. In training
        mode the workspace for `backward` is kept (with copies of x, the initial states and the parameters'
        values); in eval mode only the packed weights are kept.
"""
_BACKWARD_DOC = """
        Parameter gradients accumulate into `grads` (as PyTorch's ``.grad``). A second backward needs a
        new forward (as PyTorch frees its graph). Raises RuntimeError if a parameter changed since the
        forward, or if the forward ran in another thread.
"""


class LSTM(_RecurrentLayer):
    """Multi-layer LSTM over whole sequences, with ``torch.nn.LSTM``'s parameters and call signature, and
    Keras's ``activation`` (candidate and cell output, default tanh) and ``recurrent_activation`` (gates,
    default sigmoid), e.g. the lectures' ``LSTM(50, activation='relu')``: ``LSTM(1, 50, activation="relu")``.

    >>> lstm = LSTM(input_size=8, hidden_size=16, num_layers=2, batch_first=True, seed=0)
    >>> y, (h_n, c_n) = lstm(x)                    # x: [N, T, 8]; hx=(h0, c0) optional
    >>> dx, (dh0, dc0) = lstm.backward(dy)         # accumulates into lstm.grads
    """

    _cell = "lstm"
    _ARGUMENTS = _RecurrentLayer._ARGUMENTS + ("proj_size",)
    _extra_state = _RecurrentLayer._extra_state + ("proj_size",)
    _state_defaults = _RecurrentLayer._state_defaults + (("proj_size", 0),)
    _REPR_DEFAULTS = _RecurrentLayer._REPR_DEFAULTS + (("proj_size", 0),)

    def __init__(self, *args, proj_size=0, **kwargs):
        with _errors_name(type(self)):
            if isinstance(proj_size, bool) or not isinstance(proj_size, numbers.Integral) or proj_size < 0:
                raise ValueError(f"proj_size: expected an int >= 0, got {proj_size!r}")
        self.proj_size = int(proj_size)
        super().__init__(*args, **kwargs)

    def _proj_size(self):
        return self.proj_size

    def _split_state(self, state):
        return functional._pair(state, "state", ("h", "c"))

    def _join_state(self, h_n, c_n):
        return (h_n, c_n)

    def forward(self, x, hx=None, *, out=None, lengths=None):
        h0, c0 = functional._pair(hx, "hx", ("h0", "c0"))
        y, h_n, c_n = self._forward(x, h0, c0, out, lengths)
        return y, (h_n, c_n)

    __call__ = forward

    def backward(self, dy=None, dhx=None):
        dh_n, dc_n = functional._pair(dhx, "dhx", ("dh_n", "dc_n"))
        dx, dh0, dc0 = self._backward(dy, dh_n, dc_n)
        return dx, (dh0, dc0)

    forward.__doc__ = (
        """``y, (h_n, c_n)``; hx: None (zeros) or (h0, c0), each [L*D, N, H] ([L*D, H] unbatched)."""
        + _FORWARD_DOC
    )
    backward.__doc__ = (
        """``dx, (dh0, dc0)`` of the last training-mode forward; dy shaped like y (or None),
        dhx: None or (dh_n, dc_n)."""
        + _BACKWARD_DOC
    )


class GRU(_RecurrentLayer):
    """Multi-layer GRU with ``torch.nn.GRU``'s parameters and call signature: ``y, h_n = gru(x, h0)``,
    ``dx, dh0 = gru.backward(dy, dh_n)``, in PyTorch's gate order r, z, n (Keras stores its kernels in
    the order z, r, h, so Keras weights need their gate blocks reordered). ``activation`` /
    ``recurrent_activation`` as in Keras.

    reset_after=True (default; PyTorch's form, Keras's default): n = act(W_in x + b_in + r * (W_hn h +
    b_hn)). reset_after=False (the original paper's form, Keras 2's default): the reset gate before the
    recurrent product, n = act(W_in x + b_in + W_hn (r * h) + b_hn); Keras's single bias then loads as
    bias_ih with zeros for bias_hh (b_hn adds to b_in either way in this form)."""

    _cell = "gru"
    _ARGUMENTS = _RecurrentLayer._ARGUMENTS + ("reset_after",)
    _extra_state = _RecurrentLayer._extra_state + ("reset_after", "_cell")
    _state_defaults = _RecurrentLayer._state_defaults + (("reset_after", True),)
    _REPR_DEFAULTS = _RecurrentLayer._REPR_DEFAULTS + (("reset_after", True),)

    def __init__(self, *args, reset_after=True, **kwargs):
        with _errors_name(type(self)):
            self.reset_after = flag(reset_after, "reset_after")
        self._cell = "gru" if self.reset_after else "gru_reset_before"
        super().__init__(*args, **kwargs)

    def forward(self, x, h0=None, *, out=None, lengths=None):
        y, h_n, _ = self._forward(x, h0, None, out, lengths)
        return y, h_n

    __call__ = forward

    def backward(self, dy=None, dh_n=None):
        dx, dh0, _ = self._backward(dy, dh_n, None)
        return dx, dh0

    forward.__doc__ = """``y, h_n``; h0: None (zeros) or [L*D, N, H] ([L*D, H] unbatched).""" + _FORWARD_DOC
    backward.__doc__ = (
        """``dx, dh0`` of the last training-mode forward; dy shaped like y (or None), dh_n or None."""
        + _BACKWARD_DOC
    )


class RNN(_RecurrentLayer):
    """Multi-layer Elman RNN, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), with ``torch.nn.RNN``'s
    parameters and call signature. act: PyTorch's ``nonlinearity`` ("tanh" or "relu"), or any activation
    Keras's ``SimpleRNN`` takes, given as ``nonlinearity=`` or Keras's name ``activation=``."""

    _cell = "rnn"
    _ARGUMENTS = tuple(a for a in _RecurrentLayer._ARGUMENTS if a != "recurrent_activation") + (
        "nonlinearity",
    )
    _extra_state = ("nonlinearity", "recurrent_dropout")
    _state_defaults = (("dropout", 0.0), ("recurrent_dropout", 0.0))
    _REPR_DEFAULTS = _RecurrentLayer._REPR_DEFAULTS[:5] + (
        ("nonlinearity", "tanh"),
        ("recurrent_dropout", 0.0),
        ("init", "torch"),
        ("merge_mode", "concat"),
        ("stateful", False),
    )

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32, seed=None, *,
                 activation=_UNSET, recurrent_dropout=0.0, init="torch", merge_mode="concat",
                 stateful=False, **unknown):  # fmt: skip
        with _errors_name(type(self)):
            self._options(unknown, stateful, init, merge_mode, bidirectional, recurrent_dropout)
            self.nonlinearity = _activation(nonlinearity, "nonlinearity")
            if activation is not _UNSET:
                keras_name = _activation(activation, "activation")
                if nonlinearity != "tanh" and keras_name != self.nonlinearity:
                    raise ValueError(
                        f"activation: {activation!r} contradicts nonlinearity={nonlinearity!r} (one name "
                        "for the same choice: give one of them)"
                    )
                self.nonlinearity = keras_name
            self._configure(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                            dtype, seed)  # fmt: skip

    @property
    def activation(self):
        """Keras's name for `nonlinearity`."""
        return self.nonlinearity

    def _plan_activations(self):
        return self.nonlinearity, "sigmoid"  # an RNN has no gates

    forward = GRU.forward
    __call__ = forward
    backward = GRU.backward
