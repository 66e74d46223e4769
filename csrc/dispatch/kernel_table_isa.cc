// This ISA's KernelTable: the entry points of its object library, by cell kind and dtype.
#include "cells/cell_traits.h"
#include "dispatch/isa_entry_points.h"
#include "dispatch/kernel_table.h"
#include "simd/vec_math.h"

#define FUSEDRNN_STRINGIFY2(x) #x
#define FUSEDRNN_STRINGIFY(x) FUSEDRNN_STRINGIFY2(x)

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

template <class T>
TypedKernels<T> typed_kernels() {
  TypedKernels<T> k{};
  k.forward[static_cast<int>(CellKind::lstm)] = &lstm_forward<T>;
  k.backward[static_cast<int>(CellKind::lstm)] = &lstm_backward<T>;
  k.forward[static_cast<int>(CellKind::gru)] = &gru_forward<T>;
  k.backward[static_cast<int>(CellKind::gru)] = &gru_backward<T>;
  k.forward[static_cast<int>(CellKind::rnn_tanh)] = &rnn_tanh_forward<T>;
  k.backward[static_cast<int>(CellKind::rnn_tanh)] = &rnn_tanh_backward<T>;
  k.forward[static_cast<int>(CellKind::rnn_relu)] = &rnn_relu_forward<T>;
  k.backward[static_cast<int>(CellKind::rnn_relu)] = &rnn_relu_backward<T>;
  k.microkernel = microkernel<T>();
  k.sigmoid = &sigmoid_inplace<T>;
  k.tanh = &tanh_inplace<T>;
  return k;
}

}  // namespace

const KernelTable& kernel_table() {
  static const KernelTable table{FUSEDRNN_STRINGIFY(FUSEDRNN_ISA_NS), typed_kernels<float>(),
                                 typed_kernels<double>()};
  return table;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
