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
// valid part out (or by padding packed panels with zeros), so a microkernel has no edge code.
//
// The summation order (binding on every kernel of an ISA, full, narrow and row kernels alike): each
// element is ONE chain over p in increasing order starting from zero, s = fma(a_p, b_p, s) on ISAs with
// FMA (s += a_p * b_p on the generic one), then C + s when accumulating. Nothing in that order depends
// on MR, on the row's position in the tile, on the tile's position in C or on how many rows or panels a
// call covers, so an element's value depends only on its row of A and column of B: results are bitwise
// independent of the thread count and of the batch (which rows share a call, and where a row sits).
// Kernels hide the FMA latency with independent output columns, never by splitting the k sum.
#pragma once

#include <cstdint>
#include <type_traits>

#include "gemm/bf16_products.h"

namespace fusedrnn {

template <class T>
using MicrokernelFn = void (*)(std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc,
                               bool accumulate);

// The direct-A kernel: the same tile with A read in place, row-major with leading dimension lda (the
// input projection's x, any leading dimension; the backward's dG), instead of from a packed panel:
//
//   C[i][j] (+)= sum_{p < k} a[i*lda + p] * b[p*NR + j]      for i < MR, j < NR
//
// in the summation order below, so it computes exactly the values of the packed kernel. All MR rows of
// A must exist: the driver packs a bottom edge panel (fewer than MR rows left) instead.
template <class T>
using DirectMicrokernelFn = void (*)(std::int64_t k, const T* a, std::int64_t lda, const T* b, T* c,
                                     std::int64_t ldc, bool accumulate);

// The edge kernel: the first `rows` rows (1 <= rows < MR) of the tile, from the same packed A panel (row
// i of step p at a[p*MR + i]; the rows past `rows` are not read) and in the summation order above, so it
// computes exactly those rows of the full kernel with fewer FMAs: a batch of 64 rows is ten panels of 6
// and one of 4, where the full kernel does 66 rows' work. Rows of C past `rows` are not written.
template <class T>
using EdgeMicrokernelFn = void (*)(int rows, std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc,
                                   bool accumulate);

// The row kernel: one row of A (a: [k], contiguous) times `panels` B panels of the microkernel's NR,
// panel q at b + q*b_stride, into c + q*c_stride:
//
//   c[q*c_stride + j] (+)= sum_{p < k} a[p] * b[q*b_stride + p*NR + j]      for q < panels, j < NR
//
// in the summation order above (so exactly the values of row i of the MR x NR kernel). A 1-row product
// over one panel has only NR / lanes independent chains (2), too few to cover the FMA latency; several
// panels per call give the kernel more (4 panels: 8 chains), which the recurrent steps have: the G gate
// panels of a unit block, or consecutive unit blocks.
template <class T>
using RowKernelFn = void (*)(std::int64_t k, const T* a, const T* b, std::int64_t b_stride,
                             std::int64_t panels, T* c, std::int64_t c_stride, bool accumulate);

// Largest MR and NR of any microkernel: the cells keep tiles of this size on the stack.
constexpr int kMaxMR = 8;
constexpr int kMaxNR = 32;
// Panels a row-kernel call should cover to hide the FMA latency (2 vectors per panel: 8 chains).
constexpr int kRowPanels = 4;

template <class T>
struct Microkernel {
  int mr;
  int nr;
  MicrokernelFn<T> fn;
  DirectMicrokernelFn<T> direct;  // the same tile, A read in place
  const char* name;
  EdgeMicrokernelFn<T> edge = nullptr;  // a bottom panel's rows, or null: the full kernel on a padded panel
};

// The native bf16 product kernels (gemm/bf16_kernels.h): the same contract over bf16 pairs panels.
struct Bf16ProductKernels {
  Microkernel<float> tile;  // 8 x 32 with its edge kernel (no direct-A kernel: A is always packed)
  RowKernelFn<float> rows;  // one row times several panels
};

// The native kernels where they are compiled and this CPU has AVX512-BF16 under a usable avx512 table,
// else null (reduced/select_reduced_path.cc).
const Bf16ProductKernels* native_bf16_product_kernels();

}  // namespace fusedrnn

#ifdef FUSEDRNN_ISA_NS
namespace fusedrnn::FUSEDRNN_ISA_NS {
// This ISA's microkernel (defined by the one ukernel_<isa>_<tile>.cc in its object library).
template <class T>
const Microkernel<T>& microkernel();
// The 1-row kernel with the same NR in the microkernel contract (the row kernel over one panel), for
// the GEMM driver (tests reach it through _core._gemm(narrow=True)).
template <class T>
const Microkernel<T>& narrow_microkernel();
// The row kernel with the same NR (contract above).
template <class T>
RowKernelFn<T> row_kernel();

// The products of a recurrent step with `rows` batch rows. With one or two rows the row kernel runs
// (the full kernel pads rows up to MR: measured, LSTM forward T=50 C=64 H=256 one thread, with 1 row
// it does MR times the work, 9.8 ms vs 4.2 ms; from 3-4 rows on the full kernel wins, AVX-512: N=7
// narrow 4.8 ms, N=8 full 3.0 ms). Both sum in the one order above, so the switch does not change a bit.
template <class T>
struct StepKernel {
  const Microkernel<T>* full = nullptr;  // the MR x NR kernel, or null when the row kernel runs
  RowKernelFn<T> row = nullptr;
  int mr = 1;  // rows per row panel of the packed A operand (1 with the row kernel)
  int nr = 1;

  // How many consecutive unit blocks one call should cover when each block has `panels` B panels: with
  // the row kernel the fewest whose panels fill whole groups of kRowPanels (G = 1: 4 blocks, 2: 2,
  // 3: 4, 4: 1), with the full kernel one (its MR rows already give it 2*MR chains). Never more than
  // `limit` (what the caller's tile holds).
  std::int64_t blocks_per_call(int panels, std::int64_t limit) const {
    if (full) return 1;
    std::int64_t blocks = 1;
    while (blocks * panels % kRowPanels != 0) ++blocks;
    return blocks < limit ? blocks : limit;
  }

  // One row panel a ([k][mr]) of `rows` valid rows times `panels` B panels (panel q at b + q*b_stride)
  // into the tiles c + q*c_stride (row stride ldc), written (not accumulated). Rows of the tiles past
  // `rows` may be left unwritten.
  void operator()(std::int64_t k, const T* a, const T* b, std::int64_t b_stride, std::int64_t panels, T* c,
                  std::int64_t c_stride, std::int64_t ldc, std::int64_t rows) const {
    if (!full) {
      row(k, a, b, b_stride, panels, c, c_stride, false);
      return;
    }
    if (rows < mr && full->edge) {
      for (std::int64_t q = 0; q < panels; ++q)
        full->edge(static_cast<int>(rows), k, a, b + q * b_stride, c + q * c_stride, ldc, false);
      return;
    }
    for (std::int64_t q = 0; q < panels; ++q) full->fn(k, a, b + q * b_stride, c + q * c_stride, ldc, false);
  }

  // Valid rows of row panel p of a batch of n rows.
  std::int64_t panel_rows(std::int64_t p, std::int64_t n) const { return n - p * mr < mr ? n - p * mr : mr; }
};

// The step kernel for `rows` batch rows, over operands packed as `bf16` asks (the native kernels for
// bf16 pairs: same MR and NR as the avx512 table's, the only one that packs pairs).
template <class T>
StepKernel<T> step_kernel(std::int64_t rows, Bf16Products bf16 = Bf16Products::off) {
  const Microkernel<T>* kernel = &microkernel<T>();
  RowKernelFn<T> row = row_kernel<T>();
  if constexpr (std::is_same_v<T, float>) {
    if (bf16 == Bf16Products::pairs) {
      const Bf16ProductKernels* native = native_bf16_product_kernels();
      kernel = &native->tile;
      row = native->rows;
    }
  }
  StepKernel<T> s;
  s.nr = kernel->nr;
  if (rows <= 2) {
    s.row = row;
  } else {
    s.full = kernel;
    s.mr = kernel->mr;
  }
  return s;
}
}  // namespace fusedrnn::FUSEDRNN_ISA_NS
#endif
