// A plan's retained memory: one 64-byte aligned buffer per purpose that only grows. A call that needs no
// more than an earlier one allocates nothing and touches no fresh page (the kernels' scratch and the
// training workspace were, before plans, allocated per call: 6 % of a large forward went to the kernel
// zeroing fresh pages). Growing happens before the kernels start, so an allocation failure is a
// MemoryError in Python, never a failure inside a parallel region. Compiled with baseline flags.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include "runtime/out_of_memory.h"

namespace fusedrnn {

class Arena {
 public:
  static constexpr std::size_t kAlignment = 64;

  // The buffer, at least `elements` of T; earlier contents are not kept when it grows.
  template <class T>
  T* reserve(std::int64_t elements) {
    const std::size_t bytes = static_cast<std::size_t>(elements < 0 ? 0 : elements) * sizeof(T);
    if (bytes > capacity_) {
      data_.reset();
      capacity_ = 0;
      try {
        data_.reset(static_cast<unsigned char*>(::operator new[](bytes, std::align_val_t{kAlignment})));
      } catch (const std::bad_alloc&) {
        throw OutOfMemory("could not allocate " + std::to_string(bytes >> 20) + " MiB (" +
                          std::to_string(bytes) + " bytes) of workspace for this call's sizes");
      }
      capacity_ = bytes;
    }
    return reinterpret_cast<T*>(data_.get());
  }
  // The buffer as it is (null before the first reserve).
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(data_.get());
  }
  std::size_t bytes() const { return capacity_; }

 private:
  struct Free {
    void operator()(unsigned char* p) const { ::operator delete[](p, std::align_val_t{kAlignment}); }
  };
  std::unique_ptr<unsigned char[], Free> data_;
  std::size_t capacity_ = 0;
};

// Consecutive 64-byte aligned pieces of one buffer; over nullptr it only measures (used()). The engine's
// twin of cells/workspace.h's carver, which lives in the per-ISA namespaces and is not callable from here.
template <class T>
class Pieces {
 public:
  explicit Pieces(T* base) : base_(base) {}
  T* take(std::int64_t elements) {
    constexpr std::int64_t per_line = static_cast<std::int64_t>(Arena::kAlignment / sizeof(T));
    T* piece = base_ ? base_ + used_ : nullptr;
    used_ += (elements + per_line - 1) / per_line * per_line;
    return piece;
  }
  std::int64_t used() const { return used_; }

 private:
  T* base_;
  std::int64_t used_ = 0;
};

}  // namespace fusedrnn
