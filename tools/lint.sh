#!/usr/bin/env bash
# Lint and format check (CI runs it): ruff's lint rules and formatter over the Python, clang-format over
# the C++ (the style files: pyproject.toml's [tool.ruff], .clang-format). Fails on any violation; to fix
# them, `pre-commit run --all-files` (.pre-commit-config.yaml runs the same tools) or the same commands
# without --check / --dry-run. The versions are the `lint` extra's, pinned so that a formatter release
# cannot fail CI on unchanged code. Usage: bash tools/lint.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-$(mktemp -d)/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# The `lint` extra's requirements, read from pyproject.toml (installing ".[lint]" would compile the package).
mapfile -t requirements < <("$venv/bin/python" -c 'import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["lint"]))')
"$venv/bin/python" -m pip install --quiet "${requirements[@]}"
paths=(python tests benchmarks examples docs tools)
"$venv/bin/ruff" check "${paths[@]}"
"$venv/bin/ruff" format --check "${paths[@]}"
mapfile -t cpp < <(git ls-files 'csrc/*.h' 'csrc/*.cc')
"$venv/bin/clang-format" --dry-run -Werror "${cpp[@]}"
echo "lint: ruff check, ruff format and clang-format clean (${#cpp[@]} C++ files)"
