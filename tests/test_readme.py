"""README.md's Python examples run as they are: the main example on a plain `pip install .`, the Interop
one (torch, the `interop` extra) wherever torch is installed."""

import ast
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
# Blocks that are complete programs (the others are fragments continuing one, marked by their context).
RUNNABLE = [block for block in BLOCKS if block.startswith(("import numpy as np", "import numpy as np,"))]


def imported_modules(code):
    """The top-level packages a block imports."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_readme_has_runnable_examples():
    assert len(RUNNABLE) >= 2
    assert any("torch" in imported_modules(code) for code in RUNNABLE), "the Interop example is gone"


def test_main_example_needs_only_the_install():
    # The first complete program is the README's "Example": numpy is the only runtime dependency.
    assert imported_modules(RUNNABLE[0]) <= {"numpy", "fusedrnn"}


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write files (model.save("sum.keras"))
    code = RUNNABLE[index]
    if "torch" in imported_modules(code):
        pytest.importorskip("torch")
    exec(compile(code, f"README.md example {index}", "exec"), {"__name__": "__readme__"})
