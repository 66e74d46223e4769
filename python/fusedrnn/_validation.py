"""Argument checks shared by the functional API and the layers.

Every array that reaches the C++ core passes through here first: real dtypes are converted to the
kernel dtype, everything else is refused with a message that names the argument; any memory layout is
accepted and copied once into C order when needed, never misread.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import _core
from ._typing import FloatArray

KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def kernel_dtype(dtype: DTypeLike, name: str = "dtype") -> np.dtype[Any]:
    """The kernel dtype (float32 or float64) that ``dtype`` names, or a ValueError."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype!r}") from err
    if resolved not in KERNEL_DTYPES:
        raise ValueError(f"{name}: expected float32 or float64, got {resolved}")
    return resolved


def real_array(value: ArrayLike, name: str, dtype: DTypeLike) -> FloatArray:
    """``value`` as a C-contiguous array of ``dtype``; refuses complex, bool, object and text data."""
    if type(value) is np.ndarray and value.dtype == dtype:
        flags = value.flags
        if flags.c_contiguous and flags.aligned:  # the common case, at a tenth of np.require's cost
            return value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name}: expected a real-valued array, could not convert it: {err}") from err
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real-valued (float or integer) array, got dtype {array.dtype}")
    # C order and alignment are what the kernels read; np.require copies only when one is missing
    # (and, unlike ascontiguousarray, keeps a 0-d array 0-d so error messages show its real shape).
    return np.require(array, dtype=dtype, requirements=["C", "A"])


def check_shape(array: NDArray[Any], name: str, expected: Sequence[int], meaning: str) -> None:
    """Raises ValueError naming ``name`` unless ``array.shape == expected``."""
    if array.shape != tuple(expected):
        meaning = f" {meaning}" if meaning else ""
        raise ValueError(f"{name}: expected shape {tuple(expected)}{meaning}, got {array.shape}")


def positive_int(value: object, name: str, limit: int | None = None) -> int:
    """``value`` as an int in [1, limit]: any integer type (numpy's included) but bool; a TypeError for
    anything else, a ValueError naming ``name`` and the bound for a value out of range."""
    return bounded_int(value, name, 1, limit)


def bounded_int(value: object, name: str, minimum: int, limit: int | None = None) -> int:
    """``value`` as an int in [minimum, limit] (limit None: no upper bound), as `positive_int`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    if limit is not None and value > limit:
        raise ValueError(f"{name}: {value} is above the supported limit {limit}")
    return value


# The kernels' size limits (engine/stack_config.h): every size below 2^31 (hidden_size below 2^31 / 4,
# as G*H must fit), at most SIZE_LIMITS["num_layers"] layers and SIZE_LIMITS["parameters"] parameter
# elements. A size past them is refused here, before pybind11 (whose int64 arguments would give a
# TypeError that names no argument) and before anything is allocated.
SIZE_LIMITS: dict[str, int] = dict(_core._size_limits)


def size(value: object, name: str, kind: str = "size") -> int:
    """A size argument: an int in [1, SIZE_LIMITS[kind]] (kind: "size", "hidden_size" or "num_layers")."""
    return positive_int(value, name, SIZE_LIMITS[kind])


def parameter_count(count: int, names: str) -> None:
    """A ValueError naming ``names`` when a layer would have more than SIZE_LIMITS["parameters"]
    parameter elements (checked before they are made)."""
    if count > SIZE_LIMITS["parameters"]:
        raise ValueError(
            f"{names}: the layer would have {count} parameters, above the supported "
            f"{SIZE_LIMITS['parameters']}"
        )


def flag(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)


# compute_dtype's values (Keras's name for a layer's compute type) and the aliases accepted for them.
COMPUTE_DTYPES: dict[str, str] = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}


def compute_dtype(value: object, name: str = "compute_dtype") -> str:
    """The products' precision: "float32" or "bfloat16" (aliases "fp32", "bf16"), as its canonical name."""
    if not isinstance(value, str) or value not in COMPUTE_DTYPES:
        shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
        raise ValueError(f"{name}: expected 'float32' or 'bfloat16' (or 'fp32', 'bf16'), got {shown}")
    return COMPUTE_DTYPES[value]


def compute_dtype_with(value: str, dtype: np.dtype[Any], name: str = "compute_dtype") -> None:
    """Refuses bfloat16 products for a float64 layer (they would be coarser than its float32 ones)."""
    if value == "bfloat16" and dtype != np.float32:
        raise ValueError(
            f"{name}: 'bfloat16' needs dtype float32 (float64 layers compute in float64), got {dtype}"
        )


# The activations the kernels run (Keras's names), as the C++ side lists them.
ACTIVATIONS: tuple[str, ...] = tuple(_core.activations)


def activation(value: object, name: str) -> str:
    """An activation name the kernels know (Keras's names; None means "linear", as in Keras)."""
    if value is None:
        return "linear"
    if not isinstance(value, str) or value not in ACTIVATIONS:
        expected = ", ".join(repr(a) for a in ACTIVATIONS)
        raise ValueError(f"{name}: expected one of {expected} or None (linear), got {value!r}")
    return value


def lengths_array(
    value: ArrayLike | None, batch: int, steps: int, unbatched: bool
) -> NDArray[np.int64] | None:
    """Per-sequence lengths as a C-contiguous int64 array [N] with 1 <= length <= T, or None."""
    if value is None:
        return None
    array = np.asarray(value)
    if unbatched and array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind not in "iu" or array.dtype == np.bool_:
        raise TypeError(f"lengths: expected integers, got dtype {array.dtype}")
    if array.shape != (batch,):
        expected = "(1,) or a scalar (unbatched input)" if unbatched else f"({batch},) = [N]"
        raise ValueError(f"lengths: expected shape {expected}, got {array.shape}")
    if batch and (array.min() < 1 or array.max() > steps):
        raise ValueError(
            f"lengths: every length must be in [1, T] = [1, {steps}], got {array.min()}..{array.max()}"
        )
    return np.ascontiguousarray(array, dtype=np.int64)


def probability(value: object, name: str) -> float:
    """A float in [0, 1] (a dropout probability)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float in [0, 1], got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {value}")
    return float(value)


def dropout_masks(
    rng: np.random.Generator | None,
    p: float,
    num_layers: int,
    steps: int,
    batch: int,
    width: int,
    dtype: DTypeLike,
) -> FloatArray | None:
    """PyTorch's inverted dropout between stacked layers: [L-1, T, N, width] factors, each 0 with
    probability p and 1/(1-p) otherwise (all 0 when p = 1), or None when there is nothing to drop."""
    if p == 0.0 or num_layers < 2:
        return None
    assert rng is not None, "a dropout probability > 0 needs a generator"
    keep = rng.random((num_layers - 1, steps, batch, width)) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return (keep * scale).astype(dtype)


def recurrent_dropout_masks(
    rng: np.random.Generator | None, p: float, slots: int, batch: int, hidden: int, dtype: DTypeLike
) -> FloatArray | None:
    """Variational recurrent dropout: [L*D, N, H] factors on h_{t-1} in the recurrent products, each 0
    with probability p and 1/(1-p) otherwise, one per layer-direction and sequence for every step; None
    when p = 0."""
    if p == 0.0:
        return None
    assert rng is not None, "a dropout probability > 0 needs a generator"
    keep = rng.random((slots, batch, hidden)) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return (keep * scale).astype(dtype)
