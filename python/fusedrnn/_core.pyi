# Private extension module (C++ kernels). Use fusedrnn / fusedrnn.functional instead.
from collections.abc import Sequence
from typing import Any, Final, TypedDict, type_check_only

import numpy as np
from numpy.typing import NDArray

@type_check_only
class CellFacts(TypedDict):
    name: str
    gates: int
    has_cell_state: bool
    saves_gates: bool
    saves_per_unit: bool

__version__: Final[str]
_isa_warning: Final[str]
_max_threads: Final[int]
cells: Final[dict[str, CellFacts]]
activations: Final[tuple[str, ...]]

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def cpu_info() -> dict[str, Any]: ...
def _select_isa(isa: str) -> None: ...
def _set_input_chunk_elements(n: int) -> None: ...
def _input_chunk_elements() -> int: ...
def _set_min_flops_per_thread(n: int) -> None: ...
def _min_flops_per_thread() -> int: ...
def _activation(name: str, values: NDArray[np.floating]) -> None: ...
def _fma_peak_gflops(threads: int, iterations: int = 20000000) -> float: ...
def parameter_shapes(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    bias: bool,
    proj_size: int = 0,
) -> list[tuple[str, tuple[int, ...]]]: ...

class Plan:
    """A prepared layer stack: validated sizes, packed weights kept while valid, retained workspace."""

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        bias: bool,
        dtype: str,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        proj_size: int = 0,
    ) -> None: ...
    def set_parameters(self, params: Sequence[NDArray[np.floating]]) -> None: ...
    def forward(
        self,
        x: NDArray[np.floating],
        h0: NDArray[np.floating] | None,
        c0: NDArray[np.floating] | None,
        training: bool,
        keep_packs: bool,
        out: NDArray[np.floating] | None,
        lengths: NDArray[np.int64] | None = None,
        dropout_masks: NDArray[np.floating] | None = None,
        recurrent_masks: NDArray[np.floating] | None = None,
    ) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.floating] | None]: ...
    def backward(
        self,
        dy: NDArray[np.floating] | None,
        dh_n: NDArray[np.floating] | None,
        dc_n: NDArray[np.floating] | None,
        grads: Sequence[NDArray[np.floating]] | None,
        accumulate: bool,
    ) -> tuple[
        NDArray[np.floating], NDArray[np.floating], NDArray[np.floating] | None, list[NDArray[np.floating]]
    ]: ...
    def drop_packs(self) -> None: ...
    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]: ...
    @property
    def has_packs(self) -> bool: ...
    @property
    def pending(self) -> bool: ...
    @property
    def retained_bytes(self) -> int: ...
    @property
    def activation(self) -> str: ...
    @property
    def recurrent_activation(self) -> str: ...
    @property
    def cell(self) -> str: ...
