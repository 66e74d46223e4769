"""The type aliases the public signatures share (annotations only: nothing here runs a check).

The kernels compute in float32 or float64, the dtype of the layer or of the parameters, so their arrays
are typed ``NDArray[np.floating]``; what they accept is anything ``np.asarray`` turns into real numbers
(``ArrayLike``), converted once.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = ["Activation", "FloatArray", "InitScheme", "MergeMode", "Seed"]

FloatArray: TypeAlias = NDArray[np.floating[Any]]
# Keras's activation names; None means "linear", as in Keras.
Activation: TypeAlias = Literal["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"] | None
# The layers' init= schemes (fusedrnn.init.SCHEMES).
InitScheme: TypeAlias = Literal["torch", "keras", "identity", "orthogonal"]
# How a bidirectional layer joins its two directions' outputs (Keras's Bidirectional merge_mode).
MergeMode: TypeAlias = Literal["concat", "sum", "mul", "ave"]
# What np.random.default_rng accepts.
Seed: TypeAlias = int | np.random.Generator | np.random.SeedSequence | None
