"""The public API under property-based fuzzing (tests/fuzz_public_api.py), in a child process with a
timeout: a crash or a hang fails this test instead of ending the run. FUSEDRNN_FUZZ_EXAMPLES sets the
number of cases (CI: 400; on demand: 10,000 or more)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = int(os.environ.get("FUSEDRNN_FUZZ_EXAMPLES", "400"))


@pytest.mark.slow
def test_fuzzed_calls_end_in_reference_results_or_clean_errors():
    script = Path(__file__).with_name("fuzz_public_api.py")
    done = subprocess.run(
        [sys.executable, str(script), str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=60 + EXAMPLES / 10,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "results equal to the reference" in done.stdout
