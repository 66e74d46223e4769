// One table of function pointers per compiled ISA; the one in use is chosen once, at import, from
// CPUID and the OS's saved-state support (XGETBV), capped by FUSEDRNN_ISA=avx512|avx2|generic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cells/cell_traits.h"
#include "cells/layer_config.h"
#include "gemm/gemm_call.h"
#include "gemm/microkernel.h"

namespace fusedrnn {

template <class T>
using ForwardKernel = void (*)(const LayerConfig& cfg, const ForwardTensors<T>& io, int num_threads);
template <class T>
using BackwardKernel = void (*)(const LayerConfig& cfg, const BackwardTensors<T>& io, int num_threads);

// Elements of io.workspace a forward needs (training: keeps the gates).
using ForwardWorkspaceSize = std::int64_t (*)(const LayerConfig& cfg, bool training, int threads);
using BackwardWorkspaceSize = std::int64_t (*)(const LayerConfig& cfg, int threads);

template <class T>
struct TypedKernels {
  ForwardKernel<T> forward[kCellKinds];
  BackwardKernel<T> backward[kCellKinds];
  ForwardWorkspaceSize forward_workspace[kCellKinds];
  BackwardWorkspaceSize backward_workspace[kCellKinds];
  std::int64_t (*packed_weights_elements)(const LayerConfig& cfg);
  void (*pack_weights)(const LayerConfig& cfg, const T* w_ih, const T* w_hh, const T* w_hr, T* packed,
                       int num_threads);
  Microkernel<T> microkernel;
  Microkernel<T> narrow_microkernel;           // the 1-row kernel of the same NR (gemm/microkernel.h)
  void (*gemm)(const GemmArgs<T>& args);       // the whole GEMM in one call (tests: _core._gemm)
  void (*sigmoid)(T* values, std::int64_t n);  // in place; the cells' vectorised activations
  void (*tanh)(T* values, std::int64_t n);
};

struct KernelTable {
  const char* isa;
  double (*fma_peak_gflops)(int num_threads, std::int64_t iterations);
  TypedKernels<float> f32;
  TypedKernels<double> f64;
  template <class T>
  const TypedKernels<T>& typed() const;
};
template <>
inline const TypedKernels<float>& KernelTable::typed<float>() const {
  return f32;
}
template <>
inline const TypedKernels<double>& KernelTable::typed<double>() const {
  return f64;
}

// The per-ISA tables (each defined in its own object library; only the compiled ones exist).
namespace generic {
const KernelTable& kernel_table();
}
namespace avx2 {
const KernelTable& kernel_table();
}
namespace avx512 {
const KernelTable& kernel_table();
}

struct IsaReport {
  std::string active;                  // ISA in use
  std::vector<std::string> supported;  // compiled in and usable on this CPU and OS, best first
  std::string warning;                 // non-empty when FUSEDRNN_ISA could not be honoured
};

// The table in use (selected on first call).
const KernelTable& active_kernels();
const IsaReport& isa_report();
// Switches to another supported ISA (for tests that run every compiled path); false if unsupported.
bool select_isa(const std::string& name);

}  // namespace fusedrnn
