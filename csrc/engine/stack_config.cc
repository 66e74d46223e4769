#include "engine/stack_config.h"

#include <atomic>
#include <stdexcept>

#include "runtime/threads.h"

namespace fusedrnn {
namespace {

template <class Traits>
CellFacts facts_of(const char* name, int gate_workspace_units = Traits::kGates,
                   int gate_workspace_extra = 0) {
  return {name,
          Traits::kKind,
          Traits::kGates,
          Traits::kHasCellState,
          Traits::kSavesGates,
          Traits::kSavesPerUnit,
          Traits::kInputFusable,
          gate_workspace_units,
          gate_workspace_extra};
}

void check_size(std::int64_t value, const char* name, std::int64_t limit) {
  if (value < 1)
    throw std::invalid_argument(std::string(name) + ": expected an int >= 1, got " + std::to_string(value));
  if (value > limit) {
    throw std::invalid_argument(std::string(name) + ": " + std::to_string(value) +
                                " is above the supported limit " + std::to_string(limit));
  }
}

}  // namespace

const std::vector<CellFacts>& all_cell_facts() {
  // Indexed by CellKind.
  static const std::vector<CellFacts> facts{
      facts_of<LstmTraits>("lstm"), facts_of<GruTraits>("gru"), facts_of<RnnTraits>("rnn"),
      facts_of<GruResetBeforeTraits>("gru_reset_before"),
      facts_of<LstmLayerNormTraits>("lstm_layer_norm", LstmLayerNormTraits::kGateWorkspaceUnits,
                                    LstmLayerNormTraits::kGateWorkspaceExtra)};
  return facts;
}

const CellFacts& cell_facts(CellKind kind) { return all_cell_facts()[static_cast<int>(kind)]; }

const CellFacts& cell_facts(const std::string& name) {
  for (const CellFacts& f : all_cell_facts()) {
    if (name == f.name) return f;
  }
  throw std::invalid_argument(
      "cell: expected 'lstm', 'gru', 'rnn', 'gru_reset_before' or 'lstm_layer_norm', got '" + name + "'");
}

Activation activation_named(const std::string& name, const char* argument) {
  for (int a = 0; a < kActivations; ++a) {
    if (name == kActivationNames[a]) return static_cast<Activation>(a);
  }
  std::string expected;
  for (int a = 0; a < kActivations; ++a) expected += std::string(a ? ", '" : "'") + kActivationNames[a] + "'";
  throw std::invalid_argument(std::string(argument) + ": expected one of " + expected + ", got '" + name +
                              "'");
}

void StackConfig::validate() const {
  check_size(input_size, "input_size", kMaxSize);
  check_size(hidden, "hidden_size", kMaxSize / 4);  // G*H and D*H stay below 2^31
  check_size(layers, "num_layers", kMaxLayers);
  if (directions != 1 && directions != 2) throw std::invalid_argument("directions: expected 1 or 2");
  if (proj_size < 0 || (proj_size > 0 && proj_size >= hidden)) {
    throw std::invalid_argument("proj_size: expected 0 <= proj_size < hidden_size = " +
                                std::to_string(hidden) + ", got " + std::to_string(proj_size));
  }
  if (kind == CellKind::lstm_layer_norm && weight_format != WeightFormat::fp32) {
    throw std::invalid_argument("weight_format: reduced precision is not supported with layer_norm=True");
  }
  if (bf16_products && weight_format != WeightFormat::fp32) {
    throw std::invalid_argument(
        "compute_dtype: 'bfloat16' is a training option of float32 layers; a quantized layer's products "
        "already use its weight format");
  }
  if (proj_size > 0 && kind != CellKind::lstm) {
    throw std::invalid_argument(kind == CellKind::lstm_layer_norm
                                    ? "proj_size: not supported with layer_norm=True"
                                    : "proj_size: LSTM only");
  }
  // Each slot holds G*H*(C_l + H + 2) elements; C_l <= max(C, 2H).
  const double G = gates(), H = static_cast<double>(hidden), C = static_cast<double>(input_size);
  const double total = G * H * directions * ((C + H + 2) + (layers - 1) * (directions * H + H + 2));
  if (total > static_cast<double>(kMaxParameterElements)) {
    throw std::invalid_argument("hidden_size, input_size, num_layers: the layer would have about " +
                                std::to_string(static_cast<long long>(total)) +
                                " parameters, above the supported " + std::to_string(kMaxParameterElements));
  }
}

namespace {
// Below this many weight elements per layer the fp32 kernels are as fast: per-call costs dominate (measured,
// benchmarks/RESULTS.md "Reduced precision": the RNN on energy, 4,160 weights, 0.91x in int8; the GRU on
// keras-seed, 7,650, 1.03x; the LSTM on keras-seed, 10,200, 1.05x; the GRU on energy, 12,480, 1.10x).
constexpr std::int64_t kDefaultReducedMinWeights = 8192;

std::atomic<std::int64_t>& reduced_min() {
  static std::atomic<std::int64_t> value{kDefaultReducedMinWeights};
  return value;
}
}  // namespace

std::int64_t reduced_min_weights() { return reduced_min().load(std::memory_order_relaxed); }
void set_reduced_min_weights(std::int64_t n) {
  reduced_min().store(n < 0 ? 0 : n, std::memory_order_relaxed);
}

WeightFormat StackConfig::slot_format(std::int64_t l) const {
  if (weight_format == WeightFormat::fp32) return weight_format;
  const std::int64_t weights = gates() * hidden * (layer_input(l) + state_width()) + proj_size * hidden;
  return weights >= reduced_min_weights() ? weight_format : WeightFormat::fp32;
}

LayerConfig StackConfig::layer(std::int64_t l, int d, std::int64_t steps, std::int64_t batch) const {
  LayerConfig cfg;
  cfg.steps = steps;
  cfg.batch = batch;
  cfg.input_size = layer_input(l);
  cfg.hidden = hidden;
  cfg.gates = gates();
  cfg.reverse = d == 1;
  cfg.x_ld = cfg.input_size;
  cfg.proj_size = proj_size;
  cfg.y_ld = directions * state_width();
  cfg.weight_format = slot_format(l);
  cfg.bf16_products = bf16_products;
  // Reduced formats quantise x and h with their own scales, so never in one product.
  cfg.fuse_input = facts().input_fusable && cfg.input_size <= fuse_input_max_features() &&
                   cfg.weight_format == WeightFormat::fp32;
  cfg.activation = activation;
  cfg.recurrent_activation = recurrent_activation;
  return cfg;
}

std::vector<ParameterSpec> StackConfig::parameters() const {
  std::vector<ParameterSpec> specs;
  const std::int64_t GH = gates() * hidden;
  for (std::int64_t l = 0; l < layers; ++l) {
    for (int d = 0; d < directions; ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      specs.push_back({"weight_ih" + suffix, {GH, layer_input(l)}});
      specs.push_back({"weight_hh" + suffix, {GH, state_width()}});
      if (bias) {
        specs.push_back({"bias_ih" + suffix, {GH}});
        specs.push_back({"bias_hh" + suffix, {GH}});
      }
      if (proj_size > 0) specs.push_back({"weight_hr" + suffix, {proj_size, hidden}});
      if (facts().layer_norm()) {  // python/fusedrnn/reference.py LAYER_NORM_PARAMETERS
        specs.push_back({"layernorm_ih_weight" + suffix, {GH}});
        specs.push_back({"layernorm_hh_weight" + suffix, {GH}});
        specs.push_back({"layernorm_c_weight" + suffix, {hidden}});
        specs.push_back({"layernorm_c_bias" + suffix, {hidden}});
      }
    }
  }
  return specs;
}

}  // namespace fusedrnn
