// The edge kernels' dispatch (microkernel.h, EdgeMicrokernelFn): a row count known at run time, to the
// kernel compiled for that many rows. Every kernel file with edge kernels (AVX2, AVX-512, the bf16 pairs
// tile) instantiates its own rows through this one switch.
#pragma once

#include <type_traits>
#include <utility>

namespace fusedrnn {
// Internal linkage for the reason given in reduced/quantize.h: each ISA's library gets its own copy.
namespace {

template <int kMR, class Kernel, int... R>
inline void call_with_rows_impl(int rows, Kernel& kernel, std::integer_sequence<int, R...>) {
  const bool done = ((rows == R + 1 && (kernel(std::integral_constant<int, R + 1>{}), true)) || ...);
  if (!done) kernel(std::integral_constant<int, kMR>{});
}

// kernel(std::integral_constant<int, rows>{}) for 1 <= rows < kMR, kernel(... kMR ...) otherwise.
template <int kMR, class Kernel>
inline void call_with_rows(int rows, Kernel&& kernel) {
  call_with_rows_impl<kMR>(rows, kernel, std::make_integer_sequence<int, kMR - 1>{});
}

}  // namespace
}  // namespace fusedrnn
