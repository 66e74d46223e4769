// Checks that turn a Python object into a typed raw pointer, or raise a Python exception naming the
// argument. The Python layer validates user input first; these checks make the private _core safe on
// its own (a wrong call raises, it never reads or writes out of bounds).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace fusedrnn {
namespace py = pybind11;

using Shape = std::vector<std::int64_t>;

inline std::string shape_text(const Shape& shape) {
  std::ostringstream out;
  out << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << (shape.size() == 1 ? ",)" : ")");
  return out.str();
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// Whether arr holds native-order T. Equality, not identity: an unpickled array's dtype equals float32
// but is another object (comparing identities refused every array that went through pickle).
template <class T>
bool has_dtype(const py::array& arr) {
  return py::detail::npy_api::get().PyArray_EquivTypes_(arr.dtype().ptr(), py::dtype::of<T>().ptr());
}

// Checks dtype, C-contiguity, alignment and exact shape; writable when asked. None is allowed when
// optional (returns nullptr).
template <class T>
T* checked_pointer(const py::object& obj, const char* name, const Shape& shape, bool writable,
                   bool optional) {
  if (obj.is_none()) {
    if (optional) return nullptr;
    throw py::type_error(std::string(name) + ": expected an array, got None");
  }
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + ": expected a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!has_dtype<T>(arr)) {
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(arr.dtype())));
  }
  Shape got(arr.shape(), arr.shape() + arr.ndim());
  if (got != shape) {
    throw py::value_error(std::string(name) + ": expected shape " + shape_text(shape) + ", got " +
                          shape_text(got));
  }
  const int flags = arr.flags();
  if (!(flags & py::array::c_style) || !(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    throw py::value_error(std::string(name) + ": expected a C-contiguous, aligned array");
  }
  if (writable && !arr.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return static_cast<T*>(const_cast<void*>(arr.data()));
}

template <class T>
const T* input(const py::object& obj, const char* name, const Shape& shape) {
  return checked_pointer<T>(obj, name, shape, false, false);
}
template <class T>
const T* optional_input(const py::object& obj, const char* name, const Shape& shape) {
  return checked_pointer<T>(obj, name, shape, false, true);
}
template <class T>
T* output(const py::object& obj, const char* name, const Shape& shape) {
  return checked_pointer<T>(obj, name, shape, true, false);
}
template <class T>
T* optional_output(const py::object& obj, const char* name, const Shape& shape) {
  return checked_pointer<T>(obj, name, shape, true, true);
}

// The dims of a 3-D array argument, or an exception naming it.
inline Shape dims3(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) throw py::type_error(std::string(name) + ": expected a numpy.ndarray");
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (arr.ndim() != 3) {
    throw py::value_error(std::string(name) + ": expected a 3-D array [T,N,X], got " +
                          std::to_string(arr.ndim()) + "-D");
  }
  return Shape(arr.shape(), arr.shape() + 3);
}

// The extent [begin, end) of an array's data, for overlap checks (C-contiguous arrays).
inline std::pair<const char*, const char*> byte_range(const py::array& arr) {
  const char* begin = static_cast<const char*>(arr.data());
  return {begin, begin + arr.nbytes()};
}

}  // namespace fusedrnn
