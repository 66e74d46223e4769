// The GEMM microkernel contract (BLIS-style; docs/architecture.md, "The GEMM").
//
// A microkernel computes one full MR x NR tile of C from packed panels:
//
//   C[i][j] (+)= sum_{p < k} a[p*MR + i] * b[p*NR + j]      for i < MR, j < NR
//
//   a: [k][MR]  packed row panel of A (MR rows of A interleaved per p)
//   b: [k][NR]  packed column panel of B (NR columns of B interleaved per p)
//   c: [MR][ldc] the tile, row-major with row stride ldc
//   accumulate == false: C is written, never read (it may hold NaN or garbage).
//   accumulate == true : the sum is added to C.
//
// The tile is always full: callers handle edge tiles by pointing c at a scratch tile and copying the
// valid part out (or by padding packed panels with zeros), so a microkernel has no edge code. Every
// element is a dot product over p in increasing order, identical whichever thread or tile position
// computes it; that is what makes results independent of the thread count.
#pragma once

#include <cstdint>

namespace fusedrnn {

template <class T>
using MicrokernelFn = void (*)(std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc,
                               bool accumulate);

// Largest MR and NR of any microkernel: the cells keep tiles of this size on the stack.
constexpr int kMaxMR = 8;
constexpr int kMaxNR = 32;

template <class T>
struct Microkernel {
  int mr;
  int nr;
  MicrokernelFn<T> fn;
  const char* name;
};

}  // namespace fusedrnn

#ifdef FUSEDRNN_ISA_NS
namespace fusedrnn::FUSEDRNN_ISA_NS {
// This ISA's microkernel (defined by the one ukernel_<isa>_<tile>.cc in its object library).
template <class T>
const Microkernel<T>& microkernel();
// A 1-row kernel with the same NR, for GEMMs with one or two rows (batch-1 steps).
template <class T>
const Microkernel<T>& narrow_microkernel();

// The kernel for a recurrent step with `rows` batch rows. The full kernel pads rows up to MR; the 1-row
// kernel streams the whole weight panel once per row. Measured (LSTM forward, T=50, C=64, H=256, one
// thread): with 1 row the padded kernel does MR times the work (stream-b1 LSTM: 9.8 ms vs 4.2 ms), from
// 3-4 rows on it wins (AVX-512: N=7 narrow 4.8 ms, N=8 full 3.0 ms). Results then differ with the batch
// size in the last bits (never with the thread count).
template <class T>
const Microkernel<T>& step_microkernel(const Microkernel<T>& full, std::int64_t rows) {
  return rows <= 2 ? narrow_microkernel<T>() : full;
}
}  // namespace fusedrnn::FUSEDRNN_ISA_NS
#endif
