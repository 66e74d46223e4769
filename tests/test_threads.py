"""Thread-count control: set_num_threads takes effect at once, and threadpoolctl (when installed) can see
and limit the OpenMP pool the kernels use."""

import subprocess
import sys
import threading

import pytest

import fusedrnn as fr


@pytest.fixture
def restore_threads():
    saved = fr.get_num_threads()
    yield
    fr.set_num_threads(saved)


@pytest.mark.usefixtures("restore_threads")
def test_set_num_threads_takes_effect_immediately():
    fr.set_num_threads(1)
    assert fr.get_num_threads() == 1
    fr.set_num_threads(3)
    assert fr.get_num_threads() == 3


@pytest.mark.usefixtures("restore_threads")
def test_set_num_threads_is_process_wide():
    seen = []
    for n in (1, 3):
        fr.set_num_threads(n)
        thread = threading.Thread(target=lambda: seen.append(fr.get_num_threads()))
        thread.start()
        thread.join()
    assert seen == [1, 3]


@pytest.mark.usefixtures("restore_threads")
def test_threadpoolctl_limits_the_kernels():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not fr.cpu_info()["openmp"]:
        pytest.skip("built without OpenMP")
    fr.set_num_threads(2)
    pools = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "openmp"]
    assert pools, "threadpoolctl does not see an OpenMP pool"
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fr.get_num_threads() == 1
    assert fr.get_num_threads() == 2


_UNDER_ADDRESS_SPACE_LIMIT = """
import resource, sys
import numpy as np
import fusedrnn as fr
fr._core._set_min_flops_per_thread(1)  # two threads even on this tiny shape
fr.set_num_threads(2)
lstm = fr.LSTM(8, 16).eval()
x = np.ones((5, 3, 8), np.float32)
size = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmSize")) * 1024
limit = size + int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    lstm(x)
    print("result")
except MemoryError as err:
    print("MemoryError:", err)
"""


@pytest.mark.parametrize("margin_mib", [1, 2, 4, 8, 16, 64])
def test_threads_that_cannot_start_raise_memory_error(margin_mib):
    # OpenMP ends the process when it cannot create a team thread; the check before the region raises
    # MemoryError instead (an address-space limit just above the process's size stops thread stacks).
    if not fr.cpu_info()["openmp"] or not sys.platform.startswith("linux"):
        pytest.skip("needs OpenMP threads and /proc")
    with open("/proc/self/maps") as maps:
        sanitized = "libasan" in maps.read()
    if sanitized:
        pytest.skip("AddressSanitizer's shadow memory does not fit an address-space limit")
    child = subprocess.run(
        [sys.executable, "-c", _UNDER_ADDRESS_SPACE_LIMIT, str(margin_mib)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(("result", "MemoryError:")), child.stdout + child.stderr
    if child.stdout.startswith("MemoryError:"):
        assert "threads" in child.stdout or "workspace" in child.stdout, child.stdout


@pytest.mark.usefixtures("restore_threads")
def test_cpu_info_reports_the_thread_count_in_use():
    fr.set_num_threads(1)
    assert fr.cpu_info()["threads"] == 1
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fr.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fr.cpu_info()["threads"] == 1


# A region's wall time and one thread's wait on the OS's run queue over it, in ms, and whether they make a
# descheduled region: over 1 ms of waiting and over a fifth of the region.
@pytest.mark.parametrize(
    ("wall", "waited", "descheduled"),
    [
        (10.0, 0.0, False),  # ran throughout (or slept, or lost its virtual CPU to the hypervisor)
        (10.0, 5.0, True),  # runnable, another task on its core, half the time
        (10.0, 0.5, False),  # a hiccup
        (3.0, 1.2, True),  # 1.2 ms of 3
        (100.0, 5.0, False),  # 5 ms, but a twentieth of the region
        (100.0, 25.0, True),
    ],
)
def test_a_region_is_descheduled_when_a_thread_waited_on_the_run_queue(wall, waited, descheduled):
    ns = 1_000_000
    assert fr._core._region_descheduled(int(wall * ns), int(waited * ns)) is descheduled


_TWO_THREADS_ON_ONE_CPU = """
import os, numpy as np, fusedrnn as fr
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
fr.set_num_threads(2)
layer = fr.LSTM(28, 128).eval()
x = np.random.default_rng(0).standard_normal((28, 128, 28)).astype(np.float32)
before = fr._core._contention_events()
for _ in range(20):
    layer(x)
print(fr._core._contention_events() - before)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs sched_setaffinity and /proc/thread-self/schedstat"
)
def test_two_threads_sharing_one_cpu_fall_back_to_one():
    # Two threads on one CPU are always each other's busy process: in every region one waits on the run
    # queue while the other runs, so calls must find the contention and fall back to one thread.
    if not fr.cpu_info()["openmp"]:
        pytest.skip("needs OpenMP threads")
    child = subprocess.run(
        [sys.executable, "-c", _TWO_THREADS_ON_ONE_CPU], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert int(child.stdout) >= 1, child.stdout
