// _core.Plan: a prepared layer stack (engine/stack_plan.h) behind array checks, and the per-cell facts
// and parameter shapes the Python side reads instead of keeping tables of its own. Every array is
// checked (dtype, shape, C order, writability) before the plan runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "bindings/array_checks.h"
#include "bindings/register.h"
#include "engine/stack_plan.h"

namespace fusedrnn {
namespace {

// Python's main thread, the one that runs signal handlers (threading.main_thread() at import).
unsigned long& main_thread_ident() {
  static unsigned long ident = 0;
  return ident;
}

// CallInterrupt's hook: takes the GIL and runs Python's pending signal handlers; true when one raised
// (KeyboardInterrupt for Ctrl-C), which is then the error the call returns with.
bool python_signal_raised() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// A call on the main thread can be interrupted; on other threads Python runs no signal handlers.
CallInterrupt::Poll interrupt_poll() {
  return PyThread_get_thread_ident() == main_thread_ident() ? &python_signal_raised : nullptr;
}

// Runs an engine call with the GIL released; a call the poll stopped returns with its exception.
template <class Fn>
void run_released(Fn&& fn) {
  try {
    py::gil_scoped_release release;
    fn();
  } catch (const CallInterrupted&) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw;  // not expected: a stop is only asked for by the poll, which leaves its error set
  }
}

py::dict facts_dict(const CellFacts& f) {
  py::dict d;
  d["name"] = f.name;
  d["gates"] = f.gates;
  d["has_cell_state"] = f.has_cell_state;
  d["saves_gates"] = f.saves_gates;
  d["saves_per_unit"] = f.saves_per_unit;
  d["input_fusable"] = f.input_fusable;
  return d;
}

StackConfig make_config(const std::string& cell, std::int64_t input_size, std::int64_t hidden_size,
                        std::int64_t num_layers, bool bidirectional, bool bias,
                        const std::string& activation = "tanh",
                        const std::string& recurrent_activation = "sigmoid", std::int64_t proj_size = 0,
                        const std::string& weight_format = "fp32",
                        const std::string& compute_dtype = "float32") {
  StackConfig cfg;
  cfg.proj_size = proj_size;
  cfg.weight_format = weight_format_named(weight_format);
  if (compute_dtype != "float32" && compute_dtype != "bfloat16") {
    throw std::invalid_argument("compute_dtype: expected 'float32' or 'bfloat16', got '" + compute_dtype +
                                "'");
  }
  cfg.bf16_products = compute_dtype == "bfloat16";
  cfg.kind = cell_facts(cell).kind;
  cfg.activation = activation_named(activation, "activation");
  cfg.recurrent_activation = activation_named(recurrent_activation, "recurrent_activation");
  cfg.input_size = input_size;
  cfg.hidden = hidden_size;
  cfg.layers = num_layers;
  cfg.directions = bidirectional ? 2 : 1;
  cfg.bias = bias;
  cfg.validate();
  return cfg;
}

py::list shapes_list(const StackConfig& cfg) {
  py::list out;
  for (const ParameterSpec& p : cfg.parameters())
    out.append(py::make_tuple(p.name, py::tuple(py::cast(p.shape))));
  return out;
}

// Per-parameter pointers in PyTorch's order (w_ih, w_hh, then b_ih, b_hh with bias, then w_hr with a
// projection, then the layer norm's four for the layer-normalised LSTM, per layer-direction) grouped into one
// Slot (SlotWeights or SlotGrads) per slot.
template <class Slot, class Pointer>
std::vector<Slot> by_slot(const StackConfig& cfg, const std::vector<Pointer>& p) {
  // PyTorch's order per slot: w_ih, w_hh, (b_ih, b_hh,) (w_hr,); Slot's members are in the order
  // w_ih, w_hh, b_ih, b_hh, w_hr.
  std::vector<Slot> slots;
  const std::size_t n = static_cast<std::size_t>(cfg.parameters_per_slot());
  const bool proj = cfg.proj_size > 0, layer_norm = cfg.facts().layer_norm();
  for (std::size_t i = 0; i + n <= p.size(); i += n) {
    slots.push_back(Slot{p[i], p[i + 1], cfg.bias ? p[i + 2] : nullptr, cfg.bias ? p[i + 3] : nullptr,
                         proj ? p[i + n - 1] : nullptr});
    for (std::size_t j = 0; layer_norm && j < 4; ++j) slots.back().layer_norm[j] = p[i + n - 4 + j];
  }
  return slots;
}

void refuse_overlap(const py::array& out, const py::array& other, const char* other_name) {
  const auto a = byte_range(out), b = byte_range(other);
  if (a.first < b.second && b.first < a.second) {
    throw py::value_error(std::string("out: must not share memory with ") + other_name);
  }
}

// lengths: None, or a C-contiguous int64 array [N] (the plan checks the values against T).
const std::int64_t* lengths_input(const py::object& obj, std::int64_t N) {
  if (obj.is_none()) return nullptr;
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error("lengths: expected None or a numpy.ndarray of int64, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!has_dtype<std::int64_t>(arr)) {
    throw py::type_error("lengths: expected dtype int64, got " + std::string(py::str(arr.dtype())));
  }
  if (arr.ndim() != 1 || arr.shape(0) != N) {
    Shape got(arr.shape(), arr.shape() + arr.ndim());
    throw py::value_error("lengths: expected shape " + shape_text({N}) + " (one length per sequence), got " +
                          shape_text(got));
  }
  if (!(arr.flags() & py::array::c_style)) throw py::value_error("lengths: expected a C-contiguous array");
  return static_cast<const std::int64_t*>(arr.data());
}

class PlanBinding {
 public:
  PlanBinding(const std::string& cell, std::int64_t input_size, std::int64_t hidden_size,
              std::int64_t num_layers, bool bidirectional, bool bias, const std::string& dtype,
              const std::string& activation, const std::string& recurrent_activation, std::int64_t proj_size,
              const std::string& weight_format, const std::string& compute_dtype)
      : cfg_(make_config(cell, input_size, hidden_size, num_layers, bidirectional, bias, activation,
                         recurrent_activation, proj_size, weight_format, compute_dtype)),
        specs_(cfg_.parameters()) {
    if (dtype == "float32") {
      plan_ = std::make_unique<StackPlan<float>>(cfg_);
    } else if (dtype == "float64") {
      plan_ = std::make_unique<StackPlan<double>>(cfg_);
    } else {
      throw py::value_error("dtype: expected 'float32' or 'float64', got '" + dtype + "'");
    }
  }

  void set_parameters(const py::sequence& params) {
    std::visit([&](auto& plan) { set_parameters_typed(*plan, params); }, plan_);
  }
  py::tuple forward(const py::object& x, const py::object& h0, const py::object& c0, bool training,
                    bool keep_packs, const py::object& out, const py::object& lengths,
                    const py::object& dropout_masks, const py::object& recurrent_masks) {
    return std::visit(
        [&](auto& plan) {
          return forward_typed(*plan, x, h0, c0, training, keep_packs, out, lengths, dropout_masks,
                               recurrent_masks);
        },
        plan_);
  }
  py::tuple backward(const py::object& dy, const py::object& dh_n, const py::object& dc_n,
                     const py::object& grads, bool accumulate) {
    return std::visit([&](auto& plan) { return backward_typed(*plan, dy, dh_n, dc_n, grads, accumulate); },
                      plan_);
  }
  void drop_packs() {
    py::gil_scoped_release release;  // it waits for the running calls, which may need the GIL to finish
    std::visit([](auto& plan) { plan->drop_packs(); }, plan_);
  }
  void with_calls_excluded(const py::function& change) {
    std::visit(
        [&](auto& plan) {
          py::gil_scoped_release release;
          plan->with_calls_excluded([&] {
            py::gil_scoped_acquire gil;
            change();
          });
        },
        plan_);
  }
  bool has_packs() const {
    return std::visit([](auto& plan) { return plan->has_packs(); }, plan_);
  }
  bool pending() const {
    return std::visit([](auto& plan) { return plan->pending(); }, plan_);
  }
  std::int64_t retained_bytes() const {
    return std::visit([](auto& plan) { return plan->retained_bytes(); }, plan_);
  }
  std::string cell() const { return cfg_.facts().name; }
  std::string activation() const { return kActivationNames[static_cast<int>(cfg_.activation)]; }
  std::string recurrent_activation() const {
    return kActivationNames[static_cast<int>(cfg_.recurrent_activation)];
  }
  py::list parameter_shapes() const { return shapes_list(cfg_); }
  std::string weight_format() const { return weight_format_name(cfg_.weight_format); }
  std::string compute_dtype() const { return cfg_.bf16_products ? "bfloat16" : "float32"; }
  py::list layer_formats() const {
    py::list out;
    for (std::int64_t l = 0; l < cfg_.layers; ++l) out.append(weight_format_name(cfg_.slot_format(l)));
    return out;
  }

 private:
  template <class T>
  void set_parameters_typed(StackPlan<T>& plan, const py::sequence& params) {
    if (params.size() != specs_.size()) {
      throw py::value_error("params: expected " + std::to_string(specs_.size()) + " arrays, got " +
                            std::to_string(params.size()));
    }
    std::vector<py::array> kept;
    std::vector<const T*> pointers;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      const py::object p = params[i];
      pointers.push_back(input<T>(p, specs_[i].name.c_str(), specs_[i].shape));
      kept.push_back(py::reinterpret_borrow<py::array>(p));
    }
    {
      py::gil_scoped_release release;  // waits for the calls reading the old weights
      plan.set_weights(by_slot<SlotWeights<T>>(cfg_, pointers));
    }
    params_ = std::move(kept);  // the plan reads these arrays: keep them alive
  }

  template <class T>
  py::tuple forward_typed(StackPlan<T>& plan, const py::object& x, const py::object& h0, const py::object& c0,
                          bool training, bool keep_packs, const py::object& out, const py::object& lengths,
                          const py::object& dropout_masks, const py::object& recurrent_masks) {
    if (params_.empty()) throw py::value_error("forward: set_parameters first");
    const Shape xs = dims3(x, "x");
    const std::int64_t T_ = xs[0], N = xs[1], H = cfg_.hidden, LD = cfg_.slots(), S = cfg_.state_width(),
                       DS = cfg_.directions * S;
    const bool cell_state = cfg_.facts().has_cell_state;
    StackForward<T> args;
    args.steps = T_;
    args.batch = N;
    args.x = input<T>(x, "x", {T_, N, cfg_.input_size});
    args.h0 = optional_input<T>(h0, "h0", {LD, N, S});
    if (cell_state) {
      args.c0 = optional_input<T>(c0, "c0", {LD, N, H});
    } else if (!c0.is_none()) {
      throw py::value_error("c0: a " + cell() + " has no cell state; pass None");
    }
    py::array y;
    if (out.is_none()) {
      y = py::array_t<T>({T_, N, DS});
    } else {
      args.y = output<T>(out, "out", {T_, N, DS});
      y = py::reinterpret_borrow<py::array>(out);
      refuse_overlap(y, py::reinterpret_borrow<py::array>(x), "x");
      if (!h0.is_none()) refuse_overlap(y, py::reinterpret_borrow<py::array>(h0), "h0");
      if (!c0.is_none()) refuse_overlap(y, py::reinterpret_borrow<py::array>(c0), "c0");
    }
    args.y = static_cast<T*>(y.mutable_data());
    py::array_t<T> h_n({LD, N, S});
    args.h_n = h_n.mutable_data();
    py::object c_n = py::none();
    if (cell_state) {
      py::array_t<T> c({LD, N, H});
      args.c_n = c.mutable_data();
      c_n = c;
    }
    args.training = training;
    args.keep_packs = keep_packs;
    args.lengths = lengths_input(lengths, N);
    if (!dropout_masks.is_none()) {
      if (!training) throw py::value_error("dropout_masks: training mode only");
      if (cfg_.layers < 2)
        throw py::value_error("dropout_masks: a single layer has no output between layers");
      args.dropout_masks = input<T>(dropout_masks, "dropout_masks", {cfg_.layers - 1, T_, N, DS});
    }
    if (!recurrent_masks.is_none()) {
      if (!training) throw py::value_error("recurrent_masks: training mode only");
      args.recurrent_masks = input<T>(recurrent_masks, "recurrent_masks", {LD, N, S});
    }
    CallInterrupt interrupt(interrupt_poll());
    args.interrupt = &interrupt;
    run_released([&] { plan.forward(args); });
    return py::make_tuple(y, h_n, c_n);
  }

  template <class T>
  py::tuple backward_typed(StackPlan<T>& plan, const py::object& dy, const py::object& dh_n,
                           const py::object& dc_n, const py::object& grads, bool accumulate) {
    if (!plan.pending()) throw py::value_error(kNoPendingForward);
    const std::int64_t T_ = plan.pending_steps(), N = plan.pending_batch(), H = cfg_.hidden,
                       LD = cfg_.slots(), S = cfg_.state_width(), DS = cfg_.directions * S;
    const bool cell_state = cfg_.facts().has_cell_state;
    StackBackward<T> args;
    args.dy = optional_input<T>(dy, "dy", {T_, N, DS});
    args.dh_n = optional_input<T>(dh_n, "dh_n", {LD, N, S});
    if (cell_state) {
      args.dc_n = optional_input<T>(dc_n, "dc_n", {LD, N, H});
    } else if (!dc_n.is_none()) {
      throw py::value_error("dc_n: a " + cell() + " has no cell state; pass None");
    }
    py::list grad_arrays;
    if (grads.is_none()) {
      if (accumulate) throw py::value_error("grads: accumulating needs the arrays to add to");
      for (const ParameterSpec& p : specs_) grad_arrays.append(py::array_t<T>(p.shape));
    } else {
      const auto given = py::reinterpret_borrow<py::sequence>(grads);
      if (given.size() != specs_.size()) {
        throw py::value_error("grads: expected " + std::to_string(specs_.size()) + " arrays, got " +
                              std::to_string(given.size()));
      }
      for (std::size_t i = 0; i < specs_.size(); ++i) grad_arrays.append(given[i]);
    }
    std::vector<T*> pointers;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      const std::string name = "grads['" + specs_[i].name + "']";
      pointers.push_back(output<T>(grad_arrays[i], name.c_str(), specs_[i].shape));
    }
    args.grads = by_slot<SlotGrads<T>>(cfg_, pointers);
    args.accumulate = accumulate;
    py::array_t<T> dx({T_, N, cfg_.input_size});
    py::array_t<T> dh0({LD, N, S});
    args.dx = dx.mutable_data();
    args.dh0 = dh0.mutable_data();
    py::object dc0 = py::none();
    if (cell_state) {
      py::array_t<T> d({LD, N, H});
      args.dc0 = d.mutable_data();
      dc0 = d;
    }
    CallInterrupt interrupt(interrupt_poll());
    args.interrupt = &interrupt;
    run_released([&] { plan.backward(args); });
    return py::make_tuple(dx, dh0, dc0, grad_arrays);
  }

  StackConfig cfg_;
  std::vector<ParameterSpec> specs_;
  std::variant<std::unique_ptr<StackPlan<float>>, std::unique_ptr<StackPlan<double>>> plan_;
  std::vector<py::array> params_;
};

}  // namespace

void register_plans(py::module_& m) {
  main_thread_ident() =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  py::dict cells;
  for (const CellFacts& f : all_cell_facts()) cells[f.name] = facts_dict(f);
  m.attr("cells") = cells;
  py::list activations;
  for (const char* name : kActivationNames) activations.append(name);
  m.attr("activations") = py::tuple(activations);
  m.def(
      "parameter_shapes",
      [](const std::string& cell, std::int64_t input_size, std::int64_t hidden_size, std::int64_t num_layers,
         bool bidirectional, bool bias, std::int64_t proj_size) {
        return shapes_list(make_config(cell, input_size, hidden_size, num_layers, bidirectional, bias, "tanh",
                                       "sigmoid", proj_size));
      },
      py::arg("cell"), py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers"),
      py::arg("bidirectional"), py::arg("bias"), py::arg("proj_size") = 0,
      "[(name, shape)] of a layer stack's parameters in PyTorch's order (ValueError past the size limits).");
  py::class_<PlanBinding>(
      m, "Plan",
      "A prepared layer stack: validated sizes, packed weights kept while valid, retained "
      "workspace; forward/backward run every layer and direction under one GIL release.")
      .def(py::init<const std::string&, std::int64_t, std::int64_t, std::int64_t, bool, bool,
                    const std::string&, const std::string&, const std::string&, std::int64_t,
                    const std::string&, const std::string&>(),
           py::arg("cell"), py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers"),
           py::arg("bidirectional"), py::arg("bias"), py::arg("dtype"), py::arg("activation") = "tanh",
           py::arg("recurrent_activation") = "sigmoid", py::arg("proj_size") = 0,
           py::arg("weight_format") = "fp32", py::arg("compute_dtype") = "float32")
      .def("set_parameters", &PlanBinding::set_parameters, py::arg("params"),
           "The parameter arrays in PyTorch's order (kept and read by reference; drops the packs).")
      .def(
          "forward", &PlanBinding::forward, py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("training"),
          py::arg("keep_packs"), py::arg("out"), py::arg("lengths") = py::none(),
          py::arg("dropout_masks") = py::none(), py::arg("recurrent_masks") = py::none(),
          "x [T,N,C], h0/c0 [L*D,N,H] or None, lengths int64 [N] or None -> (y [T,N,D*H], h_n, c_n or None).")
      .def("backward", &PlanBinding::backward, py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"),
           py::arg("grads"), py::arg("accumulate"),
           "Gradients of the pending training forward -> (dx [T,N,C], dh0, dc0 or None, grads).")
      .def("drop_packs", &PlanBinding::drop_packs,
           "Forget the packed weights (pack again at the next forward); waits for running calls.")
      .def("with_calls_excluded", &PlanBinding::with_calls_excluded, py::arg("change"),
           "Calls change() with no forward or backward running (running ones finish first, new ones wait), "
           "then packs again at the next forward: the way to write the parameters in place.")
      .def_property_readonly("has_packs", &PlanBinding::has_packs)
      .def_property_readonly("pending", &PlanBinding::pending)
      .def_property_readonly("retained_bytes", &PlanBinding::retained_bytes)
      .def_property_readonly("cell", &PlanBinding::cell)
      .def_property_readonly("activation", &PlanBinding::activation)
      .def_property_readonly("recurrent_activation", &PlanBinding::recurrent_activation)
      .def("parameter_shapes", &PlanBinding::parameter_shapes)
      .def_property_readonly("weight_format", &PlanBinding::weight_format)
      .def_property_readonly(
          "compute_dtype", &PlanBinding::compute_dtype,
          "'bfloat16': every product's operands rounded to bf16 (float32 sums); else 'float32'.")
      .def_property_readonly(
          "layer_formats", &PlanBinding::layer_formats,
          "The format each layer's products use (small layers stay fp32: StackConfig::slot_format).");
}

}  // namespace fusedrnn
