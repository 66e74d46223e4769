// Uninitialised, 64-byte aligned heap buffers for kernel scratch. Allocated before a parallel region (an
// allocation failure then raises MemoryError in Python instead of terminating inside OpenMP), never per
// step. Compiled per ISA.
#pragma once

#include <cstdint>
#include <new>

#include "dispatch/isa_namespace.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

template <class T>
class Buffer {
 public:
  static constexpr std::align_val_t kAlignment{64};

  Buffer() = default;
  explicit Buffer(std::int64_t n)
      : data_(n > 0 ? static_cast<T*>(::operator new[](static_cast<std::size_t>(n) * sizeof(T), kAlignment))
                    : nullptr) {}
  Buffer(std::int64_t n, T fill) : Buffer(n) {
    for (std::int64_t i = 0; i < n; ++i) data_[i] = fill;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (data_) ::operator delete[](data_, kAlignment);
  }
  T* get() const { return data_; }

 private:
  T* data_ = nullptr;
};

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
