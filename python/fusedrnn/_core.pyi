# Private extension module (C++ kernels). Use fusedrnn / fusedrnn.functional instead.
from typing import Any

import numpy as np

__version__: str

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def cpu_info() -> dict[str, Any]: ...
def lstm_forward(
    *,
    x: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None,
    b_hh: np.ndarray | None,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    y: np.ndarray,
    y_column: int,
    h_n: np.ndarray,
    c_n: np.ndarray,
    gates: np.ndarray | None,
    cells: np.ndarray | None,
    reverse: bool,
) -> None: ...
def lstm_backward(**kwargs: Any) -> None: ...
