"""fork() while other threads run calls on a layer: the child never inherits a call in progress.

A forked child has only the thread that forked, so the calls other threads of the parent were running
never end there. Eval calls only read the layer, so the child forgets them and uses the layer as usual;
a training call or a weight change cut off halfway leaves a state nobody can vouch for, so the child
refuses every call on that layer with a RuntimeError saying so (a fresh layer works). Before, the child
refused every training call ("running calls in other threads") and a weight assignment waited forever.

Each child checks itself and reports through its exit status; fork() lands inside a running call in
most tries (the parent's thread runs calls back to back), and each test forks until the child has seen
such a call cut off, so the verdict never rests on one lucky timing.
"""

import os
import signal
import threading
import warnings

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import _core

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

TRIES = 60  # forks until one lands inside a running call (most do: see the module's docstring)


def in_child(check):
    """Forks; the child runs check() -> exit status (alarm: a hang is status 99) and never returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12's warning about fork with threads
        pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        status = 98
        try:
            signal.signal(signal.SIGALRM, lambda *_: os._exit(99))
            signal.alarm(60)
            status = check()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def keep_calling(call):
    """Runs call() back to back in a thread until the returned stop() is called."""
    done = threading.Event()
    errors = []

    def loop():
        try:
            while not done.is_set():
                call()
        except BaseException as err:  # noqa: BLE001 - reported by stop()
            errors.append(err)

    thread = threading.Thread(target=loop)
    thread.start()

    def stop():
        done.set()
        thread.join()
        assert not errors, errors

    return stop


def inputs(T, N, C=8, seed=0):
    return np.random.default_rng(seed).standard_normal((T, N, C)).astype(np.float32)


def test_eval_calls_cut_off_by_fork_are_forgotten_in_the_child():
    layer = fr.LSTM(8, 64, num_layers=2, seed=1).eval()
    long_x, x = inputs(400, 16), inputs(7, 3, seed=1)
    expected = layer(x)[0]
    stop = keep_calling(lambda: layer(long_x))

    def check():
        shared, exclusive = _core._calls_cut_off_by_fork()
        if exclusive or not shared:
            return 10 + shared  # not the case this test looks for
        if not np.array_equal(layer(x)[0], expected):  # the same packs, a scratch of its own
            return 1
        layer.weight_hh_l0 = layer.weight_hh_l0 * 0.5  # waits for no call: the cut-off ones are gone
        if np.array_equal(layer(x)[0], expected):
            return 2
        layer.train()
        y, _ = layer(x)
        layer.backward(np.ones_like(y))  # training calls have the layer to themselves again
        return 0

    try:
        for _ in range(TRIES):
            status = in_child(check)
            if status < 10:
                break
            assert status == 10, f"child exited with {status}"  # 10: the fork fell between two calls
    finally:
        stop()
    assert status == 0, f"child exited with {status}"


@pytest.mark.parametrize("change", ["training", "weights"])
def test_a_change_cut_off_by_fork_makes_the_layer_refuse_in_the_child(change):
    layer = fr.GRU(8, 64, seed=2)
    long_x, x = inputs(300, 16), inputs(5, 2, seed=1)
    if change == "training":

        def call():
            y, _ = layer(long_x)
            layer.backward(np.ones_like(y))

    else:
        layer.eval()
        big = fr.GRU(8, 64, seed=3).state_dict()

        def call():
            layer.load_state_dict(big)

    stop = keep_calling(call)

    def check():
        shared, exclusive = _core._calls_cut_off_by_fork()
        if not exclusive:
            return 10
        for attempt in (lambda: layer(x), lambda: layer.load_state_dict(layer.state_dict())):
            try:
                attempt()
                return 1
            except RuntimeError as err:
                if "forked" not in str(err):
                    return 2
        fresh = fr.GRU(8, 64, seed=2)
        y, _ = fresh(x)
        fresh.backward(np.ones_like(y))
        return 0

    try:
        for _ in range(TRIES):
            status = in_child(check)
            if status < 10:
                break
            assert status == 10, f"child exited with {status}"
    finally:
        stop()
    assert status == 0, f"child exited with {status}"


def test_a_child_forked_between_calls_sees_nothing_cut_off():
    layer = fr.RNN(8, 16, seed=4)
    x = inputs(5, 2)
    y, _ = layer(x)
    layer.backward(np.ones_like(y))

    def check():
        if _core._calls_cut_off_by_fork() != (0, 0):
            return 1
        y2, _ = layer(x)
        layer.backward(np.ones_like(y2))
        return 0 if np.array_equal(y2, y) else 2

    assert in_child(check) == 0
    assert _core._calls_cut_off_by_fork() == (0, 0)  # the parent was not forked
