// Uninitialised heap buffers for kernel scratch. Allocated before a parallel region (an allocation
// failure then raises MemoryError in Python instead of terminating inside OpenMP), never per step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

namespace fusedrnn {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::int64_t n) : data_(n > 0 ? new T[static_cast<std::size_t>(n)] : nullptr) {}
  Buffer(std::int64_t n, T fill) : Buffer(n) { std::fill(data_.get(), data_.get() + std::max<std::int64_t>(n, 0), fill); }
  T* get() const { return data_.get(); }

 private:
  std::unique_ptr<T[]> data_;
};

}  // namespace fusedrnn
