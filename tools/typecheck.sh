#!/usr/bin/env bash
# Type check: mypy over python/fusedrnn with the [tool.mypy] settings of pyproject.toml, in a venv of its
# own that holds only the `types` extra (mypy, numpy). mypy reads the sources and _core.pyi, so nothing
# is compiled; tests/test_core_stub.py keeps the stub equal to the compiled bindings. About 30 s with
# the install, a few seconds for mypy itself.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# The `types` extra's requirements, read from pyproject.toml (installing ".[types]" would compile).
mapfile -t requirements < <("$venv/bin/python" -c 'import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["types"]))')
"$venv/bin/python" -m pip install --quiet "${requirements[@]}"
"$venv/bin/python" -m mypy
