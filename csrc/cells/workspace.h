// Kernel workspace carved out of one caller-owned buffer (the plan's retained arena, engine/arena.h), so
// that a kernel call allocates nothing and, in steady state, touches no fresh page. Compiled per ISA.
#pragma once

#include <cstdint>

#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

// Bytes every carved buffer starts on (a cache line, and the widest vector load).
constexpr std::int64_t kWorkspaceAlignment = 64;

// Hands out consecutive 64-byte aligned pieces of a buffer. Run over nullptr it only measures
// (used() is then the size to provide); run over a buffer of that size it hands out the pointers. One
// layout function does both, so the size a kernel asks for and the pieces it takes cannot disagree.
// base must be 64-byte aligned (or null).
template <class T>
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(T* base) : base_(base) {}
  T* take(std::int64_t elements) {
    constexpr std::int64_t per_line = kWorkspaceAlignment / static_cast<std::int64_t>(sizeof(T));
    T* piece = base_ ? base_ + used_ : nullptr;
    used_ += (elements + per_line - 1) / per_line * per_line;
    return piece;
  }
  std::int64_t used() const { return used_; }

 private:
  T* base_;
  std::int64_t used_ = 0;
};

template <class T>
void fill(T* dst, std::int64_t n, T value) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = value;
}

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
