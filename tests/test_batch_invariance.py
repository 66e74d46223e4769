"""Batch invariance (DESIGN.md section 3, item 7): a sequence's outputs, final states and, in training, its
dx and initial-state gradients are bitwise the same whatever batch it is in and at whatever position,
for every cell, option, dtype, SIMD path and thread count, with bf16 products (compute_dtype="bfloat16")
too, and for the int8 / bf16 quantised layers.

Each example runs one batch of N sequences and a subset of them (in another order, so rows change
position) and compares the subset's rows with np.array_equal. Batch sizes include every size around the
microkernels' MR (4 generic, 6 AVX2, 8 AVX-512) and the 1- and 2-row steps that use the row kernel;
with ``lengths`` the running batch shrinks as sequences end, so a sequence also meets every smaller
batch. Weight gradients are sums over the batch and are not compared."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fusedrnn as fr

pytestmark = pytest.mark.usefixtures("isa")

CELLS = ["lstm", "gru", "gru_reset_before", "rnn_tanh", "rnn_relu"]
# Sizes at and around every MR multiple, as well as any size: results must not depend on luck of sizes.
EDGE_SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49, 70]
# Hidden sizes below, at and past the NR of every kernel (16 / 32 floats, 8 / 16 doubles) and several unit
# blocks (the row kernel covers up to 4 blocks per call).
HIDDEN = [3, 8, 16, 19, 37, 70]
ACTIVATIONS = ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"]


@pytest.fixture(params=[1, 2], ids=lambda n: f"threads{n}")
def threads(request, every_thread_runs):
    """The thread count, with every thread running even on these small shapes (conftest's
    every_thread_runs): a batch of at least two row panels per thread then splits its rows across the
    threads, its subsets split their units (time_loop_forward.h, split_rows)."""
    fr.set_num_threads(request.param)
    return request.param


def make_layer(cell, C, H, dtype, options):
    common = dict(dtype=dtype, seed=options["seed"], num_layers=options["layers"])
    if dtype == np.float32:  # bf16 products (compute_dtype) are a float32 layer's option
        common["compute_dtype"] = options.get("compute_dtype", "float32")
    common["bidirectional"] = options["bidirectional"]
    if cell == "lstm":
        return fr.LSTM(
            C,
            H,
            proj_size=options["proj"] if options["proj"] < H else 0,
            activation=options["activation"],
            recurrent_activation=options["recurrent_activation"],
            **common,
        )
    if cell.startswith("gru"):
        return fr.GRU(C, H, reset_after=cell == "gru", **common)
    return fr.RNN(C, H, nonlinearity=cell[4:], **common)


@st.composite
def batch_and_subset(draw, max_batch=70):
    """N, and distinct rows of it in a random order (so rows move to other positions)."""
    n = draw(st.one_of(st.sampled_from([s for s in EDGE_SIZES if s <= max_batch]), st.integers(1, max_batch)))
    k = draw(st.one_of(st.sampled_from([1, 2, 3, 5, 6, 7, 8, 9]), st.integers(1, n)))
    order = draw(st.permutations(range(n)))
    return n, np.array(order[: min(k, n)])


@st.composite
def layer_options(draw):
    return dict(
        seed=draw(st.integers(0, 2**16)),
        layers=draw(st.sampled_from([1, 1, 2])),
        bidirectional=draw(st.booleans()),
        proj=draw(st.sampled_from([0, 0, 2, 11])),
        activation=draw(st.sampled_from(ACTIVATIONS)),
        recurrent_activation=draw(st.sampled_from(ACTIVATIONS)),
        lengths=draw(st.booleans()),
        compute_dtype=draw(st.sampled_from(["float32", "float32", "bfloat16"])),
    )


def inputs(rng, T, N, C, layer, dtype, with_lengths):
    x = rng.standard_normal((T, N, C)).astype(dtype)
    D, L = 1 + layer.bidirectional, layer.num_layers
    S = getattr(layer, "proj_size", 0) or layer.hidden_size
    h0 = rng.standard_normal((L * D, N, S)).astype(dtype)
    c0 = rng.standard_normal((L * D, N, layer.hidden_size)).astype(dtype)
    lengths = rng.integers(1, T + 1, size=N) if with_lengths else None
    return x, h0, c0, lengths


def call(layer, cell, x, h0, c0, lengths):
    """Outputs and final states (batch on axis 1)."""
    if cell == "lstm":
        y, (h_n, c_n) = layer(x, (h0, c0), lengths=lengths)
        return [y, h_n, c_n]
    y, h_n = layer(x, h0, lengths=lengths)
    return [y, h_n]


def train_step(layer, cell, x, h0, c0, lengths, dy, dh, dc):
    """Outputs, final states, dx and the initial states' gradients (batch on axis 1)."""
    outputs = call(layer, cell, x, h0, c0, lengths)
    if cell == "lstm":
        dx, (dh0, dc0) = layer.backward(dy, (dh, dc))
        return outputs + [dx, dh0, dc0]
    dx, dh0 = layer.backward(dy, dh)
    return outputs + [dx, dh0]


def assert_rows_equal(full, part, rows, names):
    for name, a, b in zip(names[: len(full)], full, part, strict=True):
        assert a.shape[1] > 0 and b.shape[1] == len(rows), name
        same = np.array_equal(a[:, rows], b, equal_nan=True)
        assert same, f"{name}: max |diff| {np.nanmax(np.abs(a[:, rows] - b))}"


NAMES = ["y", "h_n", "c_n", "dx", "dh0", "dc0"]


def upstream_gradients(rng, layer, cell, x, h0, c0, lengths, dtype):
    """Random dy, dh and (LSTM) dc shaped like the layer's outputs for x."""
    y = call(layer, cell, x, h0, c0, lengths)
    dy = rng.standard_normal(y[0].shape).astype(dtype)
    dh = rng.standard_normal(y[1].shape).astype(dtype)
    dc = rng.standard_normal(y[2].shape).astype(dtype) if cell == "lstm" else None
    return dy, dh, dc


def assert_rows_train_as_in_the_batch(layer, cell, rows, full, x, h0, c0, lengths, dy, dh, dc):
    """A training step of the batch's `rows` alone gives, bit for bit, the values `full` (the step of the
    whole batch) has for them."""
    part = train_step(
        layer,
        cell,
        x[:, rows],
        h0[:, rows],
        c0[:, rows],
        None if lengths is None else lengths[rows],
        dy[:, rows],
        dh[:, rows],
        None if dc is None else dc[:, rows],
    )
    assert_rows_equal(full, part, rows, NAMES if cell == "lstm" else ["y", "h_n", "dx", "dh0"])


@settings(max_examples=100, deadline=None)
@given(
    cell=st.sampled_from(CELLS),
    dtype=st.sampled_from([np.float32, np.float64]),
    sizes=batch_and_subset(),
    T=st.integers(1, 5),
    C=st.sampled_from([1, 5, 40]),
    H=st.sampled_from(HIDDEN),
    options=layer_options(),
)
def test_eval_outputs_do_not_depend_on_the_batch(threads, cell, dtype, sizes, T, C, H, options):
    N, rows = sizes
    layer = make_layer(cell, C, H, dtype, options).eval()
    x, h0, c0, lengths = inputs(
        np.random.default_rng(options["seed"]), T, N, C, layer, dtype, options["lengths"]
    )
    full = call(layer, cell, x, h0, c0, lengths)
    part = call(layer, cell, x[:, rows], h0[:, rows], c0[:, rows], None if lengths is None else lengths[rows])
    assert_rows_equal(full, part, rows, NAMES)


@settings(max_examples=60, deadline=None)
@given(
    cell=st.sampled_from(CELLS),
    dtype=st.sampled_from([np.float32, np.float64]),
    sizes=batch_and_subset(max_batch=40),
    T=st.integers(1, 4),
    C=st.sampled_from([1, 5, 40]),
    H=st.sampled_from(HIDDEN),
    options=layer_options(),
)
def test_training_outputs_and_input_gradients_do_not_depend_on_the_batch(
    threads, cell, dtype, sizes, T, C, H, options
):
    N, rows = sizes
    layer = make_layer(cell, C, H, dtype, options).train()
    rng = np.random.default_rng(options["seed"])
    x, h0, c0, lengths = inputs(rng, T, N, C, layer, dtype, options["lengths"])
    dy, dh, dc = upstream_gradients(rng, layer, cell, x, h0, c0, lengths, dtype)
    full = train_step(layer, cell, x, h0, c0, lengths, dy, dh, dc)
    assert_rows_train_as_in_the_batch(layer, cell, rows, full, x, h0, c0, lengths, dy, dh, dc)


@pytest.fixture(params=["bf16", "int8"])
def reduced(request):
    """Runs once per reduced format (and, within the test, per usable path of it), with the size rule off
    so that small layers are quantised too."""
    saved = fr._core._reduced_min_weights()
    fr._core._set_reduced_min_weights(0)
    yield request.param
    fr._core._set_reduced_min_weights(saved)


@settings(max_examples=40, deadline=None)
@given(
    cell=st.sampled_from(CELLS),
    sizes=batch_and_subset(),
    T=st.integers(1, 5),
    C=st.sampled_from([1, 5, 40]),
    H=st.sampled_from(HIDDEN),
    options=layer_options(),
)
def test_quantized_outputs_do_not_depend_on_the_batch(threads, reduced, cell, sizes, T, C, H, options):
    N, rows = sizes
    layer = make_layer(cell, C, H, np.float32, {**options, "compute_dtype": "float32"}).eval()
    x, h0, c0, lengths = inputs(
        np.random.default_rng(options["seed"]), T, N, C, layer, np.float32, options["lengths"]
    )
    try:
        for path in fr._core.reduced_paths()[reduced]:
            assert fr._core._select_reduced_path(reduced, path)
            q = layer.quantized(reduced)
            full = call(q, cell, x, h0, c0, lengths)
            part = call(
                q, cell, x[:, rows], h0[:, rows], c0[:, rows], None if lengths is None else lengths[rows]
            )
            assert_rows_equal(full, part, rows, NAMES)
    finally:
        fr._core._select_reduced_path(reduced, "")  # back to the default path


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "bfloat16"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_every_bottom_panel_size_gives_the_full_panels_rows(isa, every_thread_runs, dtype, cell):
    """A batch of MR + r rows (r = 1 .. MR-1) ends in a row panel of r rows, which the step runs on an edge
    kernel of r rows where the ISA has one (AVX2, AVX-512) and on the full kernel over zero padding
    elsewhere: every row must come out as it does in a batch of whole panels, forward and backward, on
    1 and 2 threads. Deterministic, so no edge size is left to a sweep's luck."""
    layer_dtype = np.float32 if dtype == "bfloat16" else dtype
    mr = fr._core._microkernel(np.dtype(layer_dtype).name)["mr"]
    options = dict(seed=7, layers=1, bidirectional=False, proj=0, activation="tanh")
    options.update(
        recurrent_activation="sigmoid", compute_dtype="bfloat16" if dtype == "bfloat16" else "float32"
    )
    layer = make_layer(cell, 5, 37, layer_dtype, options).train()
    rng = np.random.default_rng(3)
    N = 3 * mr  # whole panels
    x, h0, c0, _ = inputs(rng, 4, N, 5, layer, layer_dtype, False)
    dy, dh, dc = upstream_gradients(rng, layer, cell, x, h0, c0, None, layer_dtype)
    for threads in (1, 2):
        fr.set_num_threads(threads)
        full = train_step(layer, cell, x, h0, c0, None, dy, dh, dc)
        for r in range(1, mr):
            assert_rows_train_as_in_the_batch(
                layer, cell, np.arange(mr + r), full, x, h0, c0, None, dy, dh, dc
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 3, 4, 5, 17, 255, 256, 257, 600])
def test_row_kernel_sums_in_the_full_kernels_order(dtype, k):
    """The 1-row kernel gives exactly the full MR x NR kernel's values, row by row (one order)."""
    rng = np.random.default_rng(k)
    m, n = 11, 37  # edge tiles in both directions on every path
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    for accumulate in (False, True):
        full = fr._core._gemm(a, b, c0.copy() if accumulate else None, accumulate=accumulate)
        narrow = fr._core._gemm(a, b, c0.copy() if accumulate else None, accumulate=accumulate, narrow=True)
        assert np.array_equal(full, narrow)
        for i in (0, 5, 10):  # one row alone, through either kernel
            alone = fr._core._gemm(
                a[i : i + 1], b, c0[i : i + 1].copy() if accumulate else None, accumulate=accumulate
            )
            assert np.array_equal(alone[0], full[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_activation_values_do_not_depend_on_their_position(dtype, name):
    """The cells run their activations over flat rows x units arrays, so a value's index (vector body or
    scalar remainder, and which lane) changes with the rows of a tile: it must not change the result."""
    rng = np.random.default_rng(7)
    v = np.concatenate([rng.standard_normal(600) * 4, rng.uniform(-100, 100, 600)]).astype(dtype)
    whole = v.copy()
    fr._core._activation(name, whole)
    for start in range(0, 1200 - 70, 37):
        for n in (1, 3, 7, 9, 17, 33, 70):
            part = v[start : start + n].copy()
            fr._core._activation(name, part)
            assert np.array_equal(part, whole[start : start + n]), (start, n)
