// An allocation failure that says what could not be had. A std::bad_alloc, so that pybind11 raises
// MemoryError with this message (a bare std::bad_alloc reads "std::bad_alloc").
#pragma once

#include <new>
#include <string>
#include <utility>

namespace fusedrnn {

class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

}  // namespace fusedrnn
