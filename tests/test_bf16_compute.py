"""bf16 mixed precision (``compute_dtype="bfloat16"``): every product's operands rounded to bf16, float32
sums, everything else float32. The kernels follow the NumPy model of the scheme
(`fusedrnn.reference.reduced_product("bf16")`, forward and backward) much more closely than they follow
float32, for every cell and option; their gradients stay within 2e-2 of float32's on the benchmark grid;
results are bitwise the same for any thread count (batch invariance: tests/test_batch_invariance.py); and
the option is checked, kept, saved and refused where it does not apply."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_helpers import assert_follows_the_model, relative_error, train_step

import fusedrnn as fr
import fusedrnn.nn
from fusedrnn import reference as ref

pytestmark = pytest.mark.usefixtures("isa")

BF16 = ref.reduced_product("bf16")

# kind, constructor, the reference's forward and backward, its extra options
CELLS = {
    "lstm": (fr.LSTM, ref.lstm, ref.lstm_backward),
    "gru": (fr.GRU, ref.gru, ref.gru_backward),
    "gru_reset_before": (lambda *a, **o: fr.GRU(*a, reset_after=False, **o), ref.gru, ref.gru_backward),
    "rnn": (fr.RNN, ref.rnn, ref.rnn_backward),
}


def make_layer(cell, C, H, **options):
    return CELLS[cell][0](C, H, compute_dtype="bfloat16", **options)


def reference_step(cell, layer, x, hx, dy, dhx, lengths=None, product=BF16):
    """The same step by the NumPy reference with the layer's parameters and dropout masks."""
    _, forward, backward = CELLS[cell]
    params = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    masks = layer.dropout_masks
    rec = layer.recurrent_dropout_masks
    common = dict(
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        lengths=lengths,
        dropout_masks=None if masks is None else masks.astype(np.float64),
        recurrent_masks=None if rec is None else rec.astype(np.float64),
        product=product,
    )
    x64 = x.astype(np.float64)
    hx64 = None if hx is None else tuple(h.astype(np.float64) for h in hx)
    dhx64 = None if dhx is None else tuple(d.astype(np.float64) for d in dhx)
    dy64 = dy.astype(np.float64)
    if cell == "lstm":
        y, states, cache = forward(
            x64,
            params,
            hx64,
            activation=layer.activation,
            recurrent_activation=layer.recurrent_activation,
            **common,
        )
        dx, dstates, grads = backward(cache, dy64, dhx64)
        return [y, *states, dx, *dstates], grads
    if cell == "rnn":
        common["nonlinearity"] = layer.nonlinearity
    else:
        common.update(
            reset_after=layer.reset_after,
            activation=layer.activation,
            recurrent_activation=layer.recurrent_activation,
        )
    y, h_n, cache = forward(x64, params, None if hx64 is None else hx64[0], **common)
    dx, dh0, grads = backward(cache, dy64, None if dhx64 is None else dhx64[0])
    return [y, h_n, dx, dh0], grads


def random_step_inputs(rng, layer, T, N):
    D, L = 1 + layer.bidirectional, layer.num_layers
    S = getattr(layer, "proj_size", 0) or layer.hidden_size
    x = rng.standard_normal((T, N, layer.input_size)).astype(np.float32)
    hx = (rng.standard_normal((L * D, N, S)).astype(np.float32),)
    dhx = (rng.standard_normal((L * D, N, S)).astype(np.float32),)
    if isinstance(layer, fr.LSTM):
        hx += (rng.standard_normal((L * D, N, layer.hidden_size)).astype(np.float32),)
        dhx += (rng.standard_normal((L * D, N, layer.hidden_size)).astype(np.float32),)
    width = D * S if layer.merge_mode == "concat" else S
    dy = rng.standard_normal((T, N, width)).astype(np.float32)
    return x, hx, dy, dhx


def assert_follows_the_bf16_model(cell, layer, x, hx, dy, dhx, lengths=None):
    """The kernels' results against the bf16 model (close) and against exact products (much further):
    so the test fails if the kernels skip the rounding, or round something the model does not."""
    outputs, grads = train_step(layer, x, hx, dy, dhx, lengths)
    model = reference_step(cell, layer, x, hx, dy, dhx, lengths)
    exact = reference_step(cell, layer, x, hx, dy, dhx, lengths, product=None)
    names = [f"output {i}" for i in range(len(outputs))]
    # float32 sums in the kernels, float64 in the model: a value that differs in its last bits can
    # round to the neighbouring bf16 at a later product, hence a tolerance rather than equality.
    assert_follows_the_model(names, (outputs, grads), model, exact, tolerance=2e-3)
    return outputs, grads


OPTION_CASES = {
    "plain": {},
    "bidirectional-2l": {"num_layers": 2, "bidirectional": True},
    "dropouts": {"num_layers": 2, "dropout": 0.3, "recurrent_dropout": 0.3},
    "no-bias-bi-dropout": {"bias": False, "bidirectional": True, "recurrent_dropout": 0.2},
}


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_training_step_follows_the_bf16_model(rng, cell, case):
    layer = make_layer(cell, 11, 21, seed=5, **OPTION_CASES[case])
    x, hx, dy, dhx = random_step_inputs(rng, layer, 7, 5)
    assert_follows_the_bf16_model(cell, layer, x, hx, dy, dhx)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_lengths_and_no_initial_state_follow_the_bf16_model(rng, cell):
    layer = make_layer(cell, 6, 19, seed=2, num_layers=2, bidirectional=True)
    x, _, dy, _ = random_step_inputs(rng, layer, 6, 4)
    assert_follows_the_bf16_model(cell, layer, x, None, dy, None, lengths=np.array([6, 2, 5, 1]))


@pytest.mark.parametrize(
    "options", [{"proj_size": 7}, {"proj_size": 5, "num_layers": 2, "bidirectional": True}]
)
def test_projection_follows_the_bf16_model(rng, options):
    layer = make_layer("lstm", 9, 23, seed=1, **options)
    x, hx, dy, dhx = random_step_inputs(rng, layer, 6, 3)
    assert_follows_the_bf16_model("lstm", layer, x, hx, dy, dhx)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_fused_input_projection_follows_the_bf16_model(rng, cell):
    # Small inputs are folded into the step's product ([h | x] x [W_hh; W_ih]): x is rounded there too.
    saved = fr._core._fuse_input_max_features()
    fr._core._set_fuse_input_max_features(64)
    try:
        layer = make_layer(cell, 3, 17, seed=3)
        x, hx, dy, dhx = random_step_inputs(rng, layer, 8, 5)
        assert_follows_the_bf16_model(cell, layer, x, hx, dy, dhx)
    finally:
        fr._core._set_fuse_input_max_features(saved)


@settings(max_examples=25, deadline=None)
@given(
    cell=st.sampled_from(sorted(CELLS)),
    T=st.integers(1, 5),
    N=st.integers(1, 9),
    C=st.sampled_from([1, 4, 33]),
    H=st.sampled_from([3, 16, 37]),
    layers=st.sampled_from([1, 2]),
    bidirectional=st.booleans(),
    activation=st.sampled_from(["tanh", "sigmoid", "relu"]),
    seed=st.integers(0, 2**16),
)
def test_hypothesis_sweep_follows_the_bf16_model(cell, T, N, C, H, layers, bidirectional, activation, seed):
    options = dict(num_layers=layers, bidirectional=bidirectional, seed=seed)
    if cell == "rnn":
        options["nonlinearity"] = activation
    else:
        options["activation"] = activation
    layer = make_layer(cell, C, H, **options)
    rng = np.random.default_rng(seed)
    x, hx, dy, dhx = random_step_inputs(rng, layer, T, N)
    outputs, grads = train_step(layer, x, hx, dy, dhx)
    model_outputs, model_grads = reference_step(cell, layer, x, hx, dy, dhx)
    for got, want in zip(
        outputs + list(grads.values()), model_outputs + [model_grads[n] for n in grads], strict=True
    ):
        # relu grows values without bound over steps and layers: a relative bound per array
        assert relative_error(got, want) < 5e-3


def test_eval_forward_equals_the_training_forward_and_rounds(rng):
    layer = make_layer("lstm", 12, 40, seed=0, num_layers=2)
    x = rng.standard_normal((9, 6, 12)).astype(np.float32)
    y_train, _ = layer.train()(x)
    y_eval, _ = layer.eval()(x)
    np.testing.assert_array_equal(y_train, y_eval)
    exact = fr.LSTM(12, 40, seed=0, num_layers=2).eval()
    assert not np.array_equal(exact(x)[0], y_eval)
    # a step at a time (streaming) is the whole sequence's first step
    h_t, _ = layer.step(x[0])
    np.testing.assert_array_equal(h_t, y_eval[0])


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("T,N,C,H", [(5, 5, 7, 37), (4, 33, 20, 70), (3, 40, 3, 9), (3, 2, 5, 130)])
def test_results_identical_for_any_thread_count(rng, cell, T, N, C, H, every_thread_runs):
    layer = make_layer(cell, C, H, seed=7, num_layers=2, bidirectional=True, recurrent_dropout=0.2)
    x, hx, dy, dhx = random_step_inputs(rng, layer, T, N)
    results = []
    for threads in (1, 2, 3):
        fr.set_num_threads(threads)
        layer._rng = np.random.default_rng(1)  # the same dropout masks every time
        outputs, grads = train_step(layer, x, hx, dy, dhx)
        results.append(outputs + list(grads.values()))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


GRID = {  # benchmarks/ grid shapes (T, N, C, H); the larger ones are slow on the emulation
    "keras-seed": (3, 1, 1, 50),
    "energy": (33, 32, 1, 64),
    "mnist-row": (28, 128, 28, 128),
    "char-lstm": (100, 64, 128, 256),
}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("shape", sorted(GRID))
def test_gradients_within_2e_2_of_float32_on_the_grid(cell, shape):
    T, N, C, H = GRID[shape]
    rng = np.random.default_rng(0)
    fp32 = CELLS[cell][0](C, H, seed=0)
    bf16 = CELLS[cell][0](C, H, seed=0, compute_dtype="bfloat16")
    x = rng.standard_normal((T, N, C)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    want_outputs, want = train_step(fp32, x, None, dy, None)
    got_outputs, got = train_step(bf16, x, None, dy, None)
    for name in want:
        assert relative_error(got[name], want[name]) < 2e-2, name
    assert relative_error(got_outputs[0], want_outputs[0]) < 2e-2  # y
    assert any(not np.array_equal(got[name], want[name]) for name in want)


# -- the option: checks, attribute, saving, refusals ----------------------------------------------------


@pytest.mark.parametrize(
    "value,canonical",
    [("bfloat16", "bfloat16"), ("bf16", "bfloat16"), ("float32", "float32"), ("fp32", "float32")],
)
def test_compute_dtype_names_and_aliases(value, canonical):
    layer = fr.GRU(3, 4, compute_dtype=value)
    assert layer.compute_dtype == canonical
    assert ("compute_dtype='bfloat16'" in repr(layer)) == (canonical == "bfloat16")
    with pytest.raises(AttributeError):
        layer.compute_dtype = "float32"


@pytest.mark.parametrize("value", ["float16", "BF16", None, np.float32, 16])
def test_unknown_compute_dtype_is_refused(value):
    with pytest.raises(ValueError, match="compute_dtype: expected 'float32' or 'bfloat16'"):
        fr.LSTM(3, 4, compute_dtype=value)
    with pytest.raises(ValueError, match="compute_dtype"):
        fr.functional.rnn(np.zeros((2, 1, 3)), fr.RNN(3, 4).state_dict(), compute_dtype=value)


def test_refused_combinations_name_the_argument():
    with pytest.raises(ValueError, match="compute_dtype: 'bfloat16' needs dtype float32"):
        fr.LSTM(3, 4, dtype=np.float64, compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="compute_dtype: 'bfloat16' needs dtype float32"):
        fr.functional.lstm(
            np.zeros((2, 1, 3)), fr.LSTM(3, 4, dtype=np.float64).state_dict(), compute_dtype="bfloat16"
        )
    with pytest.raises(ValueError, match="compute_dtype: 'bfloat16' needs dtype float32"):
        fr.LSTM(3, 4, dtype=np.float64, layer_norm=True, compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="format: .*compute_dtype='float32'"):
        fr.LSTM(3, 4, compute_dtype="bfloat16").quantized("bf16")
    with pytest.raises(ValueError, match="compute_dtype"):
        fr._core.Plan("lstm", 3, 4, 1, False, True, "float32", weight_format="bf16", compute_dtype="bfloat16")
    with pytest.raises(ValueError, match="compute_dtype"):
        fr._core.Plan("lstm", 3, 4, 1, False, True, "float64", compute_dtype="bfloat16")


def test_functional_matches_the_layer(rng):
    layer = make_layer("lstm", 5, 12, seed=4, num_layers=2)
    x, hx, dy, dhx = random_step_inputs(rng, layer, 6, 3)
    outputs, grads = train_step(layer, x, hx, dy, dhx)
    y, states, cache = fr.functional.lstm(
        x, layer.state_dict(), hx, num_layers=2, training=True, compute_dtype="bf16"
    )
    dx, dstates, fgrads = fr.functional.lstm_backward(cache, dy, dhx)
    for a, b in zip(outputs, [y, *states, dx, *dstates], strict=True):
        np.testing.assert_array_equal(a, b)
    for name in grads:
        np.testing.assert_array_equal(grads[name], fgrads[name])


def test_kept_by_pickle_save_and_load(tmp_path, rng):
    layer = make_layer("gru", 4, 9, seed=3, bidirectional=True)
    x = rng.standard_normal((5, 2, 4)).astype(np.float32)
    y, _ = layer.eval()(x)
    for copy in (
        pickle.loads(pickle.dumps(layer)),
        fr.load(fr.save(layer, tmp_path / "gru.npz") or tmp_path / "gru.npz"),
    ):
        assert copy.compute_dtype == "bfloat16"
        np.testing.assert_array_equal(copy.eval()(x)[0], y)


def test_fr_nn_layers_take_compute_dtype(tmp_path, rng):
    model = fr.nn.Sequential([fr.nn.LSTM(8, compute_dtype="bfloat16"), fr.nn.Dense(1)])
    x = rng.standard_normal((16, 5, 3)).astype(np.float32)
    target = rng.standard_normal((16, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, target, epochs=1, batch_size=8, verbose=0)
    assert model.layers[0].layer.compute_dtype == "bfloat16"
    path = tmp_path / "model.npz"
    model.save(path)
    again = fr.nn.load_model(path)
    assert again.layers[0].layer.compute_dtype == "bfloat16"
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_fr_nn_layers_take_keras_mixed_bfloat16_policy(rng):
    # Keras's habit: LSTM(8, dtype="mixed_bfloat16") is bf16 compute over float32 variables.
    layer = fr.nn.LSTM(8, dtype="mixed_bfloat16")
    model = fr.nn.Sequential([layer, fr.nn.Dense(1)])
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    model.predict(x, verbose=0)
    assert layer.layer.compute_dtype == "bfloat16" and layer.layer.dtype == np.float32
    with pytest.raises(ValueError, match="compute_dtype: 'float32' contradicts dtype='mixed_bfloat16'"):
        fr.nn.LSTM(8, dtype="mixed_bfloat16", compute_dtype="float32")
    with pytest.raises(ValueError, match="dtype: expected float32, float64 or Keras's 'mixed_bfloat16'"):
        fr.nn.GRU(8, dtype="mixed_float16")


# Keras 3's torch backend converts with np.array(x) on tensors whose __array__ lacks copy=: its warning.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_from_keras_carries_the_mixed_bfloat16_policy(rng):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    mixed = keras.layers.LSTM(5, dtype="mixed_bfloat16", return_sequences=True)
    want = keras.ops.convert_to_numpy(keras.ops.cast(mixed(x), "float32"))
    layer = fr.from_keras(mixed)
    assert layer.compute_dtype == "bfloat16"
    y, _ = layer.eval()(x)
    # Keras runs every step in bf16, fusedrnn only the products' operands: bf16-sized differences.
    np.testing.assert_allclose(y, want, rtol=0, atol=3e-2 * np.abs(want).max())
    with pytest.raises(ValueError, match="dtype: keras_layer computes in bfloat16"):
        fr.from_keras(mixed, dtype=np.float64)
    half = keras.layers.GRU(5, dtype="mixed_float16")
    half.build((None, 6, 2))
    with pytest.warns(UserWarning, match="computes in float16"):
        assert fr.from_keras(half).compute_dtype == "float32"
    plain = keras.layers.SimpleRNN(5)
    plain.build((None, 6, 2))
    assert fr.from_keras(plain).compute_dtype == "float32"


def test_fr_nn_layers_take_keras_dtype_arguments(rng):
    # Keras's mixed-precision guide keeps the output layer in float32 (Dense(1, dtype="float32")) under a
    # mixed_bfloat16 policy: every fr.nn layer takes both; other dtypes and unknown arguments are named.
    model = fr.nn.Sequential(
        [
            fr.nn.LSTM(8, dtype="mixed_bfloat16", return_sequences=True),
            fr.nn.Dropout(0.1, dtype="mixed_bfloat16"),
            fr.nn.Flatten(dtype="mixed_bfloat16"),
            fr.nn.Dense(1, dtype="float32"),
        ]
    )
    assert model.predict(rng.standard_normal((4, 5, 3)).astype(np.float32), verbose=0).shape == (4, 1)
    with pytest.raises(ValueError, match="dtype: Dense computes in float32"):
        fr.nn.Dense(1, dtype="float16")
    with pytest.raises(TypeError, match="Dense: unexpected argument 'kernel_regulariser'"):
        fr.nn.Dense(1, kernel_regulariser=None)
