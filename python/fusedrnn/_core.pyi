# Private extension module (C++ kernels, csrc/bindings/). Use fusedrnn / fusedrnn.functional instead.
# Every name, argument, default and return type here matches the bindings; tests/test_core_stub.py
# compares this file with the signatures pybind11 records in the compiled module, so it cannot drift.
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, SupportsIndex, SupportsInt, TypeAlias, TypedDict, type_check_only

import numpy as np
from numpy.typing import NDArray

# What pybind11 accepts for a C++ integer argument (an int, or anything with __index__ / __int__).
_Int: TypeAlias = SupportsInt | SupportsIndex
# The kernels' arrays: float32 or float64 (the dtype a Plan was made for), checked at run time.
_Array: TypeAlias = NDArray[np.floating[Any]]

@type_check_only
class CellFacts(TypedDict):
    name: str
    gates: int
    has_cell_state: bool
    saves_gates: bool
    saves_per_unit: bool
    input_fusable: bool

@type_check_only
class CpuInfo(TypedDict):
    isa: Literal["avx512", "avx2", "generic"]
    supported_isas: list[str]
    microkernel_float32: str
    microkernel_float64: str
    cpu_features: list[str]
    openmp: bool

__version__: Final[str]
_isa_warning: Final[str]
_max_threads: Final[int]
_size_limits: Final[dict[str, int]]
cells: Final[dict[str, CellFacts]]
activations: Final[tuple[str, ...]]

# -- runtime (register_runtime.cc) ---------------------------------------------------------------------

def get_num_threads() -> int: ...
def set_num_threads(n: _Int) -> None: ...
def _calls_cut_off_by_fork() -> tuple[int, int]: ...
def cpu_info() -> CpuInfo: ...
def _select_isa(isa: str) -> None: ...
def _set_input_chunk_elements(n: _Int) -> None: ...
def _input_chunk_elements() -> int: ...
def _set_min_flops_per_thread(n: _Int) -> None: ...
def _min_flops_per_thread() -> int: ...
def _set_fuse_input_max_features(n: _Int) -> None: ...
def _fuse_input_max_features() -> int: ...
def _set_concurrent_directions(on: bool) -> None: ...
def _concurrent_directions() -> bool: ...
def _set_contention_fallback(on: bool) -> None: ...
def _contention_fallback() -> bool: ...
def _contention_events() -> int: ...
def _region_descheduled(wall_ns: _Int, run_queue_ns: _Int) -> bool: ...
def _fma_peak_gflops(threads: _Int, iterations: _Int = 20000000) -> float: ...
def _activation(name: Literal["sigmoid", "tanh"], values: _Array) -> None: ...
def _gemm(
    a: _Array,
    b: _Array,
    c: object = None,
    accumulate: bool = False,
    threads: _Int = 1,
    prepack_b: bool = False,
    narrow: bool = False,
    bf16: str = "off",
) -> _Array: ...
def _microkernel(dtype: str, narrow: bool = False) -> dict[str, Any]: ...

# -- plans (register_plans.cc) -------------------------------------------------------------------------

def parameter_shapes(
    cell: str,
    input_size: _Int,
    hidden_size: _Int,
    num_layers: _Int,
    bidirectional: bool,
    bias: bool,
    proj_size: _Int = 0,
) -> list[tuple[str, tuple[int, ...]]]: ...

class Plan:
    """A prepared layer stack: validated sizes, packed weights kept while valid, retained workspace."""

    def __init__(
        self,
        cell: str,
        input_size: _Int,
        hidden_size: _Int,
        num_layers: _Int,
        bidirectional: bool,
        bias: bool,
        dtype: str,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        proj_size: _Int = 0,
        weight_format: str = "fp32",
        compute_dtype: str = "float32",
    ) -> None: ...
    def set_parameters(self, params: Sequence[_Array]) -> None: ...
    def forward(
        self,
        x: _Array,
        h0: _Array | None,
        c0: _Array | None,
        training: bool,
        keep_packs: bool,
        out: _Array | None,
        lengths: NDArray[np.int64] | None = None,
        dropout_masks: _Array | None = None,
        recurrent_masks: _Array | None = None,
    ) -> tuple[_Array, _Array, _Array | None]: ...
    def backward(
        self,
        dy: _Array | None,
        dh_n: _Array | None,
        dc_n: _Array | None,
        grads: Sequence[_Array] | None,
        accumulate: bool,
    ) -> tuple[_Array, _Array, _Array | None, list[_Array]]: ...
    def drop_packs(self) -> None: ...
    def with_calls_excluded(self, change: Callable[[], None]) -> None: ...
    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]: ...
    @property
    def has_packs(self) -> bool: ...
    @property
    def pending(self) -> bool: ...
    @property
    def retained_bytes(self) -> int: ...
    @property
    def cell(self) -> str: ...
    @property
    def activation(self) -> str: ...
    @property
    def recurrent_activation(self) -> str: ...
    @property
    def weight_format(self) -> str: ...
    @property
    def layer_formats(self) -> list[str]: ...
    @property
    def compute_dtype(self) -> str: ...

# -- reduced precision (register_reduced.cc) -----------------------------------------------------------

def reduced_paths() -> dict[str, list[str]]: ...
def reduced_path(format: str) -> str: ...
def _select_reduced_path(format: str, name: str) -> bool: ...
def bf16_products_native() -> bool: ...
def _reduced_min_weights() -> int: ...
def _set_reduced_min_weights(n: _Int) -> None: ...
def _reduced_matmul(a: NDArray[np.float32], w: NDArray[np.float32], format: str) -> NDArray[np.float32]: ...
