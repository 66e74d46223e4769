"""Serving: one eval layer shared by many threads, parameter changes that never mix with running calls,
and long calls that stop on Ctrl-C.

None of these tests depends on timing for its verdict: the properties hold whatever way the threads
interleave (timing only decides which interleavings a run happens to visit), and the ones that need a
particular order arrange it with events, not sleeps.
"""

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from interrupt_helpers import INTERRUPTED_CALL, assert_ctrl_c_stops, needs_sigint

import fusedrnn as fr

MAKERS = {
    "lstm": lambda: fr.LSTM(8, 48, num_layers=2, seed=1),
    "gru": lambda: fr.GRU(8, 48, bidirectional=True, seed=1),
    "rnn": lambda: fr.RNN(8, 48, seed=1),
    "lstm-int8": lambda: fr.LSTM(8, 96, seed=1).quantized("int8"),
    "gru-bf16": lambda: fr.GRU(8, 96, seed=1).quantized("bf16"),
}


def run_threads(target, count):
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as err:  # noqa: BLE001 - reported below with the thread that raised it
            errors.append((i, err))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_one_eval_layer_serves_many_threads(kind):
    layer = MAKERS[kind]().eval()
    rng = np.random.default_rng(0)
    # Different shapes per thread, with and without lengths: the calls share packs, never scratch.
    inputs = [rng.standard_normal((5 + 3 * i, 2 + i, 8)).astype(np.float32) for i in range(4)]
    lengths = [rng.integers(1, x.shape[0] + 1, x.shape[1]) for x in inputs]
    expected = [(layer(x)[0], layer(x, lengths=n)[0]) for x, n in zip(inputs, lengths, strict=True)]

    def serve(i):
        for _ in range(25):
            y, _ = layer(inputs[i])
            assert np.array_equal(y, expected[i][0])
            y, _ = layer(inputs[i], lengths=lengths[i])
            assert np.array_equal(y, expected[i][1])

    run_threads(serve, 4)


def test_step_with_separate_states_from_many_threads():
    layer = fr.GRU(4, 32, seed=2).eval()
    xs = np.random.default_rng(1).standard_normal((4, 30, 4)).astype(np.float32)

    def expected(i):
        y, _ = layer(xs[i][:, None, :])
        return y[:, 0]

    wanted = [expected(i) for i in range(4)]

    def stream(i):
        state = None
        for t in range(30):
            h, state = layer.step(xs[i][t][None], state)
            assert np.array_equal(h[0], wanted[i][t])

    run_threads(stream, 4)


def test_shared_layer_keeps_one_set_of_packed_weights():
    layer = fr.LSTM(64, 256, seed=0).eval()
    x = np.random.default_rng(0).standard_normal((20, 4, 64)).astype(np.float32)
    layer(x)
    alone = layer.retained_bytes

    def calls(i):
        for _ in range(10):
            layer(x)

    run_threads(calls, 4)
    weights = 4 * 256 * (64 + 256) * 4
    # Each call running at once has scratch of its own (at most 4 here), never a copy of the weights.
    assert layer.retained_bytes - alone < 4 * (alone - weights) + weights // 2


def test_training_calls_on_a_shared_layer_are_refused():
    # The main thread holds the layer (a parameter write in progress); a training forward in another
    # thread must refuse at once, not wait and not run beside it.
    layer = fr.LSTM(3, 8, seed=0)
    x = np.ones((4, 2, 3), np.float32)
    errors = []

    def train_call():
        try:
            layer(x)
        except RuntimeError as err:
            errors.append(str(err))

    def while_held():
        thread = threading.Thread(target=train_call)
        thread.start()
        thread.join()

    layer._plan.with_calls_excluded(while_held)
    assert errors and "training-mode forward or backward needs it to itself" in errors[0]
    layer(x)  # free again


def test_eval_calls_wait_for_a_parameter_write_in_progress():
    layer = fr.RNN(3, 8, seed=0).eval()
    x = np.ones((4, 2, 3), np.float32)
    old = layer(x)[0]
    new_weight = layer.weight_hh_l0 * 0.5
    results = []
    started = threading.Event()

    def eval_call():
        started.set()
        results.append(layer(x)[0])

    def write():
        thread = threading.Thread(target=eval_call)
        thread.start()
        started.wait()
        time.sleep(0.05)  # gives the call time to reach the plan; the verdict does not depend on it
        layer._params["weight_hh_l0"].flags.writeable = True
        layer._params["weight_hh_l0"][...] = new_weight
        layer._params["weight_hh_l0"].flags.writeable = False
        return thread

    holder = []
    layer._plan.with_calls_excluded(lambda: holder.append(write()))
    holder[0].join()
    # The call that arrived during the write computed with the new weights, never the old packs.
    assert not np.array_equal(results[0], old)
    assert np.array_equal(results[0], layer(x)[0])


SWAPS = {  # how a server replaces the parameters: name -> (the swap, the state it leaves from `target`)
    "weight assignment": (
        lambda layer, w: setattr(layer, "weight_hh_l1", w["weight_hh_l1"]),
        lambda before, w: {**before, "weight_hh_l1": w["weight_hh_l1"]},
    ),
    "bias assignment": (  # biases are read from the arrays at every step, not packed
        lambda layer, w: setattr(layer, "bias_ih_l0", w["bias_ih_l0"]),
        lambda before, w: {**before, "bias_ih_l0": w["bias_ih_l0"]},
    ),
    "load_state_dict": (lambda layer, w: layer.load_state_dict(w), lambda before, w: w),
}


@pytest.mark.parametrize("how", sorted(SWAPS))
def test_parameter_changes_never_mix_with_running_calls(how):
    # A call running while the parameters change computes entirely with the old ones or entirely with
    # the new ones, and every call that starts after the change uses the new ones (earlier, a running
    # call marked the old packs valid again when it ended, so later calls kept the old model).
    swap, result_of = SWAPS[how]
    states = [
        {k: v.copy() for k, v in fr.LSTM(16, 64, num_layers=2, seed=seed).state_dict().items()}
        for seed in (0, 1)
    ]
    x = np.random.default_rng(0).standard_normal((300, 8, 16)).astype(np.float32)
    reference = fr.LSTM(16, 64, num_layers=2).eval()

    def output_of(state):
        reference.load_state_dict(state)
        return reference(x)[0]

    layer = fr.LSTM(16, 64, num_layers=2).eval()
    for trial in range(4):
        before, target = states[trial % 2], states[1 - trial % 2]
        after = result_of(before, target)
        layer.load_state_dict(before)
        results: list = []
        thread = threading.Thread(target=lambda out=results: out.append(layer(x)[0]))
        thread.start()
        time.sleep(0.002 * trial)  # varies the moment of the swap; any moment must give a clean result
        swap(layer, target)
        thread.join()
        y_before, y_after = output_of(before), output_of(after)
        assert np.array_equal(results[0], y_before) or np.array_equal(results[0], y_after)
        assert np.array_equal(layer(x)[0], y_after)


def test_train_then_eval_from_another_thread_is_consistent():
    layer = fr.GRU(4, 16, seed=0)
    x = np.ones((5, 3, 4), np.float32)
    layer.eval()
    y_eval = layer(x)[0]
    results = []
    run_threads(lambda i: results.append(layer(x)[0]), 3)
    assert all(np.array_equal(y, y_eval) for y in results)
    layer.train()
    y_train = layer(x)[0]
    assert np.array_equal(y_train, y_eval)  # no dropout: the same function


CHILD = (
    textwrap.dedent(
        """
    import signal, sys, time
    import numpy as np
    import fusedrnn as fr

    # Python raises KeyboardInterrupt on SIGINT only where SIGINT was not ignored when it started, and
    # a shell's background jobs (nohup, `&`) start with it ignored: install the handler whatever the
    # parent left.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    mode = sys.argv[1]
    if mode == "rows":
        # A small layer over many rows on 2 threads splits the rows (each thread runs its own steps),
        # unfused with many chunks of the input projection, where the threads must agree to stop.
        layer = fr.LSTM(512, 64, seed=0).eval()
        fr._core._set_fuse_input_max_features(0)
        fr._core._set_input_chunk_elements(4096)
        fr._core._set_min_flops_per_thread(1)
    else:
        layer = fr.LSTM(64, 512, seed=0)
    if mode == "eval":
        layer.eval()
    small = np.random.default_rng(1).standard_normal((3, 2, layer.input_size)).astype(np.float32)
    best = fr.cpu_info()["isa"]
    fr._core._select_isa("generic")
    before = layer(small)[0]
    # The call to interrupt runs the portable kernels: 30-60 s uninterrupted on one thread on the
    # machines seen so far (16 ms a step), far longer than the SIGINT comes after, in about 1 GB (rows:
    # about 8 s on 2 threads, in 0.7 GB).
    x = np.ones((2000, 32, 64) if mode != "rows" else (5000, 64, 512), np.float32)
    if mode == "backward":
        fr._core._select_isa(best)
        y, _ = layer(x)  # the forward on the fast path
        fr._core._select_isa("generic")
    fr.set_num_threads(2 if mode == "rows" else 1)
    """
    )
    + INTERRUPTED_CALL
    + textwrap.dedent(
        """
    # The layer is usable afterwards and computes what it computed before.
    assert np.array_equal(layer(small)[0], before)
    if mode not in ("eval", "rows"):
        y, _ = layer(small)
        layer.backward(np.ones_like(y))
    print("usable", flush=True)
    """
    )
)


@needs_sigint
@pytest.mark.parametrize("mode", ["eval", "train", "backward", "rows"])
def test_ctrl_c_stops_a_long_call(mode):
    assert_ctrl_c_stops(CHILD, mode)


MEMORY_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import fusedrnn as fr

    def resident_bytes():
        return int(open("/proc/self/statm").read().split()[1]) * 4096

    path = sys.argv[1]
    fr.save(fr.LSTM(1024, 1024, num_layers=2, seed=0), path)
    before = resident_bytes()
    made = fr.LSTM(1024, 1024, num_layers=2, seed=0)
    made_bytes = resident_bytes() - before
    loaded = fr.load(path).eval()
    loaded(np.zeros((2, 1, 1024), np.float32))
    del made
    loaded_bytes = resident_bytes() - before - made_bytes
    params = sum(p.nbytes for p in loaded.parameters())
    print(made_bytes / params, loaded_bytes / params)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resident size from /proc/self/statm")
def test_a_layer_never_trained_holds_no_gradient_memory(tmp_path):
    # A made or loaded layer holds its parameters; its gradients are zero pages the operating system maps
    # only when backward first writes them (np.zeros, not zeros_like). A serving process's resident size
    # was the parameters twice over (plus the packed copy the first eval call makes). Measured in a child
    # process, whose resident size nothing else moves.
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(tmp_path / "big.npz")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    made, loaded = (float(v) for v in out.split())
    assert made < 1.5, made  # the parameters (1.0), not parameters and gradients (2.0)
    assert loaded < 2.5, loaded  # the parameters and the packed weights of the eval call (2.0), not 3.0
