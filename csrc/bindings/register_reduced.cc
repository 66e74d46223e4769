// The reduced-precision paths (reduced/): which kernels run for bf16 and int8, the size rule, and a
// product hook that runs one quantised matrix product exactly as the time loops do (for the tests that
// hold the kernels to a NumPy model of the scheme, bit for bit where it is deterministic).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <vector>

#include "bindings/register.h"
#include "engine/stack_config.h"
#include "gemm/bf16_kernels.h"
#include "reduced/quantize.h"
#include "reduced/reduced_pack.h"

namespace py = pybind11;

namespace fusedrnn {
namespace {

WeightFormat reduced_format_named(const std::string& name) {
  const WeightFormat f = weight_format_named(name);
  if (f == WeightFormat::fp32) throw py::value_error("format: expected 'bf16' or 'int8', got '" + name + "'");
  return f;
}

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

FloatArray as_float32(const py::array& value, const char* name) {
  FloatArray converted = FloatArray::ensure(value);
  if (!converted) throw py::value_error(std::string(name) + ": expected a float32-convertible array");
  return converted;
}

// a [M, K] times w [N, K]^T through the active path of `format`: both quantised by the kernels' rules.
py::array reduced_matmul(const py::array& a_in, const py::array& w_in, const std::string& format) {
  const WeightFormat f = reduced_format_named(format);
  const FloatArray a = as_float32(a_in, "a"), w = as_float32(w_in, "w");
  if (a.ndim() != 2) throw py::value_error("a: expected a 2-D array");
  if (w.ndim() != 2 || w.shape(1) != a.shape(1))
    throw py::value_error("w: expected [N, K] with a's K columns");
  const std::int64_t M = a.shape(0), K = a.shape(1), N = w.shape(0);
  const ReducedPath& path = active_reduced_path(f);
  const ReducedMicrokernel& kernel = path.for_rows(M);
  const std::int64_t blocks = (N + kReducedNR - 1) / kReducedNR, panels = (M + kernel.mr - 1) / kernel.mr;
  const std::int64_t kg = k_groups(f, K);
  std::vector<std::uint32_t> b_words(
      static_cast<std::size_t>(std::max<std::int64_t>(1, blocks * kg * kReducedNR)));
  std::vector<float> b_scale(static_cast<std::size_t>(blocks * kReducedNR + 1));
  std::vector<std::int32_t> b_comp(static_cast<std::size_t>(blocks * kReducedNR + 1));
  ReducedMatrix m;
  m.words = b_words.data();
  m.k_groups = kg;
  m.gates = 1;
  if (f == WeightFormat::int8) {
    m.scale = b_scale.data();
    m.comp = b_comp.data();
  }
  std::vector<std::uint32_t> a_words(
      static_cast<std::size_t>(std::max<std::int64_t>(1, panels * kg * kernel.mr)), 0u);
  std::vector<float> a_scale(static_cast<std::size_t>(panels * kernel.mr + 1), 0.0f);
  py::array_t<float> out({M, N});
  {
    py::gil_scoped_release release;
    pack_reduced_matrix(f, w.data(), N, K, m);
    pack_reduced_rows(f, a.data(), K, 0, M, K, kernel.mr, a_words.data(), a_scale.data());
    std::vector<float> tile(static_cast<std::size_t>(kReducedMaxMR * kReducedNR));
    float* o = out.mutable_data();
    for (std::int64_t p = 0; p < panels; ++p) {
      for (std::int64_t b = 0; b < blocks; ++b) {
        kernel.fn(kg, a_words.data() + p * kg * kernel.mr, m.panel(b, 0), a_scale.data() + p * kernel.mr,
                  m.panel_scale(b, 0), m.panel_comp(b, 0), tile.data(), kReducedNR);
        for (std::int64_t r = 0; r < kernel.mr && p * kernel.mr + r < M; ++r) {
          for (std::int64_t u = 0; u < kReducedNR && b * kReducedNR + u < N; ++u)
            o[(p * kernel.mr + r) * N + b * kReducedNR + u] = tile[r * kReducedNR + u];
        }
      }
    }
  }
  return out;
}

}  // namespace

void register_reduced(py::module_& m) {
  m.def(
      "reduced_paths",
      [] {
        py::dict d;
        d["bf16"] = reduced_paths(WeightFormat::bf16);
        d["int8"] = reduced_paths(WeightFormat::int8);
        return d;
      },
      "{'bf16': [...], 'int8': [...]}: the reduced-precision kernels usable on this CPU, best first.");
  m.def(
      "reduced_path",
      [](const std::string& format) {
        return std::string(active_reduced_path(reduced_format_named(format)).name);
      },
      py::arg("format"), "The kernels the format ('bf16' or 'int8') runs on now.");
  m.def(
      "_select_reduced_path",
      [](const std::string& format, const std::string& name) {
        return select_reduced_path(reduced_format_named(format), name);
      },
      py::arg("format"), py::arg("name"),
      "Use the named path for the format ('' = automatic); False if unusable.");
  m.def(
      "bf16_products_native", [] { return bf16_products_native(); },
      "Whether compute_dtype='bfloat16' layers run their products on the AVX512-BF16 kernels now (the "
      "avx512 ISA on a CPU with AVX512-BF16, and the bf16 path 'avx512_bf16'); else on float32 kernels "
      "over bf16-rounded operands.");
  m.def("_reduced_min_weights", &reduced_min_weights);
  m.def("_set_reduced_min_weights", &set_reduced_min_weights, py::arg("n"),
        "Layers with fewer weight elements than n stay fp32 in a bf16 / int8 plan.");
  m.def("_reduced_matmul", &reduced_matmul, py::arg("a"), py::arg("w"), py::arg("format"),
        "a [M,K] @ w [N,K]^T as the reduced kernels compute it (quantised by their rules), float32 [M,N].");
}

}  // namespace fusedrnn
