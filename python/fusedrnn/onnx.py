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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._typing import Activation

if TYPE_CHECKING:
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
# PyTorch gate order -> ONNX gate order, as block indices.
_TO_ONNX_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("fusedrnn.onnx needs the onnx package: pip install onnx") from err
    return onnx


def _reorder(matrix: NDArray[Any], H: int, order: Sequence[int] | NDArray[np.intp]) -> NDArray[Any]:
    return np.concatenate([matrix[k * H : (k + 1) * H] for k in order], axis=0)


def _cell_of(layer: object) -> str:
    name = type(layer).__name__
    if name not in ("LSTM", "GRU", "RNN"):
        raise TypeError(f"layer: expected a fusedrnn LSTM, GRU or RNN, got {name}")
    return name.lower()


def export(
    layer: LSTM | GRU | RNN,
    path: PathLike,
    *,
    opset: int = 17,
    with_lengths: bool = False,
    with_initial_states: bool = False,
) -> None:
    """Writes a layer as an ONNX model: one ``LSTM`` / ``GRU`` / ``RNN`` node per layer.

    The model's input is ``x`` ([T, N, C], or [N, T, C] with batch_first), its outputs ``y``, ``h_n``
    (and ``c_n``) as the layer returns them. Inference only (dropouts are not exported).

    Parameters
    ----------
    layer : LSTM, GRU or RNN
        The layer; not with proj_size or a merge_mode other than "concat" (ONNX's recurrent nodes cannot
        express them).
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
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    cell = _cell_of(layer)
    if int(opset) < 14:
        raise ValueError(f"opset: expected >= 14, got {opset}")
    if getattr(layer, "proj_size", 0):
        raise ValueError("layer: ONNX's LSTM has no projection (proj_size)")
    if layer.merge_mode != "concat":
        raise ValueError(f"layer: merge_mode={layer.merge_mode!r} is not exported (concat only)")
    H, L, D = layer.hidden_size, layer.num_layers, 2 if layer.bidirectional else 1
    elem = TensorProto.FLOAT if layer.dtype == np.float32 else TensorProto.DOUBLE
    params = layer.state_dict()
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
        alphas.append(1.0 if alpha is None else alpha)
        betas.append(0.0 if beta is None else beta)
    h_outputs: list[str] = []
    c_outputs: list[str] = []
    layer_input = x_name
    for lk in range(L):
        W: list[NDArray[Any]] = []
        R: list[NDArray[Any]] = []
        B: list[NDArray[Any]] = []
        for d in range(D):
            s = f"_l{lk}" + ("_reverse" if d else "")
            order = _TO_ONNX_ORDER[cell]
            W.append(_reorder(params["weight_ih" + s], H, order))
            R.append(_reorder(params["weight_hh" + s], H, order))
            if layer.bias:
                B.append(
                    np.concatenate(
                        [_reorder(params["bias_ih" + s], H, order), _reorder(params["bias_hh" + s], H, order)]
                    )
                )
        for key, value in (("W", W), ("R", R), ("B", B)):
            if value:  # no B without bias
                stacked = np.stack(value).astype(layer.dtype)
                initializers.append(numpy_helper.from_array(stacked, f"{key}{lk}"))
        if with_initial_states:  # this layer's slices of the initial states
            initializers.append(helper.make_tensor(f"s{lk}", TensorProto.INT64, [1], [lk * D]))
            initializers.append(helper.make_tensor(f"e{lk}", TensorProto.INT64, [1], [(lk + 1) * D]))
        state_names = []
        for state in ("h0", "c0") if cell == "lstm" else ("h0",):
            if with_initial_states:
                nodes.append(helper.make_node("Slice", [state, f"s{lk}", f"e{lk}"], [f"{state}_l{lk}"]))
            state_names.append(f"{state}_l{lk}" if with_initial_states else "")
        node_inputs = [
            layer_input,
            f"W{lk}",
            f"R{lk}",
            f"B{lk}" if layer.bias else "",
            "sequence_lens" if with_lengths else "",
        ]
        node_inputs += state_names
        outputs = [f"Y{lk}", f"Y_h{lk}"] + ([f"Y_c{lk}"] if cell == "lstm" else [])
        attributes = dict(
            hidden_size=H,
            direction="bidirectional" if D == 2 else "forward",
            activations=names,
            activation_alpha=alphas,
            activation_beta=betas,
        )
        if cell == "gru":
            attributes["linear_before_reset"] = 1 if layer.reset_after else 0
        node = helper.make_node(_OP[cell], node_inputs, outputs, name=f"{_OP[cell]}_{lk}", **attributes)
        nodes.append(node)
        # Y [T, D, N, H] -> [T, N, D*H], the next layer's input (and the output y).
        nodes.append(helper.make_node("Transpose", [f"Y{lk}"], [f"Yt{lk}"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"Yt{lk}", "merge_shape"], [f"out{lk}"]))
        layer_input = f"out{lk}"
        h_outputs.append(f"Y_h{lk}")
        c_outputs.append(f"Y_c{lk}")
    initializers.append(helper.make_tensor("merge_shape", TensorProto.INT64, [3], [0, 0, -1]))
    if layer.batch_first:
        nodes.append(helper.make_node("Transpose", [layer_input], ["y"], perm=[1, 0, 2]))
    else:
        nodes.append(helper.make_node("Identity", [layer_input], ["y"]))
    nodes.append(helper.make_node("Concat", h_outputs, ["h_n"], axis=0))
    y_shape = ["N", "T", D * H] if layer.batch_first else ["T", "N", D * H]
    outputs = [
        helper.make_tensor_value_info("y", elem, y_shape),
        helper.make_tensor_value_info("h_n", elem, [L * D, "N", H]),
    ]
    if cell == "lstm":
        nodes.append(helper.make_node("Concat", c_outputs, ["c_n"], axis=0))
        outputs.append(helper.make_tensor_value_info("c_n", elem, [L * D, "N", H]))
    graph = helper.make_graph(nodes, f"fusedrnn_{cell}", inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", int(opset))]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="fusedrnn")
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))


def _constant_arrays(graph: Any) -> dict[str, NDArray[Any]]:
    """Initializers and Constant nodes' values, by name."""
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attribute in node.attribute:
                if attribute.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attribute.t)
    return values


def _activation_of(name: str, alpha: Any, beta: Any, node: str) -> Activation:
    """The fusedrnn activation of an ONNX one (alpha, beta: the node's float attributes, or None)."""
    for ours, (onnx_name, a, b) in _ONNX_ACTIVATION.items():
        if name == onnx_name and (a is None or (np.isclose(alpha, a) and np.isclose(beta, cast(float, b)))):
            return cast(Activation, ours)
    raise ValueError(f"{node}: activation {name} (alpha {alpha}, beta {beta}) has no fusedrnn counterpart")


def load(path: PathLike, dtype: DTypeLike | None = None) -> list[LSTM | GRU | RNN]:
    """fusedrnn layers made from the ``LSTM`` / ``GRU`` / ``RNN`` nodes of an ONNX model, with the
    nodes' weights and options (e.g. a model written by ``torch.onnx.export(nn.LSTM(...))``).

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
        batch_first=True).

    Raises
    ------
    ImportError
        The onnx package is not installed.
    ValueError
        No recurrent node, or an attribute it cannot honour: clip, input_forget, peepholes (P), a
        reverse-only direction, activations without a counterpart, weights that are not constants.
    """
    onnx = _onnx()
    from onnx import helper

    from . import layers

    model = onnx.load(os.fspath(path))
    constants = _constant_arrays(model.graph)
    found: list[LSTM | GRU | RNN] = []
    for node in model.graph.node:
        if node.op_type not in ("LSTM", "GRU", "RNN"):
            continue
        label = f"node {node.name or node.op_type!r}"
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if "clip" in attributes:
            raise ValueError(f"{label}: clip={attributes['clip']} has no fusedrnn counterpart")
        if attributes.get("input_forget", 0):
            raise ValueError(f"{label}: input_forget=1 (coupled input and forget gates) is not supported")
        if node.op_type == "LSTM" and len(node.input) > 7 and node.input[7]:
            raise ValueError(f"{label}: peephole weights (input P) are not supported")
        for index, what in ((1, "W"), (2, "R")):
            if node.input[index] not in constants:
                raise ValueError(f"{label}: {what} is not a constant of the model")
        W, R = constants[node.input[1]], constants[node.input[2]]
        B = constants.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        cell = node.op_type.lower()
        G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
        D, GH, C = W.shape
        H = GH // G
        direction = attributes.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction == "reverse":
            raise ValueError(
                f"{label}: direction='reverse' alone has no fusedrnn counterpart (bidirectional or forward)"
            )
        names = [n.decode() if isinstance(n, bytes) else n for n in attributes.get("activations", [])]
        per_direction = {"lstm": 3, "gru": 2, "rnn": 1}[cell]
        defaults = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"], "rnn": ["Tanh"]}[cell]
        names = names or defaults * D
        alphas = list(attributes.get("activation_alpha", [])) or [None] * len(names)
        betas = list(attributes.get("activation_beta", [])) or [None] * len(names)
        ours = [_activation_of(n, a, b, label) for n, a, b in zip(names, alphas, betas, strict=True)]
        if len(set(tuple(ours[d * per_direction : (d + 1) * per_direction]) for d in range(D))) > 1:
            raise ValueError(f"{label}: the two directions use different activations")
        if cell == "lstm" and ours[1] != ours[2]:
            raise ValueError(
                f"{label}: LSTM activations g={ours[1]} and h={ours[2]} differ (fusedrnn has one)"
            )
        inverse = np.argsort(_TO_ONNX_ORDER[cell])
        params: dict[str, NDArray[Any]] = {}
        for d in range(D):
            s = "_l0" + ("_reverse" if d else "")
            params["weight_ih" + s] = _reorder(W[d], H, inverse)
            params["weight_hh" + s] = _reorder(R[d], H, inverse)
            if B is not None:
                params["bias_ih" + s] = _reorder(B[d][:GH], H, inverse)
                params["bias_hh" + s] = _reorder(B[d][GH:], H, inverse)
        layer: LSTM | GRU | RNN
        options: dict[str, Any] = dict(
            bidirectional=D == 2,
            batch_first=attributes.get("layout", 0) == 1,
            bias=B is not None,
            dtype=dtype or W.dtype,
        )
        if cell == "lstm":
            layer = layers.LSTM(C, H, activation=ours[1], recurrent_activation=ours[0], **options)
        elif cell == "gru":
            reset_after = bool(attributes.get("linear_before_reset", 0))
            layer = layers.GRU(
                C, H, activation=ours[1], recurrent_activation=ours[0], reset_after=reset_after, **options
            )
        else:
            layer = layers.RNN(C, H, nonlinearity=ours[0], **options)
        layer.load_state_dict(params)
        found.append(layer)
    if not found:
        raise ValueError(f"path: {os.fspath(path)!r} has no LSTM, GRU or RNN node")
    return found
