"""fr.onnx.load returns one callable model, as a PyTorch / onnxruntime user expects: export with
torch.onnx.export (stacked, bidirectional recurrent modules with Linear heads) or fr.onnx.export (layers,
fr.nn models), load, call; the outputs equal onnxruntime's on the same file. The model exposes its
layers and still behaves as the list of layers load returned before; a file with an operator or an
attribute the model cannot run is refused by name before anything is allocated, and what a node
would allocate at run time is checked first."""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import fusedrnn as fr  # noqa: E402
from fusedrnn import nn  # noqa: E402


def onnxruntime_outputs(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_same_as_onnxruntime(model, path, feeds, rtol=1e-5, atol=1e-5):
    want = onnxruntime_outputs(path, feeds)
    got = model.run(None, feeds)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    return got


# --- models written by torch.onnx.export ----------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def torch_export(torch, module, example, path, names, dynamic=True):
    inputs, outputs = names
    axes = {name: {0: "a", 1: "b"} for name in inputs + outputs} if dynamic else None
    torch.onnx.export(
        module,
        example,
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=inputs,
        output_names=outputs,
        dynamic_axes=axes,
    )


@pytest.mark.filterwarnings("ignore")  # torch's exporter warns (deprecations, tracer warnings)
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("dynamic", [True, False])
def test_a_stacked_bidirectional_torch_module_runs_as_onnxruntime_runs_it(
    tmp_path, rng, torch, cell, dynamic
):
    torch.manual_seed(0)
    module = getattr(torch.nn, cell)(3, 6, num_layers=2, bidirectional=True)
    path = tmp_path / "stack.onnx"
    names = ["x"], ["y", "h_n"] + (["c_n"] if cell == "LSTM" else [])
    torch_export(torch, module, (torch.zeros(5, 2, 3),), path, names, dynamic=dynamic)
    model = fr.onnx.load(path)
    assert callable(model) and model.input_names == ["x"] and model.output_names == names[1]
    assert [type(layer).__name__ for layer in model.layers] == [cell, cell]
    assert [layer.input_size for layer in model.layers] == [3, 12]
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    got = assert_same_as_onnxruntime(model, path, {"x": x})
    # model(x) returns what the torch module returns, flattened as ONNX flattens it.
    outputs = model(x)
    with torch.no_grad():
        y, states = module(torch.from_numpy(x))
    want = [y, *(states if cell == "LSTM" else [states])]
    for a, b, c in zip(outputs, got, want, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c.numpy(), rtol=1e-5, atol=1e-5)
    if dynamic:  # other batch sizes and lengths, as the file allows
        x = rng.standard_normal((9, 4, 3)).astype(np.float32)
        assert_same_as_onnxruntime(model, path, {"x": x})


class Forecaster:
    """A torch module as a lecture writes it: a batch-first LSTM stack and a Linear head on the last step."""

    @staticmethod
    def make(torch, cell="LSTM", bidirectional=False):
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(torch.nn, cell)(
                    4, 8, num_layers=2, batch_first=True, bidirectional=bidirectional
                )
                self.fc = torch.nn.Linear(16 if bidirectional else 8, 3)

            def forward(self, x):
                y, _ = self.rnn(x)
                return torch.softmax(self.fc(torch.relu(y[:, -1, :])), dim=-1)

        return Net().eval()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("cell", "bidirectional"), [("LSTM", False), ("GRU", True), ("LSTM", True)])
def test_a_torch_module_with_a_linear_head(tmp_path, rng, torch, cell, bidirectional):
    torch.manual_seed(1)
    net = Forecaster.make(torch, cell, bidirectional)
    path = tmp_path / "net.onnx"
    torch_export(torch, net, (torch.zeros(2, 7, 4),), path, (["x"], ["probabilities"]))
    model = fr.onnx.load(path)
    x = rng.standard_normal((6, 11, 4)).astype(np.float32)
    assert_same_as_onnxruntime(model, path, {"x": x})
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = model(x)  # one graph output: an array
    assert isinstance(got, np.ndarray) and got.shape == (6, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert len(model.layers) == 2 and all(layer.batch_first is False for layer in model.layers)
    assert any(op == "Gemm" for _, op in model.nodes)


@pytest.mark.filterwarnings("ignore")
def test_a_torch_sequence_labeller_with_an_initial_state_input(tmp_path, rng, torch):
    # Linear over every step (MatMul + Add in the file) and h0 a graph input, as a tagger writes it.
    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(5, 7, num_layers=2, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(14, 4)

        def forward(self, x, h0):
            y, h_n = self.gru(x, h0)
            return torch.log_softmax(self.fc(y), dim=-1), h_n

    torch.manual_seed(2)
    net = Tagger().eval()
    path = tmp_path / "tagger.onnx"
    example = (torch.zeros(2, 6, 5), torch.zeros(4, 2, 7))
    torch.onnx.export(
        net,
        example,
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["x", "h0"],
        output_names=["scores", "h_n"],
        dynamic_axes={"x": {0: "n", 1: "t"}, "h0": {1: "n"}, "scores": {0: "n", 1: "t"}, "h_n": {1: "n"}},
    )
    model = fr.onnx.load(path)
    assert model.input_names == ["x", "h0"] and any(op == "MatMul" for _, op in model.nodes)
    x = rng.standard_normal((3, 9, 5)).astype(np.float32)
    h0 = rng.standard_normal((4, 3, 7)).astype(np.float32)
    assert_same_as_onnxruntime(model, path, {"x": x, "h0": h0})
    scores, h_n = model(x, h0)
    with torch.no_grad():
        want_scores, want_h = net(torch.from_numpy(x), torch.from_numpy(h0))
    np.testing.assert_allclose(scores, want_scores.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_n, want_h.numpy(), rtol=1e-5, atol=1e-5)


# --- models written by fr.onnx.export ---------------------------------------------------------------------


def test_an_exported_layer_with_states_and_lengths_comes_back_as_one_model(tmp_path, rng):
    layer = fr.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True, seed=0).eval()
    path = tmp_path / "lstm.onnx"
    fr.onnx.export(layer, path, with_lengths=True, with_initial_states=True)
    model = fr.onnx.load(path)
    assert model.input_names == ["x", "h0", "c0", "sequence_lens"]
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    h0, c0 = rng.standard_normal((2, 4, 4, 5)).astype(np.float32)
    lengths = np.array([6, 2, 5, 1], np.int32)
    feeds = {"x": x, "h0": h0, "c0": c0, "sequence_lens": lengths}
    assert_same_as_onnxruntime(model, path, feeds)
    y, h_n, c_n = model(x, h0, c0, sequence_lens=lengths)  # positions in the graph's order, or names
    want_y, (want_h, want_c) = layer(x, (h0, c0), lengths=lengths)
    np.testing.assert_allclose(y, want_y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h_n, want_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c_n, want_c, rtol=1e-6, atol=1e-6)


def test_the_model_is_still_the_list_of_layers_load_returned(tmp_path):
    layer = fr.GRU(3, 4, num_layers=3, seed=1).eval()
    path = tmp_path / "gru.onnx"
    fr.onnx.export(layer, path)
    model = fr.onnx.load(path)
    assert len(model) == 3 and model[0] is model.layers[0] and list(model) == model.layers
    first, *_ = model
    assert first.input_size == 3 and model[-1].input_size == 4
    assert [type(m) for m in fr.onnx.load_layers(path)] == [fr.GRU] * 3
    for k, part in enumerate(model):  # layer k of the stack is node k's layer, weights bit for bit
        for name, value in part.state_dict().items():
            np.testing.assert_array_equal(value, layer.state_dict()[name.replace("_l0", f"_l{k}")])
    assert "GRU, GRU, GRU" in repr(model)


NN_MODELS = {
    "forecaster": (lambda: nn.Sequential([nn.LSTM(16, input_shape=(9, 1)), nn.Dense(1)], seed=0), "float"),
    "stacked classifier": (
        lambda: nn.Sequential(
            [
                nn.GRU(12, return_sequences=True, input_shape=(9, 1)),
                nn.Bidirectional(nn.LSTM(8), merge_mode="concat"),
                nn.Dense(6, activation="swish"),
                nn.Dense(3, activation="softmax"),
            ],
            seed=1,
        ),
        "float",
    ),
    "masked tokens": (
        lambda: nn.Sequential(
            [
                nn.Embedding(40, 5, mask_zero=True, input_shape=(9,)),
                nn.LSTM(7),
                nn.Dense(2, activation="tanh"),
            ],
            seed=2,
        ),
        "tokens",
    ),
    "sequence to sequence": (
        lambda: nn.Sequential(
            [
                nn.Masking(0.0, input_shape=(9, 1)),
                nn.LSTM(8),
                nn.RepeatVector(3),
                nn.SimpleRNN(8, return_sequences=True),
                nn.TimeDistributed(nn.Dense(2)),
                nn.Flatten(),
                nn.Activation("sigmoid"),
            ],
            seed=4,
        ),
        "float",
    ),
}


@pytest.mark.parametrize("which", list(NN_MODELS))
def test_an_exported_nn_model_loads_and_predicts_what_it_predicted(tmp_path, rng, which):
    make, kind = NN_MODELS[which]
    network = make()
    if kind == "tokens":
        x = rng.integers(1, 40, (6, 9))
        x[1, 4:] = 0
        x[4, 1:] = 0
    else:
        x = rng.standard_normal((6, 9, 1)).astype(np.float32)
        x[2, 5:] = 0.0
    path = tmp_path / "model.onnx"
    fr.onnx.export(network, path)
    model = fr.onnx.load(path)
    (got,) = assert_same_as_onnxruntime(model, path, {"x": x}, atol=2e-6)
    np.testing.assert_allclose(got, network.predict(x, verbose=0), rtol=1e-5, atol=2e-6)


def test_a_model_pickles_and_serves_threads(tmp_path, rng):
    from concurrent.futures import ThreadPoolExecutor

    network = NN_MODELS["stacked classifier"][0]()
    path = tmp_path / "model.onnx"
    fr.onnx.export(network, path)
    model = fr.onnx.load(path)
    xs = [rng.standard_normal((5, 9, 1)).astype(np.float32) for _ in range(4)]
    want = [model(x) for x in xs]
    back = pickle.loads(pickle.dumps(model))
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(back, xs))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float64(tmp_path, rng):
    network = NN_MODELS["forecaster"][0]()
    path = tmp_path / "model.onnx"
    fr.onnx.export(network, path)
    model = fr.onnx.load(path, dtype=np.float64)
    x = rng.standard_normal((3, 9, 1))
    assert model.layers[0].dtype == np.float64 and model(x).dtype == np.float64
    np.testing.assert_allclose(
        model(x), network.predict(x.astype(np.float32), verbose=0), rtol=1e-4, atol=1e-5
    )


# --- calls and files that are refused ---------------------------------------------------------------------


def test_wrong_calls_are_refused_naming_the_input(tmp_path, rng):
    path = tmp_path / "m.onnx"
    fr.onnx.export(NN_MODELS["masked tokens"][0](), path)
    model = fr.onnx.load(path)
    with pytest.raises(ValueError, match="x: expected integers"):
        model(rng.standard_normal((2, 9)))
    with pytest.raises(ValueError, match=r"x: expected shape \[\?, 9\], got \[2, 8\]"):
        model(np.ones((2, 8), np.int64))
    with pytest.raises(ValueError, match="input 'x' is missing"):
        model.run(None, {})
    with pytest.raises(ValueError, match="no input 'h0'"):
        model.run(None, {"x": np.ones((2, 9), np.int64), "h0": np.ones(3)})
    with pytest.raises(ValueError, match="no output 'z'"):
        model.run(["z"], {"x": np.ones((2, 9), np.int64)})
    with pytest.raises(TypeError, match="takes 1 inputs"):
        model(np.ones((2, 9), np.int64), np.ones(3))
    with pytest.raises(ValueError, match="Gather: an index outside"):  # a token the Embedding lacks
        model(np.full((2, 9), 40))


def one_layer_file(tmp_path, after, initializers=(), name="m.onnx", outputs=("out",)):
    """A model of one LSTM node (X [T, N, 3] -> Y) and the nodes `after` reading its output Y."""
    rng = np.random.default_rng(0)
    weights = {
        "W": (0.4 * rng.standard_normal((1, 16, 3))).astype(np.float32),
        "R": (0.4 * rng.standard_normal((1, 16, 4))).astype(np.float32),
    }
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y", "Y_h"], name="lstm", hidden_size=4)
    graph = helper.make_graph(
        [node, *after],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", 3])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None) for out in outputs],
        [numpy_helper.from_array(v, k) for k, v in {**weights, **dict(initializers)}.items()],
    )
    path = tmp_path / name
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    return path


REFUSED = [
    (
        "unsupported operator",
        [helper.make_node("Conv", ["Y", "W"], ["out"], name="conv")],
        (),
        "Conv is not supported",
    ),
    (
        "other domain",
        [helper.make_node("Relu", ["Y"], ["out"], name="r", domain="com.example")],
        (),
        "domain 'com.example'",
    ),
    (
        "unknown attribute",
        [helper.make_node("Transpose", ["Y"], ["out"], name="t", perm=[1, 0, 2, 3], shuffle=1)],
        (),
        "unknown attribute 'shuffle' of Transpose",
    ),
    (
        "attribute of the wrong type",
        [helper.make_node("Transpose", ["Y"], ["out"], name="t", perm=1.5)],
        (),
        "attribute perm has the wrong type",
    ),
    (
        "too many inputs",
        [helper.make_node("Relu", ["Y", "Y"], ["out"], name="r")],
        (),
        "Relu takes 1 to 1 inputs",
    ),
    (
        "a Dropout mask asked for",
        [helper.make_node("Dropout", ["Y"], ["out", "mask"], name="d")],
        (),
        "makes 1 output(s) here",
    ),
    (
        "Cast to a string",
        [helper.make_node("Cast", ["Y"], ["out"], name="c", to=8)],
        (),
        "Cast to ONNX type 8",
    ),
    (
        "an output nobody makes",
        [helper.make_node("Relu", ["Y"], ["out"], name="r")],
        (),
        "output 'missing' is made by no node",
    ),
    (
        "a constant shorter than its dims",
        [helper.make_node("MatMul", ["Y_h", "K"], ["out"], name="head")],
        (("K", np.ones((4, 2), np.float32)),),
        "holds 32 bytes",
    ),
]


@pytest.mark.parametrize(("what", "after", "constants", "match"), REFUSED, ids=[r[0] for r in REFUSED])
def test_files_the_model_cannot_run_are_refused_by_name(tmp_path, what, after, constants, match):
    outputs = ("out", "missing") if what == "an output nobody makes" else ("out",)
    path = one_layer_file(tmp_path, after, constants, outputs=outputs)
    if what == "a constant shorter than its dims":
        model = onnx.load(str(path))
        tensor = next(t for t in model.graph.initializer if t.name == "K")
        del tensor.dims[:]
        tensor.dims.extend([4, 2**30])  # claims 2**32 elements, holds 8
        path.write_bytes(model.SerializeToString())
    tracemalloc.start()
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")) as info:
        fr.onnx.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(info.value).startswith(f"path: {str(path)!r}")
    assert peak < 4 << 20, peak


def test_load_layers_reads_the_recurrent_nodes_of_any_file(tmp_path):
    path = one_layer_file(tmp_path, [helper.make_node("Conv", ["Y", "W"], ["out"], name="conv")])
    (layer,) = fr.onnx.load_layers(path)
    assert layer.hidden_size == 4


@pytest.mark.parametrize(
    ("op", "extra"),
    [
        ("Expand", lambda: np.array([5, 1 << 24, 2, 4], np.int64)),
        ("Tile", lambda: np.array([1 << 16, 1 << 16, 1, 1], np.int64)),
        ("ConstantOfShape", None),
    ],
)
def test_a_node_that_would_allocate_without_bound_is_refused_before_it_allocates(tmp_path, rng, op, extra):
    if op == "ConstantOfShape":
        nodes = [
            helper.make_node("Constant", [], ["shape"], value_ints=[1 << 40, 4], name="s"),
            helper.make_node("ConstantOfShape", ["shape"], ["big"], name="grow"),
            helper.make_node("Add", ["Y_h", "big"], ["out"], name="add"),
        ]
        initializers = ()
    else:
        nodes = [helper.make_node(op, ["Y", "n"], ["out"], name="grow")]
        initializers = (("n", extra()),)
    model = fr.onnx.load(one_layer_file(tmp_path, nodes, initializers))
    tracemalloc.start()
    with pytest.raises(ValueError, match="'grow'.*more than the") as info:
        model(rng.standard_normal((5, 2, 3)).astype(np.float32))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "elements" in str(info.value)
    assert peak < 4 << 20, peak


def test_a_node_whose_inputs_do_not_fit_names_the_node(tmp_path, rng):
    head = helper.make_node("MatMul", ["Y_h", "K"], ["out"], name="head")
    model = fr.onnx.load(one_layer_file(tmp_path, [head], (("K", np.ones((5, 2), np.float32)),)))
    with pytest.raises(ValueError, match="node 'head'"):
        model(rng.standard_normal((5, 2, 3)).astype(np.float32))


def test_onnx_ops_agree_with_onnxruntime(tmp_path, rng):
    # The operators exporters put around recurrent nodes, each checked against onnxruntime on one file.
    k = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    nodes = [
        helper.make_node("Squeeze", ["Y", "axis1"], ["y3"]),  # [T, N, 4]
        helper.make_node("Slice", ["y3", "start", "end", "axis0", "step"], ["sliced"]),
        helper.make_node("Gemm", ["Y_h2", "K", "B"], ["g"], alpha=0.5, beta=2.0),
        helper.make_node("Reshape", ["Y_h", "flat"], ["Y_h2"]),
        helper.make_node("MatMul", ["sliced", "K"], ["m"]),
        helper.make_node("Add", ["m", "B"], ["mb"]),
        helper.make_node("Elu", ["mb"], ["e"], alpha=0.7),
        helper.make_node("LeakyRelu", ["e"], ["l"], alpha=0.2),
        helper.make_node("Selu", ["l"], ["s"]),
        helper.make_node("HardSigmoid", ["s"], ["hs"], alpha=0.3, beta=0.4),
        helper.make_node("Softplus", ["g"], ["sp"]),
        helper.make_node("LogSoftmax", ["sp"], ["ls"], axis=1),
        helper.make_node("ReduceSum", ["hs", "axis0"], ["mean"], keepdims=0),
        helper.make_node("Unsqueeze", ["ls", "axis0"], ["u"]),
        helper.make_node("Shape", ["u"], ["shape"]),
        helper.make_node("Expand", ["ls", "shape"], ["ex"]),
        helper.make_node("Concat", ["ex", "u"], ["out"], axis=0),
        helper.make_node("Neg", ["mean"], ["out2"]),
    ]
    # Topological order: Reshape before the Gemm reading it.
    nodes.insert(2, nodes.pop(3))
    constants = (
        ("axis1", np.array([1], np.int64)),
        ("start", np.array([-1], np.int64)),
        ("end", np.array([-(1 << 62)], np.int64)),
        ("axis0", np.array([0], np.int64)),
        ("step", np.array([-2], np.int64)),
        ("flat", np.array([-1, 4], np.int64)),
        ("K", k),
        ("B", b),
    )
    path = one_layer_file(tmp_path, nodes, constants, outputs=("out", "out2"))
    model = fr.onnx.load(path)
    assert_same_as_onnxruntime(model, path, {"X": rng.standard_normal((7, 3, 3)).astype(np.float32)})
