"""ONNX interop: fr.onnx.export writes LSTM / GRU / RNN nodes that onnxruntime runs to fusedrnn's results
(<= 1e-5, fp32), with lengths, initial states, activations and both GRU forms; fr.onnx.load builds
fusedrnn layers from the nodes of a model, also one written by torch.onnx.export; unsupported attributes
are refused."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fusedrnn as fr  # noqa: E402

LAYERS = [
    lambda: fr.LSTM(3, 5, num_layers=2, bidirectional=True, seed=0),
    lambda: fr.LSTM(3, 5, activation="relu", recurrent_activation="hard_sigmoid", batch_first=True, seed=1),
    lambda: fr.GRU(3, 5, num_layers=2, seed=2),
    lambda: fr.GRU(3, 5, reset_after=False, bidirectional=True, seed=3),
    lambda: fr.RNN(3, 5, nonlinearity="relu", num_layers=2, bidirectional=True, seed=4),
    lambda: fr.RNN(3, 5, nonlinearity="linear", bias=False, seed=5),
]


def run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("extras", ["plain", "states_and_lengths"])
def test_export_runs_in_onnxruntime_like_fusedrnn(tmp_path, rng, make, extras):
    layer = make().eval()
    T, N = 6, 4
    x = rng.standard_normal((N, T, 3) if layer.batch_first else (T, N, 3)).astype(np.float32)
    path = tmp_path / "m.onnx"
    with_more = extras == "states_and_lengths"
    fr.onnx.export(layer, path, with_lengths=with_more, with_initial_states=with_more)
    D = 2 if layer.bidirectional else 1
    feeds = {"x": x}
    lstm = isinstance(layer, fr.LSTM)
    if with_more:
        h0 = rng.standard_normal((layer.num_layers * D, N, 5)).astype(np.float32)
        c0 = rng.standard_normal((layer.num_layers * D, N, 5)).astype(np.float32)
        lengths = np.array([6, 2, 5, 1])
        feeds.update(h0=h0, sequence_lens=lengths.astype(np.int32))
        if lstm:
            feeds["c0"] = c0
        y, states = layer(x, (h0, c0) if lstm else h0, lengths=lengths)
    else:
        y, states = layer(x)
    got = run(path, feeds)
    np.testing.assert_allclose(got[0], y, rtol=1e-5, atol=1e-5)
    want_states = list(states) if lstm else [states]
    for a, b in zip(got[1:], want_states, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # And back: load makes one layer per node, equal to the originals layer by layer.
    loaded = fr.onnx.load(path)
    assert len(loaded) == layer.num_layers and all(type(m) is type(layer) for m in loaded)
    if layer.num_layers == 1:
        for (k1, a), (k2, b) in zip(layer.state_dict().items(), loaded[0].state_dict().items(), strict=True):
            assert k1 == k2
            np.testing.assert_allclose(a, b, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore")  # torch's exporter warns (deprecation, tracer warnings)
@pytest.mark.parametrize("module_name", ["LSTM", "GRU"])
def test_load_a_torch_export(tmp_path, rng, module_name):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = getattr(torch.nn, module_name)(3, 6, bidirectional=True)
    path = tmp_path / "torch.onnx"
    torch.onnx.export(module, (torch.zeros(5, 2, 3),), str(path), dynamo=False, opset_version=17)
    (layer,) = fr.onnx.load(path)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    with torch.no_grad():
        want, _ = module(torch.tensor(x))
    np.testing.assert_allclose(layer.eval()(x)[0], want.numpy(), rtol=1e-5, atol=1e-5)


def test_refusals(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    with pytest.raises(ValueError, match="proj_size"):
        fr.onnx.export(fr.LSTM(3, 4, proj_size=2), tmp_path / "p.onnx")
    with pytest.raises(ValueError, match="merge_mode"):
        fr.onnx.export(fr.GRU(3, 4, bidirectional=True, merge_mode="sum"), tmp_path / "m.onnx")
    layer = fr.LSTM(3, 4).eval()
    fr.onnx.export(layer, tmp_path / "ok.onnx")
    model = onnx.load(str(tmp_path / "ok.onnx"))
    for change, match in [
        (helper.make_attribute("clip", 3.0), "clip=3.0"),
        (helper.make_attribute("input_forget", 1), "input_forget=1"),
    ]:
        bad = onnx.ModelProto()
        bad.CopyFrom(model)
        next(n for n in bad.graph.node if n.op_type == "LSTM").attribute.append(change)
        onnx.save(bad, str(tmp_path / "bad.onnx"))
        with pytest.raises(ValueError, match=match):
            fr.onnx.load(tmp_path / "bad.onnx")
    bad = onnx.ModelProto()
    bad.CopyFrom(model)
    node = next(n for n in bad.graph.node if n.op_type == "LSTM")
    del node.attribute[:]
    activations = helper.make_attribute("activations", ["Sigmoid", "Softsign", "Tanh"])
    node.attribute.extend([helper.make_attribute("hidden_size", 4), activations])
    onnx.save(bad, str(tmp_path / "act.onnx"))
    with pytest.raises(ValueError, match="activation Softsign"):
        fr.onnx.load(tmp_path / "act.onnx")
    empty = helper.make_model(helper.make_graph([], "g", [], []))
    onnx.save(empty, str(tmp_path / "empty.onnx"))
    with pytest.raises(ValueError, match="no LSTM, GRU or RNN node"):
        fr.onnx.load(tmp_path / "empty.onnx")
    assert TensorProto and numpy_helper
