// Threads and CPU information.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "bindings/array_checks.h"
#include "bindings/register.h"
#include "dispatch/kernel_table.h"
#include "engine/call_gate.h"
#include "engine/stack_config.h"
#include "gemm/bf16_kernels.h"
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

// The element strides of a 2-D array, or an exception naming it (numpy allows byte strides that are not
// a multiple of the item size; the GEMM's views cannot express them).
std::pair<std::int64_t, std::int64_t> element_strides(const py::array& arr, const char* name) {
  const auto item = static_cast<std::int64_t>(arr.itemsize());
  const std::int64_t rows = arr.strides(0), cols = arr.strides(1);
  if (rows % item || cols % item || !(arr.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    throw py::value_error(std::string(name) + ": expected an aligned array with whole-element strides");
  }
  return {rows / item, cols / item};
}

// The bytes [first, last] a strided 2-D array touches (empty arrays touch none: first > last).
std::pair<const char*, const char*> touched_bytes(const py::array& arr) {
  const char* p = static_cast<const char*>(arr.data());
  if (arr.size() == 0) return {p + 1, p};
  const char *first = p, *last = p + arr.itemsize() - 1;
  for (int d = 0; d < 2; ++d) {
    const std::int64_t reach = (arr.shape(d) - 1) * arr.strides(d);
    (reach < 0 ? first : last) += reach;
  }
  return {first, last};
}

bool overlap(const py::array& x, const py::array& y) {
  const auto [x0, x1] = touched_bytes(x);
  const auto [y0, y1] = touched_bytes(y);
  return x0 <= x1 && y0 <= y1 && x0 <= y1 && y0 <= x1;
}

// _core._gemm for one dtype: the checks that keep the driver inside the arrays, then one call.
template <class T>
py::array gemm(const py::array& a, const py::array& b, py::object c_obj, bool accumulate, int threads,
               bool prepack_b, bool narrow, Bf16Products bf16) {
  if (bf16 != Bf16Products::off && !std::is_same_v<T, float>) throw py::type_error("bf16: needs float32");
  if (bf16 == Bf16Products::pairs && !bf16_products_native()) {
    throw py::value_error("bf16: 'pairs' needs the native AVX512-BF16 kernels (this CPU or ISA has none)");
  }
  if (bf16 == Bf16Products::pairs && narrow) {
    throw py::value_error(
        "narrow: the pairs form has no 1-row GEMM kernel (its row kernel serves the steps)");
  }
  if (!has_dtype<T>(b)) throw py::type_error("b: expected the dtype of a, " + std::string(dtype_name<T>()));
  if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("a, b: expected 2-D arrays");
  const std::int64_t m = a.shape(0), k = a.shape(1), n = b.shape(1);
  if (b.shape(0) != k) {
    throw py::value_error("b: expected " + std::to_string(k) + " rows (the columns of a), got " +
                          std::to_string(b.shape(0)));
  }
  if (threads < 1 || threads > kMaxThreads) {
    throw py::value_error("threads: expected 1.." + std::to_string(kMaxThreads));
  }
  if (c_obj.is_none()) {
    if (accumulate) throw py::value_error("c: accumulate=True needs the array to add to");
    c_obj = py::array_t<T>({m, n});
  }
  if (!py::isinstance<py::array>(c_obj)) throw py::type_error("c: expected a numpy.ndarray");
  auto c = py::reinterpret_borrow<py::array>(c_obj);
  if (!has_dtype<T>(c) || c.ndim() != 2 || c.shape(0) != m || c.shape(1) != n || !c.writeable()) {
    throw py::value_error("c: expected a writable " + std::string(dtype_name<T>()) + " array of shape " +
                          shape_text({m, n}));
  }
  const auto [a_rows, a_cols] = element_strides(a, "a");
  const auto [b_rows, b_cols] = element_strides(b, "b");
  const auto [ldc, c_cols] = element_strides(c, "c");
  // C is row-major with rows at least n apart (rows may be further apart: a view into a wider array).
  // An empty C is never written (numpy gives empty arrays any strides).
  if (c.size() > 0 && ((n > 1 && c_cols != 1) || (m > 1 && ldc < n))) {
    throw py::value_error("c: expected rows with contiguous elements and no two rows overlapping");
  }
  if (overlap(c, a) || overlap(c, b)) throw py::value_error("c: must not overlap a or b");
  GemmArgs<T> args{};
  args.m = m, args.n = n, args.k = k;
  args.a = static_cast<const T*>(a.data()), args.a_row_stride = a_rows, args.a_col_stride = a_cols;
  args.b = static_cast<const T*>(b.data()), args.b_row_stride = b_rows, args.b_col_stride = b_cols;
  args.c = static_cast<T*>(c.mutable_data()), args.ldc = ldc;
  args.accumulate = accumulate, args.prepack_b = prepack_b, args.narrow = narrow, args.num_threads = threads;
  args.bf16 = bf16;
  const auto run = active_kernels().typed<T>().gemm;
  {
    py::gil_scoped_release release;
    run(args);
  }
  return c;
}

template <class T>
py::dict microkernel_info(const Microkernel<T>& kernel) {
  py::dict info;
  info["name"] = kernel.name;
  info["mr"] = kernel.mr;
  info["nr"] = kernel.nr;
  return info;
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
  // The size limits StackConfig::validate enforces (engine/stack_config.h), so that Python refuses a size
  // that would not even fit pybind11's int64 with a message naming the same limit, before anything is
  // made (tests/test_sizes.py checks both sides agree).
  py::dict size_limits;
  size_limits["size"] = kMaxSize;
  size_limits["hidden_size"] = kMaxSize / 4;  // validate's bound: G*H and D*H stay below 2^31
  size_limits["num_layers"] = kMaxLayers;
  size_limits["parameters"] = kMaxParameterElements;
  m.attr("_size_limits") = size_limits;
  m.def(
      "_calls_cut_off_by_fork",
      [] {
        const ForkedCalls cut_off = calls_cut_off_by_fork();
        return py::make_tuple(cut_off.shared, cut_off.exclusive);
      },
      "(shared, exclusive): the calls other threads were running when this process was forked (tests).");
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
      "_set_contention_fallback", &set_contention_fallback, py::arg("on"),
      "Whether calls fall back to one thread after a barrier saw a descheduled partner (default on; tests of "
      "thread-count invariance turn it off so that every requested thread runs).");
  m.def("_contention_fallback", &contention_fallback);
  m.def("_contention_events", &contention_event_count,
        "How often a step barrier, or a thread's time in a region, showed a descheduled thread (each makes "
        "the next calls single-threaded for 20 ms to 1.28 s).");
  m.def("_region_descheduled", &region_descheduled, py::arg("wall_ns"), py::arg("run_queue_ns"),
        "Whether a parallel region's wall time and one thread's wait on the OS's run queue over it (ns) "
        "make a descheduled region (tests).");
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
  m.def(
      "_gemm",
      [](const py::array& a, const py::array& b, py::object c, bool accumulate, int threads, bool prepack_b,
         bool narrow, const std::string& bf16) {
        Bf16Products form = Bf16Products::off;
        if (bf16 == "rounded") {
          form = Bf16Products::rounded;
        } else if (bf16 == "pairs") {
          form = Bf16Products::pairs;
        } else if (bf16 != "off") {
          throw py::value_error("bf16: expected 'off', 'rounded' or 'pairs', got '" + bf16 + "'");
        }
        if (has_dtype<float>(a)) {
          return gemm<float>(a, b, std::move(c), accumulate, threads, prepack_b, narrow, form);
        }
        if (has_dtype<double>(a)) {
          return gemm<double>(a, b, std::move(c), accumulate, threads, prepack_b, narrow, form);
        }
        throw py::type_error("a: expected float32 or float64");
      },
      py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("accumulate") = false,
      py::arg("threads") = 1, py::arg("prepack_b") = false, py::arg("narrow") = false,
      py::arg("bf16") = "off",
      "c (+)= a @ b with the active ISA's GEMM driver: a [m,k] and b [k,n] with any strides, c [m,n] "
      "row-major (new when None); prepack_b packs b first as the forward's input projection does, narrow "
      "uses the 1-row kernel; bf16 packs both operands as bf16, 'rounded' (float32 kernels) or 'pairs' "
      "(the native AVX512-BF16 kernel, where bf16_products_native) (tests).");
  m.def(
      "_microkernel",
      [](const std::string& dtype, bool narrow) {
        const KernelTable& table = active_kernels();
        if (dtype == "float32") {
          return microkernel_info(narrow ? table.f32.narrow_microkernel : table.f32.microkernel);
        }
        if (dtype == "float64") {
          return microkernel_info(narrow ? table.f64.narrow_microkernel : table.f64.microkernel);
        }
        throw py::value_error("dtype: expected 'float32' or 'float64'");
      },
      py::arg("dtype"), py::arg("narrow") = false,
      "The active ISA's GEMM microkernel for dtype: {'name', 'mr', 'nr'} (tests: the edge shapes).");
#ifdef FUSEDRNN_VERSION
  m.attr("__version__") = FUSEDRNN_VERSION;
#endif
}

}  // namespace fusedrnn
