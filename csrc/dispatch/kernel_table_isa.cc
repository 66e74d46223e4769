// This ISA's KernelTable: the entry points of its object library, by cell kind and dtype.
#include "cells/cell_traits.h"
#include "dispatch/isa_entry_points.h"
#include "dispatch/kernel_table.h"
#include "gemm/gemm_call.h"
#include "simd/vec_math.h"

#define FUSEDRNN_STRINGIFY2(x) #x
#define FUSEDRNN_STRINGIFY(x) FUSEDRNN_STRINGIFY2(x)

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

template <class T>
TypedKernels<T> typed_kernels() {
  TypedKernels<T> k{};
#define FUSEDRNN_ENTER_CELL(cell)                                                       \
  k.forward[static_cast<int>(CellKind::cell)] = &cell##_forward<T>;                     \
  k.backward[static_cast<int>(CellKind::cell)] = &cell##_backward<T>;                   \
  k.forward_workspace[static_cast<int>(CellKind::cell)] = &cell##_forward_workspace<T>; \
  k.backward_workspace[static_cast<int>(CellKind::cell)] = &cell##_backward_workspace<T>;
  FUSEDRNN_ENTER_CELL(lstm)
  FUSEDRNN_ENTER_CELL(gru)
  FUSEDRNN_ENTER_CELL(rnn)
  FUSEDRNN_ENTER_CELL(gru_reset_before)
  FUSEDRNN_ENTER_CELL(lstm_layer_norm)
#undef FUSEDRNN_ENTER_CELL
  k.packed_weights_elements = &packed_weights_elements<T>;
  k.pack_weights = &pack_weights<T>;
  k.microkernel = microkernel<T>();
  k.narrow_microkernel = narrow_microkernel<T>();
  k.gemm = &gemm_call<T>;
  k.sigmoid = &sigmoid_inplace<T>;
  k.tanh = &tanh_inplace<T>;
  return k;
}

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable table{FUSEDRNN_STRINGIFY(FUSEDRNN_ISA_NS), &fma_peak_gflops,
                                 typed_kernels<float>(), typed_kernels<double>()};
  return table;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
