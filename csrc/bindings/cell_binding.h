// The binding of one cell's kernels: _core.<cell>_forward(**kwargs) and _core.<cell>_backward(**kwargs),
// one layer and one direction each. Every array is checked (dtype, shape, C order, writability) before
// the kernel runs with the GIL released. Arguments a cell has no use for (c0 for a GRU, the workspace of
// an RNN) are not accepted at all.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings/array_checks.h"
#include "cells/layer_config.h"
#include "dispatch/kernel_table.h"
#include "runtime/threads.h"

namespace fusedrnn {

// Keyword arguments by name: every expected one must be present, nothing else may be.
class KernelArgs {
 public:
  KernelArgs(const char* function, const py::kwargs& kwargs, const std::vector<std::string>& names) {
    for (const auto& name : names) {
      if (!kwargs.contains(name.c_str())) {
        throw py::type_error(std::string(function) + ": missing keyword argument '" + name + "'");
      }
    }
    for (auto item : kwargs) {
      const auto key = item.first.cast<std::string>();
      bool known = false;
      for (const auto& name : names) known = known || name == key;
      if (!known) throw py::type_error(std::string(function) + ": unexpected keyword argument '" + key + "'");
    }
    kwargs_ = kwargs;
  }
  py::object operator[](const char* name) const { return kwargs_[name]; }
  template <class V>
  V value(const char* name) const {
    return kwargs_[name].cast<V>();
  }

 private:
  py::kwargs kwargs_;
};

// The layer-direction sizes implied by x [T,N,C], w_hh [G*H,H] and y [T,N,Y] with H columns at y_column.
inline LayerConfig config_from(const KernelArgs& a, int gates) {
  const Shape xs = dims3(a["x"], "x"), ys = dims3(a["y"], "y");
  const py::object w_hh = a["w_hh"];
  if (!py::isinstance<py::array>(w_hh) || py::reinterpret_borrow<py::array>(w_hh).ndim() != 2) {
    throw py::value_error("w_hh: expected a 2-D array [G*H, H]");
  }
  LayerConfig cfg;
  cfg.steps = xs[0];
  cfg.batch = xs[1];
  cfg.input_size = xs[2];
  cfg.hidden = static_cast<std::int64_t>(py::reinterpret_borrow<py::array>(w_hh).shape(1));
  cfg.gates = gates;
  cfg.reverse = a.value<bool>("reverse");
  cfg.x_ld = xs[2];
  cfg.y_ld = ys[2];
  if (cfg.hidden < 1) throw py::value_error("w_hh: hidden size must be >= 1");
  if (ys[0] != xs[0] || ys[1] != xs[1]) {
    throw py::value_error("y: expected leading dims (" + std::to_string(xs[0]) + ", " +
                          std::to_string(xs[1]) + ") like x, got " + shape_text(ys));
  }
  const auto y_column = a.value<std::int64_t>("y_column");
  if (y_column < 0 || y_column > ys[2] - cfg.hidden) {  // written so that no sum can overflow
    throw py::value_error("y_column: " + std::to_string(y_column) +
                          " plus H = " + std::to_string(cfg.hidden) + " columns do not fit y's last dim " +
                          std::to_string(ys[2]));
  }
  cfg.validate();
  return cfg;
}

// Cell: the cell's traits (cells/cell_traits.h).
template <class Cell>
struct CellBinding {
  static std::vector<std::string> forward_names() {
    std::vector<std::string> names{"x", "w_ih",     "w_hh", "b_ih",     "b_hh",   "h0",
                                   "y", "y_column", "h_n",  "training", "reverse"};
    if (Cell::kHasCellState) names.insert(names.end(), {"c0", "c_n"});
    if (Cell::kSavesGates) names.emplace_back("gates");
    if (Cell::kSavesPerUnit) names.emplace_back("saved");
    return names;
  }
  static std::vector<std::string> backward_names() {
    std::vector<std::string> names{"x",
                                   "w_ih",
                                   "w_hh",
                                   "h0",
                                   "y",
                                   "y_column",
                                   "dy",
                                   "dh_n",
                                   "dx",
                                   "dh0",
                                   "dw_ih",
                                   "dw_hh",
                                   "db_ih",
                                   "db_hh",
                                   "accumulate_dx",
                                   "accumulate_param_grads",
                                   "reverse"};
    if (Cell::kHasCellState) names.insert(names.end(), {"c0", "dc_n", "dc0"});
    if (Cell::kSavesGates) names.emplace_back("gates");
    if (Cell::kSavesPerUnit) names.emplace_back("saved");
    return names;
  }

  template <class T>
  static void forward(const LayerConfig& cfg, const KernelArgs& a) {
    const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden,
                       GH = Cell::kGates * H;
    ForwardTensors<T> io;
    io.x = input<T>(a["x"], "x", {T_, N, C});
    io.w_ih = input<T>(a["w_ih"], "w_ih", {GH, C});
    io.w_hh = input<T>(a["w_hh"], "w_hh", {GH, H});
    io.b_ih = optional_input<T>(a["b_ih"], "b_ih", {GH});
    io.b_hh = optional_input<T>(a["b_hh"], "b_hh", {GH});
    io.h0 = optional_input<T>(a["h0"], "h0", {N, H});
    io.y = output<T>(a["y"], "y", {T_, N, cfg.y_ld}) + a.value<std::int64_t>("y_column");
    io.h_n = output<T>(a["h_n"], "h_n", {N, H});
    io.training = a.value<bool>("training");
    if (Cell::kHasCellState) {
      io.c0 = optional_input<T>(a["c0"], "c0", {N, H});
      io.c_n = output<T>(a["c_n"], "c_n", {N, H});
    }
    // The workspace is required in training and refused in inference.
    if (Cell::kSavesGates) {
      io.gates = io.training ? output<T>(a["gates"], "gates", {T_, N, GH}) : nullptr;
      if (!io.training && !a["gates"].is_none())
        throw py::value_error("gates: must be None when training=False");
    }
    if (Cell::kSavesPerUnit) {
      io.saved = io.training ? output<T>(a["saved"], "saved", {T_, N, H}) : nullptr;
      if (!io.training && !a["saved"].is_none())
        throw py::value_error("saved: must be None when training=False");
    }
    const ForwardKernel<T> kernel = active_kernels().typed<T>().forward[static_cast<int>(Cell::kKind)];
    py::gil_scoped_release release;
    kernel(cfg, io, threads_for(cfg));
  }

  // Threads worth starting: a parallel region costs microseconds, more than a whole tiny sequence
  // (measured on keras-seed, T=3 N=1 H=50: 25 us per call on 2 threads, 13 us on 1). Results do not
  // depend on the thread count, so this only changes speed.
  static int threads_for(const LayerConfig& cfg) {
    const double flops =
        2.0 * cfg.steps * cfg.batch * Cell::kGates * cfg.hidden * (cfg.input_size + cfg.hidden);
    const double useful = flops / static_cast<double>(min_flops_per_thread()) + 1.0;
    const int requested = get_num_threads();
    return useful >= requested ? requested : std::max(1, static_cast<int>(useful));
  }

  template <class T>
  static void backward(const LayerConfig& cfg, const KernelArgs& a) {
    const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden,
                       GH = Cell::kGates * H;
    const auto y_column = a.value<std::int64_t>("y_column");
    BackwardTensors<T> io;
    io.x = input<T>(a["x"], "x", {T_, N, C});
    io.w_ih = input<T>(a["w_ih"], "w_ih", {GH, C});
    io.w_hh = input<T>(a["w_hh"], "w_hh", {GH, H});
    io.h0 = optional_input<T>(a["h0"], "h0", {N, H});
    io.y = input<T>(a["y"], "y", {T_, N, cfg.y_ld}) + y_column;
    const T* dy = optional_input<T>(a["dy"], "dy", {T_, N, cfg.y_ld});
    io.dy = dy ? dy + y_column : nullptr;
    io.dh_n = optional_input<T>(a["dh_n"], "dh_n", {N, H});
    io.dx = output<T>(a["dx"], "dx", {T_, N, C});
    io.dh0 = output<T>(a["dh0"], "dh0", {N, H});
    io.dw_ih = output<T>(a["dw_ih"], "dw_ih", {GH, C});
    io.dw_hh = output<T>(a["dw_hh"], "dw_hh", {GH, H});
    io.db_ih = optional_output<T>(a["db_ih"], "db_ih", {GH});
    io.db_hh = optional_output<T>(a["db_hh"], "db_hh", {GH});
    io.accumulate_dx = a.value<bool>("accumulate_dx");
    io.accumulate_param_grads = a.value<bool>("accumulate_param_grads");
    if (Cell::kHasCellState) {
      io.c0 = optional_input<T>(a["c0"], "c0", {N, H});
      io.dc_n = optional_input<T>(a["dc_n"], "dc_n", {N, H});
      io.dc0 = output<T>(a["dc0"], "dc0", {N, H});
    }
    if (Cell::kSavesGates) io.gates = input<T>(a["gates"], "gates", {T_, N, GH});
    if (Cell::kSavesPerUnit) io.saved = input<T>(a["saved"], "saved", {T_, N, H});
    const BackwardKernel<T> kernel = active_kernels().typed<T>().backward[static_cast<int>(Cell::kKind)];
    py::gil_scoped_release release;
    kernel(cfg, io, threads_for(cfg));
  }

  // Runs fn<float> or fn<double> by x's dtype.
  template <class Fn32, class Fn64>
  static void by_dtype(const py::object& x, Fn32&& f32, Fn64&& f64) {
    if (is_dtype(x, py::dtype::of<float>())) {
      f32();
    } else if (is_dtype(x, py::dtype::of<double>())) {
      f64();
    } else {
      throw py::type_error("x: expected a float32 or float64 numpy.ndarray");
    }
  }

  static void define(py::module_& m, const std::string& cell_name) {
    const std::string fwd = cell_name + "_forward", bwd = cell_name + "_backward";
    m.def(
        fwd.c_str(),
        [fwd](const py::kwargs& kwargs) {
          static const std::vector<std::string> names = forward_names();
          const KernelArgs a(fwd.c_str(), kwargs, names);
          const LayerConfig cfg = config_from(a, Cell::kGates);
          by_dtype(a["x"], [&] { forward<float>(cfg, a); }, [&] { forward<double>(cfg, a); });
        },
        ("One " + cell_name + " layer-direction forward (keyword arguments; see fusedrnn.functional).")
            .c_str());
    m.def(
        bwd.c_str(),
        [bwd](const py::kwargs& kwargs) {
          static const std::vector<std::string> names = backward_names();
          const KernelArgs a(bwd.c_str(), kwargs, names);
          const LayerConfig cfg = config_from(a, Cell::kGates);
          by_dtype(a["x"], [&] { backward<float>(cfg, a); }, [&] { backward<double>(cfg, a); });
        },
        ("One " + cell_name + " layer-direction backward (keyword arguments; see fusedrnn.functional).")
            .c_str());
  }
};

}  // namespace fusedrnn
