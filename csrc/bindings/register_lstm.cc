// _core.lstm_forward / _core.lstm_backward: one layer, one direction. Arrays are checked here, then
// the kernel runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array_checks.h"
#include "bindings/register.h"
#include "cells/lstm.h"
#include "runtime/threads.h"

namespace fusedrnn {
namespace {

constexpr int kGates = 4;

// The layer-direction sizes implied by x [T,N,C], w_hh [G*H,H] and y [T,N,Y] with H columns at y_column.
LayerConfig config_from(const py::object& x, const py::object& w_hh, const py::object& y, std::int64_t y_column,
                        bool reverse) {
  const Shape xs = dims3(x, "x"), ys = dims3(y, "y");
  if (!py::isinstance<py::array>(w_hh) || py::reinterpret_borrow<py::array>(w_hh).ndim() != 2) {
    throw py::value_error("w_hh: expected a 2-D array [4H, H]");
  }
  const auto hidden = static_cast<std::int64_t>(py::reinterpret_borrow<py::array>(w_hh).shape(1));
  LayerConfig cfg;
  cfg.steps = xs[0];
  cfg.batch = xs[1];
  cfg.input_size = xs[2];
  cfg.hidden = hidden;
  cfg.gates = kGates;
  cfg.reverse = reverse;
  cfg.x_ld = xs[2];
  cfg.y_ld = ys[2];
  if (hidden < 1) throw py::value_error("w_hh: hidden size must be >= 1");
  if (ys[0] != xs[0] || ys[1] != xs[1]) {
    throw py::value_error("y: expected leading dims (" + std::to_string(xs[0]) + ", " + std::to_string(xs[1]) +
                          ") like x, got " + shape_text(ys));
  }
  if (y_column < 0 || y_column + hidden > ys[2]) {
    throw py::value_error("y_column: columns [" + std::to_string(y_column) + ", " +
                          std::to_string(y_column + hidden) + ") do not fit y's last dim " + std::to_string(ys[2]));
  }
  cfg.validate();
  return cfg;
}

template <class T>
void forward(const LayerConfig& cfg, const py::object& x, const py::object& w_ih, const py::object& w_hh,
             const py::object& b_ih, const py::object& b_hh, const py::object& h0, const py::object& c0,
             const py::object& y, std::int64_t y_column, const py::object& h_n, const py::object& c_n,
             const py::object& gates, const py::object& cells) {
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden, GH = kGates * H;
  ForwardTensors<T> io;
  io.x = input<T>(x, "x", {T_, N, C});
  io.w_ih = input<T>(w_ih, "w_ih", {GH, C});
  io.w_hh = input<T>(w_hh, "w_hh", {GH, H});
  io.b_ih = optional_input<T>(b_ih, "b_ih", {GH});
  io.b_hh = optional_input<T>(b_hh, "b_hh", {GH});
  io.h0 = optional_input<T>(h0, "h0", {N, H});
  io.c0 = optional_input<T>(c0, "c0", {N, H});
  io.y = output<T>(y, "y", {T_, N, cfg.y_ld}) + y_column;
  io.h_n = output<T>(h_n, "h_n", {N, H});
  io.c_n = output<T>(c_n, "c_n", {N, H});
  io.gates = optional_output<T>(gates, "gates", {T_, N, GH});
  io.cells = optional_output<T>(cells, "cells", {T_, N, H});
  if ((io.gates == nullptr) != (io.cells == nullptr)) {
    throw py::value_error("gates, cells: give both (training) or neither (inference)");
  }
  py::gil_scoped_release release;
  lstm_forward<T>(cfg, io, get_num_threads());
}

template <class T>
void backward(const LayerConfig& cfg, const py::dict& a) {
  const std::int64_t T_ = cfg.steps, N = cfg.batch, C = cfg.input_size, H = cfg.hidden, GH = kGates * H;
  BackwardTensors<T> io;
  io.x = input<T>(a["x"], "x", {T_, N, C});
  io.w_ih = input<T>(a["w_ih"], "w_ih", {GH, C});
  io.w_hh = input<T>(a["w_hh"], "w_hh", {GH, H});
  io.h0 = optional_input<T>(a["h0"], "h0", {N, H});
  io.c0 = optional_input<T>(a["c0"], "c0", {N, H});
  const std::int64_t y_column = a["y_column"].cast<std::int64_t>();
  io.y = input<T>(a["y"], "y", {T_, N, cfg.y_ld}) + y_column;
  io.gates = input<T>(a["gates"], "gates", {T_, N, GH});
  io.cells = input<T>(a["cells"], "cells", {T_, N, H});
  const T* dy = optional_input<T>(a["dy"], "dy", {T_, N, cfg.y_ld});
  io.dy = dy ? dy + y_column : nullptr;
  io.dh_n = optional_input<T>(a["dh_n"], "dh_n", {N, H});
  io.dc_n = optional_input<T>(a["dc_n"], "dc_n", {N, H});
  io.dx = output<T>(a["dx"], "dx", {T_, N, C});
  io.dh0 = output<T>(a["dh0"], "dh0", {N, H});
  io.dc0 = output<T>(a["dc0"], "dc0", {N, H});
  io.dw_ih = output<T>(a["dw_ih"], "dw_ih", {GH, C});
  io.dw_hh = output<T>(a["dw_hh"], "dw_hh", {GH, H});
  io.db_ih = optional_output<T>(a["db_ih"], "db_ih", {GH});
  io.db_hh = optional_output<T>(a["db_hh"], "db_hh", {GH});
  io.accumulate_dx = a["accumulate_dx"].cast<bool>();
  io.accumulate_param_grads = a["accumulate_param_grads"].cast<bool>();
  py::gil_scoped_release release;
  lstm_backward<T>(cfg, io, get_num_threads());
}

void lstm_forward_py(const py::object& x, const py::object& w_ih, const py::object& w_hh, const py::object& b_ih,
                     const py::object& b_hh, const py::object& h0, const py::object& c0, const py::object& y,
                     std::int64_t y_column, const py::object& h_n, const py::object& c_n, const py::object& gates,
                     const py::object& cells, bool reverse) {
  const LayerConfig cfg = config_from(x, w_hh, y, y_column, reverse);
  if (is_dtype(x, py::dtype::of<float>())) {
    forward<float>(cfg, x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, y_column, h_n, c_n, gates, cells);
  } else if (is_dtype(x, py::dtype::of<double>())) {
    forward<double>(cfg, x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, y_column, h_n, c_n, gates, cells);
  } else {
    throw py::type_error("x: expected dtype float32 or float64");
  }
}

void lstm_backward_py(const py::kwargs& kwargs) {
  static const char* const names[] = {"x",   "w_ih",  "w_hh",  "h0",    "c0",    "y",     "y_column",
                                      "gates", "cells", "dy",   "dh_n",  "dc_n",  "dx",    "dh0",
                                      "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh", "accumulate_dx",
                                      "accumulate_param_grads", "reverse"};
  py::dict a;
  for (const char* name : names) {
    if (!kwargs.contains(name)) throw py::type_error(std::string("lstm_backward: missing argument '") + name + "'");
    a[name] = kwargs[name];
  }
  if (py::len(kwargs) != std::size(names)) throw py::type_error("lstm_backward: unexpected keyword argument");
  const LayerConfig cfg = config_from(a["x"], a["w_hh"], a["y"], a["y_column"].cast<std::int64_t>(),
                                      a["reverse"].cast<bool>());
  if (is_dtype(a["x"], py::dtype::of<float>())) {
    backward<float>(cfg, a);
  } else if (is_dtype(a["x"], py::dtype::of<double>())) {
    backward<double>(cfg, a);
  } else {
    throw py::type_error("x: expected dtype float32 or float64");
  }
}

}  // namespace

void register_lstm(py::module_& m) {
  m.def("lstm_forward", &lstm_forward_py, py::kw_only(), py::arg("x"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("b_ih").none(true), py::arg("b_hh").none(true), py::arg("h0").none(true), py::arg("c0").none(true),
        py::arg("y"), py::arg("y_column"), py::arg("h_n"), py::arg("c_n"), py::arg("gates").none(true),
        py::arg("cells").none(true), py::arg("reverse"),
        "One LSTM layer-direction forward. Inference when gates/cells are None, training otherwise.");
  m.def("lstm_backward", &lstm_backward_py,
        "One LSTM layer-direction backward (keyword arguments only; see fusedrnn.functional).");
}

}  // namespace fusedrnn
