// The formats a plan can keep its weights in for the recurrent and input products. fp32 is the exact
// path (float32 and float64 plans, training and inference); bf16 and int8 are inference-only float32
// paths whose products read reduced-precision weights (reduced/reduced_microkernel.h has the schemes).
#pragma once

#include <stdexcept>
#include <string>

namespace fusedrnn {

enum class WeightFormat { fp32, bf16, int8 };

inline const char* weight_format_name(WeightFormat f) {
  return f == WeightFormat::bf16 ? "bf16" : f == WeightFormat::int8 ? "int8" : "fp32";
}

// The format called `name`, or std::invalid_argument naming the argument.
inline WeightFormat weight_format_named(const std::string& name) {
  if (name == "fp32" || name == "float32") return WeightFormat::fp32;
  if (name == "bf16" || name == "bfloat16") return WeightFormat::bf16;
  if (name == "int8") return WeightFormat::int8;
  throw std::invalid_argument("weight_format: expected 'fp32', 'bf16' or 'int8', got '" + name + "'");
}

}  // namespace fusedrnn
