"""fr.onnx.load is faithful or refuses (issue 19): generated valid one-node models with every attribute
give onnxruntime's results; malformed and hostile models are refused with a ValueError naming the file
and the node, before any weight is copied; constant initial states and sequence_lens are never dropped;
an initializer shared by many nodes is not copied per node."""

from __future__ import annotations

import re
import time
import tracemalloc

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from reference_helpers import assert_scaled_close  # noqa: E402

import fusedrnn as fr  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
PER_DIRECTION = {"LSTM": 3, "GRU": 2, "RNN": 1}
ONNX_NAMES = {
    "tanh": ("Tanh", None),
    "sigmoid": ("Sigmoid", None),
    "relu": ("Relu", None),
    "hard_sigmoid": ("HardSigmoid", (1 / 6, 0.5)),
    "linear": ("Affine", (1.0, 0.0)),
}


def make_model(op, inputs, initializers, attributes, graph_inputs, extra_nodes=(), outputs=("Y", "Y_h")):
    node = helper.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_node", **attributes)
    graph = helper.make_graph(
        list(extra_nodes) + [node],
        "g",
        [helper.make_tensor_value_info(name, elem, shape) for name, elem, shape in graph_inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def weights(op, D, H, C, rng, bias=True, scale=0.4):
    G = GATES[op]
    result = {
        "W": (scale * rng.standard_normal((D, G * H, C))).astype(np.float32),
        "R": (scale * rng.standard_normal((D, G * H, H))).astype(np.float32),
    }
    if bias:
        result["B"] = (scale * rng.standard_normal((D, 2 * G * H))).astype(np.float32)
    return result


def saved(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


# --- valid models, every attribute: the loaded layer equals onnxruntime ---------------------------------

# Unbounded activations (relu, linear, elu...) can grow a state to thousands over the five steps, where
# float32 rounding differs by 1e-4 relative between two correct kernels: the absolute tolerance is scaled
# to each array's largest value.
TOLERANCE = dict(rtol=2e-5, atol=5e-5)


@pytest.mark.parametrize("seed", range(36))
def test_generated_valid_models_match_onnxruntime(tmp_path, seed):
    rng = np.random.default_rng(seed)
    op = ["LSTM", "GRU", "RNN"][seed % 3]
    D = 1 + int(rng.integers(2))
    layout = int(rng.integers(2))
    bias = bool(rng.integers(4))  # mostly with
    T, N, C, H = 5, 3, 2, 4
    acts = list(ONNX_NAMES)
    if op == "RNN":
        chosen = [acts[rng.integers(len(acts))]]
    else:
        gate, candidate = acts[rng.integers(len(acts))], acts[rng.integers(len(acts))]
        chosen = [gate, candidate] + ([candidate] if op == "LSTM" else [])
    names, alphas, betas = [], [], []
    for a in chosen * D:
        onnx_name, params = ONNX_NAMES[a]
        names.append(onnx_name)
        if params:
            alphas.append(params[0])
            betas.append(params[1])
    attributes = {"direction": "bidirectional" if D == 2 else "forward", "layout": layout}
    if rng.integers(2) or names != ["Sigmoid", "Tanh", "Tanh"][: PER_DIRECTION[op]] * D:
        attributes["activations"] = names
    if alphas:
        attributes.update(activation_alpha=alphas, activation_beta=betas)
    attributes["hidden_size"] = H  # onnxruntime needs it
    if op == "GRU":
        attributes["linear_before_reset"] = int(rng.integers(2))
    init = weights(op, D, H, C, rng, bias)
    x_shape = [N, T, C] if layout else [T, N, C]
    state_shape = [N, D, H] if layout else [D, N, H]
    graph_inputs = [("X", TensorProto.FLOAT, x_shape)]
    inputs = ["X", "W", "R", "B" if bias else ""]
    feeds = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    lengths = None
    constant_inputs = []  # what a bare layer cannot keep: load_layers refuses the file, load runs it
    kind = rng.integers(3)  # absent, a graph input, a constant
    if kind:
        lengths = rng.integers(1, T + 1, size=N).astype(np.int32)
        if kind == 1:
            graph_inputs.append(("sequence_lens", TensorProto.INT32, [N]))
            feeds["sequence_lens"] = lengths
        else:
            init["sequence_lens"] = lengths
            constant_inputs.append("sequence_lens")
    inputs.append("sequence_lens" if kind else "")
    states = {}
    for state in ["initial_h"] + (["initial_c"] if op == "LSTM" else []):
        kind = rng.integers(4)  # absent, a graph input, a constant of zeros, a constant
        if kind in (1, 3):
            value = (0.5 * rng.standard_normal(state_shape)).astype(np.float32)
            states[state] = value.transpose(1, 0, 2) if layout else value
            if kind == 1:
                graph_inputs.append((state, TensorProto.FLOAT, state_shape))
                feeds[state] = value
            else:
                init[state] = value
                constant_inputs.append(state)
        elif kind == 2:
            init[state] = np.zeros(state_shape, np.float32)
        inputs.append(state if kind else "")
    while inputs and inputs[-1] == "":
        inputs.pop()
    outputs = ("Y", "Y_h") + (("Y_c",) if op == "LSTM" else ())
    model = make_model(op, inputs, init, attributes, graph_inputs, outputs=outputs)
    path = saved(tmp_path, model)
    # onnxruntime's CPU kernels take layout 0 only: it runs the same node in layout 0 on transposed
    # inputs (ONNX's definition of layout 1), and its outputs are transposed back.
    ort_init = {k: v.transpose(1, 0, 2) if k.startswith("initial") and layout else v for k, v in init.items()}
    ort_model = make_model(op, inputs, ort_init, {**attributes, "layout": 0}, graph_inputs, outputs=outputs)
    ort_feeds = dict(feeds)
    if layout:
        ort_feeds = {k: (v.transpose(1, 0, 2) if v.ndim == 3 else v) for k, v in feeds.items()}
        for value in ort_model.graph.input:
            if value.name != "sequence_lens":
                dims = value.type.tensor_type.shape.dim
                dims[0].dim_value, dims[1].dim_value = dims[1].dim_value, dims[0].dim_value
    session = ort.InferenceSession(ort_model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, ort_feeds)
    if layout:
        want = [want[0].transpose(2, 0, 1, 3)] + [w.transpose(1, 0, 2) for w in want[1:]]
    (layer,) = fr.onnx.load(path)
    layer.eval()
    assert layer.batch_first == bool(layout) and layer.bidirectional == (D == 2) and layer.bias == bias
    h0, c0 = states.get("initial_h"), states.get("initial_c")
    hx = (h0, c0) if op == "LSTM" else h0
    y, final = layer(feeds["X"], hx, lengths=lengths)
    # ONNX: Y [T, D, N, H] (layout 1: [N, T, D, H]), Y_h [D, N, H] (layout 1: [N, D, H])
    y_onnx = want[0].transpose(0, 2, 1, 3) if not layout else want[0]
    assert_scaled_close(y, y_onnx.reshape(y.shape), **TOLERANCE)
    finals = list(final) if op == "LSTM" else [final]
    for got, ref in zip(finals, want[1:], strict=True):
        assert_scaled_close(got, ref.transpose(1, 0, 2) if layout else ref, **TOLERANCE)
    # The file as one model (fr.onnx.load): its outputs, in the file's layout, are onnxruntime's.
    whole = fr.onnx.load(path)
    for got, ref in zip(whole.run(None, feeds), want, strict=True):
        assert_scaled_close(got, ref, **TOLERANCE)
    # Bare layers cannot keep a constant sequence_lens or nonzero state: load_layers refuses, naming it.
    if constant_inputs:
        with pytest.raises(ValueError, match=f"a constant (nonzero )?{constant_inputs[0]}"):
            fr.onnx.load_layers(path)
    else:
        (bare,) = fr.onnx.load_layers(path)
        assert bare.hidden_size == H


def test_export_hands_alphas_only_to_the_activations_that_take_them(tmp_path, rng):
    # onnxruntime gives activation_alpha / beta, in order, to HardSigmoid and Affine only.
    layer = fr.LSTM(2, 3, activation="hard_sigmoid", recurrent_activation="sigmoid", seed=0).eval()
    path = tmp_path / "m.onnx"
    fr.onnx.export(layer, path)
    x = rng.standard_normal((4, 2, 2)).astype(np.float32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, layer(x)[0], rtol=1e-5, atol=1e-5)
    (back,) = fr.onnx.load(path)
    assert back.activation == "hard_sigmoid" and back.recurrent_activation == "sigmoid"


# --- malformed and hostile models -----------------------------------------------------------------------


def base(op="LSTM", D=1, H=4, C=3, rng=None, **attributes):
    rng = rng or np.random.default_rng(0)
    return op, ["X", "W", "R", "B"], weights(op, D, H, C, rng), {"hidden_size": H, **attributes}


def build(op, inputs, init, attributes, extra_nodes=(), graph_inputs=None):
    graph_inputs = graph_inputs or [("X", TensorProto.FLOAT, ["T", "N", 3])]
    return make_model(op, inputs, init, attributes, graph_inputs, extra_nodes)


def with_raw(model, name, transform):
    tensor = next(t for t in model.graph.initializer if t.name == name)
    transform(tensor)
    return model


def bad_attribute(model, attribute):
    model.graph.node[-1].attribute.append(attribute)
    return model


def cases():
    rng = np.random.default_rng(1)
    op, inputs, init, attrs = base()
    w = init["W"]
    zero_h = np.zeros((1, 2, 4), np.float32)
    return [
        ("two inputs", lambda: build(op, ["X", "W"], init, attrs), "needs the inputs X, W and R"),
        ("empty R name", lambda: build(op, ["X", "W", ""], init, attrs), "needs the inputs X, W and R"),
        ("nine inputs", lambda: build(op, inputs + [""] * 5, init, attrs), "at most 8 inputs"),
        (
            "hidden_size contradicts W",
            lambda: build(op, inputs, init, {"hidden_size": 5}),
            "hidden_size=5 contradicts",
        ),
        (
            "direction contradicts W",
            lambda: build(op, inputs, init, {**attrs, "direction": "bidirectional"}),
            "needs [2, 4*H, C]",
        ),
        (
            "direction sideways",
            lambda: build(op, inputs, init, {**attrs, "direction": "sideways"}),
            "not an ONNX direction",
        ),
        ("direction reverse", lambda: build(op, inputs, init, {**attrs, "direction": "reverse"}), "reverse"),
        ("layout 2", lambda: build(op, inputs, init, {**attrs, "layout": 2}), "layout=2"),
        (
            "layout a float",
            lambda: bad_attribute(build(op, inputs, init, attrs), helper.make_attribute("layout", 1.0)),
            "wrong type",
        ),
        ("hidden_size a string", lambda: build(op, inputs, init, {"hidden_size": "4"}), "wrong type"),
        (
            "hidden_size twice",
            lambda: bad_attribute(build(op, inputs, init, attrs), helper.make_attribute("hidden_size", 4)),
            "appears twice",
        ),
        (
            "unknown attribute",
            lambda: build(op, inputs, init, {**attrs, "peepholes": 1}),
            "unknown attribute",
        ),
        (
            "linear_before_reset on LSTM",
            lambda: build(op, inputs, init, {**attrs, "linear_before_reset": 1}),
            "unknown attribute",
        ),
        (
            "short activation list",
            lambda: build(op, inputs, init, {**attrs, "activations": ["Sigmoid", "Tanh"]}),
            "2 activations",
        ),
        (
            "activations as floats",
            lambda: build(op, inputs, init, {**attrs, "activations": [1.0, 2.0, 3.0]}),
            "wrong type",
        ),
        (
            "HardSigmoid default alpha",
            lambda: build(op, inputs, init, {**attrs, "activations": ["HardSigmoid", "Tanh", "Tanh"]}),
            "no fusedrnn counterpart",
        ),
        ("clip", lambda: build(op, inputs, init, {**attrs, "clip": 3.0}), "clip"),
        ("input_forget", lambda: build(op, inputs, init, {**attrs, "input_forget": 1}), "input_forget"),
        (
            "D=0",
            lambda: build(op, inputs, {**init, "W": np.zeros((0, 16, 3), np.float32)}, attrs),
            "W has dims [0, 16, 3]",
        ),
        (
            "D=3",
            lambda: build(op, inputs, {**init, "W": np.zeros((3, 16, 3), np.float32)}, attrs),
            "W has dims [3, 16, 3]",
        ),
        ("2-D W", lambda: build(op, inputs, {**init, "W": w[0]}, attrs), "W has dims [16, 3]"),
        (
            "W rows not gates",
            lambda: build(op, inputs, {**init, "W": np.zeros((1, 15, 3), np.float32)}, attrs),
            "W has dims",
        ),
        (
            "R dims",
            lambda: build(op, inputs, {**init, "R": np.zeros((1, 16, 5), np.float32)}, attrs),
            "R has dims",
        ),
        (
            "B dims",
            lambda: build(op, inputs, {**init, "B": np.zeros((1, 16), np.float32)}, attrs),
            "B has dims",
        ),
        (
            "negative dims",
            lambda: with_raw(build(op, inputs, init, attrs), "W", lambda t: t.dims.__setitem__(1, -16)),
            "negative dims",
        ),
        (
            "W data short",
            lambda: with_raw(
                build(op, inputs, init, attrs), "W", lambda t: setattr(t, "raw_data", t.raw_data[:20])
            ),
            "holds 20 bytes",
        ),
        (
            "W claims 2**40 rows",
            lambda: with_raw(build(op, inputs, init, {}), "W", lambda t: t.dims.__setitem__(1, 2**40)),
            "R has dims",
        ),
        ("huge consistent dims", lambda: huge_dims(op, inputs, init), "holds"),
        ("W int32", lambda: build(op, inputs, {**init, "W": w.astype(np.int32)}, attrs), "data type"),
        (
            "W float16 R float32",
            lambda: build(op, inputs, {**init, "W": w.astype(np.float16)}, attrs),
            "data type",
        ),
        (
            "W external",
            lambda: with_raw(build(op, inputs, init, attrs), "W", external),
            "outside the model file",
        ),
        (
            "W a graph input",
            lambda: build(op, inputs, init, attrs, graph_inputs=[("X", 1, [2, 2, 3]), ("W", 1, [1, 16, 3])]),
            "not a constant",
        ),
        (
            "W computed",
            lambda: build(
                op, ["X", "W2", "R", "B"], init, attrs, [helper.make_node("Identity", ["W"], ["W2"])]
            ),
            "not a constant",
        ),
        (
            "peepholes",
            lambda: build(
                op, inputs + ["", "", "", "P"], {**init, "P": np.zeros((1, 12), np.float32)}, attrs
            ),
            "peephole",
        ),
        (
            "initial_h dims",
            lambda: build(op, inputs + ["", "h0"], {**init, "h0": np.zeros((1, 2, 5), np.float32)}, attrs),
            "initial_h has dims",
        ),
        ("cycle", lambda: cyclic(op, inputs, init, attrs), "topological order"),
        ("shared weights", lambda: shared(op, init, attrs, 2), "also feeds"),
        (
            "GRU D=2 one direction of activations",
            lambda: build(
                "GRU",
                ["X", "W", "R"],
                weights("GRU", 2, 4, 3, rng, False),
                {"direction": "bidirectional", "activations": ["Sigmoid", "Tanh"]},
            ),
            "2 activations",
        ),
        (
            "RNN two activations differ",
            lambda: build(
                "RNN",
                ["X", "W", "R"],
                weights("RNN", 2, 4, 3, rng, False),
                {"direction": "bidirectional", "activations": ["Tanh", "Relu"]},
            ),
            "different activations",
        ),
        (
            "zero initial_h accepted",
            lambda: build(op, inputs + ["", "h0"], {**init, "h0": zero_h}, attrs),
            None,
        ),
    ]


def external(tensor):
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../../../etc/passwd"
    tensor.ClearField("raw_data")


def huge_dims(op, inputs, init):
    # Dims that agree with each other and the attributes but declare 2**33 weights the file lacks.
    model = build(op, inputs, init, {})
    H = 2**15
    for name, dims in (("W", [1, 4 * H, 2**16]), ("R", [1, 4 * H, H]), ("B", [1, 8 * H])):
        tensor = next(t for t in model.graph.initializer if t.name == name)
        del tensor.dims[:]
        tensor.dims.extend(dims)
    return model


def cyclic(op, inputs, init, attrs):
    first = helper.make_node("Identity", ["later"], ["x2"])
    model = build(op, ["x2"] + inputs[1:], init, attrs, [first])
    model.graph.node.append(helper.make_node("Identity", ["Y"], ["later"]))
    return model


def shared(op, init, attrs, count):
    nodes = [
        helper.make_node(op, ["X", "W", "R", "B"], [f"Y{k}", f"Yh{k}"], name=f"n{k}", **attrs)
        for k in range(count)
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", 3])],
        [helper.make_tensor_value_info("Y0", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in init.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


CASES = cases()


def constant_inputs_cases():
    # What a bare layer cannot keep: refused by load_layers, run by load's model.
    op, inputs, init, attrs = base()
    const_h = helper.make_node(
        "Constant", [], ["h0"], value=numpy_helper.from_array(np.ones((1, 2, 4), np.float32))
    )
    lens = helper.make_node(
        "Constant", [], ["lens"], value=numpy_helper.from_array(np.array([3, 2], np.int32))
    )
    return [
        (
            "constant sequence_lens",
            lambda: build(op, inputs + ["L"], {**init, "L": np.array([3, 2], np.int32)}, attrs),
            "constant sequence_lens",
        ),
        (
            "Constant-node sequence_lens",
            lambda: build(op, inputs + ["lens"], init, attrs, [lens]),
            "constant sequence_lens",
        ),
        (
            "constant nonzero initial_h",
            lambda: build(op, inputs + ["", "h0"], init, attrs, [const_h]),
            "constant nonzero initial_h",
        ),
        (
            "constant nonzero initial_c",
            lambda: build(op, inputs + ["", "", "c0"], {**init, "c0": np.ones((1, 2, 4), np.float32)}, attrs),
            "constant nonzero initial_c",
        ),
    ]


CONSTANT_INPUTS = constant_inputs_cases()


@pytest.mark.parametrize(("what", "make", "match"), CONSTANT_INPUTS, ids=[c[0] for c in CONSTANT_INPUTS])
def test_constant_lengths_and_states_are_refused_by_load_layers_and_run_by_load(tmp_path, what, make, match):
    path = saved(tmp_path, make())
    with pytest.raises(ValueError, match=re.escape(match)):
        fr.onnx.load_layers(path)
    x = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"X": x})
    got = fr.onnx.load(path).run(None, {"X": x})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
    # The constants' batch size is the file's: another batch is refused at the call, naming the node.
    if what != "constant nonzero initial_c":
        with pytest.raises(ValueError, match="node 'lstm_node'"):
            fr.onnx.load(path)(np.zeros((3, 5, 3), np.float32))


@pytest.mark.parametrize(("what", "make", "match"), CASES, ids=[c[0] for c in CASES])
def test_malformed_models_are_refused_naming_the_file_and_the_node(tmp_path, what, make, match):
    path = saved(tmp_path, make())
    if match is None:
        (layer,) = fr.onnx.load(path)
        assert layer.hidden_size == 4
        return
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=re.escape(match)) as info:
        fr.onnx.load(path)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(info.value).startswith(f"path: {str(path)!r}"), str(info.value)
    assert peak < 4 << 20 and seconds < 2, (peak, seconds)


def test_an_initializer_shared_by_300_nodes_is_not_copied_per_node(tmp_path):
    rng = np.random.default_rng(0)
    op, _, init, attrs = base(H=64, C=64, rng=rng)
    path = saved(tmp_path, shared(op, init, attrs, 300))
    file_bytes = path.stat().st_size
    tracemalloc.start()
    with pytest.raises(ValueError, match="also feeds node 'n0'"):
        fr.onnx.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * file_bytes, (peak, file_bytes)


def test_unreadable_missing_and_bad_dtype(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        fr.onnx.load(path)
    with pytest.raises(FileNotFoundError):
        fr.onnx.load(tmp_path / "missing.onnx")
    op, inputs, init, attrs = base()
    good = saved(tmp_path, build(op, inputs, init, attrs))
    with pytest.raises(ValueError, match="dtype"):
        fr.onnx.load(good, dtype=np.int8)
    (layer,) = fr.onnx.load(good, dtype=np.float64)
    assert layer.dtype == np.float64


def test_mutated_valid_models_give_layers_or_a_value_error(tmp_path):
    layer = fr.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0).eval()
    source = tmp_path / "valid.onnx"
    fr.onnx.export(layer, source, with_lengths=True, with_initial_states=True)
    data = source.read_bytes()
    rng = np.random.default_rng(19)
    path = tmp_path / "mutated.onnx"
    for _ in range(300):
        mutated = bytearray(data)
        kind = rng.integers(3)
        at = int(rng.integers(len(data)))
        if kind == 0:
            for k in rng.integers(len(data), size=int(rng.integers(1, 8))):
                mutated[k] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            del mutated[at:]
        else:
            mutated[at:at] = rng.bytes(int(rng.integers(1, 16)))
        path.write_bytes(bytes(mutated))
        try:
            fr.onnx.load(path)
        except ValueError:
            pass
