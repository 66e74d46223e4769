"""The option record of each layer class: every constructor option once, as Keras's ``get_config()``
lists a layer's, with its default, its checks and its role. Construction, validation, pickling, the
fixed attributes, ``repr``, `fusedrnn.save` / `fusedrnn.load` and `fusedrnn.from_keras` all derive from
`OPTIONS`; a new option is one `Option` line here (and its parameter in the constructor's signature and
docstring, which tests/test_layer_api.py holds to the record).

A pickle or a file may come from someone who wishes the user harm, so `check` refuses every value the
constructor would refuse, with the constructor's own checks (`fusedrnn._validation`), and raises only
ValueError, naming where the value came from (``path: 'model.npz': config: dropout: ...``). The sizes'
limits are the kernels' (`fusedrnn._core.parameter_shapes` checks them without allocating anything).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import DTypeLike

from . import _core, _validation
from .init import SCHEMES

__all__ = [
    "FIXED",
    "MERGE_MODES",
    "OPTIONS",
    "REQUIRED",
    "WEIGHT_FORMATS",
    "Option",
    "cell",
    "check",
    "construct",
    "parameter_shapes",
]

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
# The default of the options every call must give (the two sizes).
REQUIRED: Any = object()


@dataclass(frozen=True)
class Option:
    """One constructor option of a layer class."""

    name: str
    default: Any  # REQUIRED: none (a pickle or file of an older version takes the default when missing)
    argument: _Check  # the constructor's check: the value the layer keeps, or TypeError / ValueError
    stored: _Check | None = None  # the check of a pickled or saved value (None: `argument`'s)
    fixed: bool = True  # fixed once the layer is made (its plan and parameters were made for it)
    shown: bool = True  # in ``repr`` when not the default
    keras: str | None = None  # the attribute of a Keras layer that `fusedrnn.from_keras` reads it from

    def check_stored(self, value: object) -> Any:
        return (self.stored or self.argument)(value, self.name)


def _sized(kind: str) -> _Check:
    def check(value: object, name: str) -> int:
        return _validation.size(value, name, kind)

    return check


def _proj_size(value: object, name: str) -> int:
    return _validation.bounded_int(value, name, 0, _validation.SIZE_LIMITS["size"])


def _kernel_dtype(value: object, name: str) -> np.dtype[Any]:
    if value is None:  # np.dtype(None) would silently mean float64
        raise TypeError(f"{name}: expected float32 or float64, got None")
    return _validation.kernel_dtype(cast("DTypeLike", value), name)


# The record of each class, in the order of ``repr`` (the sizes and dtype are shown apart). The sizes'
# stored check has no limit: `parameter_shapes` refuses a stranger's sizes with the kernels' message.
_SIZES = (
    Option("input_size", REQUIRED, _sized("size"), _validation.positive_int, shown=False),
    Option("hidden_size", REQUIRED, _sized("hidden_size"), _validation.positive_int, shown=False),
    Option("num_layers", 1, _sized("num_layers"), _validation.positive_int),
    Option("bias", True, _validation.flag, keras="use_bias"),
    Option("batch_first", False, _validation.flag, fixed=False),
    Option("dropout", 0.0, _validation.probability),
    Option("bidirectional", False, _validation.flag),
)
_GATED = (
    Option("activation", "tanh", _validation.activation, keras="activation"),
    Option("recurrent_activation", "sigmoid", _validation.activation, keras="recurrent_activation"),
)
_TRAINING_AND_STATE = (
    Option("recurrent_dropout", 0.0, _validation.probability, keras="recurrent_dropout"),
    Option("init", "torch", _choice(SCHEMES), fixed=False),
    Option("merge_mode", "concat", _choice(MERGE_MODES), fixed=False),
    Option("stateful", False, _validation.flag, fixed=False),
)
_DTYPE = Option("dtype", "float32", _kernel_dtype, _dtype_name, shown=False)
# bf16 mixed precision: every product's operands rounded to bf16, the rest float32 (`fusedrnn.LSTM`).
_COMPUTE_DTYPE = Option("compute_dtype", "float32", _validation.compute_dtype)


def _record(*options: Option) -> dict[str, Option]:
    return {option.name: option for option in options}


OPTIONS: dict[str, dict[str, Option]] = {
    "LSTM": _record(
        *_SIZES,
        *_GATED,
        *_TRAINING_AND_STATE,
        Option("proj_size", 0, _proj_size, _non_negative_int),
        Option("layer_norm", False, _validation.flag),
        _DTYPE,
        _COMPUTE_DTYPE,
    ),
    "GRU": _record(
        *_SIZES,
        *_GATED,
        *_TRAINING_AND_STATE,
        Option("reset_after", True, _validation.flag, keras="reset_after"),
        _DTYPE,
        _COMPUTE_DTYPE,
    ),
    "RNN": _record(
        *_SIZES,
        Option("nonlinearity", "tanh", _validation.activation, keras="activation"),
        *_TRAINING_AND_STATE,
        _DTYPE,
        _COMPUTE_DTYPE,
    ),
}
# Attributes that no assignment changes once a layer is made: the fixed options of every class.
FIXED: frozenset[str] = frozenset(
    option.name for record in OPTIONS.values() for option in record.values() if option.fixed
)


def construct(class_name: str, arguments: Mapping[str, object]) -> dict[str, Any]:
    """The constructor's options: every option of ``class_name`` taken from ``arguments`` (the
    constructor's parameters) and checked, in the record's order; TypeError or ValueError naming it."""
    options = {name: option.argument(arguments[name], name) for name, option in OPTIONS[class_name].items()}
    _check_together(options, "")
    return options


def _check_together(options: Mapping[str, Any], where: str) -> None:
    """The rules between options."""
    if options["merge_mode"] != "concat" and not options["bidirectional"]:
        raise ValueError(
            f"{where}merge_mode: {options['merge_mode']!r} merges the two directions: it needs "
            "bidirectional=True"
        )
    if options["compute_dtype"] == "bfloat16":
        try:
            _validation.compute_dtype_with("bfloat16", np.dtype(options["dtype"]))
        except ValueError as err:
            raise ValueError(f"{where}{err}") from None
    if options.get("layer_norm") and options.get("proj_size"):
        raise ValueError(
            f"{where}layer_norm: the layer-normalised LSTM has no projection: proj_size must be 0 with "
            "layer_norm=True"
        )


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
    for name, option in options.items():
        if name not in values:
            if option.default is REQUIRED:
                raise ValueError(f"{where}: {name} is missing")
            checked[name] = option.default
            continue
        try:
            checked[name] = option.check_stored(values[name])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None
    _check_together(checked, f"{where}: ")
    return checked


def cell(class_name: str, options: Mapping[str, Any]) -> str:
    """The `fusedrnn._core` cell of checked options: "lstm", "lstm_layer_norm", "rnn", "gru" or
    "gru_reset_before"."""
    if class_name == "GRU":
        return "gru" if options["reset_after"] else "gru_reset_before"
    if class_name == "LSTM" and options.get("layer_norm"):
        return "lstm_layer_norm"
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
