"""Layer classes: parameters, gradients and train/eval state around `fusedrnn.functional`.

Parameters are NumPy arrays named, shaped, ordered and initialised exactly as in PyTorch, so a
``torch.nn.LSTM`` state_dict loads unchanged and gives the same outputs.
"""

from __future__ import annotations

import numpy as np

from . import functional
from ._validation import flag, kernel_dtype, positive_int, real_array

__all__ = ["LSTM"]


class LSTM:
    """Multi-layer LSTM over whole sequences, with ``torch.nn.LSTM``'s parameters and call signature.

    >>> lstm = LSTM(input_size=8, hidden_size=16, num_layers=2, batch_first=True, seed=0)
    >>> y, (h_n, c_n) = lstm(x)                    # x: [N, T, 8]; hx=(h0, c0) optional
    >>> dx, (dh0, dc0) = lstm.backward(dy)         # accumulates into lstm.grads
    """

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

        # torch.nn.LSTM's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order.
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(self.hidden_size)
        self._params = {}
        for name, shape in self._param_shapes().items():
            self._params[name] = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
        self.grads = {name: np.zeros_like(value) for name, value in self._params.items()}

    def _param_shapes(self):
        H, D = self.hidden_size, 2 if self.bidirectional else 1
        shapes = {}
        for name in functional.lstm_param_names(self.num_layers, self.bidirectional, self.bias):
            layer = int(name.split("_l")[1].split("_")[0])
            layer_in = self.input_size if layer == 0 else D * H
            if name.startswith("weight_ih"):
                shapes[name] = (4 * H, layer_in)
            elif name.startswith("weight_hh"):
                shapes[name] = (4 * H, H)
            else:
                shapes[name] = (4 * H,)
        return shapes

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
        """``y, (h_n, c_n)`` for x [T,N,C] ([N,T,C] if batch_first, or unbatched [T,C]).

        hx: None (zeros) or (h0, c0), each [num_layers*num_directions, N, H] ([L*D, H] unbatched).
        In training mode the workspace for `backward` is kept; in eval mode nothing is kept.
        """
        y, state, cache = functional.lstm(
            x, self._params, hx, num_layers=self.num_layers, bidirectional=self.bidirectional,
            batch_first=self.batch_first, training=self.training, dtype=self.dtype,
        )  # fmt: skip
        self._cache = cache
        self._last_forward_was_eval = not self.training
        return y, state

    __call__ = forward

    def backward(self, dy, dhx=None):
        """Gradients of the last training-mode forward; parameter gradients accumulate into `grads`.

        dy: gradient of the loss w.r.t. y (same shape), or None; dhx: None or (dh_n, dc_n).
        Returns ``dx, (dh0, dc0)``. The forward's workspace is released afterwards (as torch frees
        its graph): a second backward needs a new forward.
        """
        if self._cache is None:
            if self._last_forward_was_eval:
                raise RuntimeError(
                    "backward: the last forward ran in eval mode, which keeps no workspace; "
                    "call train() and run forward again"
                )
            raise RuntimeError("backward: no training-mode forward to differentiate; call forward first")
        cache, self._cache = self._cache, None
        dx, state_grads, _ = functional.lstm_backward(cache, dy, dhx, grads=self.grads)
        return dx, state_grads

    def __repr__(self):
        extra = "".join(
            f", {key}={getattr(self, key)!r}"
            for key, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                                 ("bidirectional", False))  # fmt: skip
            if getattr(self, key) != default
        )
        return f"LSTM({self.input_size}, {self.hidden_size}{extra}, dtype={self.dtype.name})"
