"""Layer classes: `LSTM`, `GRU` and `RNN`, each its constructor (its options are its record in
`fusedrnn._options`), its call signature and documentation; what they share (parameters, modes,
pickling, streaming, the calls on a prepared plan) is `fusedrnn._recurrent`'s `RecurrentLayer`.

Parameters are NumPy arrays named, shaped, ordered and initialised exactly as in PyTorch, so a
``torch.nn.LSTM`` state_dict loads unchanged and gives the same outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ._recurrent import RecurrentLayer, errors_name
from ._stack import StatePair, pair
from ._typing import Activation, FloatArray, InitScheme, MergeMode, Seed
from ._validation import activation as _activation

__all__ = ["GRU", "LSTM", "RNN"]

# Any: the sentinel stands in the place of an activation name.
_UNSET: Any = object()


class LSTM(RecurrentLayer[tuple[FloatArray, FloatArray]]):
    """Multi-layer LSTM over whole sequences, with ``torch.nn.LSTM``'s parameters and call signature.

    Gates in PyTorch's order i, f, g, o: ``i, f, o = recurrent_activation(.)``, ``g = activation(.)``,
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * activation(c_t)`` (with a projection,
    ``h_t = W_hr (o * activation(c_t))``). Keras's ``activation`` and ``recurrent_activation`` are
    options, so Keras's ``LSTM(50, activation="relu")`` is ``LSTM(1, 50, activation="relu")`` on one
    feature.

    Parameters are attributes named as PyTorch's (``weight_ih_l0`` [4*H, C], ``weight_hh_l0`` [4*H, S],
    ``bias_ih_l0`` and ``bias_hh_l0`` [4*H], ``weight_hr_l0`` [P, H] with a projection, ``..._reverse``
    for the second direction), so a ``torch.nn.LSTM`` state_dict loads unchanged and gives the same
    outputs. Gradients accumulate into `grads`, keyed by the same names.

    In eval mode the parameters are packed once and kept while the layer stays in eval mode; they are
    read-only then, so an in-place write raises ``ValueError: ... read-only`` instead of silently using
    stale packs. Attribute assignment (``lstm.weight_hh_l0 = w``) and `load_state_dict` are allowed in
    both modes and repack; `train` makes the arrays writable again. A training-mode forward keeps a copy
    of the parameters' values, and `backward` raises a RuntimeError naming a parameter changed in place
    between the two.

    Examples
    --------
    >>> import numpy as np, fusedrnn as fr
    >>> lstm = fr.LSTM(input_size=8, hidden_size=16, num_layers=2, batch_first=True, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((4, 10, 8), dtype=np.float32)
    >>> y, (h_n, c_n) = lstm(x)
    >>> y.shape, h_n.shape
    ((4, 10, 16), (2, 4, 16))
    >>> dx, (dh0, dc0) = lstm.backward(np.ones_like(y))    # accumulates into lstm.grads
    """

    _cell = "lstm"
    _options_key = "LSTM"
    proj_size: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: DTypeLike = np.float32,
        seed: Seed = None,
        *,
        proj_size: int = 0,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        recurrent_dropout: float = 0.0,
        init: InitScheme = "torch",
        merge_mode: MergeMode = "concat",
        stateful: bool = False,
        layer_norm: bool = False,
        compute_dtype: str = "float32",
        **unknown: NoReturn,
    ) -> None:
        """Makes the layer and initialises its parameters.

        Parameters
        ----------
        input_size : int
            C, the features of each step of x.
        hidden_size : int
            H, the units of each layer and direction.
        num_layers : int
            L, layers stacked (each reads the previous one's output).
        bias : bool
            Whether the layer has the biases ``bias_ih`` and ``bias_hh``.
        batch_first : bool
            x and y are [N, T, features] (Keras's layout) instead of time-major [T, N, features]; the
            states stay [L*D, N, H].
        dropout : float
            PyTorch's dropout between stacked layers (training only): every layer's output but the last
            is zeroed with this probability, the rest scaled by 1/(1-dropout). Warns with num_layers=1.
        bidirectional : bool
            A second direction reads the sequence from its end (D = 2); y holds both directions' outputs.
        dtype : {numpy.float32, numpy.float64}
            The dtype of the parameters, the computation and the outputs; inputs are converted to it.
        seed : int, numpy.random.Generator, numpy.random.SeedSequence or None
            Seeds the initial parameters and then the dropout masks (None: fresh entropy).
        proj_size : int
            P > 0: PyTorch's LSTM projection, ``h_t = W_hr (o * activation(c_t))`` of width P
            (``weight_hr_l0`` [P, H]); 0: none.
        activation : {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"} or None
            Keras's ``activation``: the candidate g and the cell output; None is "linear".
        recurrent_activation : {"sigmoid", "tanh", "relu", "hard_sigmoid", "linear"} or None
            Keras's ``recurrent_activation``: the gates i, f, o.
        recurrent_dropout : float
            Keras's variational recurrent dropout (training only): h_{t-1} is multiplied, wherever it
            enters a recurrent product, by one mask per layer and direction (0 with this probability,
            else 1/(1-p)), the same at every step.
        init : {"torch", "keras", "identity", "orthogonal"}
            How the parameters start (`fusedrnn.init`): "torch": every parameter U(-1/sqrt(H),
            1/sqrt(H)), as PyTorch; "keras": Glorot-uniform inputs, an orthogonal recurrent kernel, zero
            biases but a forget-gate bias of 1; "orthogonal": each gate's recurrent block orthogonal;
            "identity": identity recurrent blocks, small inputs, zero biases.
        merge_mode : {"concat", "sum", "mul", "ave"}
            How a bidirectional layer's top layer joins its two directions' outputs (Keras's
            ``Bidirectional``); anything but "concat" needs bidirectional=True.
        stateful : bool
            Keras's ``stateful``: each call without an explicit state starts from the previous call's
            final state (`reset_state` forgets it).
        layer_norm : bool
            The layer-normalised LSTM (Ba, Kiros and Hinton 2016): ``z = LN_ih(W_ih x_t) +
            LN_hh(W_hh h_{t-1}) + b_ih + b_hh``, each norm over a row's 4H gates with a gain
            (``layernorm_ih_weight_l0``, ``layernorm_hh_weight_l0`` [4*H], initialised to 1), and
            ``h_t = o * activation(LN_c(c_t))`` with a gain and a bias (``layernorm_c_weight_l0``,
            ``layernorm_c_bias_l0`` [H], 1 and 0); LN(v) = gain * (v - mean) / sqrt(var + 1e-5) (+ bias).
            Not with proj_size, ONNX export, Keras weights or `quantized`.
        compute_dtype : {"float32", "bfloat16"}
            Keras's name for the precision of the computation (``dtype`` stays the parameters' type).
            "bfloat16" (alias "bf16"; "fp32" for "float32"): mixed-precision training. The operands of
            every product (x, h_{t-1}, the weights, and in the backward the gate gradients, dh, x and h)
            are rounded to bfloat16, to nearest even, and the products summed in float32; the gates, the
            cell state, every pointwise step (with layer_norm=True the norms' statistics, gains and
            biases too), y, the states, the parameters and their gradients stay float32. Forward and
            backward, training and eval, every option but the ones below; results stay bitwise the same
            for any thread count and batch. Gradients come within a few 1e-3 of float32's (relative, per
            parameter, on the benchmark grid; with layer_norm=True, whose steps amplify any rounding,
            within 2e-2 on short sequences only: docs/maths.md). The products run on AVX512-BF16
            (vdpbf16ps) where the CPU has it, else as float32 FMAs over the rounded operands (the same
            products, float32's speed): ``fusedrnn.cpu_info()
            ["bf16_compute"]``. Needs dtype float32; not with `quantized`; ONNX export writes the
            float32 model.
        **unknown
            Any other keyword is refused with a TypeError that names the closest known argument.

        Raises
        ------
        TypeError
            An argument of the wrong type, or an unknown keyword.
        ValueError
            An argument out of range (sizes past the kernels' limits included).

        Examples
        --------
        >>> fr.LSTM(8, 32, num_layers=2, bidirectional=True, init="keras", seed=0)
        LSTM(8, 32, num_layers=2, bidirectional=True, init='keras', dtype=float32)
        """
        self._build(locals())

    def _proj_size(self) -> int:
        return self.proj_size

    def _split_state(self, state: Any) -> Sequence[Any]:
        return pair(state, "state", ("h", "c"))

    def _join_state(self, h_n: FloatArray, c_n: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        return (h_n, c_n)  # type: ignore[return-value]  # an LSTM's c_n is an array

    def forward(
        self,
        x: ArrayLike,
        hx: StatePair | None = None,
        *,
        out: FloatArray | None = None,
        lengths: ArrayLike | None = None,
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
        """Runs the layer over whole sequences (also ``lstm(x, hx)``).

        In training mode the workspace for `backward` is kept (with copies of x, the initial states and
        the parameters' values); in eval mode only the packed weights are kept.

        Parameters
        ----------
        x : array_like
            [T, N, C] ([N, T, C] if batch_first), or unbatched [T, C]; any real dtype (converted to the
            layer's dtype).
        hx : (array_like, array_like) or None
            (h0, c0), each [L*D, N, S] and [L*D, N, H] ([L*D, S] and [L*D, H] unbatched), either may be
            None; None: zeros (a stateful layer: its carried state).
        out : numpy.ndarray or None
            A C-contiguous array of y's shape and the layer's dtype to write y into (not with
            batch_first); None: a new array.
        lengths : array_like or None
            Each sequence's length (ints [N], 1 <= length <= T; a scalar for unbatched x), with PyTorch's
            ``pack_padded_sequence(..., enforce_sorted=False)`` semantics: y is 0 past each end, the final
            states are each sequence's at its own last step, the reverse direction starts at each
            sequence's end; `backward` ignores the padding. None: every sequence has T steps.

        Returns
        -------
        y : numpy.ndarray
            [T, N, D*S] ([N, T, D*S] if batch_first, [T, D*S] unbatched; D*S becomes S with a merge_mode
            other than "concat"): the top layer's output at every step, S = proj_size or hidden_size.
        (h_n, c_n) : (numpy.ndarray, numpy.ndarray)
            The final states, [L*D, N, S] and [L*D, N, H] ([L*D, S], [L*D, H] unbatched).

        Raises
        ------
        TypeError
            x or a state is not real-valued, or hx is not a pair.
        ValueError
            A shape does not match, or a length is out of range.

        Examples
        --------
        >>> lstm = fr.LSTM(1, 50)
        >>> y, (h_n, c_n) = lstm(np.zeros((3, 1, 1)))      # T=3 steps, N=1 sequence, C=1 feature
        >>> y.shape, h_n.shape, c_n.shape
        ((3, 1, 50), (1, 1, 50), (1, 1, 50))
        """
        h0, c0 = pair(hx, "hx", ("h0", "c0"))
        y, h_n, c_n = self._forward(x, h0, c0, out, lengths)
        return y, (h_n, c_n)  # type: ignore[return-value]  # an LSTM's c_n is an array

    __call__ = forward

    def backward(
        self, dy: ArrayLike | None = None, dhx: StatePair | None = None
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
        """Backpropagation through time of the last training-mode forward.

        Differentiates the loss ``sum(dy * y) + sum(dh_n * h_n) + sum(dc_n * c_n)``. Parameter gradients
        accumulate into `grads` (as PyTorch's ``.grad``). A second backward needs a new forward (as
        PyTorch frees its graph).

        Parameters
        ----------
        dy : array_like or None
            The gradient of the loss with respect to y, shaped like y; None: zero.
        dhx : (array_like, array_like) or None
            (dh_n, dc_n), shaped like h_n and c_n, either may be None; None: zero.

        Returns
        -------
        dx : numpy.ndarray
            Shaped like x.
        (dh0, dc0) : (numpy.ndarray, numpy.ndarray)
            Shaped like h_n and c_n.

        Raises
        ------
        RuntimeError
            No training-mode forward is pending (none ran, it ran in eval mode, or a backward used it,
            even one interrupted), a parameter changed in place since the forward, or the forward ran in
            another thread.
        ValueError
            A gradient's shape does not match.
        """
        dh_n, dc_n = pair(dhx, "dhx", ("dh_n", "dc_n"))
        dx, dh0, dc0 = self._backward(dy, dh_n, dc_n)
        return dx, (dh0, dc0)  # type: ignore[return-value]  # an LSTM's dc0 is an array


class GRU(RecurrentLayer[FloatArray]):
    """Multi-layer GRU over whole sequences, with ``torch.nn.GRU``'s parameters and call signature.

    ``y, h_n = gru(x, h0)`` and ``dx, dh0 = gru.backward(dy, dh_n)``, gates in PyTorch's order r, z, n
    (Keras stores its kernels in the order z, r, h, so Keras weights need their gate blocks reordered:
    `fusedrnn.from_keras` does it). ``activation`` / ``recurrent_activation`` as in Keras.

    reset_after=True (default; PyTorch's form, Keras's default): ``r, z = recurrent_activation(.)``,
    ``n = activation(W_in x + b_in + r * (W_hn h + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.
    reset_after=False (the original paper's form, Keras 2's default): the reset gate before the
    recurrent product, ``n = activation(W_in x + b_in + W_hn (r * h) + b_hn)``; Keras's single bias then
    loads as bias_ih with zeros for bias_hh (b_hn adds to b_in either way in this form).

    Parameters are attributes named as PyTorch's (``weight_ih_l0`` [3*H, C], ``weight_hh_l0`` [3*H, H],
    ``bias_ih_l0``, ``bias_hh_l0`` [3*H], ``..._reverse``); gradients accumulate into `grads`. Packing,
    eval mode and read-only parameters work as in `LSTM`.

    Examples
    --------
    >>> import numpy as np, fusedrnn as fr
    >>> gru = fr.GRU(8, 16, batch_first=True, seed=0)
    >>> y, h_n = gru(np.zeros((4, 10, 8), np.float32))
    >>> y.shape, h_n.shape
    ((4, 10, 16), (1, 4, 16))
    >>> dx, dh0 = gru.backward(np.ones_like(y))
    """

    _cell = "gru"
    _options_key = "GRU"
    reset_after: bool

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: DTypeLike = np.float32,
        seed: Seed = None,
        *,
        reset_after: bool = True,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        recurrent_dropout: float = 0.0,
        init: InitScheme = "torch",
        merge_mode: MergeMode = "concat",
        stateful: bool = False,
        compute_dtype: str = "float32",
        **unknown: NoReturn,
    ) -> None:
        """Makes the layer and initialises its parameters.

        Parameters
        ----------
        input_size : int
            C, the features of each step of x.
        hidden_size : int
            H, the units of each layer and direction.
        num_layers : int
            L, layers stacked (each reads the previous one's output).
        bias : bool
            Whether the layer has the biases ``bias_ih`` and ``bias_hh``.
        batch_first : bool
            x and y are [N, T, features] (Keras's layout) instead of time-major [T, N, features]; the
            states stay [L*D, N, H].
        dropout : float
            PyTorch's dropout between stacked layers (training only): every layer's output but the last
            is zeroed with this probability, the rest scaled by 1/(1-dropout). Warns with num_layers=1.
        bidirectional : bool
            A second direction reads the sequence from its end (D = 2); y holds both directions' outputs.
        dtype : {numpy.float32, numpy.float64}
            The dtype of the parameters, the computation and the outputs; inputs are converted to it.
        seed : int, numpy.random.Generator, numpy.random.SeedSequence or None
            Seeds the initial parameters and then the dropout masks (None: fresh entropy).
        reset_after : bool
            True: the reset gate after the recurrent product (PyTorch's form, Keras's default); False:
            before it (the original paper's form, Keras 2's default).
        activation : {"tanh", "sigmoid", "relu", "hard_sigmoid", "linear"} or None
            Keras's ``activation``: the candidate n; None is "linear".
        recurrent_activation : {"sigmoid", "tanh", "relu", "hard_sigmoid", "linear"} or None
            Keras's ``recurrent_activation``: the gates r and z.
        recurrent_dropout : float
            Keras's variational recurrent dropout (training only): h_{t-1} is multiplied, wherever it
            enters a recurrent product, by one mask per layer and direction (0 with this probability,
            else 1/(1-p)), the same at every step.
        init : {"torch", "keras", "identity", "orthogonal"}
            How the parameters start (`fusedrnn.init`): "torch": every parameter U(-1/sqrt(H),
            1/sqrt(H)), as PyTorch; "keras": Glorot-uniform inputs, an orthogonal recurrent kernel, zero
            biases; "orthogonal": each gate's recurrent block orthogonal; "identity": identity recurrent
            blocks, small inputs, zero biases.
        merge_mode : {"concat", "sum", "mul", "ave"}
            How a bidirectional layer's top layer joins its two directions' outputs (Keras's
            ``Bidirectional``); anything but "concat" needs bidirectional=True.
        stateful : bool
            Keras's ``stateful``: each call without an explicit state starts from the previous call's
            final state (`reset_state` forgets it).
        compute_dtype : {"float32", "bfloat16"}
            Keras's name for the precision of the computation (``dtype`` stays the parameters' type).
            "bfloat16" (alias "bf16"; "fp32" for "float32"): mixed-precision training. The operands of
            every product (x, h_{t-1}, the weights, and in the backward the gate gradients, dh, x and h)
            are rounded to bfloat16, to nearest even, and the products summed in float32; the gates, the
            cell state, every pointwise step, y, the states, the parameters and their gradients stay
            float32. Forward and backward, training and eval, every option but the ones below; results
            stay bitwise the same for any thread count and batch. Gradients come within a few 1e-3 of
            float32's (relative, per parameter, on the benchmark grid). The products run on
            AVX512-BF16 (vdpbf16ps) where the CPU has it, else as float32 FMAs over the rounded operands
            (the same products, float32's speed): ``fusedrnn.cpu_info()["bf16_compute"]``. Needs dtype
            float32; not with `quantized`; ONNX export writes the float32 model.
        **unknown
            Any other keyword is refused with a TypeError that names the closest known argument.

        Raises
        ------
        TypeError
            An argument of the wrong type, or an unknown keyword.
        ValueError
            An argument out of range (sizes past the kernels' limits included).
        """
        self._build(locals())

    # GRU and RNN share forward and backward (an RNN's has the same arguments): self is either.
    def forward(
        self: RecurrentLayer[FloatArray],
        x: ArrayLike,
        h0: ArrayLike | None = None,
        *,
        out: FloatArray | None = None,
        lengths: ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Runs the layer over whole sequences (also ``layer(x, h0)``).

        In training mode the workspace for `backward` is kept (with copies of x, the initial state and
        the parameters' values); in eval mode only the packed weights are kept.

        Parameters
        ----------
        x : array_like
            [T, N, C] ([N, T, C] if batch_first), or unbatched [T, C]; any real dtype (converted to the
            layer's dtype).
        h0 : array_like or None
            The initial state [L*D, N, H] ([L*D, H] unbatched); None: zeros (a stateful layer: its
            carried state).
        out : numpy.ndarray or None
            A C-contiguous array of y's shape and the layer's dtype to write y into (not with
            batch_first); None: a new array.
        lengths : array_like or None
            Each sequence's length (ints [N], 1 <= length <= T; a scalar for unbatched x), with PyTorch's
            ``pack_padded_sequence(..., enforce_sorted=False)`` semantics: y is 0 past each end, the final
            state is each sequence's at its own last step, the reverse direction starts at each
            sequence's end; `backward` ignores the padding. None: every sequence has T steps.

        Returns
        -------
        y : numpy.ndarray
            [T, N, D*H] ([N, T, D*H] if batch_first, [T, D*H] unbatched; D*H becomes H with a merge_mode
            other than "concat"): the top layer's output at every step.
        h_n : numpy.ndarray
            The final state [L*D, N, H] ([L*D, H] unbatched).

        Raises
        ------
        TypeError
            x or h0 is not real-valued.
        ValueError
            A shape does not match, or a length is out of range.
        """
        y, h_n, _ = self._forward(x, h0, None, out, lengths)
        return y, h_n

    __call__ = forward

    def backward(
        self: RecurrentLayer[FloatArray], dy: ArrayLike | None = None, dh_n: ArrayLike | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Backpropagation through time of the last training-mode forward.

        Differentiates the loss ``sum(dy * y) + sum(dh_n * h_n)``. Parameter gradients accumulate into
        `grads` (as PyTorch's ``.grad``). A second backward needs a new forward (as PyTorch frees its
        graph).

        Parameters
        ----------
        dy : array_like or None
            The gradient of the loss with respect to y, shaped like y; None: zero.
        dh_n : array_like or None
            The gradient with respect to h_n, shaped like h_n; None: zero.

        Returns
        -------
        dx : numpy.ndarray
            Shaped like x.
        dh0 : numpy.ndarray
            Shaped like h_n.

        Raises
        ------
        RuntimeError
            No training-mode forward is pending (none ran, it ran in eval mode, or a backward used it,
            even one interrupted), a parameter changed in place since the forward, or the forward ran in
            another thread.
        ValueError
            A gradient's shape does not match.
        """
        dx, dh0, _ = self._backward(dy, dh_n, None)
        return dx, dh0


class RNN(RecurrentLayer[FloatArray]):
    """Multi-layer Elman RNN over whole sequences, with ``torch.nn.RNN``'s parameters and call signature.

    ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; ``y, h_n = rnn(x, h0)`` and
    ``dx, dh0 = rnn.backward(dy, dh_n)``. act is PyTorch's ``nonlinearity`` ("tanh" or "relu") or any
    activation Keras's ``SimpleRNN`` takes, given as ``nonlinearity=`` or as Keras's ``activation=``.

    Parameters are attributes named as PyTorch's (``weight_ih_l0`` [H, C], ``weight_hh_l0`` [H, H],
    ``bias_ih_l0``, ``bias_hh_l0`` [H], ``..._reverse``); gradients accumulate into `grads`. Packing,
    eval mode and read-only parameters work as in `LSTM`.

    Examples
    --------
    >>> import numpy as np, fusedrnn as fr
    >>> rnn = fr.RNN(1, 100, nonlinearity="relu", init="identity", seed=0)    # an IRNN
    >>> y, h_n = rnn(np.zeros((28, 32, 1)))
    >>> y.shape, h_n.shape
    ((28, 32, 100), (1, 32, 100))
    """

    _cell = "rnn"
    _options_key = "RNN"
    _aliases = ("activation",)
    nonlinearity: str

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: Activation = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: DTypeLike = np.float32,
        seed: Seed = None,
        *,
        activation: Activation = _UNSET,
        recurrent_dropout: float = 0.0,
        init: InitScheme = "torch",
        merge_mode: MergeMode = "concat",
        stateful: bool = False,
        compute_dtype: str = "float32",
        **unknown: NoReturn,
    ) -> None:
        """Makes the layer and initialises its parameters.

        Parameters
        ----------
        input_size : int
            C, the features of each step of x.
        hidden_size : int
            H, the units of each layer and direction.
        num_layers : int
            L, layers stacked (each reads the previous one's output).
        nonlinearity : {"tanh", "relu", "sigmoid", "hard_sigmoid", "linear"} or None
            act: PyTorch's "tanh" or "relu", or another of Keras's activations; None is "linear".
        bias : bool
            Whether the layer has the biases ``bias_ih`` and ``bias_hh``.
        batch_first : bool
            x and y are [N, T, features] (Keras's layout) instead of time-major [T, N, features]; the
            states stay [L*D, N, H].
        dropout : float
            PyTorch's dropout between stacked layers (training only): every layer's output but the last
            is zeroed with this probability, the rest scaled by 1/(1-dropout). Warns with num_layers=1.
        bidirectional : bool
            A second direction reads the sequence from its end (D = 2); y holds both directions' outputs.
        dtype : {numpy.float32, numpy.float64}
            The dtype of the parameters, the computation and the outputs; inputs are converted to it.
        seed : int, numpy.random.Generator, numpy.random.SeedSequence or None
            Seeds the initial parameters and then the dropout masks (None: fresh entropy).
        activation : {"tanh", "relu", "sigmoid", "hard_sigmoid", "linear"} or None
            Keras's name for `nonlinearity` (give one of the two; ValueError if they contradict).
        recurrent_dropout : float
            Keras's variational recurrent dropout (training only): h_{t-1} is multiplied by one mask per
            layer and direction (0 with this probability, else 1/(1-p)), the same at every step.
        init : {"torch", "keras", "identity", "orthogonal"}
            How the parameters start (`fusedrnn.init`): "torch": every parameter U(-1/sqrt(H),
            1/sqrt(H)), as PyTorch; "keras": Glorot-uniform inputs, an orthogonal recurrent kernel, zero
            biases; "orthogonal": an orthogonal recurrent matrix; "identity": the identity recurrent
            matrix, small inputs, zero biases (with relu, Le, Jaitly & Hinton's IRNN).
        merge_mode : {"concat", "sum", "mul", "ave"}
            How a bidirectional layer's top layer joins its two directions' outputs (Keras's
            ``Bidirectional``); anything but "concat" needs bidirectional=True.
        stateful : bool
            Keras's ``stateful``: each call without an explicit state starts from the previous call's
            final state (`reset_state` forgets it).
        compute_dtype : {"float32", "bfloat16"}
            Keras's name for the precision of the computation (``dtype`` stays the parameters' type).
            "bfloat16" (alias "bf16"; "fp32" for "float32"): mixed-precision training. The operands of
            every product (x, h_{t-1}, the weights, and in the backward the gate gradients, dh, x and h)
            are rounded to bfloat16, to nearest even, and the products summed in float32; the gates, the
            cell state, every pointwise step, y, the states, the parameters and their gradients stay
            float32. Forward and backward, training and eval, every option but the ones below; results
            stay bitwise the same for any thread count and batch. Gradients come within a few 1e-3 of
            float32's (relative, per parameter, on the benchmark grid). The products run on
            AVX512-BF16 (vdpbf16ps) where the CPU has it, else as float32 FMAs over the rounded operands
            (the same products, float32's speed): ``fusedrnn.cpu_info()["bf16_compute"]``. Needs dtype
            float32; not with `quantized`; ONNX export writes the float32 model.
        **unknown
            Any other keyword is refused with a TypeError that names the closest known argument.

        Raises
        ------
        TypeError
            An argument of the wrong type, or an unknown keyword.
        ValueError
            An argument out of range (sizes past the kernels' limits included).
        """
        if activation is not _UNSET:  # Keras's name for the same choice
            with errors_name(type(self)):
                keras_name = _activation(activation, "activation")
                if nonlinearity != "tanh" and keras_name != _activation(nonlinearity, "nonlinearity"):
                    raise ValueError(
                        f"activation: {activation!r} contradicts nonlinearity={nonlinearity!r} (one name "
                        "for the same choice: give one of them)"
                    )
            nonlinearity = cast(Activation, keras_name)
        self._build(locals())

    @property
    def activation(self) -> str:  # type: ignore[override]  # read-only here: nonlinearity is the setting
        """Keras's name for `nonlinearity`."""
        return self.nonlinearity

    def _plan_activations(self) -> tuple[str, str]:
        return self.nonlinearity, "sigmoid"  # an RNN has no gates

    forward = GRU.forward
    __call__ = forward
    backward = GRU.backward
