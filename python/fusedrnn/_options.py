"""The option record of each layer class: every constructor option (name, default, check), the one list
that pickling and `fusedrnn.save` / `fusedrnn.load` derive from and re-validate with.

A pickle or a file may come from someone who wishes the user harm, so `check` refuses every value the
constructor would refuse, with the constructor's own checks (`fusedrnn._validation`), and raises only
ValueError, naming where the value came from (``path: 'model.npz': config: dropout: ...``). The sizes'
limits are the kernels' (`fusedrnn._core.parameter_shapes` checks them without allocating anything).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import _core, _validation
from .init import SCHEMES

__all__ = ["MERGE_MODES", "OPTIONS", "WEIGHT_FORMATS", "cell", "check", "parameter_shapes"]

MERGE_MODES = ("concat", "sum", "mul", "ave")
WEIGHT_FORMATS = ("fp32", "bf16", "int8")


def _non_negative_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    return int(value)


def _choice(choices: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(value: object, name: str) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    return check


def _dtype_name(value: object, name: str) -> str:
    # A file gives a name, a pickle a numpy dtype; nothing else (np.dtype() of a stranger's string can
    # build an arbitrary structured dtype before it is refused).
    if isinstance(value, str):
        if value not in ("float32", "float64"):
            raise ValueError(f"{name}: expected 'float32' or 'float64', got {value!r}")
        return value
    if not isinstance(value, np.dtype):
        raise ValueError(f"{name}: expected 'float32' or 'float64', got {type(value).__name__}")
    return _validation.kernel_dtype(value, name).name


_Check = Callable[[object, str], Any]
# name -> (default, check); a missing option takes its default (files and pickles of older versions
# lack the newer ones), except the two sizes, which have none.
_REQUIRED = object()
_COMMON: dict[str, tuple[object, _Check]] = {
    "input_size": (_REQUIRED, _validation.positive_int),
    "hidden_size": (_REQUIRED, _validation.positive_int),
    "num_layers": (1, _validation.positive_int),
    "bias": (True, _validation.flag),
    "batch_first": (False, _validation.flag),
    "dropout": (0.0, _validation.probability),
    "bidirectional": (False, _validation.flag),
    "recurrent_dropout": (0.0, _validation.probability),
    "init": ("torch", _choice(SCHEMES)),
    "merge_mode": ("concat", _choice(MERGE_MODES)),
    "stateful": (False, _validation.flag),
    "dtype": ("float32", _dtype_name),
}
_GATED: dict[str, tuple[object, _Check]] = {
    "activation": ("tanh", _validation.activation),
    "recurrent_activation": ("sigmoid", _validation.activation),
}
OPTIONS: dict[str, dict[str, tuple[object, _Check]]] = {
    "LSTM": {**_COMMON, **_GATED, "proj_size": (0, _non_negative_int)},
    "GRU": {**_COMMON, **_GATED, "reset_after": (True, _validation.flag)},
    "RNN": {**_COMMON, "nonlinearity": ("tanh", _validation.activation)},
}


def check(class_name: str, values: Mapping[str, object], where: str) -> dict[str, Any]:
    """Every option of ``class_name`` checked as the constructor checks it: ``{name: value}`` with
    defaults for the missing ones. Unknown names, wrong types and values out of range raise ValueError
    ``"{where}: {name}: ..."``."""
    options = OPTIONS[class_name]
    unknown = [key for key in values if key not in options]
    if unknown:
        shown = ", ".join(repr(key)[:60] for key in unknown[:5])
        raise ValueError(f"{where}: unknown {class_name} option(s) {shown}")
    checked: dict[str, Any] = {}
    for name, (default, check_value) in options.items():
        if name not in values:
            if default is _REQUIRED:
                raise ValueError(f"{where}: {name} is missing")
            checked[name] = default
            continue
        try:
            checked[name] = check_value(values[name], name)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None
    if checked["merge_mode"] != "concat" and not checked["bidirectional"]:
        raise ValueError(
            f"{where}: merge_mode: {checked['merge_mode']!r} merges the two directions: it needs "
            "bidirectional=True"
        )
    return checked


def cell(class_name: str, options: Mapping[str, Any]) -> str:
    """The `fusedrnn._core` cell of checked options: "lstm", "rnn", "gru" or "gru_reset_before"."""
    if class_name == "GRU":
        return "gru" if options["reset_after"] else "gru_reset_before"
    return class_name.lower()


def parameter_shapes(
    class_name: str, options: Mapping[str, Any], where: str
) -> list[tuple[str, tuple[int, ...]]]:
    """The parameters' names and shapes in the kernels' order, for checked options; sizes past the
    kernels' limits raise ValueError naming where (nothing is allocated to find out)."""
    sizes = [options["input_size"], options["hidden_size"], options["num_layers"]]
    proj_size = options.get("proj_size", 0)
    try:
        shapes = _core.parameter_shapes(
            cell(class_name, options),
            sizes[0],
            sizes[1],
            sizes[2],
            options["bidirectional"],
            options["bias"],
            proj_size,
        )
    except (TypeError, OverflowError):  # an int past C++'s range
        raise ValueError(f"{where}: sizes {sizes + [proj_size]} are past the supported limits") from None
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return [(name, tuple(shape)) for name, shape in shapes]
