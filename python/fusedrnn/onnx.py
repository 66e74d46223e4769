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

__all__ = ["export", "load"]

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
    ``Sequential`` model (its recurrent layers and their heads: `fusedrnn.nn.onnx_export`).

    The model's input is ``x`` ([T, N, C], or [N, T, C] with batch_first), its outputs ``y``, ``h_n``
    (and ``c_n``) as the layer returns them. Inference only (dropouts are not exported).

    Parameters
    ----------
    layer : LSTM, GRU or RNN, or fusedrnn.nn.Sequential
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


def load(path: PathLike, dtype: DTypeLike | None = None) -> list[LSTM | GRU | RNN]:
    """fusedrnn layers made from the ``LSTM`` / ``GRU`` / ``RNN`` nodes of an ONNX model, with the
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
    onnx = _onnx()
    name = os.fsdecode(os.fspath(path))
    where = f"path: {name!r}"
    layer_dtype = None if dtype is None else kernel_dtype(dtype)
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
) -> LSTM | GRU | RNN:
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
    if inputs[4] in constants:
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
            if np.any(_tensor_array(constants[name], dims, label, what)):
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
