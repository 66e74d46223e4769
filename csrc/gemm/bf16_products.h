// How the operands of a product are packed under bf16 mixed precision (gemm/bf16_operand.h has the two
// forms and their rules): not at all (float32 products), rounded to bf16 in the float layout (the
// portable form), or as bf16 pairs for the native AVX512-BF16 kernels (gemm/bf16_kernels.h), which need
// the avx512 table (MR = 8, NR = 32: the pairs panels take the float panels' places).
#pragma once

#include <cstdint>

namespace fusedrnn {

enum class Bf16Products : std::uint8_t { off, rounded, pairs };

}  // namespace fusedrnn
