"""Layer classes: parameters, gradients and train/eval state around `fusedrnn.functional`.

Parameters are NumPy arrays named, shaped, ordered and initialised exactly as in PyTorch, so a
``torch.nn.LSTM`` state_dict loads unchanged and gives the same outputs.
"""

from __future__ import annotations

import numpy as np

from . import functional
from ._validation import flag, kernel_dtype, positive_int, real_array

__all__ = ["GRU", "LSTM", "RNN"]


class _RecurrentLayer:
    """What LSTM, GRU and RNN share: parameters, gradients, modes, and forward/backward plumbing.

    Subclasses set ``_gates`` and implement ``_run_forward`` / ``_run_backward`` with their cell's
    functional pair and state packing.
    """

    _gates = 0

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 bidirectional=False, dtype=np.float32, seed=None):  # fmt: skip
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.num_layers = positive_int(num_layers, "num_layers")
        self.bias = flag(bias, "bias")
        self.batch_first = flag(batch_first, "batch_first")
        self.bidirectional = flag(bidirectional, "bidirectional")
        self.dtype = kernel_dtype(dtype)
        self.training = True
        self._cache = None
        self._last_forward_was_eval = False

        # PyTorch's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order.
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.hidden_size)
        shapes = functional.param_shapes(self._gates, self.input_size, self.hidden_size, self.num_layers,
                                         self.bidirectional, self.bias)  # fmt: skip
        self._params = {}
        for name, shape in shapes.items():
            self._params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        self.grads = {name: np.zeros_like(value) for name, value in self._params.items()}
        D = 2 if self.bidirectional else 1
        self._sizes = functional._Sizes(self.input_size, self.hidden_size, self.num_layers, D, self.dtype)

    def _forward(self, cell, x, h0, c0):
        # The layer's own parameters are validated by construction: skip functional's parameter checks.
        options = (self.num_layers, self.bidirectional, self.batch_first, self.training, self.dtype)
        return functional._forward(cell, x, self._params, h0, c0, *options, sizes=self._sizes)

    # -- parameters ---------------------------------------------------------------------------------

    def __getattr__(self, name):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            # Assigning a parameter copies into its storage (so `lstm.weight_ih_l0 -= lr * g` works
            # and the array stays C-contiguous in the layer's dtype).
            self._assign(name, value)
        else:
            object.__setattr__(self, name, value)

    def _assign(self, name, value):
        target = self._params[name]
        array = real_array(value, name, self.dtype)
        if array.shape != target.shape:
            raise ValueError(f"{name}: expected shape {target.shape}, got {array.shape}")
        if array is not target:
            np.copyto(target, array)

    def named_parameters(self):
        """(name, array) pairs in torch's order; the arrays are the layer's own (edit in place)."""
        return list(self._params.items())

    def parameters(self):
        return list(self._params.values())

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
        for name, array in staged.items():
            np.copyto(self._params[name], array)
        return {"missing_keys": missing, "unexpected_keys": unexpected}

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    # -- modes --------------------------------------------------------------------------------------

    def train(self, mode=True):
        self.training = flag(mode, "mode")
        return self

    def eval(self):
        return self.train(False)

    # -- computation --------------------------------------------------------------------------------

    def forward(self, x, hx=None):
        result, self._cache = self._run_forward(x, hx)
        self._last_forward_was_eval = not self.training
        return result

    def __call__(self, x, hx=None):
        return self.forward(x, hx)

    def backward(self, dy, dhx=None):
        if self._cache is None:
            if self._last_forward_was_eval:
                raise RuntimeError(
                    "backward: the last forward ran in eval mode, which keeps no workspace; "
                    "call train() and run forward again"
                )
            raise RuntimeError("backward: no training-mode forward to differentiate; call forward first")
        result = self._run_backward(self._cache, dy, dhx)
        # Released only after a successful backward: a call refused for bad arguments can be retried.
        self._cache = None
        return result

    def __repr__(self):
        extra = "".join(
            f", {key}={getattr(self, key)!r}"
            for key, default in (
                ("num_layers", 1),
                ("bias", True),
                ("batch_first", False),
                ("bidirectional", False),
            )  # fmt: skip
            if getattr(self, key) != default
        )
        sizes = f"{self.input_size}, {self.hidden_size}{self._extra_repr()}"
        return f"{type(self).__name__}({sizes}{extra}, dtype={self.dtype.name})"

    def _extra_repr(self):
        return ""


_FORWARD_DOC = """
        x: [T,N,C] ([N,T,C] if batch_first, or unbatched [T,C]), any real dtype (converted).
        In training mode the workspace for `backward` is kept; in eval mode nothing is kept.
"""
_BACKWARD_DOC = """
        Parameter gradients accumulate into `grads` (as PyTorch's ``.grad``). The forward's workspace
        is released afterwards (as PyTorch frees its graph): a second backward needs a new forward.
"""


class LSTM(_RecurrentLayer):
    """Multi-layer LSTM over whole sequences, with ``torch.nn.LSTM``'s parameters and call signature.

    >>> lstm = LSTM(input_size=8, hidden_size=16, num_layers=2, batch_first=True, seed=0)
    >>> y, (h_n, c_n) = lstm(x)                    # x: [N, T, 8]; hx=(h0, c0) optional
    >>> dx, (dh0, dc0) = lstm.backward(dy)         # accumulates into lstm.grads
    """

    _gates = 4

    def _run_forward(self, x, hx):
        h0, c0 = functional._pair(hx, "hx", ("h0", "c0"))
        y, h_n, c_n, cache = self._forward(functional._LSTM, x, h0, c0)
        return (y, (h_n, c_n)), cache

    def _run_backward(self, cache, dy, dhx):
        dx, state_grads, _ = functional.lstm_backward(cache, dy, dhx, grads=self.grads)
        return dx, state_grads

    def forward(self, x, hx=None):
        return super().forward(x, hx)

    def backward(self, dy, dhx=None):
        return super().backward(dy, dhx)

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
    """Multi-layer GRU (PyTorch/Keras reset-after form, gates r, z, n) with ``torch.nn.GRU``'s
    parameters and call signature: ``y, h_n = gru(x, h0)``, ``dx, dh0 = gru.backward(dy, dh_n)``."""

    _gates = 3

    def _run_forward(self, x, h0):
        y, h_n, _, cache = self._forward(functional._GRU, x, h0, None)
        return (y, h_n), cache

    def _run_backward(self, cache, dy, dh_n):
        dx, dh0, _ = functional.gru_backward(cache, dy, dh_n, grads=self.grads)
        return dx, dh0

    def forward(self, x, h0=None):
        return super().forward(x, h0)

    def backward(self, dy, dh_n=None):
        return super().backward(dy, dh_n)

    forward.__doc__ = """``y, h_n``; h0: None (zeros) or [L*D, N, H] ([L*D, H] unbatched).""" + _FORWARD_DOC
    backward.__doc__ = (
        """``dx, dh0`` of the last training-mode forward; dy shaped like y (or None), dh_n or None."""
        + _BACKWARD_DOC
    )


class RNN(_RecurrentLayer):
    """Multi-layer Elman RNN, h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) with act = tanh or
    relu, with ``torch.nn.RNN``'s parameters and call signature."""

    _gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, bidirectional=False, dtype=np.float32, seed=None):  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, dtype, seed)

    def _run_forward(self, x, h0):
        y, h_n, _, cache = self._forward(functional._RNN[self.nonlinearity], x, h0, None)
        return (y, h_n), cache

    def _run_backward(self, cache, dy, dh_n):
        dx, dh0, _ = functional.rnn_backward(cache, dy, dh_n, grads=self.grads)
        return dx, dh0

    def _extra_repr(self):
        return "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x, h0=None):
        return super().forward(x, h0)

    def backward(self, dy, dh_n=None):
        return super().backward(dy, dh_n)

    forward.__doc__ = GRU.forward.__doc__
    backward.__doc__ = GRU.backward.__doc__
