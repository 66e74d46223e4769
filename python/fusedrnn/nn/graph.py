"""The functional API's symbolic side: `Input` gives a `KerasTensor` (a shape and the layer call that
makes it, no data); a layer called on KerasTensors records a `Node` and returns new ones; a `Graph`
orders the nodes between given inputs and outputs, runs them forward on arrays and backward from the
outputs' gradients, summing the gradients of a tensor that feeds several layers."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .layers import Layer

Array = Any  # NDArray[Any]; plain Any keeps the per-node bookkeeping readable
Shape = tuple[Any, ...]

__all__ = ["Graph", "KerasTensor", "Node", "is_symbolic"]


class KerasTensor:
    """A symbolic tensor: the shape of a batch (None: the batch size, or any number of steps) and
    the node that makes it; what ``Input(shape=...)`` and a layer called on one return. It holds no
    data: a `fusedrnn.nn.Model` between Inputs and outputs computes the arrays."""

    def __init__(self, shape: Shape, dtype: str, node: Node | None, index: int, name: str) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"{self.name}: a symbolic tensor of the functional API has no values; build "
            "Model(inputs, outputs) and call model.predict(arrays)"
        )


class Node:
    """One call of a layer on symbolic tensors: its inputs (the main ones, then an initial_state's),
    whether the main inputs were a list, the call's options, and the output tensors."""

    def __init__(
        self, layer: Layer, inputs: list[KerasTensor], main: int, as_list: bool, options: dict[str, Any]
    ) -> None:
        self.layer = layer
        self.inputs = inputs
        self.main = main
        self.as_list = as_list
        self.options = options
        self.outputs: list[KerasTensor] = []
        self.serial = next(_SERIALS)  # the order of the calls: a node comes after its inputs' nodes


_SERIALS = itertools.count()


def is_symbolic(x: Any) -> bool:
    """Whether x is a KerasTensor or a list / tuple holding one."""
    if isinstance(x, KerasTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, KerasTensor) for t in x)


def _tensors(x: Any, what: str) -> list[KerasTensor]:
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    for item in items:
        if not isinstance(item, KerasTensor):
            raise TypeError(
                f"{what}: expected symbolic tensors (from Input or a layer called on one), got "
                f"{type(item).__name__}; mix no arrays into a functional model"
            )
    return items


# How many layers of each base name took a name here (Keras's "dense", "dense_1", ...).
_NAMES: dict[str, int] = {}


def layer_kind(layer: Any) -> str:
    """The Keras class name a summary shows for a layer: "LSTM", "SimpleRNN", "Dense", ..."""
    kind = type(layer).__name__
    cell = getattr(layer, "cell_class", None)
    if kind == "Recurrent" and cell is not None:
        kind = {"RNN": "SimpleRNN"}.get(cell.__name__, cell.__name__)
    return kind


def keras_parameter_count(layer: Any) -> int:
    """The layer's parameters as Keras counts them: a recurrent layer keeps PyTorch's two bias vectors
    (b_ih and b_hh), where Keras's LSTM and SimpleRNN have one."""
    inner = getattr(layer, "layer", None)
    count = sum(p.size for p in layer.parameters())
    if inner is not None and hasattr(inner, "parameter_count"):
        count -= inner.parameter_count("torch") - inner.parameter_count("keras")
    return int(count)


def total_lines(total: int, keras_total: int) -> list[str]:
    """A summary's last lines: the total, and Keras's count of the same model where it differs."""
    lines = [f"Total params: {total:,}"]
    if keras_total != total:
        lines.append(
            f"(Keras counts {keras_total:,}: its LSTM and SimpleRNN have one bias vector where these "
            "layers keep PyTorch's two, b_ih and b_hh)"
        )
    return lines


def unique_name(layer: Any) -> None:
    """Gives a layer that was not named (name=) a name of its own in this process, as Keras does:
    "dense", "dense_1", ...; a recurrent layer is named after its cell ("lstm", "gru", "simple_rnn")."""
    if "name" in layer.__dict__:
        return
    base = layer.name
    cell = getattr(layer, "cell_class", None)
    if base == "recurrent" and cell is not None:
        base = {"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}.get(cell.__name__, base)
    count = _NAMES.get(base, 0)
    _NAMES[base] = count + 1
    layer.name = base if count == 0 else f"{base}_{count}"


def symbolic_call(layer: Layer, x: Any, initial_state: Any = None, **options: Any) -> Any:
    """``layer(x)`` on symbolic tensors: the node is recorded and the output tensor(s) returned (a list
    when the layer has several outputs, as Keras's return_state / return_attention_scores)."""
    unique_name(layer)
    main = _tensors(x, f"{layer.name}: inputs")
    extra = [] if initial_state is None else _tensors(initial_state, f"{layer.name}: initial_state")
    if extra:
        options["initial_state"] = True
    node = Node(layer, main + extra, len(main), isinstance(x, (list, tuple)), options)
    shapes = layer.output_shapes([t.shape for t in node.inputs], node.main, node.as_list, options)
    base = layer.name
    node.outputs = [
        KerasTensor(shape, "float32", node, i, base if len(shapes) == 1 else f"{base}:{i}")
        for i, shape in enumerate(shapes)
    ]
    return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)


def _call_order(nodes: list[Node]) -> list[Node]:
    """`nodes` (in some valid order) reordered as the code called them, wherever their dependencies
    allow: of the nodes whose inputs are ready, the earliest call first."""
    members = {id(node) for node in nodes}
    waiting = {
        id(node): len({id(t.node) for t in node.inputs if t.node is not None and id(t.node) in members})
        for node in nodes
    }
    users: dict[int, list[Node]] = {}
    for node in nodes:
        for parent in {
            id(t.node): t.node for t in node.inputs if t.node is not None and id(t.node) in members
        }:
            users.setdefault(parent, []).append(node)
    ready = [(node.serial, i, node) for i, node in enumerate(nodes) if waiting[id(node)] == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        _, i, node = heapq.heappop(ready)
        order.append(node)
        for user in users.get(id(node), []):
            waiting[id(user)] -= 1
            if waiting[id(user)] == 0:
                heapq.heappush(ready, (user.serial, nodes.index(user), user))
    return order


def _snapshot_layers(layer: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Shallow copies of the attributes a layer (and a wrapped layer) keeps between its forward and its
    backward, so that a layer called at several nodes backpropagates each call with its own."""
    records = [(layer, dict(layer.__dict__))]
    inner = getattr(layer, "layer", None)
    if inner is not None and hasattr(inner, "backward_nodes"):
        records += _snapshot_layers(inner)
    return records


class Graph:
    """The nodes between `inputs` and `outputs` in the order of the calls that made them (so every
    node comes after the nodes that make its inputs, and the layers are built in the order the code
    calls them). ValueError when an output needs a tensor that is not among the inputs."""

    def __init__(self, inputs: Sequence[KerasTensor], outputs: Sequence[KerasTensor]) -> None:
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, t in enumerate(self.inputs):
            if t.node is None or t.node.inputs or type(t.node.layer).__name__ != "InputLayer":
                raise ValueError(f"inputs[{i}]: expected a tensor made by Input(shape=...), got {t!r}")
        if len(set(map(id, self.inputs))) != len(self.inputs):
            raise ValueError("inputs: the same Input is given twice")
        known = set(map(id, self.inputs))
        order: list[Node] = []
        placed: set[int] = set()
        visiting: set[int] = set()

        def visit(t: KerasTensor) -> None:
            if id(t) in known:
                return
            node = t.node
            if node is None or not node.inputs:
                raise ValueError(
                    f"outputs: the graph needs {t.name} ({t!r}), which is not among the model's inputs "
                    "(a disconnected graph: pass every Input the outputs depend on)"
                )
            if id(node) in placed:
                return
            if id(node) in visiting:  # cannot happen with tensors made by calls, kept as a guard
                raise ValueError("outputs: the graph has a cycle")
            visiting.add(id(node))
            for parent in node.inputs:
                visit(parent)
            visiting.discard(id(node))
            placed.add(id(node))
            order.append(node)

        for t in self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"outputs: expected symbolic tensors, got {type(t).__name__}")
            visit(t)
        self.nodes = _call_order(order)
        layers: list[Any] = [t.node.layer for t in self.inputs if t.node is not None]
        for node in self.nodes:
            if all(node.layer is not other for other in layers):
                layers.append(node.layer)
        self.layers = layers
        uses: dict[int, int] = {}
        for node in self.nodes:
            uses[id(node.layer)] = uses.get(id(node.layer), 0) + 1
        self.shared = {key for key, count in uses.items() if count > 1}

    def forward(self, values: Sequence[Array], training: bool) -> list[Array]:
        """The outputs' arrays for the inputs' arrays (training: every layer keeps what backward needs)."""
        arrays: dict[int, Array] = {id(t): v for t, v in zip(self.inputs, values, strict=True)}
        masks: dict[int, Array | None] = {id(t): None for t in self.inputs}
        self.snapshots: dict[int, list[tuple[Any, dict[str, Any]]]] = {}
        for node in self.nodes:
            if training and id(node.layer) in self.shared and not node.layer.shareable_in_training:
                raise NotImplementedError(
                    f"{node.layer.name}: a {type(node.layer).__name__} called at several places of one "
                    "model trains only in separate models (its kernel keeps one call's workspace); "
                    "inference works"
                )
            ins = [arrays[id(t)] for t in node.inputs]
            in_masks = [masks[id(t)] for t in node.inputs]
            outs, out_masks = node.layer.forward_nodes(
                ins, in_masks, node.main, node.as_list, training, node.options
            )
            if training and id(node.layer) in self.shared:
                self.snapshots[id(node)] = _snapshot_layers(node.layer)
            for t, value, mask in zip(node.outputs, outs, out_masks, strict=True):
                arrays[id(t)], masks[id(t)] = value, mask
        for i, t in enumerate(self.outputs):
            if masks[id(t)] is not None:
                raise ValueError(
                    f"outputs[{i}] ({t.name}) still carries the padding mask (Masking / mask_zero=True): "
                    "fr.nn has no masked losses; end the masked part with a recurrent layer of "
                    "return_sequences=False"
                )
        self.arrays = arrays if training else {}
        return [arrays[id(t)] for t in self.outputs]

    def backward(self, d_outputs: Sequence[Array | None]) -> list[Array | None]:
        """The gradients of the inputs (None for integer inputs) from the outputs' gradients, the
        layers accumulating their parameters' gradients; a tensor used several times gets the sum."""
        grads: dict[int, Array] = {}

        def add(t: KerasTensor, d: Array | None) -> None:
            if d is None:
                return
            previous = grads.get(id(t))
            grads[id(t)] = d if previous is None else previous + d

        for t, d in zip(self.outputs, d_outputs, strict=True):
            add(t, d)
        for node in reversed(self.nodes):
            d_outs = [grads.get(id(t)) for t in node.outputs]
            if all(d is None for d in d_outs):
                continue  # the node does not reach the loss
            d_outs = [
                np.zeros(np.shape(self.arrays[id(t)]), np.float32)
                if d is None and node.layer.needs_all_gradients
                else d
                for t, d in zip(node.outputs, d_outs, strict=True)
            ]
            for layer, attributes in self.snapshots.get(id(node), []):
                layer.__dict__.update(attributes)
            d_ins = node.layer.backward_nodes(d_outs, node.main, node.as_list, node.options)
            for t, d in zip(node.inputs, d_ins, strict=True):
                add(t, d)
        self.arrays = {}
        self.snapshots = {}
        return [grads.get(id(t)) for t in self.inputs]
