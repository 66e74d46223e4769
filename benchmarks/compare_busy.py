"""The busy-machine measurement of benchmarks/compare.py (--busy): LSTM calls at 1 and 2 threads, quiet
and beside one busy process, its table and its target."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
import time
from dataclasses import dataclass

from compare_common import SHAPES, cell_text, describe, format_ms, load_average, log, ratio_text, torch

import fusedrnn as fr
from fusedrnn._timing import Measurement, fusedrnn_call, make_problem, round_robin, torch_call, warm_up

# The --busy measurement: LSTM calls of these (shape, mode). energy's training step has steps of a few
# microseconds, where a barrier sees a descheduled partner; mnist-row's forward has steps of ~0.1 ms,
# where both threads lose their cores in turn and only their time descheduled in a region shows it.
BUSY_CASES = (("energy", "training"), ("mnist-row", "forward"))


BUSY_THREADS = (1, 2)


BUSY_MIN_TIME_S = 2.0  # per (condition, contender, threads)


BUSY_SLICE_S = 0.25  # turns in its round robin; long, so the 50 ms settles cost little


BUSY_SPIN = "while True: pass"  # the busy process: one interpreter keeping one core busy


BUSY_MAX_RATIO = 1.1  # the target: 2 threads never slower than 1 on a busy machine (<= 1.1x)


@contextlib.contextmanager
def busy_core():
    """One other process keeping a core busy for the duration of the block (no affinity: the OS places it)."""
    spinner = subprocess.Popen([sys.executable, "-c", BUSY_SPIN], stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # past the interpreter's start-up, into the loop
        if spinner.poll() is not None:
            raise RuntimeError(f"the busy process exited with {spinner.returncode}")
        yield
    finally:
        spinner.kill()
        spinner.wait()


@dataclass
class Busy:
    """The --busy measurement: (case, condition, contender, threads) -> Measurement, its wall time and the
    load averages before it (how quiet "quiet" was)."""

    times: dict
    contenders: list
    seconds: float
    load: str

    def ratio(self, case, condition, name, statistic="seconds"):
        """The 2-thread median (statistic="mean": mean) / the 1-thread one."""
        one, two = (getattr(self.times[case, condition, name, n], statistic) for n in BUSY_THREADS)
        return two / one


BUSY_CONDITIONS = {"quiet": "quiet machine", "busy": "one busy process"}


def run_busy(threads):
    """The LSTM calls of BUSY_CASES at each of BUSY_THREADS, without and with a busy process."""
    start, load = time.perf_counter(), load_average()
    times, contenders = {}, ["fusedrnn"]
    try:
        for case in BUSY_CASES:
            shape_name, mode = case
            shape = SHAPES[shape_name]
            log(f"busy machine: LSTM {mode} {shape.name} ({shape.describe()}) at {BUSY_THREADS} threads")
            problem = make_problem("lstm", shape)
            steps, set_threads = {"fusedrnn": fusedrnn_call(problem, mode)}, {"fusedrnn": fr.set_num_threads}
            if problem.module is not None:
                steps["torch"], set_threads["torch"] = torch_call(problem, mode), torch.set_num_threads
            contenders = list(steps)
            calls = {(name, n): step for name, step in steps.items() for n in BUSY_THREADS}
            before_turn = {(name, n): functools.partial(set_threads[name], n) for name, n in calls}
            for condition in BUSY_CONDITIONS:
                with busy_core() if condition == "busy" else contextlib.nullcontext():
                    for key, call in calls.items():
                        before_turn[key]()
                        warm_up(call)
                    samples = round_robin(calls, BUSY_MIN_TIME_S, BUSY_SLICE_S, before_turn)
                for (name, n), values in samples.items():
                    times[case, condition, name, n] = m = Measurement.of(values)
                    log(f"  {condition:<6}{name} {n} thread{'s' if n > 1 else ''}: {describe(m)}")
    finally:
        fr.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
    return Busy(times, contenders, time.perf_counter() - start, load)


def busy_table(busy):
    two_to_one = f"{BUSY_THREADS[1]}/{BUSY_THREADS[0]}"
    header = ["call", "condition"]
    for name in busy.contenders:
        header += [f"{name} {n} thread{'s' if n > 1 else ''} ms (mean)" for n in BUSY_THREADS]
        header += [f"{name} {two_to_one}", f"{name} {two_to_one} of means"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in BUSY_CASES:
        for condition, title in BUSY_CONDITIONS.items():
            cells = [f"{case[0]} {case[1]}", title]
            for name in busy.contenders:
                for n in BUSY_THREADS:
                    m = busy.times[case, condition, name, n]
                    cells.append(f"{cell_text(m)} ({format_ms(m.mean * 1e3)})")
                cells += [
                    ratio_text(busy.ratio(case, condition, name)),
                    ratio_text(busy.ratio(case, condition, name, "mean")),
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def busy_section(busy):
    cases = ", ".join(
        f"{'the training step (forward + backward)' if mode == 'training' else 'the forward'} on {name} "
        f"({SHAPES[name].describe()})"
        for name, mode in BUSY_CASES
    )
    return (
        f"## Busy machine\n\nLSTM calls, {cases}: median ms per call at {BUSY_THREADS[0]} and "
        f"{BUSY_THREADS[1]} threads (fr.set_num_threads, torch.set_num_threads), first on the quiet "
        "machine, then alongside one busy process "
        f'(`python -c "{BUSY_SPIN}"`, not pinned to a core). All settings of a condition run in one '
        f"round robin of {BUSY_SLICE_S * 1000:g} ms turns, each ≥ {BUSY_MIN_TIME_S:g} s; "
        f"{BUSY_THREADS[1]}/{BUSY_THREADS[0]} = the {BUSY_THREADS[1]}-thread median / the "
        f"{BUSY_THREADS[0]}-thread median. The mean per call (in parentheses, and its ratio) counts the "
        "calls that a descheduled thread stalls at a barrier, which the median leaves out: it is the "
        f"time a loop of such calls takes. Run time {busy.seconds:.0f} s; load averages (1, 5, 15 min) "
        f"before it {busy.load}.\n\n{busy_table(busy)}"
    )


def evaluate_busy_target(busy):
    title = (
        f"### 2 threads never slower than 1 when another process keeps a core busy (≤ {BUSY_MAX_RATIO:g}×)"
    )
    if busy is None:
        return f"{title}\n\nNot measured in this run (needs --busy)."
    rows, verdicts = [], []
    for shape_name, mode in BUSY_CASES:
        for statistic, label in (("seconds", "median"), ("mean", "mean")):
            ratio = busy.ratio((shape_name, mode), "busy", "fusedrnn", statistic)
            verdicts.append(ratio <= BUSY_MAX_RATIO)
            rows.append(
                f"| LSTM | {mode} | {shape_name} | {label} | {ratio:.2f}× | ≤ {BUSY_MAX_RATIO:g}× | "
                f"{'met' if verdicts[-1] else '**NOT MET**'} |"
            )
    summary = (
        "**met**" if all(verdicts) else f"**NOT MET** ({verdicts.count(False)} of {len(verdicts)} cases)"
    )
    header = "| cell | mode | shape | time per call | measured | required | status |\n|" + "---|" * 7
    return (
        f"{title}\n\nOverall: {summary}. Measured: fusedrnn's {BUSY_THREADS[1]}-thread / "
        f"{BUSY_THREADS[0]}-thread time with one busy process (## Busy machine), of the medians and of the "
        f"means.\n\n{header}\n" + "\n".join(rows)
    )
