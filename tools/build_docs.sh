#!/usr/bin/env bash
# Builds the documentation site (docs/, Sphinx) with every warning an error: installs the package with
# its `docs` extra into the virtual environment given (created when it does not exist) or into a fresh
# one, then runs sphinx-build on the installed package (autodoc imports it, compiled _core included).
# Usage: bash tools/build_docs.sh [VENV [OUTDIR]]   (OUTDIR defaults to build/docs-html; CI runs it)
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
pip install --quiet ".[docs]"
installed=$((SECONDS - start))
# -E: a fresh environment (no pickled state from an earlier build), so every page is checked each time.
sphinx-build -W --keep-going -E -q -b html docs "$out"
echo "docs: $out/index.html (install ${installed} s, build $((SECONDS - start - installed)) s)"
