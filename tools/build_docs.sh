#!/usr/bin/env bash
# Builds the documentation site (docs/, Sphinx) with every warning an error: installs the package with
# its `docs` extra into the virtual environment given (created when it does not exist) or into a fresh
# one, then runs sphinx-build on the installed package (autodoc imports it, compiled _core included).
# Usage: bash tools/build_docs.sh [VENV [OUTDIR]]   (OUTDIR defaults to build/docs-html; CI runs it)
# FUSEDRNN_DOCS_USE_INSTALLED=1: use the package already installed in VENV (CI: the one it just tested).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-$(mktemp -d)/venv}"
out="${2:-build/docs-html}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
start=$SECONDS
if [ "${FUSEDRNN_DOCS_USE_INSTALLED:-0}" = 1 ] && python -c "import fusedrnn" 2>/dev/null; then
  # The venv already has this tree's package (CI installs it just before): only the docs extra's
  # requirements, read from pyproject.toml, so the package is not compiled a second time.
  mapfile -t requirements < <(python -c 'import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["docs"]))')
  pip install --quiet "${requirements[@]}"
else
  pip install --quiet ".[docs]"
fi
installed=$((SECONDS - start))
# -E: a fresh environment (no pickled state from an earlier build), so every page is checked each time.
sphinx-build -W --keep-going -E -q -b html docs "$out"
echo "docs: $out/index.html (install ${installed} s, build $((SECONDS - start - installed)) s)"
