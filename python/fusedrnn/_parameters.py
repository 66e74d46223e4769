"""The parameters of a layer and its modes, the part of `fusedrnn._recurrent.RecurrentLayer` that
holds the arrays: access by PyTorch's names, assignment that copies into the storage the plan reads,
``state_dict`` / ``load_state_dict``, gradients, counts and summary, the Keras layout, train / eval.

The storage is the layer's own dict of arrays (``_params``), read by its prepared plan; every write goes
through `ParameterLayer._write_parameters`, which holds back the plan's calls while it copies, and eval
mode makes the arrays read-only while the plan keeps packed copies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from . import _cells, _core, _options
from ._typing import FloatArray
from ._validation import flag, real_array

__all__ = ["LoadResult", "ParameterLayer"]

_Self = TypeVar("_Self", bound="ParameterLayer")


class LoadResult(TypedDict):
    """What `load_state_dict` returns: the names it did not find, and the names it did not know."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class ParameterLayer:
    """Parameters, gradients and modes; `fusedrnn._recurrent.RecurrentLayer` builds on it."""

    _cell = ""  # the _core.Plan cell name, set by each class
    _weight_format: str = "fp32"  # the products' weight format; quantized() layers have "bf16" or "int8"
    # Set when the layer is made (`fusedrnn._recurrent`).
    hidden_size: int
    num_layers: int
    bias: bool
    bidirectional: bool
    dtype: np.dtype[Any]
    training: bool
    grads: dict[str, FloatArray]
    _params: dict[str, FloatArray]
    _plan: _core.Plan

    def _proj_size(self) -> int:
        return 0

    def _set_writable(self, writable: bool) -> None:
        for value in self._params.values():
            value.flags.writeable = writable

    # -- parameters ---------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> FloatArray:
        """The parameters by name: ``lstm.weight_ih_l0`` (PyTorch's names; see `named_parameters`)."""
        params: dict[str, FloatArray] | None = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name[0] == "_":  # private state (every call sets some): neither a parameter nor configuration
            object.__setattr__(self, name, value)
            return
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            # Assigning a parameter copies into its storage (so `lstm.weight_ih_l0 -= lr * g` works
            # and the array stays C-contiguous in the layer's dtype).
            self._assign(name, value)
        # The options the plan was built for are fixed for the layer's lifetime (reassigning num_layers
        # used to run a different stack than the parameters described).
        elif name in _options.FIXED and "_plan" in self.__dict__:
            raise AttributeError(f"{name}: fixed when the layer is made; make a new layer instead")
        else:
            object.__setattr__(self, name, value)

    def _assign(self, name: str, value: ArrayLike) -> None:
        target = self._params[name]
        array = real_array(value, name, self.dtype)
        if array.shape != target.shape:
            raise ValueError(f"{name}: expected shape {target.shape}, got {array.shape}")
        if array is not target:
            self._write_parameters({name: array})

    def _write_parameters(self, arrays: Mapping[str, FloatArray]) -> None:
        """Copies arrays into the parameters' storage: the one way the layer writes its parameters.

        It waits for the calls running in other threads and holds back new ones until the copy is done,
        so every call computes with the old parameters or the new ones, never a mix."""

        def copy() -> None:
            for name, array in arrays.items():
                target = self._params[name]
                target.flags.writeable = True
                np.copyto(target, array)
                target.flags.writeable = self.training

        self._plan.with_calls_excluded(copy)

    def named_parameters(self) -> list[tuple[str, FloatArray]]:
        """The parameters with their names, in PyTorch's order.

        Returns
        -------
        list of (str, numpy.ndarray)
            ``(name, array)`` pairs (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ...). The arrays
            are the layer's own: edit them in place in training mode; in eval mode they are read-only
            (the layer keeps packed copies; assign or `load_state_dict` instead).
        """
        return list(self._params.items())

    def parameters(self) -> list[FloatArray]:
        """The parameter arrays in PyTorch's order (the layer's own, as in `named_parameters`).

        Returns
        -------
        list of numpy.ndarray
        """
        return list(self._params.values())

    def to_keras_weights(self) -> list[FloatArray]:
        """The weights of this one-layer layer in Keras's layout (`fusedrnn.keras_interop.to_keras_weights`).

        Returns
        -------
        list of numpy.ndarray
            The list a Keras layer's ``set_weights`` takes: ``kernel``, ``recurrent_kernel`` and
            ``bias`` (a ``Bidirectional`` wrapper's list, forward then backward, when bidirectional).

        Raises
        ------
        ValueError
            For more than one layer, a projection or layer_norm=True (Keras has none of them).
        """
        if self.num_layers != 1:
            raise ValueError(f"layer: Keras layers have one layer; this one has num_layers={self.num_layers}")
        if self._proj_size():
            raise ValueError("layer: Keras has no LSTM projection (proj_size)")
        if getattr(self, "layer_norm", False):
            raise ValueError("layer: Keras has no layer-normalised LSTM (layer_norm=True)")
        kind = _cells.keras_kind(self._cell)
        H = self.hidden_size
        weights: list[FloatArray] = []
        for suffix in ("_l0", "_l0_reverse") if self.bidirectional else ("_l0",):
            weights.append(_cells.to_keras_blocks(self._params["weight_ih" + suffix], H, kind))
            weights.append(_cells.to_keras_blocks(self._params["weight_hh" + suffix], H, kind))
            if self.bias:
                b_ih, b_hh = self._params["bias_ih" + suffix], self._params["bias_hh" + suffix]
                if self._cell == "gru":  # reset_after: Keras keeps the input and recurrent biases apart
                    pair = [_cells.to_keras_blocks(b_ih, H, kind), _cells.to_keras_blocks(b_hh, H, kind)]
                    weights.append(np.stack(pair))
                else:
                    weights.append(_cells.to_keras_blocks(b_ih + b_hh, H, kind))
        return weights

    def parameter_count(self, convention: Literal["torch", "keras"] = "torch") -> int:
        """The number of parameters, as PyTorch or as Keras counts them.

        Parameters
        ----------
        convention : {"torch", "keras"}
            "torch": as PyTorch and fusedrnn count them (two biases, b_ih and b_hh); "keras": as Keras
            counts the same layer (one bias per gate for LSTM and SimpleRNN, two for GRU's reset_after
            form).

        Returns
        -------
        int

        Raises
        ------
        ValueError
            For another convention.

        Examples
        --------
        >>> lstm = fr.LSTM(1, 50)
        >>> lstm.parameter_count(), lstm.parameter_count("keras")
        (10600, 10400)
        """
        if convention not in ("torch", "keras"):
            raise ValueError(f"convention: expected 'torch' or 'keras', got {convention!r}")
        total = sum(value.size for value in self._params.values())
        if convention == "keras" and self.bias and self._cell != "gru":
            total -= sum(value.size for name, value in self._params.items() if name.startswith("bias_hh"))
        return total

    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """A Keras-style table of the parameters (name, shape, count) with both totals.

        Parameters
        ----------
        print_fn : callable or None
            Called with the table (default: print); None: not printed.

        Returns
        -------
        str
            The table.
        """
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

    def state_dict(self) -> dict[str, FloatArray]:
        """Copies of the parameters, keyed by PyTorch's names (as ``torch.nn.LSTM.state_dict()``).

        Returns
        -------
        dict of str to numpy.ndarray
        """
        return {name: value.copy() for name, value in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike], strict: bool = True) -> LoadResult:
        """Loads parameters by PyTorch's names; nothing is changed if any check fails.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            NumPy arrays, or anything ``np.asarray`` accepts (e.g. CPU torch tensors); converted to the
            layer's dtype. Shapes must match.
        strict : bool
            True: the names must match exactly; False: only the names present are loaded.

        Returns
        -------
        dict
            ``{"missing_keys": [...], "unexpected_keys": [...]}``, as PyTorch returns.

        Raises
        ------
        KeyError
            strict and the names differ.
        TypeError
            state_dict is not a mapping, or a value is not real-valued.
        ValueError
            A shape differs.

        Examples
        --------
        >>> lstm.load_state_dict({k: v.numpy() for k, v in torch_lstm.state_dict().items()})
        {'missing_keys': [], 'unexpected_keys': []}
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        missing = [k for k in self._params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self._params]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict: missing keys {missing}, unexpected keys {unexpected}")
        staged: dict[str, FloatArray] = {}
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

    def zero_grad(self) -> None:
        """Sets every array of `grads` to zero (in place; backward accumulates into them)."""
        for g in self.grads.values():
            g.fill(0)

    # -- modes --------------------------------------------------------------------------------------

    def train(self: _Self, mode: bool = True) -> _Self:
        """Switches between training and eval mode.

        Parameters
        ----------
        mode : bool
            True (training mode): parameters writable, packed at every forward, which keeps what
            `backward` needs. False (eval mode, as `eval`): parameters read-only, packed once and kept;
            no workspace for backward. A layer made by `quantized` is inference-only: RuntimeError.

        Returns
        -------
        layer
            The layer itself.
        """
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

    def eval(self: _Self) -> _Self:
        """Eval mode, ``train(False)``: inference kernels, packed weights kept, no backward workspace.

        Returns
        -------
        layer
            The layer itself.
        """
        return self.train(False)
