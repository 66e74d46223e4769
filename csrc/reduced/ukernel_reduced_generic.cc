// The portable reduced kernels: plain loops, correct on any CPU (the contract and the rounding rules are
// in reduced/reduced_microkernel.h). Slower than the AVX512-BF16 / AVX512-VNNI kernels, but they give the
// same bits as those do: int8 sums are exact, and bf16 sums follow vdpbf16ps's order.
#include <cstdint>

#include "reduced/quantize.h"
#include "reduced/reduced_microkernel.h"

namespace fusedrnn::reduced_generic {
namespace {

constexpr int NR = kReducedNR;

template <int MR>
void bf16_kernel(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float*, const float*,
                 const std::int32_t*, float* c, std::int64_t ldc) {
  float acc[MR][NR] = {};
  for (std::int64_t q = 0; q < kg; ++q) {
    for (int i = 0; i < MR; ++i) {
      const std::uint32_t aw = a[q * MR + i];
      const float a0 = bf16_to_float(static_cast<std::uint16_t>(aw)),
                  a1 = bf16_to_float(static_cast<std::uint16_t>(aw >> 16));
      for (int j = 0; j < NR; ++j) {
        const std::uint32_t bw = b[q * NR + j];
        // Each product of two bf16 values is exact in float32: only the two additions round. The odd
        // step first, as vdpbf16ps adds them: both paths give the same bits (but for denormals, which
        // that instruction flushes to zero).
        acc[i][j] += a1 * bf16_to_float(static_cast<std::uint16_t>(bw >> 16));
        acc[i][j] += a0 * bf16_to_float(static_cast<std::uint16_t>(bw));
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = acc[i][j];
}

template <int MR>
void int8_kernel(std::int64_t kg, const std::uint32_t* a, const std::uint32_t* b, const float* a_scale,
                 const float* b_scale, const std::int32_t* b_comp, float* c, std::int64_t ldc) {
  std::int32_t acc[MR][NR] = {};
  for (std::int64_t q = 0; q < kg; ++q) {
    for (int i = 0; i < MR; ++i) {
      const std::uint32_t aw = a[q * MR + i];
      for (int j = 0; j < NR; ++j) {
        const std::uint32_t bw = b[q * NR + j];
        std::int32_t sum = 0;
        for (int e = 0; e < 4; ++e) {
          sum += static_cast<std::int32_t>((aw >> (8 * e)) & 0xffu) *
                 static_cast<std::int32_t>(static_cast<std::int8_t>((bw >> (8 * e)) & 0xffu));
        }
        acc[i][j] += sum;
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < NR; ++j)
      c[i * ldc + j] = static_cast<float>(acc[i][j] - b_comp[j]) * b_scale[j] * a_scale[i];
  }
}

}  // namespace

const ReducedPath& bf16_path() {
  static const ReducedPath path{"generic", WeightFormat::bf16, {8, &bf16_kernel<8>}, {1, &bf16_kernel<1>}};
  return path;
}
const ReducedPath& int8_path() {
  static const ReducedPath path{"generic", WeightFormat::int8, {8, &int8_kernel<8>}, {1, &int8_kernel<1>}};
  return path;
}

}  // namespace fusedrnn::reduced_generic
