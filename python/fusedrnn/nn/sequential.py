"""Sequential: a stack of the toolkit's layers with Keras's compile / fit / predict / evaluate / summary."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..saving import PathLike
from . import losses, optimizers
from . import metrics as metrics_module
from .callbacks import History
from .engine import Trainer
from .graph import KerasTensor, keras_parameter_count, layer_kind, total_lines, unique_name
from .layers import (
    Activation,
    Dense,
    Embedding,
    InputLayer,
    Layer,
    Masking,
    Recurrent,
    TimeDistributed,
    build_layer,
)
from .losses import Loss
from .metrics import Metric

__all__ = ["Sequential"]


class Sequential(Trainer):
    """``model = Sequential([nn.LSTM(50, activation="relu", input_shape=(3, 1)), nn.Dense(1)])``, then
    ``model.compile("adam", "mse", metrics=["mae"])``, ``history = model.fit(X, y, epochs=200)``,
    ``model.predict(X)``, ``model.save("model.keras")``; `fusedrnn.nn.load_model` reads it back."""

    def __init__(
        self, layers: Iterable[Layer | KerasTensor] = (), seed: int | None = 0, name: str | None = None
    ) -> None:
        self.layers: list[Layer] = []
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.name = "sequential" if name is None else str(name)
        self.built_for: tuple[Any, ...] | None = None
        # Each layer's output shape, once built.
        self.shapes: list[tuple[Any, ...]] = []
        self.declared_input_shape: tuple[Any, ...] | None = None
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: Loss | None = None
        self.metrics: list[tuple[str, Metric]] = []
        self.stop_training = False
        self.history: History | None = None
        for layer in layers:
            self.add(layer)

    def add(self, layer: Layer | KerasTensor) -> None:
        """Appends a layer (the model is built again at the next fit or predict). ``Input(shape=...)``
        or a first layer's ``input_shape=`` gives the shape of one sample, as in Keras."""
        if (
            isinstance(layer, KerasTensor)
            and layer.node is not None
            and isinstance(layer.node.layer, InputLayer)
        ):
            layer = layer.node.layer  # Input(shape=...) as the first entry, as in Keras
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected an fr.nn layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Input(...): only as the first entry of a Sequential model")
            self.declared_input_shape = layer.declared_input_shape
            return
        if not self.layers and self.declared_input_shape is None:
            self.declared_input_shape = layer.declared_input_shape
        if isinstance(layer, Recurrent) and layer.return_state:
            raise ValueError(
                "return_state=True: a Sequential model passes one array between layers; call the layer on "
                "arrays (outputs, h, c = layer(x)) for its states"
            )
        self.layers.append(layer)
        if self.declared_input_shape is not None and (len(self.layers) == 1 or self.built_for is not None):
            # Built as the layers come, as Keras builds a model that knows its input shape: the
            # parameters exist at once (get_weights, summary, layers[0].layer.load_state_dict).
            shape = self.shapes[-1] if len(self.layers) > 1 else (None,) + self.declared_input_shape
            if len(self.layers) == 1:
                self.shapes.clear()
            self.shapes.append(build_layer(layer, shape, self.rng))
            self.built_for = self.declared_input_shape
        else:
            self.built_for = None

    @property
    def built(self) -> bool:
        """Whether the layers have their parameters (after build, fit, predict, or input_shape=)."""
        self._build_declared()
        return self.built_for is not None

    def _build_declared(self) -> None:
        if self.built_for is None and self.declared_input_shape is not None and self.layers:
            self.build((None,) + self.declared_input_shape)

    def build(self, input_shape: Sequence[int | None] | None = None) -> None:
        """Builds every layer for inputs of `input_shape` (the first entry, the batch size, may be None;
        None: the declared ``(None,) + input_shape``)."""
        if input_shape is None:
            if self.declared_input_shape is None:
                raise ValueError("input_shape: the model has no declared input shape (Input or input_shape=)")
            input_shape = (None,) + self.declared_input_shape
        shape = tuple(input_shape)
        self.shapes = []
        for layer in self.layers:
            shape = build_layer(layer, shape, self.rng)
            self.shapes.append(shape)
        self.built_for = tuple(input_shape)[1:]

    def compile(
        self,
        optimizer: optimizers.Optimizer | str = "adam",
        loss: Loss | str = "mse",
        metrics: Iterable[str | Metric] | None = None,
    ) -> None:
        """Sets the optimizer (an instance or "sgd", "adam", "rmsprop"), the loss (a callable
        ``loss(pred, target) -> (value, d_pred)``, a name in `LOSSES`, or a cross-entropy object with
        from_logits) and the metrics reported by fit and evaluate (names in
        `fusedrnn.nn.metrics.METRICS`: "accuracy", "mae", "mse", ...; or callables
        ``metric(pred, target) -> float``).

        By name, "categorical_crossentropy" and "sparse_categorical_crossentropy" read the outputs as
        probabilities when the last layer's activation is softmax (as Keras), as logits otherwise (fr.nn's
        linear heads)."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss, self._output_activation())
        if isinstance(metrics, (str, bytes)) or (metrics is not None and not isinstance(metrics, Iterable)):
            raise TypeError(f"metrics: expected a list, got {type(metrics).__name__}")
        self.metrics = [metrics_module.get(metric) for metric in (metrics or [])]
        self._compiled = {"loss": loss, "metrics": list(metrics or [])}

    def _output_activation(self) -> str | None:
        last: Any = self.layers[-1] if self.layers else None
        while isinstance(last, TimeDistributed):
            last = last.layer
        return getattr(last, "activation", None) if isinstance(last, (Dense, Activation)) else None

    def parameters(self) -> list[NDArray[Any]]:
        """Every layer's parameter arrays, in order."""
        return [p for layer in self.layers for p in layer.parameters()]

    def set_parameters(self, values: Sequence[ArrayLike]) -> None:
        """Copies values (in parameters()' order) into the parameters."""
        for layer in self.layers:
            layer.set_training(True)  # recurrent layers' arrays are read-only in eval mode
        for p, value in zip(self.parameters(), values, strict=True):
            p[...] = value

    def get_weights(self) -> list[NDArray[Any]]:
        """Copies of every parameter array, layer after layer (Keras's get_weights; fr.nn's layouts:
        Dense's kernel [F, units] as Keras's, the recurrent layers' as PyTorch's state_dict)."""
        self._require_built("get_weights")
        return [p.copy() for p in self.parameters()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Copies `weights` (as get_weights returns them) into the parameters; ValueError naming the
        first array of another shape."""
        self._require_built("set_weights")
        super().set_weights(weights)

    def gradients(self) -> list[NDArray[Any]]:
        """Every layer's gradient arrays, in the order of parameters()."""
        return [g for layer in self.layers for g in layer.gradients()]

    def reset_states(self) -> None:
        """Forgets the states of the ``stateful=True`` recurrent layers (Keras's reset_states)."""
        for layer in self.layers:
            if isinstance(layer, Recurrent) and getattr(layer, "layer", None) is not None:
                if layer.layer.stateful:
                    layer.reset_states()

    def quantized(self, format: str = "int8") -> Sequential:
        """A copy for fast inference whose recurrent layers compute their products in int8 or bf16.

        Parameters
        ----------
        format : {"int8", "bf16"}
            As `fusedrnn.LSTM.quantized`; the other layers (Dense, Embedding) stay float32.

        Returns
        -------
        Sequential
            The copy: `predict` and `evaluate` work as on this model; `fit` and `train_on_batch` raise
            RuntimeError (its recurrent layers are inference-only). This model is unchanged.

        Raises
        ------
        RuntimeError
            The model has not been built (fit or predict it first).
        """
        if not self.built:
            raise RuntimeError("quantized: the model is not built yet (fit or predict it first)")
        model = copy.deepcopy(self)
        for layer in model.layers:
            if isinstance(layer, Recurrent):
                layer.layer = layer.layer.quantized(format)  # type: ignore[arg-type]
        return model

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise RuntimeError(
                f"{what}: the model is not built yet (give input_shape=, or fit or predict it)"
            )

    def _ensure_built(self, X: NDArray[Any]) -> None:
        self._build_declared()
        if self.built_for is None:
            self.build((None,) + X.shape[1:])
            return
        assert self.built_for is not None
        # A model that starts with a recurrent, masking or embedding layer takes sequences of any
        # length: only the dimensions past the time axis must match.
        any_length = bool(self.layers) and isinstance(self.layers[0], (Recurrent, Embedding, Masking))
        mismatch = len(X.shape[1:]) != len(self.built_for) or (
            X.shape[2:] if any_length else X.shape[1:]
        ) != (self.built_for[1:] if any_length else self.built_for)
        if mismatch:
            note = " (any number of steps)" if any_length else ""
            raise ValueError(
                f"X: the model was built for samples of shape {self.built_for}{note}, got {X.shape[1:]}"
            )

    def forward(self, X: Any, training: bool = False) -> Any:
        """The model's output for the batch X (training: layers keep what backward needs).

        A padding mask (Masking, Embedding(mask_zero=True)) must be consumed by a recurrent layer with
        return_sequences=False: fr.nn computes no masked losses, so an output that still carries one is
        refused (ValueError) rather than computed over the padding."""
        out, mask = X, None
        for layer in self.layers:
            out, mask = layer.forward_masked(out, training, mask)
        if mask is not None:
            raise ValueError(
                "the model's output still carries the padding mask (Masking / mask_zero=True): fr.nn has "
                "no masked losses; end the masked part with a recurrent layer of return_sequences=False"
            )
        return out

    def __call__(self, X: ArrayLike, training: bool = False) -> NDArray[Any]:
        """The output for X in one batch (Keras's ``model(x)``)."""
        X = np.asarray(X)
        self._ensure_built(X)
        return self.forward(X, training)

    # -- the training loop's hooks (`fusedrnn.nn.engine.Trainer`) ---------------------------------

    def _zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    def _backward(self, grad: Any) -> None:
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def _metric_values(self, pred: NDArray[Any], y: NDArray[Any]) -> dict[str, float]:
        return {key: float(metric(pred, y)) for key, metric in self.metrics}

    def _log_keys(self) -> list[str]:
        return ["loss", *(key for key, _ in self.metrics)]

    def save(self, filepath: PathLike, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Writes the whole model to `filepath`, exactly as named (``model.save("model.keras")``): the
        layers' configuration, the weights, the compile settings and (include_optimizer) the
        optimizer's state, in fusedrnn's pickle-free .npz format (`fusedrnn.nn.load_model` reads it;
        ``np.load`` lists it). See `fusedrnn.nn.saving.save_model`."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: PathLike, overwrite: bool = True) -> None:
        """Writes the model without its optimizer state (`load_weights` reads the weights back into a
        model of the same layers)."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=False)

    def load_weights(self, filepath: PathLike) -> None:
        """Reads the weights of a file `save` or `save_weights` wrote into this model, which must have
        the same layers and parameter shapes (ValueError naming the path otherwise)."""
        from .saving import load_model

        other = load_model(filepath, compile=False)
        where = f"path: {os.fsdecode(os.fspath(filepath))!r}"
        self._build_declared()
        if self.built_for is None:
            self.build((None,) + tuple(other.built_for or ()))
        mine, theirs = self.parameters(), other.parameters()
        if [p.shape for p in mine] != [p.shape for p in theirs]:
            raise ValueError(f"{where}: its weights do not fit this model (other layers or shapes)")
        self.set_parameters(theirs)

    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """Keras-style table: layer, output shape, parameters."""
        self._build_declared()
        if self.built_for is None:
            raise RuntimeError(
                "summary: build the model first (input_shape=, fit, predict or build(input_shape))"
            )
        for layer in self.layers:
            unique_name(layer)
        rows = [
            (f"{layer.name} ({layer_kind(layer)})", str(shape), sum(p.size for p in layer.parameters()))
            for layer, shape in zip(self.layers, self.shapes, strict=True)
        ]
        width = max(len("Layer (type)"), *(len(row[0]) for row in rows)) + 2
        lines = [f"{'Layer (type)':<{width}}{'Output shape':<24}{'Param #':>10}"]
        lines += [f"{name:<{width}}{shape:<24}{count:>10,}" for name, shape, count in rows]
        lines += total_lines(
            sum(r[2] for r in rows), sum(keras_parameter_count(layer) for layer in self.layers)
        )
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text
