// Threads and CPU information.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array_checks.h"
#include "bindings/register.h"
#include "dispatch/kernel_table.h"
#include "runtime/threads.h"

namespace fusedrnn {
namespace {

std::vector<std::string> cpu_features() {
  std::vector<std::string> found;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) found.emplace_back("sse4.2");
  if (__builtin_cpu_supports("avx")) found.emplace_back("avx");
  if (__builtin_cpu_supports("avx2")) found.emplace_back("avx2");
  if (__builtin_cpu_supports("fma")) found.emplace_back("fma");
  if (__builtin_cpu_supports("avx512f")) found.emplace_back("avx512f");
  if (__builtin_cpu_supports("avx512bw")) found.emplace_back("avx512bw");
  if (__builtin_cpu_supports("avx512dq")) found.emplace_back("avx512dq");
  if (__builtin_cpu_supports("avx512vl")) found.emplace_back("avx512vl");
#endif
  return found;
}

}  // namespace

void register_runtime(pybind11::module_& m) {
  namespace py = pybind11;
  m.def("get_num_threads", &get_num_threads, "Threads the kernels use.");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1 || n > kMaxThreads) {
          throw py::value_error("n: expected a thread count from 1 to " + std::to_string(kMaxThreads) +
                                ", got " + std::to_string(n));
        }
        set_num_threads(n);
      },
      py::arg("n"), "Sets the threads the kernels use (>= 1), effective from the next call.");
  m.def(
      "cpu_info",
      []() {
        py::dict info;
        const KernelTable& table = active_kernels();
        info["isa"] = table.isa;
        info["supported_isas"] = isa_report().supported;
        info["microkernel_float32"] = table.f32.microkernel.name;
        info["microkernel_float64"] = table.f64.microkernel.name;
        info["cpu_features"] = cpu_features();
        info["openmp"] = openmp_enabled();
        return info;
      },
      "The SIMD path in use and what the CPU offers.");
  m.attr("_max_threads") = kMaxThreads;
  // Non-empty when FUSEDRNN_ISA could not be honoured; fusedrnn/__init__.py turns it into a warning.
  m.attr("_isa_warning") = isa_report().warning;
  m.def(
      "_select_isa",
      [](const std::string& name) {
        if (!select_isa(name)) throw py::value_error("isa: '" + name + "' is not supported here");
      },
      py::arg("isa"), "Switches the kernels to another supported ISA (for tests of every compiled path).");
  m.def("_set_input_chunk_elements", &set_input_chunk_elements, py::arg("n"),
        "Input-projection outputs per chunk of forward steps (tests: forces the multi-chunk path).");
  m.def("_input_chunk_elements", &input_chunk_elements);
  m.def("_set_min_flops_per_thread", &set_min_flops_per_thread, py::arg("n"),
        "Work per thread before a kernel call starts another thread (tests: multithread tiny shapes).");
  m.def("_min_flops_per_thread", &min_flops_per_thread);
  m.def("_set_fuse_input_max_features", &set_fuse_input_max_features, py::arg("n"),
        "Largest input size whose input projection is folded into each forward step (tests, tuning).");
  m.def("_fuse_input_max_features", &fuse_input_max_features);
  m.def("_set_concurrent_directions", &set_concurrent_directions, py::arg("on"),
        "Run the two directions of a bidirectional forward side by side, one thread each (tests, tuning).");
  m.def("_concurrent_directions", &concurrent_directions);
  m.def(
      "_contention_events", &contention_event_count,
      "How often a step barrier saw a descheduled partner thread (each makes the next calls single-threaded "
      "for 20 ms to 1.28 s).");
  m.def(
      "_fma_peak_gflops",
      [](int threads, std::int64_t iterations) {
        if (threads < 1 || threads > 1024) throw py::value_error("threads: expected 1..1024");
        if (iterations < 1) throw py::value_error("iterations: expected >= 1");
        py::gil_scoped_release release;
        return active_kernels().fma_peak_gflops(threads, iterations);
      },
      py::arg("threads"), py::arg("iterations") = 20000000,
      "float32 GF/s of independent FMAs on `threads` threads with the active ISA (benchmarks: the peak).");
  m.def(
      "_activation",
      [](const std::string& name, py::array values) {
        // In place over a C-contiguous float32/float64 array, with the active ISA's vectorised code: lets
        // the tests measure its accuracy against float64 math.
        if (name != "sigmoid" && name != "tanh") throw py::value_error("name: expected 'sigmoid' or 'tanh'");
        if (!(values.flags() & py::array::c_style) || !values.writeable()) {
          throw py::value_error("values: expected a writable C-contiguous array");
        }
        const KernelTable& table = active_kernels();
        if (has_dtype<float>(values)) {
          auto* p = static_cast<float*>(values.mutable_data());
          (name == "sigmoid" ? table.f32.sigmoid : table.f32.tanh)(p, values.size());
        } else if (has_dtype<double>(values)) {
          auto* p = static_cast<double*>(values.mutable_data());
          (name == "sigmoid" ? table.f64.sigmoid : table.f64.tanh)(p, values.size());
        } else {
          throw py::type_error("values: expected float32 or float64");
        }
      },
      py::arg("name"), py::arg("values"), "Applies the active ISA's vectorised activation in place (tests).");
#ifdef FUSEDRNN_VERSION
  m.attr("__version__") = FUSEDRNN_VERSION;
#endif
}

}  // namespace fusedrnn
