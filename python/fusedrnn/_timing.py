"""Side-by-side timing of one recurrent layer: the benchmark grid, the contenders (fusedrnn, the NumPy
reference, PyTorch when installed) and the round robin that times them, with a stability measure per
median. ``python -m fusedrnn`` and ``benchmarks/compare.py`` both time through this module, so their
numbers mean the same thing. Not public API: torch and onnxruntime stay optional, imported only here
and only when asked for.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import importlib
import math
import statistics
import time
from dataclasses import dataclass

import numpy as np

import fusedrnn as fr
from fusedrnn import _cells


def optional(name):
    """The module `name`, or None when it is not installed (or cannot be imported)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# -- the shapes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    T: int  # steps
    N: int  # batch
    C: int  # input features
    H: int  # hidden units
    about: str = ""  # what the shape stands for, in a newcomer's words
    num_layers: int = 1
    bidirectional: bool = False

    @property
    def D(self):  # directions
        return 2 if self.bidirectional else 1

    @property
    def stack(self):
        """The layer options of fusedrnn's and torch.nn's classes (and fusedrnn.reference's functions)."""
        return {"num_layers": self.num_layers, "bidirectional": self.bidirectional}

    def describe(self):
        text = f"T={self.T}, N={self.N}, C={self.C}, H={self.H}"
        if self.num_layers > 1:
            text += f", {self.num_layers} layers"
        if self.bidirectional:
            text += ", bidirectional"
        return text


# The benchmark grid (the design's section 5), from the lecture notes' examples up to large layers.
GRID = (
    Shape("keras-seed", 3, 1, 1, 50, "the lectures' LSTM(50) on 3 numbers, one sequence at a time"),
    Shape("energy", 33, 32, 1, 64, "hourly energy forecasting: 33-hour windows of one reading, LSTM(64)"),
    Shape("mnist-row", 28, 128, 28, 128, "MNIST digits read row by row: 28 rows of 28 pixels, LSTM(128)"),
    Shape("char-lstm", 100, 64, 128, 256, "a character-level text model: 100 characters of 128, LSTM(256)"),
    Shape("stream-b1", 100, 1, 256, 512, "streaming, one sequence at a time: 100 steps of 256, LSTM(512)"),
    Shape("medium", 50, 64, 512, 512, "a mid-sized layer: 50 steps of 512 features, 512 units"),
    Shape("large", 50, 128, 1024, 1024, "a large layer: 50 steps of 1024 features, 1024 units"),
)
# The gates of each cell (the C++ traits); the class is CELL.upper() in fusedrnn and torch.nn.
GATES = {cell: _cells.gates(cell) for cell in ("lstm", "gru", "rnn")}
MODES = ("forward", "training")


def gemm_flops(cell, shape, mode):
    """Forward: the sum over layers of 2*T*N*G*H*D*(C_l+H), C_0 = C, C_l = D*H; training 3x."""
    forward = sum(
        2 * shape.T * shape.N * GATES[cell] * shape.H * shape.D * (layer_input + shape.H)
        for layer_input in [shape.C] + [shape.D * shape.H] * (shape.num_layers - 1)
    )
    return forward * (3 if mode == "training" else 1)


# -- the problems and the contenders' calls ---------------------------------------------------------


class Unavailable(Exception):
    """A contender cannot run a case; the message goes into the table instead of a time."""


@dataclass
class Problem:
    """One (cell, shape): weights, input, output gradient, and the layer objects holding the weights."""

    cell: str
    shape: Shape
    x: np.ndarray  # [T,N,C]
    dy: np.ndarray  # [T,N,D*H]
    params: dict[str, np.ndarray]  # torch state_dict names -> float32 arrays
    layer: object  # the fusedrnn layer
    module: object = None  # the torch.nn module, when torch is installed and asked for


def make_problem(cell, shape, seed=0, with_torch=True):
    """The problem with the same weights in every contender: torch's initialisation when torch is
    installed (and with_torch), else fusedrnn's."""
    T, N, C, H = shape.T, shape.N, shape.C, shape.H
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, C), dtype=np.float32)
    dy = rng.standard_normal((T, N, shape.D * H), dtype=np.float32)
    layer = getattr(fr, cell.upper())(C, H, **shape.stack, seed=seed)
    torch = optional("torch") if with_torch else None
    module = None
    if torch is not None:
        torch.manual_seed(seed)
        module = getattr(torch.nn, cell.upper())(C, H, **shape.stack)
        layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    return Problem(cell, shape, x, dy, layer.state_dict(), layer, module)


def fusedrnn_call(p, mode):
    layer = p.layer.train(mode == "training")
    if mode == "forward":
        return lambda: layer(p.x)

    def step():
        layer(p.x)
        layer.backward(p.dy)

    return step


def torch_call(p, mode):
    """forward: the module's call (timed inside torch.inference_mode(), see timing_context); training:
    forward plus the gradient of (y * dy).sum() w.r.t. x and every parameter."""
    if p.module is None:
        raise Unavailable("n/a (torch not installed)")
    import torch

    module, x = p.module, torch.from_numpy(p.x)
    if mode == "forward":
        return lambda: module(x)
    x = x.clone().requires_grad_(True)
    dy = torch.from_numpy(p.dy)
    inputs = [x, *module.parameters()]

    def step():
        y, _ = module(x)
        torch.autograd.grad((y * dy).sum(), inputs)

    return step


def reference_call(p, mode, limit_s):
    """The NumPy oracle's call, or Unavailable where one call would take more than limit_s."""
    forward = getattr(fr.reference, p.cell)
    backward = getattr(fr.reference, p.cell + "_backward")

    def run(x, dy):
        _, _, cache = forward(x, p.params, **p.shape.stack)
        if mode == "training":
            backward(cache, dy)

    # The reference loops over time in Python: its cost is linear in T, so a timed call on a prefix
    # estimates a full call without paying for one.
    steps = min(p.shape.T, max(1, math.ceil(p.shape.T / 10)))
    start = time.perf_counter()
    run(p.x[:steps], p.dy[:steps])
    estimate = (time.perf_counter() - start) * p.shape.T / steps
    if estimate > limit_s:
        raise Unavailable(f"skipped (~{estimate:.1f} s per call)")
    return lambda: run(p.x, p.dy)


def onnxruntime_session(model, threads):
    """An onnxruntime CPU session of `model` (a path or the serialised bytes) on `threads` threads."""
    ort = optional("onnxruntime")
    if ort is None:
        raise Unavailable("n/a (onnxruntime not installed)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No busy-waiting between runs: spinning workers would steal the cores of whichever contender runs
    # next (onnxruntime's own speed is unaffected at these call lengths).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # a model onnxruntime refuses is reported, not fatal
        raise Unavailable(f"n/a (session failed: {type(e).__name__})") from e


# -- timing -----------------------------------------------------------------------------------------

MIN_CALLS = 5
# Each median comes with its spread: the contender's turns, in order, are cut into REPEATS groups, and
# spread = the slowest group's median / the fastest's. A quiet machine repeats itself (spreads of
# 1.0-1.2); another process taking a core stalls the OpenMP barriers of whichever contender runs at
# that moment (seen: torch's LSTM on energy going from 1 ms to 270 ms per call, and a fusedrnn /
# reference ratio of 0.09x where the quiet rerun gave 7.5x), so the groups disagree.
REPEATS = 4
UNSTABLE_SPREAD = 1.5
SETTLE_S = 0.05


def warm_up(call, seconds=0.05):
    """At least one call, more until `seconds` have passed (page faults, thread pools, caches)."""
    end = time.perf_counter() + seconds
    call()
    while time.perf_counter() < end:
        call()


def alternated_medians(fns, rounds):
    """Median seconds of each function, called in alternating rounds after one warm-up call each, so
    that the machine's noise hits all of them alike (the benchmarks' paired comparisons)."""
    for fn in fns.values():
        fn()
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in samples.items()}


def round_robin(calls, min_time, slice_s, before_turn=None, deadline=None):
    """{name: [[seconds per call] per turn]}: turns in rotation until each contender has run for
    >= min_time, >= MIN_CALLS calls and >= REPEATS turns, or until the round in which the
    time.perf_counter() `deadline` passes ends.

    before_turn: {name: zero-argument callable} run at the start of each of that contender's turns,
    untimed (the busy-machine measurement sets the thread count there)."""
    turns = {name: [] for name in calls}
    totals = dict.fromkeys(calls, 0.0)
    active = list(calls)
    gc_enabled = gc.isenabled()
    gc.disable()  # a collection would land on whichever contender happens to run
    try:
        while active:
            for name in active:
                call, turn, samples = calls[name], 0.0, []
                if before_turn:
                    before_turn[name]()
                # Let the previous contender's worker threads (libgomp, onnxruntime's pool) stop
                # spinning, then one untimed call: with 2 cores, still-spinning foreign threads
                # preempt a newcomer's threads at every per-step barrier (seen: fusedrnn's medium LSTM
                # at 140 ms per call right after an onnxruntime turn, 78 ms alone).
                time.sleep(SETTLE_S)
                call()
                while True:  # at least one call (slice_s = 0: call by call)
                    start = time.perf_counter()
                    call()
                    elapsed = time.perf_counter() - start
                    samples.append(elapsed)
                    turn += elapsed
                    if turn >= slice_s:
                        break
                turns[name].append(samples)
                totals[name] += turn
            active = [
                n
                for n in active
                if totals[n] < min_time or sum(map(len, turns[n])) < MIN_CALLS or len(turns[n]) < REPEATS
            ]
            if deadline is not None and time.perf_counter() > deadline:
                break
    finally:
        if gc_enabled:
            gc.enable()
    return turns


def spread(turns, repeats=REPEATS):
    """The slowest / the fastest median of `repeats` consecutive groups of turns (as equal in size as
    the turn count allows; 1.0 for fewer than 2 turns)."""
    groups = [g for g in np.array_split(np.arange(len(turns)), min(repeats, len(turns))) if len(g)]
    if len(groups) < 2:
        return 1.0
    medians = [float(np.median([t for k in g for t in turns[k]])) for g in groups]
    return max(medians) / max(min(medians), 1e-12)


@dataclass
class Measurement:
    """The outcome of one contender on one case: a median time, or why there is none."""

    seconds: float | None = None
    calls: int = 0
    note: str = ""
    spread: float = 1.0  # see spread()
    mean: float | None = None  # seconds per call on average: includes the stalls the median leaves out

    @classmethod
    def of(cls, turns):
        """From the per-turn call times that round_robin returns."""
        samples = [t for turn in turns for t in turn]
        return cls(
            float(np.median(samples)), len(samples), spread=spread(turns), mean=float(np.mean(samples))
        )

    @property
    def unstable(self):
        return self.spread > UNSTABLE_SPREAD


def core_wait_seconds():
    """Seconds this process's threads have spent ready to run but waiting for a core, or None where the
    system does not say (Linux: /proc/self/task/*/schedstat, second field). A median can repeat itself
    and still be wrong: with another program on both cores, every call of a contender can stall alike
    (seen: torch's keras-seed forward at 248 ms per call in every turn, 58 µs quiet). The wait shows it."""
    tasks = glob.glob("/proc/self/task/*/schedstat")
    if not tasks:
        return None
    total = 0
    for path in tasks:
        try:
            with open(path) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that ended meanwhile
            pass
    return total / 1e9


def timing_context(problem, mode):
    # Entering inference_mode per call costs torch a few microseconds (5 % at keras-seed), so a
    # forward round runs inside it as a whole; it does not touch the NumPy-based contenders.
    if mode == "forward" and problem.module is not None:
        import torch

        return torch.inference_mode()
    return contextlib.nullcontext()


def measure(problem, calls, mode, min_time, slice_s, deadline=None):
    """{contender: Measurement} for calls {contender: zero-argument callable, or the Unavailable note};
    deadline: see round_robin."""
    runnable = {name: c for name, c in calls.items() if callable(c)}
    with timing_context(problem, mode):
        for call in runnable.values():
            warm_up(call)
        turns = round_robin(runnable, min_time, slice_s, deadline=deadline)
    return {
        name: Measurement.of(turns[name]) if name in turns else Measurement(note=calls[name])
        for name in calls
    }
