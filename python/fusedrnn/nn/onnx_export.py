"""A whole fr.nn `Sequential`, or a functional `Model` whose layers form a chain, as one ONNX model
(``fr.onnx.export(model, path)``), for inference anywhere onnxruntime runs: the recurrent layers as ONNX
``LSTM`` / ``GRU`` / ``RNN`` nodes (`fusedrnn.onnx`), the heads as plain operators (Dense: MatMul, Add
and its activation; Embedding: Gather; Flatten; RepeatVector: Tile), Dropout left out. A padding mask
(``Embedding(mask_zero=True)``, `Masking`) becomes the recurrent nodes' ``sequence_lens``, counted from
the input as fr.nn counts it (padding at the end of a sequence).

The graph's input ``x`` is what `predict` takes ([N, T, F] float, or [N, T] int64 token ids before an
Embedding); its output ``y`` is what `predict` returns. Layers without an ONNX form (an activation ONNX
lacks, a merge_mode other than "concat", a projection), and a functional Model that is not a chain (several
inputs or outputs, a layer reading two tensors or an initial state), are refused by name before anything
is written."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import onnx as fr_onnx
from .layers import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    InputLayer,
    Layer,
    Masking,
    Recurrent,
    RepeatVector,
    TimeDistributed,
)

__all__ = ["export_model"]

# fr.nn's activations with a one-operator ONNX form: (op, attributes).
_ACTIVATION_OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "relu": ("Relu", {}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "log_softmax": ("LogSoftmax", {"axis": -1}),
    "elu": ("Elu", {"alpha": 1.0}),
    "selu": ("Selu", {}),
    "softplus": ("Softplus", {}),
    "softsign": ("Softsign", {}),
    "exponential": ("Exp", {}),
}


class _Graph:
    """The nodes and initializers being written, with fresh names."""

    def __init__(self, helper: Any, numpy_helper: Any, TensorProto: Any) -> None:  # noqa: N803
        self.helper, self.numpy_helper, self.TensorProto = helper, numpy_helper, TensorProto
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, stem: str, value: Any) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attributes: Any) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], **attributes))
        return out


def _activation(graph: _Graph, x: str, name: str, where: str) -> str:
    if name == "linear":
        return x
    if name in ("swish", "silu"):
        return graph.op("Mul", [x, graph.op("Sigmoid", [x])])
    if name not in _ACTIVATION_OPS:
        raise ValueError(
            f"{where}: activation {name!r} has no ONNX operator here (exported: linear, swish, "
            f"{', '.join(_ACTIVATION_OPS)})"
        )
    op, attributes = _ACTIVATION_OPS[name]
    return graph.op(op, [x], **attributes)


def _dense(graph: _Graph, x: str, layer: Dense, where: str) -> str:
    out = graph.op("MatMul", [x, graph.constant("kernel", layer.W.astype(np.float32))])
    if layer.use_bias:
        out = graph.op("Add", [out, graph.constant("bias", layer.b.astype(np.float32))])
    return _activation(graph, out, layer.activation, where)


def _lengths(graph: _Graph, real_steps: str) -> str:
    """int32 [N] of a bool [N, T] mask of real steps (post-padding, as fr.nn requires)."""
    as_int = graph.op("Cast", [real_steps], to=graph.TensorProto.INT32)
    return graph.op("ReduceSum", [as_int, graph.constant("axis", np.array([1], np.int64))], keepdims=0)


def _recurrent(graph: _Graph, x: str, layer: Recurrent, lengths: str, prefix: str) -> str:
    inner = layer.layer
    if getattr(inner, "layer_norm", False):
        raise ValueError(
            f"model: {type(layer).__name__}(layer_norm=True) is not exported (ONNX has no layer-normalised "
            "LSTM node)"
        )
    time_major = graph.op("Transpose", [x], perm=[1, 0, 2])
    y, h_outputs, _ = fr_onnx.recurrent_nodes(
        inner, time_major, prefix, graph.nodes, graph.initializers, lengths=lengths
    )
    if layer.return_sequences:
        return graph.op("Transpose", [y], perm=[1, 0, 2])
    top = h_outputs[-1]  # [D, N, H]: each direction's final state of the top layer, concatenated
    batch_major = graph.op("Transpose", [top], perm=[1, 0, 2])
    return graph.op("Reshape", [batch_major, graph.constant("shape", np.array([0, -1], np.int64))])


def _chain(model: Any) -> tuple[list[tuple[Layer, str]], tuple[Any, ...], tuple[Any, ...]]:
    """A functional Model's layers as a chain (each with the name errors give it), its sample shape
    and its output shape; ValueError naming what makes it something else than one input, one output
    and layers each called once on the output of the one before."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"model: {len(model.inputs)} inputs and {len(model.outputs)} outputs; a functional Model is "
            "exported when it is a chain (one input, one output)"
        )
    current = model.inputs[0]
    chain: list[tuple[Layer, str]] = []
    for node in model.graph.nodes:
        layer = node.layer
        where = f"model layer {layer.name!r} ({type(layer).__name__})"
        if len(node.inputs) != 1 or node.as_list or node.options.get("initial_state"):
            raise ValueError(
                f"{where}: it takes {len(node.inputs)} tensors; a functional Model is exported when its "
                "layers form a chain, each called on the one output of the layer before"
            )
        if node.inputs[0] is not current:
            raise ValueError(
                f"{where}: it reads {node.inputs[0].name}, not the output of the layer before "
                f"({current.name}); only a chain of layers is exported"
            )
        if len(node.outputs) != 1:
            raise ValueError(f"{where}: it has {len(node.outputs)} outputs (return_state); not exported")
        chain.append((layer, where))
        current = node.outputs[0]
    if current is not model.outputs[0]:  # cannot happen for a Graph built from these nodes; kept as a guard
        raise ValueError("model: its output is not the end of the chain of its layers")
    return chain, tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape)


def export_model(model: Any, path: str | os.PathLike[str], *, opset: int = 17) -> None:
    """Writes a built fr.nn Sequential, or a functional Model whose layers form a chain, as one ONNX
    model (module docstring).

    Parameters
    ----------
    model : fusedrnn.nn.Sequential or fusedrnn.nn.Model
        A Sequential built (an input shape declared, or fitted / called once); or a Model with one
        Input and one output, each of its layers called once on the output of the one before
        (``x = Input((T, F)); Model(x, Dense(1)(LSTM(16)(x)))``).
    path : str or os.PathLike
        The ``.onnx`` file.
    opset : int
        The ONNX opset (>= 14).

    Raises
    ------
    ImportError
        The onnx package is not installed.
    TypeError
        model is not an fr.nn Sequential or Model.
    ValueError
        The Sequential is not built, the Model is not a chain (several inputs or outputs, a layer
        reading two tensors or an initial state, a branch; the layer named), opset < 14, or a layer
        has no ONNX form here (named).

    Examples
    --------
    >>> x = fr.nn.Input(shape=(33, 1))
    >>> model = fr.nn.Model(x, fr.nn.Dense(1)(fr.nn.LSTM(16)(x)))
    >>> fr.onnx.export(model, "forecaster.onnx")  # onnxruntime predicts what model.predict does
    """
    fr_onnx._onnx()
    from onnx import TensorProto, helper, numpy_helper

    kind = type(model).__name__
    if kind not in ("Sequential", "Model"):
        raise TypeError(f"model: expected an fr.nn Sequential or Model, got {kind}")
    if int(opset) < 14:
        raise ValueError(f"opset: expected >= 14, got {opset}")
    if kind == "Sequential":
        if getattr(model, "built_for", None) is None:
            raise ValueError("model: not built yet (declare an input shape, or fit or call it once, first)")
        sample = tuple(model.built_for)
        chain = [
            (layer, f"model.layers[{k}] ({type(layer).__name__})") for k, layer in enumerate(model.layers)
        ]
        out_shape = tuple(model.shapes[-1]) if model.shapes else (None, *sample)
    else:
        chain, sample, out_shape = _chain(model)
    graph = _Graph(helper, numpy_helper, TensorProto)
    first = next((k for k, (layer, _) in enumerate(chain) if not isinstance(layer, InputLayer)), -1)
    tokens = first >= 0 and isinstance(chain[first][0], Embedding)
    elem = TensorProto.INT64 if tokens else TensorProto.FLOAT
    x = "x"
    lengths = ""  # the sequence_lens of the recurrent layers while a padding mask is on
    for index, (layer, where) in enumerate(chain):
        if isinstance(layer, (InputLayer, Dropout)):
            continue
        if isinstance(layer, Embedding):
            if index != first:
                raise ValueError(f"{where}: an Embedding is exported as the model's first layer only")
            if layer.mask_zero:
                padding = graph.op("Equal", [x, graph.constant("zero", np.int64(0))])
                lengths = _lengths(graph, graph.op("Not", [padding]))
            x = graph.op("Gather", [graph.constant("embeddings", layer.E.astype(np.float32)), x])
        elif isinstance(layer, Masking):
            # A step is real when any of its features differs from mask_value.
            same = graph.op("Equal", [x, graph.constant("mask_value", np.float32(layer.mask_value))])
            differs = graph.op("Cast", [graph.op("Not", [same])], to=TensorProto.INT32)
            count = graph.op(
                "ReduceSum", [differs, graph.constant("axis", np.array([2], np.int64))], keepdims=0
            )
            lengths = _lengths(graph, graph.op("Greater", [count, graph.constant("zero", np.int32(0))]))
        elif isinstance(layer, Recurrent):
            x = _recurrent(graph, x, layer, lengths, f"r{index}_")
            if not layer.return_sequences:
                lengths = ""
        elif isinstance(layer, Dense):
            x = _dense(graph, x, layer, where)
        elif isinstance(layer, TimeDistributed) and isinstance(layer.layer, Dense):
            x = _dense(graph, x, layer.layer, where)  # MatMul maps every step alike
        elif isinstance(layer, Activation):
            x = _activation(graph, x, layer.activation, where)
        elif isinstance(layer, Flatten):
            x = graph.op("Flatten", [x], axis=1)
        elif isinstance(layer, RepeatVector):
            x = graph.op("Unsqueeze", [x, graph.constant("axis", np.array([1], np.int64))])
            x = graph.op("Tile", [x, graph.constant("repeats", np.array([1, layer.n, 1], np.int64))])
        else:
            raise ValueError(f"{where}: not exported to ONNX (no form for it here)")
    if lengths:
        raise ValueError(
            "model: its output still carries the padding mask (end the masked part with a recurrent layer "
            "of return_sequences=False)"
        )
    out_dims = ["N"] + [f"o{k}" if size is None else size for k, size in enumerate(out_shape[1:])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_dims)]
    graph.nodes.append(helper.make_node("Identity", [x], ["y"]))
    dims = ["N"] + [f"d{k}" if size is None else size for k, size in enumerate(sample)]
    inputs = [helper.make_tensor_value_info("x", elem, dims)]
    onnx_graph = helper.make_graph(graph.nodes, "fusedrnn_nn_model", inputs, outputs, graph.initializers)
    fr_onnx.save_graph(onnx_graph, path, opset)
