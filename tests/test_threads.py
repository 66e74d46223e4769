"""Thread-count control: set_num_threads takes effect at once, and threadpoolctl (when installed) can see
and limit the OpenMP pool the kernels use."""

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
