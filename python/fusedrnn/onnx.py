"""ONNX interop (needs the ``onnx`` package; onnxruntime runs the result): `export` writes a fusedrnn layer
as ONNX ``LSTM`` / ``GRU`` / ``RNN`` nodes (one per layer, opset >= 14), `load` makes fusedrnn layers from
the LSTM / GRU / RNN nodes of a model, for instance one written by ``torch.onnx.export(nn.LSTM(...))``.

ONNX's conventions, mapped here: weights per direction ``W [D, G*H, C]``, ``R [D, G*H, H]``,
``B [D, 2*G*H]`` (input then recurrent biases); gate orders LSTM i, o, f, c (PyTorch: i, f, g, o), GRU z,
r, h (PyTorch: r, z, n); ``linear_before_reset=1`` is the reset-after GRU; ``Y [T, D, N, H]``. Keras's
hard_sigmoid is ONNX's ``HardSigmoid`` with alpha 1/6, beta 1/2; "linear" is ``Affine`` (1, 0).
"""

from __future__ import annotations

import os
from typing import Any, TypeAlias, cast

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import _cells, _options, layers
from ._recurrent import restore
from ._typing import Activation
from ._validation import kernel_dtype
from .layers import GRU, LSTM, RNN

__all__ = ["OnnxModel", "export", "load", "load_layers"]

# A file system path, as onnx.save / onnx.load take it.
PathLike: TypeAlias = "str | os.PathLike[str]"

_ONNX_ACTIVATION = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "linear": ("Affine", 1.0, 0.0),
}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("fusedrnn.onnx needs the onnx package: pip install onnx") from err
    return onnx


def _cell_of(layer: object) -> str:
    name = type(layer).__name__
    if name not in ("LSTM", "GRU", "RNN"):
        raise TypeError(f"layer: expected a fusedrnn LSTM, GRU or RNN, got {name}")
    return name.lower()


def export(
    layer: Any,
    path: PathLike,
    *,
    opset: int = 17,
    with_lengths: bool = False,
    with_initial_states: bool = False,
) -> None:
    """Writes a layer as an ONNX model: one ``LSTM`` / ``GRU`` / ``RNN`` node per layer; or a whole fr.nn
    ``Sequential`` model, or a functional ``Model`` whose layers form a chain (its recurrent layers and
    their heads: `fusedrnn.nn.onnx_export`).

    The model's input is ``x`` ([T, N, C], or [N, T, C] with batch_first), its outputs ``y``, ``h_n``
    (and ``c_n``) as the layer returns them. Inference only (dropouts are not exported). A layer with
    ``compute_dtype="bfloat16"`` is written as the float32 model of its (float32) weights: ONNX's
    recurrent nodes have no bf16-product mode, so the exported model computes in float32.

    Parameters
    ----------
    layer : LSTM, GRU or RNN, or fusedrnn.nn.Sequential or fusedrnn.nn.Model
        The layer; not with proj_size or a merge_mode other than "concat" (ONNX's recurrent nodes cannot
        express them). An fr.nn model: see `fusedrnn.nn.onnx_export.export_model`.
    path : str or os.PathLike
        The ``.onnx`` file.
    opset : int
        The ONNX opset (>= 14).
    with_lengths : bool
        Add the input ``sequence_lens`` (int32 [N]).
    with_initial_states : bool
        Add the inputs ``h0`` (and ``c0``) [L*D, N, H]; else the states start from zeros.

    Raises
    ------
    ImportError
        The onnx package is not installed.
    TypeError
        layer is not a fusedrnn LSTM, GRU or RNN.
    ValueError
        opset < 14, a projection, or a merge_mode other than "concat".

    Examples
    --------
    >>> fr.onnx.export(fr.LSTM(8, 16), "lstm.onnx", with_lengths=True)
    """
    if type(layer).__name__ in ("Sequential", "Model"):
        from .nn.onnx_export import export_model

        if with_lengths or with_initial_states:
            raise ValueError("with_lengths / with_initial_states: for a single layer only")
        export_model(layer, path, opset=opset)
        return
    if getattr(layer, "layer_norm", False):
        raise ValueError("layer: layer_norm=True is not exported (ONNX has no layer-normalised LSTM node)")
    _onnx()
    from onnx import TensorProto, helper

    cell = _cell_of(layer)
    if int(opset) < 14:
        raise ValueError(f"opset: expected >= 14, got {opset}")
    H, L, D = layer.hidden_size, layer.num_layers, 2 if layer.bidirectional else 1
    elem = element_type(layer.dtype)
    nodes: list[Any] = []
    initializers: list[Any] = []
    x_name = "x"
    inputs = [
        helper.make_tensor_value_info(
            "x", elem, ["N", "T", layer.input_size] if layer.batch_first else ["T", "N", layer.input_size]
        )
    ]
    if layer.batch_first:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_time_major"], perm=[1, 0, 2]))
        x_name = "x_time_major"
    if with_initial_states:
        inputs.append(helper.make_tensor_value_info("h0", elem, [L * D, "N", H]))
        if cell == "lstm":
            inputs.append(helper.make_tensor_value_info("c0", elem, [L * D, "N", H]))
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"]))
    layer_input, h_outputs, c_outputs = recurrent_nodes(
        layer,
        x_name,
        "",
        nodes,
        initializers,
        lengths="sequence_lens" if with_lengths else "",
        initial_states=with_initial_states,
    )
    if layer.batch_first:
        nodes.append(helper.make_node("Transpose", [layer_input], ["y"], perm=[1, 0, 2]))
    else:
        nodes.append(helper.make_node("Identity", [layer_input], ["y"]))
    nodes.append(helper.make_node("Concat", h_outputs, ["h_n"], axis=0))
    y_shape: list[str | int] = ["N", "T", D * H] if layer.batch_first else ["T", "N", D * H]
    outputs = [
        helper.make_tensor_value_info("y", elem, y_shape),
        helper.make_tensor_value_info("h_n", elem, [L * D, "N", H]),
    ]
    if cell == "lstm":
        nodes.append(helper.make_node("Concat", c_outputs, ["c_n"], axis=0))
        outputs.append(helper.make_tensor_value_info("c_n", elem, [L * D, "N", H]))
    graph = helper.make_graph(nodes, f"fusedrnn_{cell}", inputs, outputs, initializers)
    save_graph(graph, path, opset)


def element_type(dtype: Any) -> int:
    """ONNX's element type of a float32 / float64 array."""
    from onnx import TensorProto

    return int(TensorProto.FLOAT if np.dtype(dtype) == np.float32 else TensorProto.DOUBLE)


def save_graph(graph: Any, path: PathLike, opset: int) -> None:
    """The graph as a checked model of `opset`, written to path."""
    onnx = _onnx()
    from onnx import helper

    opsets = [helper.make_opsetid("", int(opset))]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="fusedrnn")
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))


def recurrent_nodes(
    layer: LSTM | GRU | RNN,
    x_name: str,
    prefix: str,
    nodes: list[Any],
    initializers: list[Any],
    *,
    lengths: str = "",
    initial_states: bool = False,
) -> tuple[str, list[str], list[str]]:
    """Appends a layer's ONNX nodes and weights, reading the time-major [T, N, C] tensor `x_name`
    (initial states from the graph inputs ``h0`` / ``c0`` when `initial_states`, the sequence lengths
    from `lengths` when given); every name starts with `prefix`. Returns the name of the time-major
    output [T, N, D*H] and the names of each layer's final h (and c) [D, N, H]."""
    from onnx import TensorProto, helper, numpy_helper

    cell = _cell_of(layer)
    if getattr(layer, "proj_size", 0):
        raise ValueError("layer: ONNX's LSTM has no projection (proj_size)")
    if getattr(layer, "layer_norm", False):
        raise ValueError("layer: layer_norm=True is not exported (ONNX has no layer-normalised LSTM node)")
    if layer.merge_mode != "concat":
        raise ValueError(f"layer: merge_mode={layer.merge_mode!r} is not exported (concat only)")
    H, L, D = layer.hidden_size, layer.num_layers, 2 if layer.bidirectional else 1
    params = layer.state_dict()
    gated = cast("LSTM | GRU", layer)  # read only for an LSTM or a GRU: an RNN has no gates
    activations: list[str]
    if cell == "lstm":
        activations = [gated.recurrent_activation, layer.activation, layer.activation]
    elif cell == "gru":
        activations = [gated.recurrent_activation, layer.activation]
    else:
        activations = [cast("RNN", layer).nonlinearity]
    names: list[str] = []
    alphas: list[float] = []
    betas: list[float] = []
    for a in activations * D:
        name, alpha, beta = _ONNX_ACTIVATION[a]
        names.append(name)
        # onnxruntime hands the alphas and betas, in order, to the activations that take them (and
        # only to those): one per activation would give a Tanh's 1.0 to a HardSigmoid after it.
        if alpha is not None and beta is not None:
            alphas.append(alpha)
            betas.append(beta)
    h_outputs: list[str] = []
    c_outputs: list[str] = []
    layer_input = x_name
    for lk in range(L):
        W: list[NDArray[Any]] = []
        R: list[NDArray[Any]] = []
        B: list[NDArray[Any]] = []
        for d in range(D):
            s = f"_l{lk}" + ("_reverse" if d else "")
            order = _cells.ONNX_ORDER[cell]
            W.append(_cells.reorder_blocks(params["weight_ih" + s], H, order))
            R.append(_cells.reorder_blocks(params["weight_hh" + s], H, order))
            if layer.bias:
                B.append(
                    np.concatenate(
                        [
                            _cells.reorder_blocks(params["bias_ih" + s], H, order),
                            _cells.reorder_blocks(params["bias_hh" + s], H, order),
                        ]
                    )
                )
        for key, value in (("W", W), ("R", R), ("B", B)):
            if value:  # no B without bias
                stacked = np.stack(value).astype(layer.dtype)
                initializers.append(numpy_helper.from_array(stacked, f"{prefix}{key}{lk}"))
        if initial_states:  # this layer's slices of the initial states
            initializers.append(helper.make_tensor(f"{prefix}s{lk}", TensorProto.INT64, [1], [lk * D]))
            initializers.append(helper.make_tensor(f"{prefix}e{lk}", TensorProto.INT64, [1], [(lk + 1) * D]))
        state_names = []
        for state in ("h0", "c0") if cell == "lstm" else ("h0",):
            sliced = f"{prefix}{state}_l{lk}"
            if initial_states:
                nodes.append(helper.make_node("Slice", [state, f"{prefix}s{lk}", f"{prefix}e{lk}"], [sliced]))
            state_names.append(sliced if initial_states else "")
        node_inputs = [
            layer_input,
            f"{prefix}W{lk}",
            f"{prefix}R{lk}",
            f"{prefix}B{lk}" if layer.bias else "",
            lengths,
        ]
        node_inputs += state_names
        node_outputs = [f"{prefix}Y{lk}", f"{prefix}Y_h{lk}"] + (
            [f"{prefix}Y_c{lk}"] if cell == "lstm" else []
        )
        attributes: dict[str, Any] = dict(
            hidden_size=H, direction="bidirectional" if D == 2 else "forward", activations=names
        )
        if alphas:
            attributes.update(activation_alpha=alphas, activation_beta=betas)
        if cell == "gru":
            attributes["linear_before_reset"] = 1 if layer.reset_after else 0
        node = helper.make_node(
            _OP[cell], node_inputs, node_outputs, name=f"{prefix}{_OP[cell]}_{lk}", **attributes
        )
        nodes.append(node)
        # Y [T, D, N, H] -> [T, N, D*H], the next layer's input (and the output y).
        nodes.append(
            helper.make_node("Transpose", [f"{prefix}Y{lk}"], [f"{prefix}Yt{lk}"], perm=[0, 2, 1, 3])
        )
        nodes.append(
            helper.make_node("Reshape", [f"{prefix}Yt{lk}", f"{prefix}merge_shape"], [f"{prefix}out{lk}"])
        )
        layer_input = f"{prefix}out{lk}"
        h_outputs.append(f"{prefix}Y_h{lk}")
        c_outputs.append(f"{prefix}Y_c{lk}")
    initializers.append(helper.make_tensor(f"{prefix}merge_shape", TensorProto.INT64, [3], [0, 0, -1]))
    return layer_input, h_outputs, c_outputs


# Per op: (cell, gates, activations per direction and their defaults, inputs it can have, its own
# attributes beyond the common ones).
_OPS: dict[str, tuple[str, int, tuple[str, ...], int, tuple[str, ...]]] = {
    "LSTM": ("lstm", _cells.gates("lstm"), ("Sigmoid", "Tanh", "Tanh"), 8, ("input_forget",)),
    "GRU": ("gru", _cells.gates("gru"), ("Sigmoid", "Tanh"), 6, ("linear_before_reset",)),
    "RNN": ("rnn", _cells.gates("rnn"), ("Tanh",), 6, ()),
}
# onnxruntime hands activation_alpha / activation_beta, in order, to the activations that take them.
_TAKE_ALPHA = ("HardSigmoid", "Affine", "ScaledTanh", "LeakyRelu", "ThresholdedRelu", "Elu")
_TAKE_BETA = ("HardSigmoid", "Affine", "ScaledTanh")


def _attribute_types() -> dict[str, int]:
    from onnx import AttributeProto as A

    return {
        "activation_alpha": A.FLOATS,
        "activation_beta": A.FLOATS,
        "activations": A.STRINGS,
        "clip": A.FLOAT,
        "direction": A.STRING,
        "hidden_size": A.INT,
        "layout": A.INT,
        "input_forget": A.INT,
        "linear_before_reset": A.INT,
    }


def _activation_of(name: str, alpha: float | None, beta: float | None, label: str) -> Activation:
    """The fusedrnn activation of an ONNX one (alpha, beta: the values onnxruntime gives it, None for
    the operator's default)."""
    for ours, (onnx_name, a, b) in _ONNX_ACTIVATION.items():
        if name != onnx_name:
            continue
        if a is None or (
            alpha is not None
            and beta is not None
            and np.isclose(alpha, a)
            and np.isclose(beta, cast(float, b))
        ):
            return cast(Activation, ours)
    raise ValueError(
        f"{label}: activation {name[:40]} (alpha {alpha}, beta {beta}) has no fusedrnn counterpart"
    )


def load_layers(path: PathLike, dtype: DTypeLike | None = None) -> list[LSTM | GRU | RNN]:
    """Only the fusedrnn layers made from the ``LSTM`` / ``GRU`` / ``RNN`` nodes of an ONNX model, with the
    nodes' weights and options (e.g. a model written by ``torch.onnx.export(nn.LSTM(...))``).

    Faithful or refused: every input and attribute of a node is either honoured or refused with a
    ValueError naming the file and the node. The model is treated as coming from a stranger: the graph
    must be in topological order (no cycle), each node's attributes must have their ONNX types and
    agree with its weights' shapes, every weight's size is checked against its dims before it is
    converted, external data is not read, and no initializer may feed two recurrent nodes (each layer
    owns its weights, so a shared one would be copied per node).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file.
    dtype : {numpy.float32, numpy.float64} or None
        The layers' dtype; None: the weights' dtype.

    Returns
    -------
    list of LSTM, GRU or RNN
        One layer per node, in graph order, time-major (ONNX's layout 0; layout=1 gives
        batch_first=True), in training mode. ``sequence_lens``, ``initial_h`` and ``initial_c`` that
        are graph inputs become the call's ``lengths=`` and ``hx`` (with layout=1 ONNX's states are
        [N, D, H]; the layer's are [D, N, H]).

    Raises
    ------
    ImportError
        The onnx package is not installed.
    FileNotFoundError
        No file at path.
    ValueError
        Not a readable ONNX model, no recurrent node, or an input or attribute it cannot honour: clip,
        input_forget, peepholes (P), a reverse-only direction, activations without a counterpart,
        weights that are not constants of the model (or are stored outside it), shapes that
        contradict the attributes, a constant sequence_lens, constant nonzero initial states.
    """
    model, where = _read(path)
    layer_dtype = None if dtype is None else kernel_dtype(dtype)
    graph = model.graph
    _check_order(graph, where)
    constants = _constants(graph)
    graph_inputs = {value.name for value in graph.input}
    owners: dict[str, str] = {}
    found: list[LSTM | GRU | RNN] = []
    for node in graph.node:
        if node.op_type in _OPS and node.domain in ("", "ai.onnx"):
            found.append(_layer_of(node, constants, graph_inputs, owners, layer_dtype, where))
    if not found:
        raise ValueError(f"{where} has no LSTM, GRU or RNN node")
    return found


def _read(path: PathLike) -> tuple[Any, str]:
    """The parsed model at path (external data not read) and the ``path: '...'`` every error starts with."""
    onnx = _onnx()
    name = os.fsdecode(os.fspath(path))
    where = f"path: {name!r}"
    if not os.path.exists(name):
        raise FileNotFoundError(f"{where}: no such file")
    try:
        model = onnx.load(name, load_external_data=False)
    except MemoryError:
        raise
    except OSError as err:
        if isinstance(err, (IsADirectoryError, PermissionError)):
            raise
        raise ValueError(f"{where} is not a readable ONNX model: {err}") from err
    except Exception as err:  # protobuf's DecodeError and whatever else a parser of strangers' bytes raises
        raise ValueError(f"{where} is not a readable ONNX model: {err}") from err
    return model, where


def _check_order(graph: Any, where: str) -> None:
    """Every node reads only graph inputs, initializers and outputs of nodes before it (ONNX's rule;
    a cycle breaks it)."""
    known = {value.name for value in graph.input} | {t.name for t in graph.initializer} | {""}
    known |= {t.values.name for t in graph.sparse_initializer}
    for node in graph.node:
        for name in node.input:
            if name not in known:
                raise ValueError(
                    f"{where}: node {(node.name or node.op_type)[:60]!r} reads {name[:60]!r} before any node "
                    "makes it (the graph is not in topological order, or has a cycle)"
                )
        known.update(node.output)


def _constants(graph: Any) -> dict[str, Any]:
    """The model's constants by name, unconverted: initializers and Constant nodes' ``value`` tensors
    (None for a Constant of another form, which is a constant all the same)."""
    values: dict[str, Any] = {t.name: t for t in graph.initializer}
    for t in graph.sparse_initializer:
        values[t.values.name] = None
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and node.output:
            tensor = next((a.t for a in node.attribute if a.name == "value" and a.HasField("t")), None)
            values[node.output[0]] = tensor
    return values


def _attributes(node: Any, op: str, label: str) -> dict[str, Any]:
    """The node's attributes, each of its ONNX type; unknown, repeated or mistyped ones refused."""
    from onnx import helper

    types = _attribute_types()
    own = _OPS[op][4]
    result: dict[str, Any] = {}
    for attribute in node.attribute:
        name = attribute.name
        if name not in types or (name in ("input_forget", "linear_before_reset") and name not in own):
            raise ValueError(f"{label}: unknown attribute {name[:60]!r} of {op}")
        if name in result:
            raise ValueError(f"{label}: attribute {name} appears twice")
        if attribute.type != types[name]:
            raise ValueError(
                f"{label}: attribute {name} has the wrong type ({attribute.type}, expected {types[name]})"
            )
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode("utf-8", "replace") for v in value]
        result[name] = value
    return result


def _tensor_array(tensor: Any, dims: tuple[int, ...], label: str, what: str) -> NDArray[Any]:
    """A constant tensor as an array, its stored size checked against its dims first."""
    from onnx import TensorProto, numpy_helper

    if tensor is None:
        raise ValueError(f"{label}: {what} is a constant of a form fusedrnn does not read")
    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        raise ValueError(f"{label}: {what} is stored outside the model file (external data is not read)")
    if tensor.HasField("segment"):
        raise ValueError(f"{label}: {what} is a segment of a tensor")
    fields = {
        TensorProto.FLOAT: ("float_data", 4),
        TensorProto.DOUBLE: ("double_data", 8),
        TensorProto.INT32: ("int32_data", 4),
        TensorProto.INT64: ("int64_data", 8),
    }
    if tensor.data_type not in fields:
        raise ValueError(
            f"{label}: {what} has ONNX data type {tensor.data_type} (float, double or int expected)"
        )
    field, itemsize = fields[tensor.data_type]
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    stored = len(tensor.raw_data) if tensor.raw_data else len(getattr(tensor, field)) * itemsize
    if stored != count * itemsize:
        raise ValueError(
            f"{label}: {what} holds {stored} bytes, its dims {list(dims)} need {count * itemsize}"
        )
    return numpy_helper.to_array(tensor)


def _dims(tensor: Any, label: str, what: str) -> tuple[int, ...]:
    if tensor is None:
        raise ValueError(f"{label}: {what} is a constant of a form fusedrnn does not read")
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"{label}: {what} has negative dims {list(dims)}")
    return dims


def _layer_of(
    node: Any,
    constants: dict[str, Any],
    graph_inputs: set[str],
    owners: dict[str, str],
    dtype: np.dtype[Any] | None,
    where: str,
    *,
    constant_inputs_run: bool = False,
) -> LSTM | GRU | RNN:
    """The layer of a recurrent node. constant_inputs_run: the caller runs the node with its constant
    sequence_lens and initial states (fr.onnx.load's model); otherwise (a bare layer) a constant
    sequence_lens or nonzero initial state is refused, since a layer cannot keep them."""
    from onnx import TensorProto

    op = node.op_type
    label = f"{where}: node {(node.name or op)[:60]!r}"
    cell, G, defaults, most, _ = _OPS[op]
    inputs = list(node.input)
    if len(inputs) < 3 or not inputs[1] or not inputs[2]:
        raise ValueError(f"{label}: {op} needs the inputs X, W and R, got {inputs[:3]}")
    if len(inputs) > most:
        raise ValueError(f"{label}: {op} has at most {most} inputs, got {len(inputs)}")
    inputs += [""] * (most - len(inputs))
    attributes = _attributes(node, op, label)
    if "clip" in attributes:
        raise ValueError(f"{label}: clip={attributes['clip']} has no fusedrnn counterpart")
    if attributes.get("input_forget", 0):
        raise ValueError(
            f"{label}: input_forget={attributes['input_forget']} (coupled gates) is not supported"
        )
    direction = attributes.get("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        reason = (
            "alone has no fusedrnn counterpart (bidirectional or forward)"
            if direction == "reverse"
            else "is not an ONNX direction"
        )
        raise ValueError(f"{label}: direction={direction[:40]!r} {reason}")
    D = 2 if direction == "bidirectional" else 1
    layout = attributes.get("layout", 0)
    if layout not in (0, 1):
        raise ValueError(f"{label}: layout={layout} (0 or 1 expected)")
    reset_after = attributes.get("linear_before_reset", 0)
    if reset_after not in (0, 1):
        raise ValueError(f"{label}: linear_before_reset={reset_after} (0 or 1 expected)")
    if op == "LSTM" and inputs[7]:
        raise ValueError(f"{label}: peephole weights (input P) are not supported")

    # The weights: constants of the model, their dims against each other and the attributes.
    tensors = {}
    for index, what in ((1, "W"), (2, "R"), (3, "B")):
        name = inputs[index]
        if not name:
            continue
        if name not in constants or name in graph_inputs:
            raise ValueError(f"{label}: {what} ({name[:60]!r}) is not a constant of the model")
        if name in owners:
            raise ValueError(
                f"{label}: {what} ({name[:60]!r}) also feeds {owners[name]}: every recurrent node needs its "
                "own weights (fusedrnn would copy a shared one per node)"
            )
        owners[name] = f"node {(node.name or op)[:60]!r}"
        tensors[what] = constants[name]
    W_dims = _dims(tensors["W"], label, "W")
    if len(W_dims) != 3 or W_dims[0] != D or W_dims[1] % G or W_dims[1] == 0 or W_dims[2] == 0:
        raise ValueError(f"{label}: W has dims {list(W_dims)}; direction={direction} needs [{D}, {G}*H, C]")
    GH, C = W_dims[1], W_dims[2]
    H = GH // G
    if attributes.get("hidden_size", H) != H:
        raise ValueError(
            f"{label}: hidden_size={attributes['hidden_size']} contradicts W, whose dims give H={H}"
        )
    expected_dims = {"R": (D, GH, H), "B": (D, 2 * GH)}
    for what, dims in expected_dims.items():
        if what in tensors and _dims(tensors[what], label, what) != dims:
            raise ValueError(
                f"{label}: {what} has dims {list(_dims(tensors[what], label, what))}, expected {list(dims)}"
            )
    elem = tensors["W"].data_type
    if elem not in (TensorProto.FLOAT, TensorProto.DOUBLE):
        raise ValueError(f"{label}: W has ONNX data type {elem} (float or double expected)")
    if any(t.data_type != elem for t in tensors.values()):
        raise ValueError(f"{label}: W, R and B have different data types")

    # Activations: exactly one list entry per activation and direction; alphas / betas as onnxruntime
    # hands them out.
    names = list(attributes.get("activations", [])) or list(defaults) * D
    if len(names) != len(defaults) * D:
        raise ValueError(
            f"{label}: {len(names)} activations; {op} with direction={direction} takes {len(defaults) * D}"
        )
    alphas = list(attributes.get("activation_alpha", []))
    betas = list(attributes.get("activation_beta", []))
    ours = []
    for activation in names:
        alpha = alphas.pop(0) if activation in _TAKE_ALPHA and alphas else None
        beta = betas.pop(0) if activation in _TAKE_BETA and betas else None
        ours.append(_activation_of(activation, alpha, beta, label))
    per_direction = len(defaults)
    if D == 2 and ours[:per_direction] != ours[per_direction:]:
        raise ValueError(f"{label}: the two directions use different activations")
    if cell == "lstm" and ours[1] != ours[2]:
        raise ValueError(f"{label}: LSTM activations g={ours[1]} and h={ours[2]} differ (fusedrnn has one)")

    # The optional inputs: run-time values become the call's arguments; constants are honoured or
    # refused, never dropped.
    if inputs[4] in constants and not constant_inputs_run:
        raise ValueError(
            f"{label}: a constant sequence_lens ({inputs[4][:60]!r}) is not kept by a layer; make it a graph "
            "input and pass lengths= when calling the layer"
        )
    for index, what in ((5, "initial_h"), (6, "initial_c")):
        name = inputs[index] if index < len(inputs) else ""
        if name and name in constants:
            dims = _dims(constants[name], label, what)
            if len(dims) != 3 or dims[2] != H or dims[layout] != D:
                layout_dims = "[D, N, H]" if layout == 0 else "[N, D, H]"
                raise ValueError(
                    f"{label}: {what} has dims {list(dims)}, expected {layout_dims} with D={D}, H={H}"
                )
            if not constant_inputs_run and np.any(_tensor_array(constants[name], dims, label, what)):
                raise ValueError(
                    f"{label}: a constant nonzero {what} ({name[:60]!r}) is not kept by a layer; make it "
                    "a graph input and pass it as the call's initial state"
                )

    class_name = op
    dtype_name = (dtype or np.dtype(np.float32 if elem == TensorProto.FLOAT else np.float64)).name
    options: dict[str, Any] = dict(
        input_size=C,
        hidden_size=H,
        bias="B" in tensors,
        batch_first=layout == 1,
        bidirectional=D == 2,
        dtype=dtype_name,
    )
    if cell == "rnn":
        options["nonlinearity"] = ours[0]
    else:
        options.update(activation=ours[1], recurrent_activation=ours[0])
    if cell == "gru":
        options["reset_after"] = bool(reset_after)
    checked = _options.check(class_name, options, label)
    _options.parameter_shapes(class_name, checked, label)  # the kernels' limits, before any copy
    arrays = {what: _tensor_array(t, tuple(t.dims), label, what) for what, t in tensors.items()}
    inverse = _cells.inverse(_cells.ONNX_ORDER[cell])
    params: dict[str, NDArray[Any]] = {}
    for d in range(D):
        s = "_l0" + ("_reverse" if d else "")
        params["weight_ih" + s] = _cells.reorder_blocks(arrays["W"][d], H, inverse)
        params["weight_hh" + s] = _cells.reorder_blocks(arrays["R"][d], H, inverse)
        if "B" in arrays:
            params["bias_ih" + s] = _cells.reorder_blocks(arrays["B"][d][:GH], H, inverse)
            params["bias_hh" + s] = _cells.reorder_blocks(arrays["B"][d][GH:], H, inverse)
    params = {key: value.astype(dtype_name, copy=False) for key, value in params.items()}
    cls = getattr(layers, class_name)
    return cast("LSTM | GRU | RNN", restore(cls, {**options, "_params": params}, label, copy=False))


def load(path: PathLike, dtype: DTypeLike | None = None) -> OnnxModel:
    """An ONNX model as one callable fusedrnn model (`OnnxModel`): its ``LSTM`` / ``GRU`` / ``RNN``
    nodes become fusedrnn layers with the nodes' weights and options, and the operators around them run
    as ONNX defines them, so ``model(x)`` returns what onnxruntime returns for the same file (e.g. one
    written by ``torch.onnx.export`` of a module holding ``nn.LSTM(num_layers=2, bidirectional=True)``
    and an ``nn.Linear`` head, or by `export`).

    Besides the recurrent nodes a model may hold: Identity, Dropout (inference: identity), Transpose,
    Reshape, Squeeze, Unsqueeze, Flatten, Concat, Slice, Gather, Shape, Cast, Constant,
    ConstantOfShape, Expand, Tile, Gemm, MatMul, Add, Sub, Mul, Div, Neg, Equal, Greater, Less, And,
    Or, Not, ReduceSum, ReduceMean, and the activations Relu, Sigmoid, Tanh, Exp, Softplus, Softsign,
    Elu, LeakyRelu, Selu, HardSigmoid, Softmax, LogSoftmax. Any other operator is refused by name
    (`load_layers` reads only the recurrent nodes of such a file).

    Faithful or refused, as for `load_layers`: the file is treated as coming from a stranger. Every
    node's operator, inputs and attributes (each of its ONNX type) are checked, and every constant's
    size against its dims, before anything the file describes is allocated; a recurrent node's inputs
    and attributes are honoured or refused (the list under Raises). When the model runs, a node that
    would allocate (Expand, Tile, ConstantOfShape, broadcasting, MatMul, Gemm, Gather) is checked
    first: no computed tensor may hold more than 2**26 elements or 1024 times the elements of the
    call's inputs, whichever is more. A recurrent node's sequence_lens and initial states may be
    constants of the file here (the model passes them to the layer at every call; `load_layers`, whose
    bare layers cannot keep them, refuses them).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file.
    dtype : {numpy.float32, numpy.float64} or None
        The layers' dtype (and that of the model's float constants); None: the weights' dtype.

    Returns
    -------
    OnnxModel
        ``model(x)`` (the graph's inputs in its order, or by name), ``model.run(None, feeds)``,
        ``model.layers`` (one fusedrnn layer per recurrent node, in graph order, in eval mode,
        time-major or batch_first as the node's layout), ``model.input_names`` /
        ``model.output_names``. The model is a sequence of its layers too (``model[0]``,
        ``len(model)``, iteration), as the list `load` returned before.

    Raises
    ------
    ImportError
        The onnx package is not installed.
    FileNotFoundError
        No file at path.
    ValueError
        Not a readable ONNX model, no recurrent node, an operator not listed above, an attribute that
        is unknown or of the wrong type, a node with the wrong number of inputs, a graph output no node
        makes, or what a recurrent node cannot honour: clip, input_forget, peepholes (P), a
        reverse-only direction, activations without a counterpart, weights that are not constants of
        the model (or are stored outside it), shapes that contradict the attributes. When called: a
        constant sequence_lens or initial state whose batch size is not the input's, names the node.

    Examples
    --------
    >>> torch.onnx.export(net, (torch.zeros(20, 4, 8),), "net.onnx", dynamo=False)
    >>> model = fr.onnx.load("net.onnx")
    >>> y, h_n, c_n = model(x)          # as onnxruntime.InferenceSession("net.onnx").run(None, {...})
    >>> model.layers                    # [LSTM(8, 16, bidirectional=True), LSTM(32, 16, ...)]
    """
    model, where = _read(path)
    layer_dtype = None if dtype is None else kernel_dtype(dtype)
    graph = model.graph
    _check_order(graph, where)
    constants = _constants(graph)
    graph_inputs = {value.name for value in graph.input}
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    owners: dict[str, str] = {}
    layers: list[LSTM | GRU | RNN] = []
    steps: list[_Step] = []
    values: dict[str, NDArray[Any]] = {}
    for node in graph.node:
        op = node.op_type
        label = f"{where}: node {(node.name or op)[:60]!r}"
        if node.domain not in ("", "ai.onnx"):
            raise ValueError(
                f"{label}: operator {op[:40]} of domain {node.domain[:40]!r} is not supported (the "
                "standard domain only)"
            )
        if op in _OPS:
            layer = _layer_of(
                node, constants, graph_inputs, owners, layer_dtype, where, constant_inputs_run=True
            )
            inputs = list(node.input) + [""] * (8 - len(node.input))
            inputs[1:4] = ["", "", ""]  # the weights: the layer's now
            # Constant X, sequence_lens and initial states are the call's arguments, as run-time ones
            # (their dims against the node's were checked by _layer_of; against X's by the call).
            for k, what in ((0, "X"), (4, "sequence_lens"), (5, "initial_h"), (6, "initial_c")):
                if inputs[k] in constants:
                    values[inputs[k]] = _constant_value(constants[inputs[k]], label, what, layer_dtype)
            layout = next((int(a.i) for a in node.attribute if a.name == "layout"), 0)
            steps.append(_Step(op, node.name, label, inputs, list(node.output), {}, len(layers), layout))
            layers.append(layer.eval())
            continue
        if op not in _GRAPH_OPS:
            raise ValueError(
                f"{label}: operator {op[:40]} is not supported by fr.onnx.load (see its documentation for "
                "the operators it runs; fr.onnx.load_layers reads only the LSTM / GRU / RNN nodes)"
            )
        schema, least, most, count = _GRAPH_OPS[op]
        attributes = _graph_attributes(node, op, schema, label)
        if not least <= len(node.input) <= most:
            raise ValueError(f"{label}: {op} takes {least} to {most} inputs, got {len(node.input)}")
        if any(node.output[count:]) or not node.output or not node.output[0]:
            raise ValueError(
                f"{label}: {op} makes {count} output(s) here, the node asks for {len(node.output)}"
            )
        if op == "Concat" and "axis" not in attributes:
            raise ValueError(f"{label}: Concat without its axis attribute")
        if op == "Cast" and attributes.get("to") not in _NUMPY_TYPES:
            raise ValueError(
                f"{label}: Cast to ONNX type {attributes.get('to')} (float, double, int32, int64 or bool "
                "expected)"
            )
        if op in ("Softmax", "LogSoftmax") and opset < 13:
            attributes["_coerced"] = attributes.get("axis", 1)  # ONNX < 13: over the dims from axis on
        for name in node.input:
            if name and name in constants and name not in values:
                values[name] = _constant_value(constants[name], label, name, layer_dtype)
        if op == "Constant":
            values[node.output[0]] = _constant_node_value(attributes, label, layer_dtype)
            continue
        if op == "ConstantOfShape" and "value" in attributes:
            attributes["value"] = _constant_value(attributes["value"], label, "value", layer_dtype)
            if attributes["value"].size != 1:
                raise ValueError(
                    f"{label}: ConstantOfShape's value has {attributes['value'].size} elements, not 1"
                )
        steps.append(_Step(op, node.name, label, list(node.input), list(node.output[:count]), attributes))
    if not layers:
        raise ValueError(f"{where} has no LSTM, GRU or RNN node")
    declared: list[tuple[str, int, list[int | None]]] = []
    for value in graph.input:
        if value.name in constants:
            continue  # an initializer listed as an input too (older files): a constant
        elem = int(value.type.tensor_type.elem_type)
        if elem not in _FLOAT_INPUTS and elem not in _INT_INPUTS:
            raise ValueError(
                f"{where}: input {value.name[:60]!r} has ONNX type {elem} (float, double, int32 or int64 "
                "expected)"
            )
        dims: list[int | None] = []
        if value.type.tensor_type.HasField("shape"):
            dims = [
                int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in value.type.tensor_type.shape.dim
            ]
        declared.append((value.name, elem, dims))
    made = {name for step in steps for name in step.outputs} | set(values) | graph_inputs
    outputs = [value.name for value in graph.output]
    for name in outputs:
        if name not in made:
            raise ValueError(f"{where}: output {name[:60]!r} is made by no node")
    keep = {name for step in steps for name in step.inputs} | set(outputs)
    kept = {name: array for name, array in values.items() if name in keep}
    return OnnxModel(graph.name or "onnx", declared, outputs, steps, kept, layers)


def _graph_attributes(node: Any, op: str, schema: dict[str, str], label: str) -> dict[str, Any]:
    """A non-recurrent node's attributes, each of its ONNX type; unknown, repeated or mistyped refused."""
    from onnx import AttributeProto, helper

    result: dict[str, Any] = {}
    for attribute in node.attribute:
        name = attribute.name
        if name not in schema:
            raise ValueError(f"{label}: unknown attribute {name[:60]!r} of {op}")
        if name in result:
            raise ValueError(f"{label}: attribute {name} appears twice")
        expected = getattr(AttributeProto, schema[name])
        if attribute.type != expected:
            raise ValueError(
                f"{label}: attribute {name} has the wrong type ({attribute.type}, expected {expected})"
            )
        result[name] = attribute.t if schema[name] == _TENSOR else helper.get_attribute_value(attribute)
    return result


def _constant_value(tensor: Any, label: str, what: str, dtype: np.dtype[Any] | None) -> NDArray[Any]:
    """A constant tensor as an array (its size checked against its dims first), float ones in dtype."""
    array = _tensor_array(tensor, _dims(tensor, label, what[:60]), label, what[:60])
    if dtype is not None and array.dtype.kind == "f":
        array = array.astype(dtype)
    return array


def _constant_node_value(attributes: dict[str, Any], label: str, dtype: np.dtype[Any] | None) -> NDArray[Any]:
    if len(attributes) != 1:
        raise ValueError(f"{label}: a Constant needs one of value, value_float(s), value_int(s)")
    ((name, value),) = attributes.items()
    if name == "value":
        return _constant_value(value, label, "value", dtype)
    array = np.asarray(value, np.float32 if name.startswith("value_float") else np.int64)
    return array.astype(dtype) if dtype is not None and array.dtype.kind == "f" else array


# --- a whole model: the graph around the recurrent nodes -----------------------------------------------

# The operators a model may hold besides LSTM / GRU / RNN (what torch.onnx.export of recurrent modules
# with Linear heads, Keras-to-ONNX converters and fr.onnx.export write between and after them): per op,
# its attributes with their ONNX types, and its least and most inputs and most outputs.
_INT, _INTS, _FLOAT, _TENSOR = "INT", "INTS", "FLOAT", "TENSOR"
_GRAPH_OPS: dict[str, tuple[dict[str, str], int, int, int]] = {
    "Identity": ({}, 1, 1, 1),
    "Dropout": ({"seed": _INT, "ratio": _FLOAT}, 1, 3, 1),
    "Transpose": ({"perm": _INTS}, 1, 1, 1),
    "Reshape": ({"allowzero": _INT}, 2, 2, 1),
    "Squeeze": ({"axes": _INTS}, 1, 2, 1),
    "Unsqueeze": ({"axes": _INTS}, 1, 2, 1),
    "Flatten": ({"axis": _INT}, 1, 1, 1),
    "Concat": ({"axis": _INT}, 1, 1 << 10, 1),
    "Slice": ({}, 3, 5, 1),
    "Gather": ({"axis": _INT}, 2, 2, 1),
    "Shape": ({"start": _INT, "end": _INT}, 1, 1, 1),
    "Cast": ({"to": _INT, "saturate": _INT}, 1, 1, 1),
    "Constant": (
        {
            "value": _TENSOR,
            "value_float": _FLOAT,
            "value_floats": "FLOATS",
            "value_int": _INT,
            "value_ints": _INTS,
        },
        0,
        0,
        1,
    ),
    "ConstantOfShape": ({"value": _TENSOR}, 1, 1, 1),
    "Expand": ({}, 2, 2, 1),
    "Tile": ({}, 2, 2, 1),
    "Gemm": ({"alpha": _FLOAT, "beta": _FLOAT, "transA": _INT, "transB": _INT}, 2, 3, 1),
    "MatMul": ({}, 2, 2, 1),
    **{op: ({}, 2, 2, 1) for op in ("Add", "Sub", "Mul", "Div", "Equal", "Greater", "Less", "And", "Or")},
    **{op: ({}, 1, 1, 1) for op in ("Relu", "Sigmoid", "Tanh", "Exp", "Softplus", "Softsign", "Not", "Neg")},
    "Elu": ({"alpha": _FLOAT}, 1, 1, 1),
    "LeakyRelu": ({"alpha": _FLOAT}, 1, 1, 1),
    "Selu": ({"alpha": _FLOAT, "gamma": _FLOAT}, 1, 1, 1),
    "HardSigmoid": ({"alpha": _FLOAT, "beta": _FLOAT}, 1, 1, 1),
    "Softmax": ({"axis": _INT}, 1, 1, 1),
    "LogSoftmax": ({"axis": _INT}, 1, 1, 1),
    "ReduceSum": ({"keepdims": _INT, "noop_with_empty_axes": _INT, "axes": _INTS}, 1, 2, 1),
    "ReduceMean": ({"keepdims": _INT, "noop_with_empty_axes": _INT, "axes": _INTS}, 1, 2, 1),
}
# ONNX element types a Cast may produce, and a graph input may be (float inputs are converted to the
# declared type, integer ones must be integers).
_NUMPY_TYPES = {1: np.float32, 11: np.float64, 6: np.int32, 7: np.int64, 9: np.bool_}
_FLOAT_INPUTS = {1: np.float32, 10: np.float32, 11: np.float64}
_INT_INPUTS = {6: np.int32, 7: np.int64}
# A computed tensor may hold at most this many elements, or _GROWTH times as many as the call's inputs:
# what an operator allocates (Expand, Tile, ConstantOfShape, broadcasting, MatMul, Gather) is checked
# against it before the allocation, so a file's constants cannot make a call allocate without bound.
_FLOOR, _GROWTH = 1 << 26, 1024


class _Step:
    """One node of the graph as the model runs it: the op, the node's name and the label errors name it
    by, its input and output names ("" for an absent optional one), its attributes, and its layer (and
    layout) for a recurrent node."""

    __slots__ = ("op", "name", "label", "inputs", "outputs", "attributes", "layer", "layout")

    def __init__(
        self,
        op: str,
        name: str,
        label: str,
        inputs: list[str],
        outputs: list[str],
        attributes: dict[str, Any],
        layer: int = -1,
        layout: int = 0,
    ) -> None:
        self.op, self.label, self.inputs, self.outputs = op, label, inputs, outputs
        self.name = name
        self.attributes, self.layer, self.layout = attributes, layer, layout


class OnnxModel:
    """An ONNX model made callable by fusedrnn (what `load` returns): its LSTM / GRU / RNN nodes run as
    fusedrnn layers (`layers`), the operators around them (transposes, reshapes, squeezes, slices,
    concatenations, Gemm / MatMul + Add heads and their activations, Gather embeddings, ...) with NumPy.

    ``model(x)`` returns what onnxruntime's ``InferenceSession(path).run(None, {"x": x})`` returns:
    the graph's one output as an array, or a tuple of its outputs in the graph's order (a torch
    ``nn.LSTM`` export: ``y, h_n, c_n``). Several graph inputs are given in the graph's order
    (``model(x, h0, c0)``) or by name (``model(x, sequence_lens=lengths)``); ``model.run(None, feeds)``
    is onnxruntime's call. Inputs come in the graph's layout (a time-major file takes [T, N, C]).

    ``model.layers`` lists the fusedrnn layers, one per recurrent node in graph order (eval mode; a
    layer's weights can be read, changed, saved, quantized like any layer's), and the model is also a
    sequence of them, as the list `load` returned before: ``model[0]``, ``len(model)``,
    ``for layer in model``. A model pickles; it is safe to call from several threads at once."""

    def __init__(
        self,
        name: str,
        inputs: list[tuple[str, int, list[int | None]]],
        outputs: list[str],
        steps: list[_Step],
        constants: dict[str, NDArray[Any]],
        layers: list[LSTM | GRU | RNN],
    ) -> None:
        self.name = name
        self._inputs = inputs
        self._outputs = outputs
        self._steps = steps
        self._constants = constants
        self.layers = layers

    @property
    def input_names(self) -> list[str]:
        """The graph's inputs, in its order."""
        return [name for name, _, _ in self._inputs]

    @property
    def output_names(self) -> list[str]:
        """The graph's outputs, in its order."""
        return list(self._outputs)

    @property
    def nodes(self) -> list[tuple[str, str]]:
        """Every node the model runs, in order: (name, op type); Constant nodes are read at load."""
        return [(step.name, step.op) for step in self._steps]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> LSTM | GRU | RNN:
        return self.layers[index]

    def __iter__(self) -> Any:
        return iter(self.layers)

    def __repr__(self) -> str:
        kinds = ", ".join(type(layer).__name__ for layer in self.layers)
        return (
            f"<OnnxModel {self.name!r}: inputs {self.input_names}, outputs {self.output_names}, "
            f"{len(self._steps)} nodes, layers [{kinds}]>"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        names = self.input_names
        if len(args) > len(names):
            raise TypeError(f"the model takes {len(names)} inputs ({', '.join(names)}), got {len(args)}")
        feeds = dict(zip(names, args, strict=False))  # args may be fewer: the rest by name
        for key, value in kwargs.items():
            if key in feeds:
                raise TypeError(f"input {key!r} given twice (by position and by name)")
            feeds[key] = value
        outputs = self.run(None, feeds)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[NDArray[Any]]:
        """onnxruntime's ``InferenceSession.run``: the outputs named (None: all, in the graph's order)
        for the inputs `feeds` (a dict by input name), as a list.

        Raises
        ------
        ValueError
            An input missing, unknown, of the wrong kind (float / integer) or shape, an unknown output,
            or a node that cannot compute its inputs (named, as onnxruntime would fail there), or a
            computed tensor larger than the model may allocate (`load`).
        """
        wanted = list(self._outputs) if output_names is None else list(output_names)
        for name in wanted:
            if name not in self._outputs:
                raise ValueError(
                    f"output_names: no output {name!r} (the outputs: {', '.join(self._outputs)})"
                )
        unknown = [key for key in feeds if key not in self.input_names]
        if unknown:
            raise ValueError(f"feeds: no input {unknown[0]!r} (the inputs: {', '.join(self.input_names)})")
        values: dict[str, Any] = dict(self._constants)
        fed = 0
        for name, elem, dims in self._inputs:
            if name not in feeds:
                raise ValueError(
                    f"feeds: input {name!r} is missing (the inputs: {', '.join(self.input_names)})"
                )
            values[name] = _input_array(feeds[name], name, elem, dims)
            fed += values[name].size
        limit = max(_FLOOR, _GROWTH * fed)
        for step in self._steps:
            args = [values[name] if name else None for name in step.inputs]
            try:
                results = self._run_step(step, args, limit)
            except (ValueError, IndexError, TypeError) as err:
                raise ValueError(f"{step.label}: {err}") from err
            for name, value in zip(step.outputs, results, strict=False):  # a node may ask for fewer
                if name:
                    values[name] = value
        return [np.asarray(values[name]) for name in wanted]

    def _run_step(self, step: _Step, args: list[Any], limit: int) -> list[Any]:
        if step.layer >= 0:
            return _run_recurrent(self.layers[step.layer], step, args)
        return [_run_op(step.op, step.attributes, args, limit)]


def _input_array(value: Any, name: str, elem: int, dims: list[int | None]) -> NDArray[Any]:
    array = np.asarray(value)
    if elem in _INT_INPUTS:
        if array.dtype.kind not in "iu":
            raise ValueError(f"{name}: expected integers (ONNX type {elem}), got {array.dtype}")
        array = array.astype(_INT_INPUTS[elem], copy=False)
    else:
        if array.dtype.kind not in "fiu":
            raise ValueError(f"{name}: expected real numbers, got {array.dtype}")
        array = array.astype(_FLOAT_INPUTS.get(elem, np.float32), copy=False)
    if dims and (
        array.ndim != len(dims)
        or any(d is not None and d != n for d, n in zip(dims, array.shape, strict=True))
    ):
        shown = ", ".join("?" if d is None else str(d) for d in dims)
        raise ValueError(f"{name}: expected shape [{shown}], got {list(array.shape)}")
    return array


def _run_recurrent(layer: LSTM | GRU | RNN, step: _Step, args: list[Any]) -> list[Any]:
    """A recurrent node: X, and the run-time sequence_lens and initial states, through the layer;
    its outputs Y [T, D, N, H] (layout 1: [N, T, D, H]), Y_h and Y_c [D, N, H] (layout 1: [N, D, H])."""
    x = args[0]
    lengths = args[4] if len(args) > 4 else None
    states = [args[k] if len(args) > k else None for k in (5, 6)]
    if step.layout == 1:
        states = [None if s is None else np.swapaxes(s, 0, 1) for s in states]
    D = 2 if layer.bidirectional else 1
    lstm = isinstance(layer, LSTM)
    hx: Any = None
    if any(s is not None for s in (states if lstm else states[:1])):
        N = x.shape[0] if layer.batch_first else x.shape[1]
        zeros = np.zeros((D, N, layer.hidden_size), layer.dtype)
        h0 = zeros if states[0] is None else states[0]
        hx = (h0, zeros if states[1] is None else states[1]) if lstm else h0
    y, final = layer(x, hx, lengths=None if lengths is None else np.asarray(lengths))
    T_or_N, N_or_T = y.shape[0], y.shape[1]
    Y = y.reshape(T_or_N, N_or_T, D, -1)
    Y = Y if step.layout == 1 else Y.transpose(0, 2, 1, 3)
    finals = list(final) if lstm else [final]
    if step.layout == 1:
        finals = [np.swapaxes(f, 0, 1) for f in finals]
    return [Y, *finals]


def _bounded(shape: tuple[int, ...], limit: int) -> tuple[int, ...]:
    """shape, if a tensor of it may be allocated (no negative dims, at most `limit` elements)."""
    if any(d < 0 for d in shape):
        raise ValueError(f"a computed shape {list(shape)} has negative dims")
    count = 1
    for d in shape:
        count *= int(d)
    if count > limit:
        raise ValueError(
            f"the node would make a tensor of shape {list(shape)} ({count} elements, more than the "
            f"{limit} a call of this size may allocate)"
        )
    return shape


def _axes(attributes: dict[str, Any], args: list[Any]) -> list[int] | None:
    """The axes of Squeeze / Unsqueeze / ReduceSum: the second input (opset >= 13) or the attribute."""
    if len(args) > 1 and args[1] is not None:
        return [int(a) for a in np.asarray(args[1]).reshape(-1).tolist()]
    axes = attributes.get("axes")
    return None if axes is None else [int(a) for a in axes]


def _softmax(x: Any, axis: int, log: bool) -> Any:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    if log:
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _run_op(op: str, attributes: dict[str, Any], args: list[Any], limit: int) -> Any:
    """One non-recurrent operator on arrays, as ONNX defines it (inference)."""
    x = args[0]
    if op in ("Identity", "Dropout"):
        return x
    if op == "Transpose":
        perm = attributes.get("perm")
        return np.transpose(x, None if perm is None else [int(p) for p in perm])
    if op == "Reshape":
        shape = [int(d) for d in np.asarray(args[1]).reshape(-1)]
        if not attributes.get("allowzero", 0):
            shape = [x.shape[k] if d == 0 and k < x.ndim else d for k, d in enumerate(shape)]
        return np.reshape(x, shape)
    if op == "Squeeze":
        axes = _axes(attributes, args)
        return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axes))
    if op == "Unsqueeze":
        axes = _axes(attributes, args)
        if axes is None:
            raise ValueError("Unsqueeze without axes")
        rank = x.ndim + len(axes)
        at = sorted(a % rank for a in axes)
        if len(set(at)) != len(at):
            raise ValueError(f"Unsqueeze: repeated axes {axes}")
        shape = list(x.shape)
        for a in at:  # a reshape: cheaper than np.expand_dims on the small shape tensors exporters make
            shape.insert(a, 1)
        return x.reshape(shape)
    if op == "Flatten":
        axis = attributes.get("axis", 1) % (x.ndim + 1) if x.ndim else 0
        outer = int(np.prod(x.shape[:axis], dtype=np.int64))
        return np.reshape(x, (outer, -1))
    if op == "Concat":
        return np.concatenate(args, axis=attributes["axis"])
    if op == "Slice":
        starts, ends = np.asarray(args[1]).reshape(-1), np.asarray(args[2]).reshape(-1)
        on = np.arange(len(starts)) if len(args) < 4 or args[3] is None else np.asarray(args[3]).reshape(-1)
        strides = (
            np.ones(len(starts), np.int64)
            if len(args) < 5 or args[4] is None
            else np.asarray(args[4]).reshape(-1)
        )
        if not len(starts) == len(ends) == len(on) == len(strides):
            raise ValueError("Slice: starts, ends, axes and steps differ in length")
        index: list[Any] = [slice(None)] * x.ndim
        for start, end, axis, stride in zip(starts, ends, on, strides, strict=True):
            if int(stride) == 0:
                raise ValueError("Slice: a step of 0")
            index[int(axis)] = slice(int(start), int(end), int(stride))
        return x[tuple(index)]
    if op == "Gather":
        indices = np.asarray(args[1])
        axis = attributes.get("axis", 0)
        rows = x.shape[axis]
        if indices.ndim == 0:  # one index (a shape's entry, as exporters read the batch size): no search
            single = int(indices)
            if not -rows <= single < rows:
                raise ValueError(f"Gather: index {single} outside [-{rows}, {rows})")
            return np.take(x, single, axis=axis)
        _bounded(x.shape[: axis % x.ndim] + indices.shape + x.shape[axis % x.ndim + 1 :], limit)
        if indices.size and (indices.min() < -rows or indices.max() >= rows):
            raise ValueError(f"Gather: an index outside [-{rows}, {rows})")
        return np.take(x, indices, axis=axis)
    if op == "Shape":
        sizes = np.array(x.shape, np.int64)
        return sizes[attributes.get("start", 0) : attributes.get("end", len(sizes))]
    if op == "Cast":
        return np.asarray(x).astype(_NUMPY_TYPES[attributes["to"]])
    if op == "ConstantOfShape":
        filled = _bounded(tuple(int(d) for d in np.asarray(x).reshape(-1).tolist()), limit)
        value = attributes.get("value")
        fill = np.zeros(1, np.float32) if value is None else value
        if not fill.any():
            return np.zeros(filled, fill.dtype)
        return np.full(filled, fill.reshape(-1)[0], fill.dtype)
    if op == "Expand":
        target = tuple(int(d) for d in np.asarray(args[1]).reshape(-1))
        expanded = _bounded(np.broadcast_shapes(x.shape, target), limit)
        return np.broadcast_to(x, expanded).copy()
    if op == "Tile":
        repeats = tuple(int(r) for r in np.asarray(args[1]).reshape(-1))
        if len(repeats) != x.ndim:
            raise ValueError(f"Tile: {len(repeats)} repeats for a tensor of rank {x.ndim}")
        _bounded(tuple(d * r for d, r in zip(x.shape, repeats, strict=True)), limit)
        return np.tile(x, repeats)
    if op == "Gemm":
        a = x.T if attributes.get("transA", 0) else x
        b = args[1].T if attributes.get("transB", 0) else args[1]
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"Gemm: expected 2-D A and B, got shapes {list(a.shape)}, {list(b.shape)}")
        _bounded((a.shape[0], b.shape[1]), limit)
        out = np.matmul(a, b)
        alpha = attributes.get("alpha", 1.0)
        if alpha != 1.0:
            out = out * np.asarray(alpha, out.dtype)
        if len(args) > 2 and args[2] is not None:
            beta = attributes.get("beta", 1.0)
            c = args[2] if beta == 1.0 else args[2] * np.asarray(beta, args[2].dtype)
            _bounded(np.broadcast_shapes(out.shape, np.shape(c)), limit)
            out = out + c
        return out
    if op == "MatMul":
        b = args[1]
        if x.ndim == 0 or b.ndim == 0:
            raise ValueError("MatMul of a scalar")
        batch = np.broadcast_shapes(x.shape[:-2], b.shape[:-2])
        _bounded(tuple(batch) + (x.shape[-2] if x.ndim > 1 else 1, b.shape[-1] if b.ndim > 1 else 1), limit)
        return np.matmul(x, b)
    if op in _BINARY:
        _bounded(np.broadcast_shapes(np.shape(x), np.shape(args[1])), limit)
        return _BINARY[op](x, args[1])
    if op in _UNARY:
        return _UNARY[op](x)
    if op == "Elu":
        alpha = attributes.get("alpha", 1.0)
        return np.where(x > 0, x, (alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype))
    if op == "LeakyRelu":
        return np.where(x > 0, x, (attributes.get("alpha", 0.01) * x).astype(x.dtype))
    if op == "Selu":
        alpha, gamma = (
            attributes.get("alpha", 1.67326319217681884765625),
            attributes.get("gamma", 1.05070102214813232421875),
        )
        return (gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))).astype(x.dtype)
    if op == "HardSigmoid":
        alpha, beta = attributes.get("alpha", 0.2), attributes.get("beta", 0.5)
        return np.clip(alpha * x + beta, 0, 1).astype(x.dtype)
    if op in ("Softmax", "LogSoftmax"):
        if "_coerced" in attributes:  # opset < 13: over all the dims from axis on, as one
            axis = attributes["_coerced"] % max(x.ndim, 1)
            flat = np.reshape(x, (int(np.prod(x.shape[:axis], dtype=np.int64)), -1))
            return np.reshape(_softmax(flat, 1, op == "LogSoftmax"), x.shape)
        return _softmax(x, attributes.get("axis", -1), op == "LogSoftmax")
    if op in ("ReduceSum", "ReduceMean"):
        axes = _axes(attributes, args)
        if not axes and attributes.get("noop_with_empty_axes", 0):
            return x
        reduce = np.sum if op == "ReduceSum" else np.mean
        return reduce(
            x, axis=None if not axes else tuple(axes), keepdims=bool(attributes.get("keepdims", 1))
        ).astype(x.dtype)
    raise ValueError(f"operator {op} is not run here")  # load refuses such nodes first


def _sigmoid(x: Any) -> Any:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(x.dtype)


_UNARY: dict[str, Any] = {
    "Relu": lambda x: np.maximum(x, 0).astype(x.dtype),
    "Sigmoid": _sigmoid,
    "Tanh": np.tanh,
    "Exp": np.exp,
    "Softplus": lambda x: np.logaddexp(x, 0).astype(x.dtype),
    "Softsign": lambda x: x / (1 + np.abs(x)),
    "Not": np.logical_not,
    "Neg": np.negative,
}
_BINARY: dict[str, Any] = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": lambda a, b: np.floor_divide(a, b) if np.asarray(a).dtype.kind in "iu" else np.divide(a, b),
    "Equal": np.equal,
    "Greater": np.greater,
    "Less": np.less,
    "And": np.logical_and,
    "Or": np.logical_or,
}
