"""A PyTorch model's ``state_dict`` into an fr.nn model: the documented path for weights trained in PyTorch.

A torch model's state_dict names its parameters by module (``lstm.weight_ih_l0``, ``fc.weight``,
``embed.weight``, ``0.weight`` in a torch ``nn.Sequential``). `load_torch_state_dict` takes the modules in
the order the state_dict lists them (the order they were assigned in ``__init__``) and fills the fr.nn
model's layers that hold weights in their order: a torch ``nn.LSTM`` / ``GRU`` / ``RNN`` fills a recurrent
layer (fr.nn's recurrent layers use PyTorch's parameter names and gate order, so nothing is reordered;
a torch stack of K layers fills one fr.nn layer with ``num_layers=K`` or K recurrent layers in a row),
an ``nn.Linear`` a `Dense` (its weight ``[out, in]`` transposed to the kernel ``[in, out]``), an
``nn.Embedding`` an `Embedding`. Every shape is checked before anything is changed; any mismatch raises
ValueError naming the torch module and the fr.nn layer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .layers import Dense, Embedding, Layer, Recurrent

__all__ = ["load_torch_state_dict"]

Array = NDArray[Any]
_RECURRENT_NAME = re.compile(r"^(weight|bias)_(ih|hh|hr)_l(\d+)(_reverse)?$")


def _as_array(value: Any, key: str) -> Array:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"state_dict[{key!r}]: expected real numbers, got dtype {array.dtype}")
    return array


def _modules(state_dict: Mapping[str, Any]) -> list[tuple[str, dict[str, Array]]]:
    """(module prefix, {parameter name: array}) in the order the state_dict lists them."""
    modules: dict[str, dict[str, Array]] = {}
    for key in state_dict:
        if not isinstance(key, str):
            raise TypeError(f"state_dict: keys must be str, got {type(key).__name__}")
        prefix, _, name = key.rpartition(".")
        modules.setdefault(prefix, {})[name] = _as_array(state_dict[key], key)
    return list(modules.items())


def _weighted_layers(model: Any) -> list[Layer]:
    layers = getattr(model, "layers", None)
    if layers is None:
        raise TypeError(f"model: expected an fr.nn Sequential or Model, got {type(model).__name__}")
    unbuilt = [layer.name for layer in layers if getattr(layer, "built_input_shape", None) is None]
    if unbuilt:
        raise ValueError(
            f"model: layer {unbuilt[0]!r} is not built; give the model an input_shape (or call it once on "
            "data) before loading weights into it"
        )
    return [layer for layer in layers if isinstance(layer, (Dense, Embedding, Recurrent))]


def _split_stack(params: dict[str, Array]) -> list[dict[str, Array]]:
    """A torch recurrent module's parameters per layer of its stack, each renamed to layer 0."""
    per_layer: dict[int, dict[str, Array]] = {}
    for name, value in params.items():
        match = _RECURRENT_NAME.match(name)
        assert match is not None  # checked by the caller
        kind, part, index, reverse = match.groups()
        per_layer.setdefault(int(index), {})[f"{kind}_{part}_l0{reverse or ''}"] = value
    return [per_layer[k] for k in sorted(per_layer)]


def _plan(model: Any, state_dict: Mapping[str, Any]) -> list[tuple[Layer, str, dict[str, Array]]]:
    """Which torch module fills which fr.nn layer, every shape checked; raises on any mismatch."""
    targets = _weighted_layers(model)
    plan: list[tuple[Layer, str, dict[str, Array]]] = []
    position = 0

    def next_layer(prefix: str, what: str) -> Layer:
        if position >= len(targets):
            raise ValueError(
                f"state_dict: torch module {prefix!r} ({what}) has no fr.nn layer left to fill "
                f"(the model has {len(targets)} layers with weights)"
            )
        return targets[position]

    for prefix, params in _modules(state_dict):
        names = set(params)
        if names and all(_RECURRENT_NAME.match(name) for name in names):
            stack = _split_stack(params)
            layer = next_layer(prefix, "a recurrent module")
            if not isinstance(layer, Recurrent):
                raise ValueError(
                    f"state_dict: torch module {prefix!r} is recurrent; fr.nn layer {layer.name!r} is not"
                )
            if layer.layer.num_layers == len(stack):
                parts = [(layer, params)]
            else:  # one fr.nn recurrent layer per layer of the torch stack
                parts = []
                for k, part in enumerate(stack):
                    layer = next_layer(prefix, f"layer {k} of a recurrent stack")
                    if not isinstance(layer, Recurrent) or layer.layer.num_layers != 1:
                        raise ValueError(
                            f"state_dict: torch module {prefix!r} stacks {len(stack)} recurrent layers; "
                            f"fr.nn layer {layer.name!r} is not a one-layer recurrent layer to take layer {k}"
                        )
                    parts.append((layer, part))
                    position += 1
                position -= 1
            for target, part in parts:
                assert isinstance(target, Recurrent)
                expected = {name: tuple(v.shape) for name, v in target.layer.state_dict().items()}
                given = {name: tuple(v.shape) for name, v in part.items()}
                if expected != given:
                    raise ValueError(
                        f"state_dict: torch module {prefix!r} has {given}; fr.nn layer {target.name!r} "
                        f"({target.layer!r}) holds {expected}"
                    )
                plan.append((target, prefix, part))
        elif names in ({"weight", "bias"}, {"weight"}) and params["weight"].ndim == 2:
            layer = next_layer(prefix, "a Linear or Embedding module")
            weight = params["weight"]
            if isinstance(layer, Dense):
                W = layer.W
                if weight.shape != W.shape[::-1] or ("bias" in params) != layer.use_bias:
                    raise ValueError(
                        f"state_dict: torch module {prefix!r} (weight {list(weight.shape)}, "
                        f"{'with' if 'bias' in params else 'no'} bias) does not fit fr.nn layer "
                        f"{layer.name!r} (kernel {list(W.shape)}, "
                        f"{'with' if layer.use_bias else 'no'} bias): a Linear's weight is [out, in]"
                    )
                if "bias" in params and params["bias"].shape != layer.b.shape:
                    raise ValueError(f"state_dict: {prefix}.bias has shape {list(params['bias'].shape)}")
                plan.append((layer, prefix, params))
            elif isinstance(layer, Embedding) and names == {"weight"}:
                if weight.shape != layer.E.shape:
                    raise ValueError(
                        f"state_dict: torch module {prefix!r} (weight {list(weight.shape)}) does not fit "
                        f"fr.nn layer {layer.name!r} (embeddings {list(layer.E.shape)})"
                    )
                plan.append((layer, prefix, params))
            else:
                raise ValueError(
                    f"state_dict: torch module {prefix!r} (a Linear or Embedding) meets fr.nn layer "
                    f"{layer.name!r} ({type(layer).__name__})"
                )
        else:
            raise ValueError(
                f"state_dict: torch module {prefix!r} has parameters {sorted(names)}, which fr.nn has no "
                "layer for (supported: LSTM / GRU / RNN, Linear, Embedding)"
            )
        position += 1
    if position != len(targets):
        left = [layer.name for layer in targets[position:]]
        raise ValueError(f"state_dict: fr.nn layers {left} get no weights (the state_dict has fewer modules)")
    return plan


def load_torch_state_dict(model: Any, state_dict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Loads a PyTorch model's ``state_dict()`` into a built fr.nn model (module docstring).

    Parameters
    ----------
    model : fr.nn.Sequential or fr.nn.Model
        Built (an ``input_shape`` given, or called once), with its weighted layers in the order of the
        torch model's modules.
    state_dict : mapping of str to tensor or array
        ``torch_model.state_dict()`` as it is (CPU tensors) or as NumPy arrays.

    Returns
    -------
    list of (str, str)
        (torch module, fr.nn layer) for each module loaded, in order.

    Raises
    ------
    TypeError
        model is not an fr.nn model, or state_dict's keys or values are not str / real arrays.
    ValueError
        The model is not built, or the modules and layers do not match one to one with equal shapes:
        nothing has been changed then.

    Examples
    --------
    >>> # class Net(torch.nn.Module): self.lstm = nn.LSTM(1, 64, batch_first=True); self.fc = nn.Linear(64, 1)
    >>> model = nn.Sequential([nn.LSTM(64, input_shape=(33, 1)), nn.Dense(1)])
    >>> nn.load_torch_state_dict(model, net.state_dict())
    [('lstm', 'lstm'), ('fc', 'dense')]
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"state_dict: expected a mapping (torch's state_dict()), got {type(state_dict).__name__}"
        )
    plan = _plan(model, state_dict)
    for layer, _, params in plan:
        if isinstance(layer, Recurrent):
            layer.layer.load_state_dict(params)
        elif isinstance(layer, Dense):
            layer.W[...] = params["weight"].T
            if "bias" in params:
                layer.b[...] = params["bias"]
        elif isinstance(layer, Embedding):
            layer.E[...] = params["weight"]
    return [(prefix, layer.name) for layer, prefix, _ in plan]
