// Software prefetch of a block of rows, for data a loop reads after a long stretch of other work (a
// tile's gx rows, read by the cell after the step's microkernels have streamed the weight panels through
// L1): the hint asks for the outer levels (L2 and up), where those panels do not evict it. A hint only:
// no effect on results, and a no-op where the compiler offers none.
#pragma once

#include <cstdint>

#if defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#endif

#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

inline void prefetch_line(const void* address) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(address, 0, 2);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_prefetch(static_cast<const char*>(address), _MM_HINT_T1);
#else
  (void)address;
#endif
}

// Every 64-byte line holding one of rows x cols elements of src (row stride ld). Written without an
// early return: GCC 12 dropped every prefetch of this function when it had one (-O2 and -O3).
template <class T>
void prefetch_rows(const T* src, std::int64_t ld, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const char* begin = reinterpret_cast<const char*>(src + r * ld);
    const char* end = reinterpret_cast<const char*>(src + r * ld + cols);
    const char* line = begin - (reinterpret_cast<std::uintptr_t>(begin) & 63);
    for (; line < end; line += 64) prefetch_line(line);
  }
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
