// Compiled once per ISA (its object library), with that ISA's microkernel.
#include "gemm/gemm_driver.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "gemm/bf16_operand.h"
#include "simd/prefetch.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

// Cache blocking. KC x NR panels of B stay in L1 while a microkernel sweeps them, MC x KC of packed A
// stays in L2, KC x NC of packed B in the outer cache. MC and NC are multiples of every MR / NR used.
constexpr std::int64_t kKC = 256;
constexpr std::int64_t kMC = 96;
constexpr std::int64_t kNC = 512;

// Packing reads the source along its contiguous dimension: A stored transposed (the dG^T of the weight
// gradients) is read row of dG by row, B stored transposed (W_ih^T) weight row by weight row. Reading
// across the contiguous dimension instead made the packing of A a quarter of the LSTM backward (perf).

// Column p of A contiguous (the weight gradients' dG^T, a row of dG): each column is cut into runs of
// MR for the panels. kMR a constant, so the copy of a full run is a few vector moves; with the run
// length a variable it was a scalar loop, 6 % of an LSTM char-lstm training step on its own (perf, Zen
// 3). kMR = 0: any mr (a run length the kernels do not use today). The rows of dG lie a row of dG apart
// (4 GH bytes), out of L2: fetching the run kAhead columns ahead halved this packing's time (6.0 % ->
// 3.1 % of an LSTM mnist-row training step, perf cpu-clock, Zen 3, one thread).
template <int kMR, class T>
void pack_a_columns(MatrixView<T> a, std::int64_t i0, std::int64_t mc, std::int64_t p0, std::int64_t kc,
                    int mr_any, T* dst) {
  const std::int64_t mr = kMR > 0 ? kMR : mr_any;
  const std::int64_t full = mc / mr, rest = mc - full * mr;
  constexpr std::int64_t kAhead = 4;
  for (std::int64_t p = 0; p < kc; ++p) {
    const T* s = &a(i0, p0 + p);
    if (p + kAhead < kc) prefetch_rows(&a(i0, p0 + p + kAhead), 0, 1, mc);
    T* d = dst + p * mr;
    for (std::int64_t q = 0; q < full; ++q) {
      for (std::int64_t r = 0; r < mr; ++r) d[q * kc * mr + r] = s[q * mr + r];
    }
    if (rest > 0) {
      T* e = d + full * kc * mr;
      for (std::int64_t r = 0; r < rest; ++r) e[r] = s[full * mr + r];
      for (std::int64_t r = rest; r < mr; ++r) e[r] = T(0);
    }
  }
}

template <class T>
void pack_a_values(MatrixView<T> a, std::int64_t i0, std::int64_t mc, std::int64_t p0, std::int64_t kc,
                   int mr, T* dst) {
  // dst: [ceil(mc/mr)][kc][mr], rows past mc zero-filled.
  if (a.row_stride == 1 && a.col_stride != 1) {  // column p of A is contiguous
    switch (mr) {
      case 4:
        return pack_a_columns<4>(a, i0, mc, p0, kc, mr, dst);
      case 6:
        return pack_a_columns<6>(a, i0, mc, p0, kc, mr, dst);
      case 8:
        return pack_a_columns<8>(a, i0, mc, p0, kc, mr, dst);
      default:
        return pack_a_columns<0>(a, i0, mc, p0, kc, mr, dst);
    }
  }
  // Row p of A contiguous (the bottom edge panel of a row-major A; the rest is read in place): each row
  // is read contiguously and written at stride MR into the panel (kc x MR, in L1). Reading all MR rows per
  // column instead (8 strided streams, scalar gathers) was 7.6 % of an RNN medium forward (perf).
  for (std::int64_t ip = 0; ip < mc; ip += mr) {
    const std::int64_t rows = std::min<std::int64_t>(mr, mc - ip);
    for (std::int64_t i = 0; i < rows; ++i) {
      const T* s = &a(i0 + ip + i, p0);
      T* d = dst + i;
      for (std::int64_t p = 0; p < kc; ++p) d[p * mr] = s[p * a.col_stride];
    }
    for (std::int64_t i = rows; i < mr; ++i) {
      for (std::int64_t p = 0; p < kc; ++p) dst[p * mr + i] = T(0);
    }
    dst += kc * mr;
  }
}

#if defined(__AVX512F__)
// 16 floats as 16 bf16 values (bf16_bits' rule: round to nearest even, NaN kept a quiet NaN), in order:
// read as 32-bit words, the 8 pair words of those steps.
inline __m256i bf16_words_of_16(__m512 values) {
  const __m512i b = _mm512_castps_si512(values);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i t = _mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  t = _mm512_mask_mov_epi32(t, nan, _mm512_or_si512(b, _mm512_set1_epi32(0x00400000)));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(t, 16));
}

// 8 rows (row r at src + r*ld) of 32 steps as 16 pairs words each, written transposed: pair q of row r
// at dst[q*8 + r] (a panel's layout). The scalar loop wrote one word per store at stride 8: a third of
// the pairs packing's time (perf).
inline void transpose_pairs_8x16(const float* src, std::int64_t ld, PairWord* dst) {
  __m512i row[8];
  for (int r = 0; r < 8; ++r) {
    const float* s = src + r * ld;
    row[r] = _mm512_inserti64x4(_mm512_castsi256_si512(bf16_words_of_16(_mm512_loadu_ps(s))),
                                bf16_words_of_16(_mm512_loadu_ps(s + 16)), 1);
  }
  // Within each 128-bit lane L (pairs 4L..4L+3): u[k] holds pair 4L+k of rows 0-3, v[k] of rows 4-7.
  __m512i u[4], v[4];
  for (int half = 0; half < 2; ++half) {
    const __m512i* x = row + 4 * half;
    const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
    __m512i* out = half == 0 ? u : v;
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
  }
  for (int k = 0; k < 4; ++k) {
    // Lanes [u.0, v.0, u.1, v.1]: pairs k and 4+k; then [u.2, v.2, u.3, v.3]: pairs 8+k and 12+k.
    const __m512i lo = _mm512_shuffle_i32x4(u[k], v[k], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i hi = _mm512_shuffle_i32x4(u[k], v[k], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i a = _mm512_shuffle_i32x4(lo, lo, _MM_SHUFFLE(3, 1, 2, 0));
    const __m512i b = _mm512_shuffle_i32x4(hi, hi, _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k * 8), _mm512_castsi512_si256(a));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (4 + k) * 8), _mm512_extracti64x4_epi64(a, 1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (8 + k) * 8), _mm512_castsi512_si256(b));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (12 + k) * 8), _mm512_extracti64x4_epi64(b, 1));
  }
}
#endif

// A packed straight into bf16 pairs panels (gemm/bf16_operand.h): panel q of MR rows at dst + q*kc*MR,
// word (s, r) = steps 2s and 2s+1 of row r, rows past mc zero. Packing into floats and converting after
// took a fifth of an LSTM char-lstm bf16 training step (perf, Zen 4, 1 thread): the conversion's
// in-place 32-bit stores were scalar. Here each source run is read once and the words come out of
// loops the compiler vectorises. kMR = 0: any mr.
template <int kMR>
void pack_a_pairs(MatrixView<float> a, std::int64_t i0, std::int64_t mc, std::int64_t p0, std::int64_t kc,
                  int mr_any, float* dst) {
  const std::int64_t mr = kMR > 0 ? kMR : mr_any;
  const std::int64_t pairs = (kc + 1) / 2, panels = (mc + mr - 1) / mr;
  PairWord* words = reinterpret_cast<PairWord*>(dst);
  if (a.row_stride == 1 && a.col_stride != 1) {
    // Column p of A contiguous (dG^T, rows of dG): two columns make a run of words per panel.
    constexpr std::int64_t kAhead = 2;  // pairs of columns fetched ahead (pack_a_columns: why)
    for (std::int64_t q = 0; q < pairs; ++q) {
      const float* s0 = &a(i0, p0 + 2 * q);
      const bool odd_end = 2 * q + 1 >= kc;  // the last pair of an odd kc: its high half is zero
      const float* s1 = odd_end ? s0 : &a(i0, p0 + 2 * q + 1);
      if (q + kAhead < pairs) {
        prefetch_rows(&a(i0, p0 + 2 * (q + kAhead)), 0, 1, mc);
        if (2 * (q + kAhead) + 1 < kc) prefetch_rows(&a(i0, p0 + 2 * (q + kAhead) + 1), 0, 1, mc);
      }
      for (std::int64_t panel = 0; panel < panels; ++panel) {
        PairWord* d = words + panel * kc * mr + q * mr;
        const float *x0 = s0 + panel * mr, *x1 = s1 + panel * mr;
        const std::int64_t rows = std::min<std::int64_t>(mr, mc - panel * mr);
        if (rows == mr && !odd_end) {
#if defined(__AVX512F__)
          if (kMR == 8) {  // the two columns' 8 values interleaved, then 8 words at once
            const __m512i interleave =
                _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
            const __m512 both =
                _mm512_permutex2var_ps(_mm512_castps256_ps512(_mm256_loadu_ps(x0)), interleave,
                                       _mm512_castps256_ps512(_mm256_loadu_ps(x1)));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), bf16_words_of_16(both));
            continue;
          }
#endif
          for (std::int64_t r = 0; r < mr; ++r) d[r] = bf16_pair_word(x0[r], x1[r]);
          continue;
        }
        for (std::int64_t r = 0; r < mr; ++r)
          d[r] = r < rows ? bf16_pair_word(x0[r], odd_end ? 0.0f : x1[r]) : 0u;
      }
    }
    return;
  }
  if (a.col_stride == 1) {
    // Row i of A contiguous (dG in dx = dG W_ih, x in the input projection): a row's words in order into
    // a local run, then out at stride MR; full panels of 8 rows in blocks of 16 pairs through registers
    // (AVX-512) first.
    std::uint32_t run[(kKC + 1) / 2];
    for (std::int64_t panel = 0; panel < panels; ++panel) {
      PairWord* d = words + panel * kc * mr;
      std::int64_t q_done = 0;
#if defined(__AVX512F__)
      if (kMR == 8 && (panel + 1) * mr <= mc) {
        for (; 2 * (q_done + 16) <= kc; q_done += 16) {
          transpose_pairs_8x16(&a(i0 + panel * mr, p0 + 2 * q_done), a.row_stride, d + q_done * 8);
        }
      }
#endif
      for (std::int64_t r = 0; r < mr; ++r) {
        const std::int64_t i = panel * mr + r;
        if (i >= mc) {
          for (std::int64_t q = 0; q < pairs; ++q) d[q * mr + r] = 0u;
          continue;
        }
        const float* src = &a(i0 + i, p0);
        for (std::int64_t q = q_done; q < kc / 2; ++q) run[q] = bf16_pair_word(src[2 * q], src[2 * q + 1]);
        if (kc % 2 != 0) run[kc / 2] = bf16_pair_word(src[kc - 1], 0.0f);
        for (std::int64_t q = q_done; q < pairs; ++q) d[q * mr + r] = run[q];
      }
    }
    return;
  }
  // Any other strides (test views): floats first, then converted in place.
  pack_a_values(a, i0, mc, p0, kc, static_cast<int>(mr), dst);
  finish_packed_panels(dst, panels, kc, mr, Bf16Products::pairs);
}

// pack_a_values, then rounded to bf16 in place for a view that asks for it (one pass over the panels
// while they are in L1/L2, rather than a test per element in every packing loop); or straight into bf16
// pairs.
template <class T>
void pack_a(MatrixView<T> a, std::int64_t i0, std::int64_t mc, std::int64_t p0, std::int64_t kc, int mr,
            T* dst) {
  if constexpr (std::is_same_v<T, float>) {
    if (a.bf16 == Bf16Products::pairs) {
      return mr == 8 ? pack_a_pairs<8>(a, i0, mc, p0, kc, mr, dst)
                     : pack_a_pairs<0>(a, i0, mc, p0, kc, mr, dst);
    }
  }
  pack_a_values(a, i0, mc, p0, kc, mr, dst);
  finish_packed_panels(dst, (mc + mr - 1) / mr, kc, mr, a.bf16);
}

template <class T>
void pack_b_values(MatrixView<T> b, std::int64_t p0, std::int64_t kc, std::int64_t j0, std::int64_t nc,
                   int nr, T* dst) {
  // dst: [ceil(nc/nr)][kc][nr], columns past nc zero-filled.
  for (std::int64_t jp = 0; jp < nc; jp += nr) {
    const std::int64_t cols = std::min<std::int64_t>(nr, nc - jp);
    if (b.col_stride == 1) {  // row p of B is contiguous
      for (std::int64_t p = 0; p < kc; ++p) {
        T* d = dst + p * nr;
        const T* s = &b(p0 + p, j0 + jp);
        for (std::int64_t j = 0; j < cols; ++j) d[j] = s[j];
        for (std::int64_t j = cols; j < nr; ++j) d[j] = T(0);
      }
    } else {  // column j of B is contiguous when row_stride == 1: walk it
      for (std::int64_t j = 0; j < nr; ++j) {
        if (j >= cols) {
          for (std::int64_t p = 0; p < kc; ++p) dst[p * nr + j] = T(0);
          continue;
        }
        for (std::int64_t p = 0; p < kc; ++p) dst[p * nr + j] = b(p0 + p, j0 + jp + j);
      }
    }
    dst += kc * nr;
  }
}

template <class T>
void pack_b(MatrixView<T> b, std::int64_t p0, std::int64_t kc, std::int64_t j0, std::int64_t nc, int nr,
            T* dst) {
  pack_b_values(b, p0, kc, j0, nc, nr, dst);
  finish_packed_panels(dst, (nc + nr - 1) / nr, kc, nr, b.bf16);
}

// Whether gemm_part reads A in place (the direct-A kernel) rather than packing it: a row-major A always
// (its rows are what the kernel broadcasts from), a transposed one never. Packing a row-major A cost
// 5-7.6 % of a forward (perf), once per NC block of columns; read in place, the input projection's
// products took 0.88-1.0x the time of packed ones on char-lstm, medium and large and the backward's dx
// 0.89-0.95x on medium (AVX-512, one thread, CPU time, benchmarks/gemm_a_operand.py); none was slower.
// A view packed as bf16 is packed (the rounding happens there).
template <class T>
bool a_reads_direct(MatrixView<T> a) {
  return a.col_stride == 1 && a.bf16 == Bf16Products::off;
}

// Fills rows x cols of C with zeros (a product with k = 0).
template <class T>
void fill_zeros(T* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t i = 0; i < rows; ++i) {
    T* ci = c + i * ldc;
    for (std::int64_t j = 0; j < cols; ++j) ci[j] = T(0);
  }
}

// C[mc, nc] (+)= A * packed B over one kc block. A comes from packed panels (a_packed: [ceil(mc/mr)][kc][mr])
// or, where a_direct is given, in place (row i at a_direct + i*lda) for every tile of MR rows, the
// bottom edge panel (fewer rows) still from a_packed at its usual place.
template <class T>
void macro_kernel(const Microkernel<T>& kernel, std::int64_t mc, std::int64_t nc, std::int64_t kc,
                  const T* a_packed, const T* a_direct, std::int64_t lda, const T* b_packed, T* c,
                  std::int64_t ldc, bool accumulate, T* tile) {
  const int mr = kernel.mr, nr = kernel.nr;
  for (std::int64_t jr = 0; jr < nc; jr += nr) {
    const std::int64_t cols = std::min<std::int64_t>(nr, nc - jr);
    const T* bp = b_packed + (jr / nr) * kc * nr;
    for (std::int64_t ir = 0; ir < mc; ir += mr) {
      const std::int64_t rows = std::min<std::int64_t>(mr, mc - ir);
      const bool direct = a_direct && rows == mr;
      const T* ap = direct ? a_direct + ir * lda : a_packed + (ir / mr) * kc * mr;
      T* cij = c + ir * ldc + jr;
      if (rows == mr && cols == nr) {
        if (direct) {
          kernel.direct(kc, ap, lda, bp, cij, ldc, accumulate);
        } else {
          kernel.fn(kc, ap, bp, cij, ldc, accumulate);
        }
        continue;
      }
      // Edge tile: compute the full tile into scratch, then store the valid part.
      if (direct) {
        kernel.direct(kc, ap, lda, bp, tile, nr, false);
      } else {
        kernel.fn(kc, ap, bp, tile, nr, false);
      }
      for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < cols; ++j) {
          cij[i * ldc + j] = accumulate ? cij[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];
        }
      }
    }
  }
}

}  // namespace

template <class T>
std::int64_t gemm_scratch_elements(const Microkernel<T>& kernel) {
  return kMC * kKC + kKC * kNC + std::int64_t{kernel.mr} * kernel.nr;
}

template <class T>
std::int64_t packed_b_elements(const Microkernel<T>& kernel, std::int64_t n, std::int64_t k) {
  const std::int64_t full = n / kNC * kNC, rest = n - full;
  return (full + (rest + kernel.nr - 1) / kernel.nr * kernel.nr) * k;
}

template <class T>
void pack_b_part(const ThreadContext& ctx, const Microkernel<T>& fp_kernel, std::int64_t n, std::int64_t k,
                 MatrixView<T> b, T* packed) {
  const Microkernel<T>& kernel = product_kernel(fp_kernel, b.bf16);
  const std::int64_t col_blocks = (n + kNC - 1) / kNC, k_blocks = (k + kKC - 1) / kKC;
  const Range mine = split_range(col_blocks * k_blocks, ctx);
  for (std::int64_t index = mine.begin; index < mine.end; ++index) {
    const std::int64_t block = index / k_blocks * kNC, pc = index % k_blocks * kKC;
    const std::int64_t width = std::min(kNC, n - block), kc = std::min(kKC, k - pc);
    const std::int64_t padded = (width + kernel.nr - 1) / kernel.nr * kernel.nr;
    pack_b(b, pc, kc, block, width, kernel.nr, packed + block * k + pc * padded);
  }
}

template <class T>
void gemm_part(const ThreadContext& ctx, const Microkernel<T>& fp_kernel, GemmShape shape, MatrixView<T> a,
               MatrixView<T> b, T* c, std::int64_t ldc, bool accumulate, T* scratch, const T* b_prepacked) {
  const Microkernel<T>& kernel = product_kernel(fp_kernel, a.bf16);
  const std::int64_t m = shape.m, n = shape.n, k = shape.k;
  if (m <= 0 || n <= 0) return;
  const int mr = kernel.mr, nr = kernel.nr;

  // This thread's rectangle of C: whole tiles along the dimension with more tiles.
  const std::int64_t row_tiles = (m + mr - 1) / mr, col_tiles = (n + nr - 1) / nr;
  std::int64_t i_begin = 0, i_end = m, j_begin = 0, j_end = n;
  if (col_tiles >= row_tiles) {
    const Range r = split_range(col_tiles, ctx);
    j_begin = r.begin * nr;
    j_end = std::min(n, r.end * nr);
  } else {
    const Range r = split_range(row_tiles, ctx);
    i_begin = r.begin * mr;
    i_end = std::min(m, r.end * mr);
  }
  if (i_begin >= i_end || j_begin >= j_end) return;

  if (k <= 0) {
    if (!accumulate) {
      fill_zeros(c + i_begin * ldc + j_begin, ldc, i_end - i_begin, j_end - j_begin);
    }
    return;
  }

  const bool direct = a_reads_direct(a);
  T* a_packed = scratch;
  T* b_scratch = a_packed + kMC * kKC;
  T* tile = b_scratch + kKC * kNC;
  // Column blocks on the global NC grid (the grid of a pre-packed B), clipped to this thread's columns.
  for (std::int64_t block = (j_begin / kNC) * kNC; block < j_end; block += kNC) {
    const std::int64_t jc = std::max(block, j_begin), nc = std::min(block + kNC, j_end) - jc;
    for (std::int64_t pc = 0; pc < k; pc += kKC) {
      const std::int64_t kc = std::min(kKC, k - pc);
      const T* b_packed = b_scratch;
      if (b_prepacked) {
        const std::int64_t block_width = std::min(kNC, n - block);
        const std::int64_t padded = (block_width + nr - 1) / nr * nr;
        b_packed = b_prepacked + block * k + pc * padded + (jc - block) * kc;
      } else {
        pack_b(b, pc, kc, jc, nc, nr, b_scratch);
      }
      const bool first_block = pc == 0;
      for (std::int64_t ic = i_begin; ic < i_end; ic += kMC) {
        const std::int64_t mc = std::min(kMC, i_end - ic);
        T* c_block = c + ic * ldc + jc;
        if (direct) {  // only the bottom edge panel is packed, at its place in a_packed
          const std::int64_t full = mc / mr * mr;
          if (full < mc) pack_a(a, ic + full, mc - full, pc, kc, mr, a_packed + full * kc);
          macro_kernel(kernel, mc, nc, kc, a_packed, &a(ic, pc), a.row_stride, b_packed, c_block, ldc,
                       accumulate || !first_block, tile);
        } else {
          pack_a(a, ic, mc, pc, kc, mr, a_packed);
          macro_kernel(kernel, mc, nc, kc, a_packed, static_cast<const T*>(nullptr), 0, b_packed, c_block,
                       ldc, accumulate || !first_block, tile);
        }
      }
    }
  }
}

template <class T>
void gemm_part_shared_a(const ThreadContext& ctx, const Microkernel<T>& fp_kernel, std::int64_t m,
                        std::int64_t k, MatrixView<T> a, const SharedAOutput<T>* outputs, int count,
                        bool accumulate, T* scratch) {
  if (m <= 0) return;
  const Microkernel<T>& kernel = product_kernel(fp_kernel, a.bf16);
  const int mr = kernel.mr, nr = kernel.nr;
  // The outputs side by side in one joint row of tiles, output q from joint column start[q] (a tile
  // boundary): this thread's rectangle is whole tiles of that row, or whole rows of tiles, as gemm_part's.
  std::int64_t start[kMaxSharedAOutputs + 1] = {0};
  count = std::min(count, kMaxSharedAOutputs);
  for (int q = 0; q < count; ++q) start[q + 1] = start[q] + (outputs[q].n + nr - 1) / nr * nr;
  const std::int64_t row_tiles = (m + mr - 1) / mr, col_tiles = start[count] / nr;
  std::int64_t i_begin = 0, i_end = m, j_begin = 0, j_end = start[count];
  if (col_tiles >= row_tiles) {
    const Range r = split_range(col_tiles, ctx);
    j_begin = r.begin * nr;
    j_end = r.end * nr;
  } else {
    const Range r = split_range(row_tiles, ctx);
    i_begin = r.begin * mr;
    i_end = std::min(m, r.end * mr);
  }
  if (i_begin >= i_end || j_begin >= j_end) return;

  // Calls fn(output, its first column, columns) for each output's part of joint columns [lo, hi).
  auto for_each_part = [&](std::int64_t lo, std::int64_t hi, auto&& fn) {
    for (int q = 0; q < count; ++q) {
      const std::int64_t first = std::max(lo, start[q]), last = std::min(hi, start[q] + outputs[q].n);
      if (first < last) fn(outputs[q], first - start[q], last - first);
    }
  };
  if (k <= 0) {
    if (accumulate) return;
    for_each_part(j_begin, j_end, [&](const SharedAOutput<T>& out, std::int64_t j0, std::int64_t cols) {
      fill_zeros(out.c + i_begin * out.ldc + j0, out.ldc, i_end - i_begin, cols);
    });
    return;
  }

  T* a_packed = scratch;
  T* b_scratch = a_packed + kMC * kKC;
  T* tile = b_scratch + kKC * kNC;
  // Blocks of NC joint columns (whole tiles, so the parts' packed panels fit the B scratch together).
  for (std::int64_t jc = j_begin; jc < j_end; jc += kNC) {
    const std::int64_t jc_end = std::min(jc + kNC, j_end);
    for (std::int64_t pc = 0; pc < k; pc += kKC) {
      const std::int64_t kc = std::min(kKC, k - pc);
      T* b_next = b_scratch;
      for_each_part(jc, jc_end, [&](const SharedAOutput<T>& out, std::int64_t j0, std::int64_t cols) {
        pack_b(out.b, pc, kc, j0, cols, nr, b_next);
        b_next += (cols + nr - 1) / nr * nr * kc;
      });
      for (std::int64_t ic = i_begin; ic < i_end; ic += kMC) {
        const std::int64_t mc = std::min(kMC, i_end - ic);
        pack_a(a, ic, mc, pc, kc, mr, a_packed);  // once for every output
        const T* b_packed = b_scratch;
        for_each_part(jc, jc_end, [&](const SharedAOutput<T>& out, std::int64_t j0, std::int64_t cols) {
          macro_kernel(kernel, mc, cols, kc, a_packed, static_cast<const T*>(nullptr), 0, b_packed,
                       out.c + ic * out.ldc + j0, out.ldc, accumulate || pc > 0, tile);
          b_packed += (cols + nr - 1) / nr * nr * kc;
        });
      }
    }
  }
}

#define FUSEDRNN_INSTANTIATE(T)                                                                             \
  template std::int64_t gemm_scratch_elements<T>(const Microkernel<T>&);                                    \
  template void gemm_part<T>(const ThreadContext&, const Microkernel<T>&, GemmShape, MatrixView<T>,         \
                             MatrixView<T>, T*, std::int64_t, bool, T*, const T*);                          \
  template void gemm_part_shared_a<T>(const ThreadContext&, const Microkernel<T>&, std::int64_t,            \
                                      std::int64_t, MatrixView<T>, const SharedAOutput<T>*, int, bool, T*); \
  template std::int64_t packed_b_elements<T>(const Microkernel<T>&, std::int64_t, std::int64_t);            \
  template void pack_b_part<T>(const ThreadContext&, const Microkernel<T>&, std::int64_t, std::int64_t,     \
                               MatrixView<T>, T*);
FUSEDRNN_INSTANTIATE(float)
FUSEDRNN_INSTANTIATE(double)
#undef FUSEDRNN_INSTANTIATE

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
