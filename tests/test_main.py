"""``python -m fusedrnn`` (fusedrnn.__main__): the self-check passes, the stability flag of the timing
table (on given timings, nothing timed), the optional columns, and the table on one small shape."""

import re
import sys
import time

import pytest

from fusedrnn import __main__ as main_job
from fusedrnn import _timing

QUIET = [[1.00e-3, 1.02e-3], [0.99e-3], [1.03e-3, 1.01e-3], [1.00e-3]]
# A busy process took a core during the third turn: every call of it stalled at the barriers.
BUSY = [[1.0e-3] * 10, [1.0e-3] * 10, [80e-3] * 3, [1.0e-3] * 10]


def test_quick_runs_the_self_check_only(capsys):
    assert main_job.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "self-check: PASS" in out
    assert "FAIL" not in out
    assert "## Timing" not in out


def test_spread_of_agreeing_repeats_is_near_one():
    assert _timing.spread(QUIET) == pytest.approx(1.03 / 0.99, rel=0.02)
    assert not _timing.Measurement.of(QUIET).unstable


def test_spread_flags_a_repeat_slowed_by_a_busy_machine():
    m = _timing.Measurement.of(BUSY)
    assert m.spread == pytest.approx(80.0)
    assert m.unstable
    assert m.seconds == pytest.approx(1e-3)  # the median over all calls hides the stall: hence the flag


def test_the_round_robin_ends_with_the_round_in_which_the_deadline_passes():
    counts = {"a": 0, "b": 0}

    def call(name):
        counts[name] += 1

    turns = _timing.round_robin(
        {name: lambda name=name: call(name) for name in counts}, 60, 0.0, deadline=time.perf_counter()
    )
    assert [len(t) for t in turns.values()] == [1, 1]  # one turn of one call each (slice 0)


def test_spread_groups_turns_into_repeats():
    # 8 turns in 4 groups of 2: one slow turn per group leaves every group's median alike...
    assert _timing.spread([[1.0], [2.0]] * 4) == pytest.approx(1.0)
    # ... while slow turns in one group of them do not.
    assert _timing.spread([[1.0]] * 6 + [[3.0]] * 2) == pytest.approx(3.0)
    assert _timing.spread([[5.0, 1.0, 9.0]]) == 1.0  # one turn: nothing to compare


def test_a_row_is_flagged_when_any_timed_contender_is_unstable():
    quiet, unstable = _timing.Measurement.of(QUIET), _timing.Measurement.of(BUSY)
    untimed = _timing.Measurement(note="–")
    assert not main_job.busy({"fusedrnn": quiet, "reference": quiet, "onnxruntime": untimed}, 0.0)
    assert main_job.busy({"fusedrnn": quiet, "reference": unstable}, 0.0)


def test_a_row_is_flagged_when_its_threads_waited_for_a_core():
    # Calls that are all alike slow repeat themselves: only the wait for a core shows that another
    # program took the cores.
    row = {"fusedrnn": _timing.Measurement.of(QUIET)}
    assert not main_job.busy(row, 0.02)
    assert not main_job.busy(row, None)  # not known on this system
    assert main_job.busy(row, main_job.WAIT_LIMIT * 2)


def test_the_wait_for_a_core_is_read_where_the_system_says():
    wait = _timing.core_wait_seconds()
    assert wait is None or wait >= 0


@pytest.mark.parametrize("first", [(QUIET, 0.0), (BUSY, 0.0), (QUIET, 0.5)])
@pytest.mark.parametrize("retry", [True, False])
def test_a_busy_row_is_timed_once_more(monkeypatch, first, retry):
    """...before the deadline (retry), not after it."""
    outcomes = iter([first, (QUIET, 0.0)])
    timed = []

    def timed_row(problem, calls, mode, deadline):
        timed.append(mode)
        turns, waited = next(outcomes)
        return {"fusedrnn": _timing.Measurement.of(turns)}, waited

    monkeypatch.setattr(main_job, "timed_row", timed_row)
    first_busy = first != (QUIET, 0.0)
    deadline = time.perf_counter() + (60 if retry else -1)
    row, flagged = main_job.measure_row(None, {}, "forward", deadline)
    assert len(timed) == (2 if first_busy and retry else 1)
    assert flagged == (first_busy and not retry)
    assert main_job.table_row(main_job.GRID[1], "forward", row, flagged)[0] == (
        "energy †" if flagged else "energy"
    )


def test_the_legend_explains_the_flag_only_when_a_row_has_it(capsys):
    main_job.legend(["fusedrnn", "reference"], [], 2, flagged=False)
    assert "†" not in capsys.readouterr().out
    main_job.legend(["fusedrnn", "reference"], [], 2, flagged=True)
    assert "the machine was busy" in capsys.readouterr().out


def hide(monkeypatch, *modules):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` then raises ImportError


def test_columns_without_torch_and_onnxruntime(monkeypatch):
    hide(monkeypatch, "torch", "onnxruntime", "onnx")
    assert main_job.contenders() == (["fusedrnn", "reference"], ["torch", "onnxruntime", "onnx"])


def test_the_onnxruntime_column_needs_onnx_too(monkeypatch):
    pytest.importorskip("onnxruntime")
    hide(monkeypatch, "onnx")
    names, missing = main_job.contenders()
    assert "onnxruntime" not in names
    assert missing[-1:] == ["onnx"]


@pytest.fixture
def one_small_shape(monkeypatch):
    """The timing table on keras-seed alone, briefly (the table's form, not its numbers)."""
    monkeypatch.setattr(main_job, "GRID", main_job.GRID[:1])
    monkeypatch.setattr(main_job, "MIN_TIME_S", 0.004)
    monkeypatch.setattr(main_job, "SLICE_S", 0.001)
    monkeypatch.setattr(_timing, "SETTLE_S", 0.0)


def rows(out):
    """(line, mode) of the table's keras-seed rows (flagged † or not: the machine may be busy)."""
    found = [(line, re.match(r"\| keras-seed (?:† )?\| ([a-z ]+) \|", line)) for line in out.splitlines()]
    return [(line, match[1]) for line, match in found if match]


def table_header(out):
    return next(line for line in out.splitlines() if line.startswith("| shape"))


def test_timing_table_without_torch(monkeypatch, capsys, one_small_shape):
    hide(monkeypatch, "torch", "onnxruntime", "onnx")
    main_job.run_timings()
    out = capsys.readouterr().out
    assert table_header(out) == "| shape | mode | fusedrnn | GF/s | reference | vs reference |"
    assert [mode for _, mode in rows(out)] == ["inference", "training step"]
    assert "keras-seed  the lectures' LSTM(50) on 3 numbers" in out
    assert "T=3 N=1 C=1 H=50" in out
    assert "higher: fusedrnn is faster" in out
    assert out.rstrip().endswith("(install torch / onnxruntime / onnx for more columns)")
    assert "torch.nn.LSTM" not in out


def test_timing_table_with_torch_and_onnxruntime(capsys, one_small_shape):
    for name in ("torch", "onnxruntime", "onnx"):
        pytest.importorskip(name)
    main_job.run_timings()
    out = capsys.readouterr().out
    assert table_header(out).endswith("| torch | vs torch | onnxruntime | vs onnxruntime |")
    inference, training = (line for line, _ in rows(out))
    assert not inference.endswith("| – |  |")
    assert training.endswith("| – |  |")  # onnxruntime runs inference only
    assert "torch.nn.LSTM with the same weights" in out
    assert "for more columns" not in out
