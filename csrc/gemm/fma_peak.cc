// The machine's float32 FMA peak as this ISA reaches it: every thread runs a loop of independent
// vector FMAs (no loads, no stores) and the flops are divided by the wall time of the region. The
// benchmarks report each row as a fraction of it, so that figures from machines with different FMA units
// (one or two 512-bit pipes, AVX2 only) compare. Compiled once per ISA.
#include <chrono>
#include <cstdint>
#include <cstring>

#include "dispatch/isa_namespace.h"
#include "runtime/threads.h"

// MSVC's /arch:AVX2 implies FMA but does not define __FMA__ (the avx2 library is the only one with AVX2).
#if defined(__FMA__) || defined(__AVX2__)
#define FUSEDRNN_HAVE_FMA 1
#endif

#if defined(__AVX512F__) || defined(FUSEDRNN_HAVE_FMA)
#include <immintrin.h>
#endif

namespace fusedrnn::FUSEDRNN_ISA_NS {
namespace {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec vset(float v) { return _mm512_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
#elif defined(FUSEDRNN_HAVE_FMA)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec vset(float v) { return _mm256_set1_ps(v); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
#else
// Baseline: the compiler's own vectorisation of multiply-add on a plain float (the generic path has no
// FMA instruction; its microkernel does the same mul + add).
using Vec = float;
constexpr int kLanes = 1;
inline Vec vset(float v) { return v; }
inline Vec vfma(Vec a, Vec b, Vec c) { return a * b + c; }
#endif

// The lanes' sum, through memory (GCC 12 warns about its own _mm512_reduce_add_ps).
inline float vsum(Vec v) {
  float lanes[kLanes];
  std::memcpy(lanes, &v, sizeof v);
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}

// 12 independent chains cover 2 FMA pipes x 4-6 cycles of latency on every machine we run on (16 and 24
// measured no faster on Zen 5). Each chain starts from its own value: with equal starts the compiler
// merged them into one chain (which then measured 1/12 of the work it was credited with).
float fma_loop(std::int64_t iterations, float seed) {
  const Vec m = vset(0.999999f), s = vset(seed);
  Vec a0 = vset(seed + 0.01f), a1 = vset(seed + 0.02f), a2 = vset(seed + 0.03f), a3 = vset(seed + 0.04f);
  Vec a4 = vset(seed + 0.05f), a5 = vset(seed + 0.06f), a6 = vset(seed + 0.07f), a7 = vset(seed + 0.08f);
  Vec a8 = vset(seed + 0.09f), a9 = vset(seed + 0.10f), a10 = vset(seed + 0.11f), a11 = vset(seed + 0.12f);
  for (std::int64_t i = 0; i < iterations; ++i) {
    a0 = vfma(a0, m, s);
    a1 = vfma(a1, m, s);
    a2 = vfma(a2, m, s);
    a3 = vfma(a3, m, s);
    a4 = vfma(a4, m, s);
    a5 = vfma(a5, m, s);
    a6 = vfma(a6, m, s);
    a7 = vfma(a7, m, s);
    a8 = vfma(a8, m, s);
    a9 = vfma(a9, m, s);
    a10 = vfma(a10, m, s);
    a11 = vfma(a11, m, s);
#if !defined(__AVX512F__) && !defined(FUSEDRNN_HAVE_FMA) && defined(__GNUC__)
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));  // keep the scalar chains real
#endif
  }
  return vsum(a0) + vsum(a1) + vsum(a2) + vsum(a3) + vsum(a4) + vsum(a5) + vsum(a6) + vsum(a7) + vsum(a8) +
         vsum(a9) + vsum(a10) + vsum(a11);
}

}  // namespace

double fma_peak_gflops(int num_threads, std::int64_t iterations) {
  volatile float sink = 0;
  ensure_thread_team(num_threads);
  fma_loop(iterations / 10 + 1, 1.0f);  // warm up (clocks, the loop in the cache)
  const auto start = std::chrono::steady_clock::now();
  parallel_region(num_threads,
                  [&](const ThreadContext& ctx) { sink = sink + fma_loop(iterations, 1.0f + ctx.id); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = double(num_threads) * double(iterations) * 12.0 * kLanes * 2;  // an FMA is 2 flops
  return flops / seconds * 1e-9;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
