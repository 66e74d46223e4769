"""fusedrnn: fused CPU kernels for recurrent layers over whole sequences, NumPy in and out.

    import fusedrnn as fr
    lstm = fr.LSTM(input_size, hidden_size, num_layers=2, batch_first=True)
    y, (h_n, c_n) = lstm(x)
    dx, (dh0, dc0) = lstm.backward(dy)

`fusedrnn.functional` has the same computation on plain arrays; `fusedrnn.reference` is the pure
NumPy oracle the kernels are tested against.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from . import _core, data, functional, init, onnx, reference
from .clipping import clip_grad_norm_, clip_grad_value_
from .keras_interop import from_keras
from .layers import GRU, LSTM, RNN
from .saving import load, save
from .sequences import pad_sequences

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "__version__",
    "clip_grad_norm_",
    "clip_grad_value_",
    "cpu_info",
    "data",
    "from_keras",
    "functional",
    "get_num_threads",
    "init",
    "load",
    "onnx",
    "pad_sequences",
    "reference",
    "save",
    "set_num_threads",
]

__version__ = _core.__version__

if _core._isa_warning:
    # FUSEDRNN_ISA asked for a path this CPU, OS or build cannot run: say which one is used instead.
    warnings.warn(_core._isa_warning, RuntimeWarning, stacklevel=2)


def set_num_threads(n: int) -> None:
    """Sets the threads every kernel uses from the next call on, in every Python thread.

    Results are bitwise identical for any thread count. A lower OpenMP limit set in one thread (e.g. by
    threadpoolctl) still applies there. In a process forked after the kernels have run on several
    threads, they run on one (OpenMP's threads do not survive fork).

    Parameters
    ----------
    n : int
        1 <= n <= 1024. The default before any call: OMP_NUM_THREADS, else all cores.

    Raises
    ------
    TypeError
        n is not an int.
    ValueError
        n is out of range.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n: expected an int, got {type(n).__name__}")
    if not 1 <= n <= _core._max_threads:
        raise ValueError(f"n: expected a thread count from 1 to {_core._max_threads}, got {n}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    """The threads the next kernel call may use (honouring threadpoolctl's limits).

    Returns
    -------
    int
    """
    return _core.get_num_threads()


def cpu_info() -> dict[str, Any]:
    """What the kernels run on: the SIMD path, the CPU's features, OpenMP and threads.

    Returns
    -------
    dict
        ``isa``: the SIMD path in use, "avx512", "avx2" or "generic" (chosen at import from CPUID and
        the OS's support, capped by the environment variable FUSEDRNN_ISA); ``supported_isas``: the
        paths this machine supports; ``microkernel_float32`` and ``microkernel_float64``: the GEMM
        microkernels; ``cpu_features``: the CPU's features; ``openmp``: whether OpenMP is on;
        ``threads``: the thread count the next kernel call may use (`get_num_threads`);
        ``reduced_precision``: the kernels ``layer.quantized("bf16" | "int8")`` run on now
        ({"bf16": "avx512_bf16" or "generic", "int8": "avx512_vnni" or "generic"}) and
        ``reduced_precision_paths``: every usable one per format, best first; ``bf16_compute``: how
        ``compute_dtype="bfloat16"`` layers compute their products now: "native: ..." on the AVX512-BF16
        kernels (the avx512 ISA on a CPU with AVX512-BF16: vdpbf16ps, twice the float32 FMA rate), or
        "emulated: ..." elsewhere (float32 FMAs over bf16-rounded operands: the same products, summed in
        another order, no faster than float32).

    Examples
    --------
    >>> fr.cpu_info()["isa"]
    'avx512'
    """
    info: dict[str, Any] = dict(_core.cpu_info())
    info["threads"] = get_num_threads()
    # The kernels of layer.quantized("bf16" / "int8") now, and every usable one (best first).
    info["reduced_precision"] = {fmt: _core.reduced_path(fmt) for fmt in ("bf16", "int8")}
    info["reduced_precision_paths"] = _core.reduced_paths()
    # compute_dtype="bfloat16": the AVX512-BF16 kernels where they run, else the portable form.
    if _core.bf16_products_native():
        info["bf16_compute"] = "native: AVX512-BF16 (vdpbf16ps) products, float32 sums"
    else:
        info["bf16_compute"] = "emulated: float32 products of bf16-rounded operands"
    return info
