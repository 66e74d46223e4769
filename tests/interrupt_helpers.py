"""Ctrl-C on a long call, from the outside: a child process runs a script that prints "ready" just before
the call, is sent SIGINT well inside it, and must report "interrupted" first and "usable" later (the
layer still works and computes what it did before). Shared by every suite with a call to interrupt."""

import signal
import subprocess
import sys
import time

import pytest

# SIGINT to a child process: POSIX only.
needs_sigint = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")


def assert_ctrl_c_stops(script: str, *args: str) -> None:
    """Runs `script` (python -c) with `args`, sends SIGINT one second after it prints "ready", and checks
    that the call stopped long before its end and left the layer usable."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # well inside the call (the scripts make it run for many seconds)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        waited = time.perf_counter() - sent
    finally:
        child.kill()
    lines = out.split("\n")
    assert lines[0].startswith("interrupted"), (out, err)
    assert "usable" in lines, (out, err)
    # The target is 0.2 s (benchmarks/serving.py measures it); here only "long before the call's end",
    # with room for a loaded CI machine.
    assert waited < 5, waited
