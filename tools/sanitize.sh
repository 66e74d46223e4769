#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer: builds fusedrnn with
# -DFUSEDRNN_SANITIZE=ON into a fresh virtual environment, then runs pytest with libasan preloaded
# (Python itself is not instrumented). Any ASan report or UB finding ends the run with an error.
# Usage: bash tools/sanitize.sh [pytest args...]   (CI runs it; about 5 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
pip install --quiet ".[test]" -Ccmake.build-type=RelWithDebInfo -Ccmake.define.FUSEDRNN_SANITIZE=ON \
  -Cinstall.strip=false -Cbuild-dir=build/sanitize
# libstdc++ preloaded too: Python is not a C++ program, and ASan's __cxa_throw interceptor must find
# the real one when it starts (without it the first C++ exception aborts: "real___cxa_throw != 0").
preload="$(${CXX:-c++} -print-file-name=libasan.so) $(${CXX:-c++} -print-file-name=libstdc++.so)"
# detect_leaks=0: CPython's own allocations at exit are not leaks of ours and would drown any report.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export FUSEDRNN_FUZZ_EXAMPLES="${FUSEDRNN_FUZZ_EXAMPLES:-200}"
LD_PRELOAD="$preload" python -m pytest -q -p no:cacheprovider "$@"
