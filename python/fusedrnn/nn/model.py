"""Model: Keras's functional API. Layers called on symbolic tensors from `Input` make a graph;
``Model(inputs, outputs)`` trains and runs it with the same fit / evaluate / predict as `Sequential`
(`fusedrnn.nn.engine`), with several inputs and outputs (a list of arrays for each, a loss per output).

    enc = Input(shape=(None, 8)); dec = Input(shape=(None, 8))
    seq, h, c = LSTM(32, return_sequences=True, return_state=True)(enc)
    out = LSTM(32, return_sequences=True)(dec, initial_state=[h, c])
    out = Dense(8)(Concatenate()([out, Attention()([out, seq])]))
    model = Model([enc, dec], out);  model.compile("adam", "mse");  model.fit([X_enc, X_dec], Y)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..saving import PathLike
from . import losses, optimizers
from . import metrics as metrics_module
from .callbacks import History
from .engine import Trainer
from .graph import Graph, KerasTensor, is_symbolic, keras_parameter_count, layer_kind, total_lines
from .layers import Activation, Dense, InputLayer, Layer, Recurrent, TimeDistributed, build_layer
from .losses import Loss
from .metrics import Metric

__all__ = ["Model"]


class Model(Trainer):
    """``Model(inputs, outputs)``: the layers between `Input` tensors and output tensors (each a tensor
    or a list of them). ``compile(optimizer, loss, metrics=[...], loss_weights=None)`` takes one loss
    for every output or a list / dict (by output name) of them; ``fit([X1, X2], y)`` (or ``[y1, y2]``,
    or dicts by the Inputs' and outputs' names), ``predict`` (an array, or a list for several
    outputs), ``evaluate``, ``train_on_batch``, ``summary``, ``get_weights`` / ``set_weights``; a
    Model pickles. Layers are built here (the first time they are part of a model) from
    ``np.random.default_rng(seed)`` in the graph's order, so a chain of layers starts from the
    weights a `Sequential` of the same seed has."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, seed: int | None = 0) -> None:
        if not is_symbolic(inputs) or not is_symbolic(outputs):
            raise TypeError("Model(inputs, outputs): expected symbolic tensors (from Input and layer calls)")
        self.input_structure = "list" if isinstance(inputs, (list, tuple)) else "single"
        self.output_structure = "list" if isinstance(outputs, (list, tuple)) else "single"
        if isinstance(inputs, Mapping) or isinstance(outputs, Mapping):
            raise TypeError("Model(inputs, outputs): give tensors or lists of tensors")
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self.graph = Graph(ins, outs)
        self.inputs, self.outputs = ins, outs
        self.name = "functional" if name is None else str(name)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.input_names = _unique([t.name for t in ins])
        self.output_names = _unique([_output_name(t) for t in outs])
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: list[Loss] | None = None
        self.loss_weights: list[float] = [1.0] * len(outs)
        self.metrics: list[list[tuple[str, Metric]]] = [[] for _ in outs]
        self._compiled_metrics: list[list[Any]] = [[] for _ in outs]
        self.stop_training = False
        self.history: History | None = None
        for node in self.graph.nodes:
            if node.layer.built_input_shape is None:
                shapes = [t.shape for t in node.inputs[: node.main]]
                build_layer(node.layer, tuple(shapes) if node.as_list else shapes[0], self.rng)

    @property
    def layers(self) -> list[Layer]:
        """The layers in the graph's order (the InputLayers first, as Keras lists them)."""
        return list(self.graph.layers)

    def get_layer(self, name: str) -> Layer:
        """The layer of that name (ValueError naming the names there are)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"name: no layer {name!r} (the layers: {', '.join(layer.name for layer in self.layers)})"
        )

    # -- compile -----------------------------------------------------------------------------------

    def compile(
        self,
        optimizer: optimizers.Optimizer | str = "adam",
        loss: Any = "mse",
        metrics: Any = None,
        loss_weights: Sequence[float] | Mapping[str, float] | None = None,
    ) -> None:
        """As `Sequential.compile`, per output: `loss` one for every output, or a list / dict by
        output name; `metrics` a list for every output, or a list of lists / dict; `loss_weights` the
        weight of each output's loss in the total (default 1 each). With several outputs the logs
        hold each output's loss and metrics as ``"<output>_loss"``, ``"<output>_<metric>"``."""
        self.optimizer = optimizers.get(optimizer)
        per_loss = self._per_output(loss, "loss")
        self.loss = [
            losses.get(spec, _output_activation(t)) for spec, t in zip(per_loss, self.outputs, strict=True)
        ]
        if metrics is None:
            per_metrics: list[Any] = [[] for _ in self.outputs]
        elif isinstance(metrics, Mapping) or (
            isinstance(metrics, (list, tuple))
            and metrics
            and all(isinstance(m, (list, tuple)) for m in metrics)
        ):
            per_metrics = self._per_output(metrics, "metrics", default=[])
        elif isinstance(metrics, (list, tuple)):
            per_metrics = [list(metrics) for _ in self.outputs]
        else:
            raise TypeError(f"metrics: expected a list, got {type(metrics).__name__}")
        self.metrics = [[metrics_module.get(m) for m in (ms or [])] for ms in per_metrics]
        self._compiled_metrics = [list(ms or []) for ms in per_metrics]
        if loss_weights is None:
            self.loss_weights = [1.0] * len(self.outputs)
        else:
            self.loss_weights = [
                float(w) for w in self._per_output(loss_weights, "loss_weights", default=1.0)
            ]

    def _per_output(self, spec: Any, what: str, default: Any = None) -> list[Any]:
        count = len(self.outputs)
        if isinstance(spec, Mapping):
            unknown = [key for key in spec if key not in self.output_names]
            if unknown:
                raise ValueError(
                    f"{what}: no output {unknown[0]!r} (the outputs: {', '.join(self.output_names)})"
                )
            return [spec.get(name, default) for name in self.output_names]
        if isinstance(spec, (list, tuple)):
            if len(spec) != count:
                raise ValueError(f"{what}: expected {count} entries, one per output, got {len(spec)}")
            return list(spec)
        return [spec] * count

    # -- data --------------------------------------------------------------------------------------

    def _inputs(self, X: Any) -> list[NDArray[Any]]:
        return self._arrays(X, self.input_names, "X")

    def _targets(self, y: Any) -> list[NDArray[Any]]:
        return self._arrays(y, self.output_names, "y")

    def _arrays(self, data: Any, names: list[str], what: str) -> list[NDArray[Any]]:
        if isinstance(data, Mapping):
            missing = [name for name in names if name not in data]
            if missing:
                raise ValueError(f"{what}: no entry {missing[0]!r} (expected {', '.join(names)})")
            data = [data[name] for name in names]
        if len(names) == 1 and not (isinstance(data, (list, tuple)) and len(data) == 1):
            data = [data]
        if not isinstance(data, (list, tuple)) or len(data) != len(names):
            got = len(data) if isinstance(data, (list, tuple)) else 1
            raise ValueError(
                f"{what}: expected a list of {len(names)} arrays ({', '.join(names)}), got {got}"
            )
        arrays = [np.asarray(a) for a in data]
        for i, a in enumerate(arrays):
            if a.ndim == 0 or len(a) != len(arrays[0]):
                raise ValueError(
                    f"{what}[{i}]: expected {len(arrays[0])} samples like {what}[0], got shape {a.shape}"
                )
        return arrays

    def _count(self, data: Any) -> int:
        return len(data[0])

    def _take(self, data: Any, index: Any) -> Any:
        return [a[index] for a in data]

    def _concat(self, parts: list[Any]) -> Any:
        return [np.concatenate(column) for column in zip(*parts, strict=True)]

    def _public(self, outputs: Any) -> Any:
        return outputs[0] if self.output_structure == "single" else list(outputs)

    def _ensure_built(self, X: Any) -> None:
        for i, (t, a) in enumerate(zip(self.inputs, X, strict=True)):
            expected = t.shape[1:]
            if a.ndim != len(t.shape) or any(
                e is not None and e != d for e, d in zip(expected, a.shape[1:], strict=True)
            ):
                raise ValueError(
                    f"X[{i}] ({self.input_names[i]}): expected samples of shape {expected}, got {a.shape[1:]}"
                )

    # -- forward and backward ----------------------------------------------------------------------

    def forward(self, X: Any, training: bool = False) -> list[NDArray[Any]]:
        """The outputs (a list) for the inputs X (a list of arrays); training keeps what backward needs."""
        return self.graph.forward(list(X), training)

    def __call__(self, X: Any, training: bool = False) -> Any:
        """The outputs for X in one batch (Keras's ``model(x)``)."""
        if is_symbolic(X):
            raise NotImplementedError(
                "Model called on symbolic tensors (a model as a layer) is not supported"
            )
        X = self._inputs(X)
        self._ensure_built(X)
        return self._public(self.forward(X, training))

    def _zero_grad(self) -> None:
        for layer in self.graph.layers:
            layer.zero_grad()

    def _backward(self, grad: Any) -> None:
        self.input_gradients = self.graph.backward(grad)

    def _loss_values(self, pred: Any, y: Any) -> tuple[float, Any, dict[str, float]]:
        assert self.loss is not None
        total, grads, extra = 0.0, [], {}
        for name, loss, weight, p, t in zip(
            self.output_names, self.loss, self.loss_weights, pred, y, strict=True
        ):
            value, grad = loss(p, t)
            total += weight * float(value)
            grads.append(grad if weight == 1.0 else (grad * weight).astype(grad.dtype))
            if len(self.outputs) > 1:
                extra[f"{name}_loss"] = float(value)
        return total, grads, extra

    def _metric_values(self, pred: Any, y: Any) -> dict[str, float]:
        logs: dict[str, float] = {}
        for name, metrics, p, t in zip(self.output_names, self.metrics, pred, y, strict=True):
            for key, metric in metrics:
                logs[key if len(self.outputs) == 1 else f"{name}_{key}"] = float(metric(p, t))
        return logs

    def _log_keys(self) -> list[str]:
        keys = ["loss"]
        if len(self.outputs) > 1:
            keys += [f"{name}_loss" for name in self.output_names]
        for name, metrics in zip(self.output_names, self.metrics, strict=True):
            keys += [key if len(self.outputs) == 1 else f"{name}_{key}" for key, _ in metrics]
        return keys

    # -- parameters --------------------------------------------------------------------------------

    def parameters(self) -> list[NDArray[Any]]:
        """Every layer's parameter arrays, in the order of `layers` (a shared layer's once)."""
        return [p for layer in self.graph.layers for p in layer.parameters()]

    def gradients(self) -> list[NDArray[Any]]:
        """Every layer's gradient arrays, in the order of parameters()."""
        return [g for layer in self.graph.layers for g in layer.gradients()]

    def set_parameters(self, values: Sequence[ArrayLike]) -> None:
        """Copies values (in parameters()' order) into the parameters."""
        for layer in self.graph.layers:
            layer.set_training(True)  # recurrent layers' arrays are read-only in eval mode
        for p, value in zip(self.parameters(), values, strict=True):
            p[...] = value

    def get_weights(self) -> list[NDArray[Any]]:
        """Copies of every parameter array, layer after layer (Keras's get_weights)."""
        return [p.copy() for p in self.parameters()]

    def reset_states(self) -> None:
        """Forgets the states of the ``stateful=True`` recurrent layers (Keras's reset_states)."""
        for layer in self.graph.layers:
            if isinstance(layer, Recurrent) and layer.layer.stateful:
                layer.reset_states()

    # -- the model as a whole ----------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """Keras-style table: layer (type), output shape, parameters, the layers it is connected to."""
        rows = [(f"{t.name} (InputLayer)", str(t.shape), 0, "") for t in self.inputs]
        counted: set[int] = set()
        keras_total = 0
        for node in self.graph.nodes:
            layer = node.layer
            count = 0 if id(layer) in counted else sum(p.size for p in layer.parameters())
            counted.add(id(layer))
            shape = ", ".join(str(t.shape) for t in node.outputs)
            keras_total += 0 if count == 0 else keras_parameter_count(layer)
            rows.append(
                (f"{layer.name} ({layer_kind(layer)})", shape, count, ", ".join(t.name for t in node.inputs))
            )
        total = sum(row[2] for row in rows)
        wide = [
            max(len("Layer (type)"), *(len(row[0]) for row in rows)) + 2,
            max(len("Output shape"), *(len(row[1]) for row in rows)) + 2,
        ]
        lines = [f"{'Layer (type)':<{wide[0]}}{'Output shape':<{wide[1]}}{'Param #':>10}  Connected to"]
        lines += [f"{a:<{wide[0]}}{b:<{wide[1]}}{c:>10,}  {d}".rstrip() for a, b, c, d in rows]
        lines += total_lines(total, keras_total)
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def save(self, filepath: PathLike, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Writes the whole model to `filepath`, exactly as named (``model.save("model.keras")``): the
        Inputs, every layer's configuration, the calls between them, the weights, the compile settings
        and (include_optimizer) the optimizer's state, in fusedrnn's pickle-free .npz format
        (`fusedrnn.nn.load_model` reads it back and checks it as a stranger's file)."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: PathLike, overwrite: bool = True) -> None:
        """Writes the model without its optimizer state (`load_weights` reads the weights back)."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=False)

    def load_weights(self, filepath: PathLike) -> None:
        """Reads the weights of a file `save` or `save_weights` wrote into this model, which must have
        the same parameter shapes in the same order (ValueError naming the path otherwise)."""
        from .saving import load_model

        other = load_model(filepath, compile=False)
        mine, theirs = self.parameters(), other.parameters()
        if [p.shape for p in mine] != [p.shape for p in theirs]:
            where = f"path: {os.fsdecode(os.fspath(filepath))!r}"
            raise ValueError(f"{where}: its weights do not fit this model (other layers or shapes)")
        self.set_parameters(theirs)

    def __repr__(self) -> str:
        sizes = f"{len(self.inputs)} input(s), {len(self.outputs)} output(s), {len(self.graph.nodes)} calls"
        return f"<Model {self.name!r}: {sizes}>"


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}_{count}")
    return out


def _output_name(t: KerasTensor) -> str:
    return t.node.layer.name if t.node is not None else t.name


def _output_activation(t: KerasTensor) -> str | None:
    last: Any = t.node.layer if t.node is not None else None
    while isinstance(last, TimeDistributed):
        last = last.layer
    if isinstance(last, InputLayer):
        return None
    return getattr(last, "activation", None) if isinstance(last, (Dense, Activation)) else None
