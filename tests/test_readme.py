"""README.md's Python examples run as they are (the main example needs torch for its last lines)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
# Blocks that are complete programs (the others are fragments continuing one, marked by their context).
RUNNABLE = [block for block in BLOCKS if block.startswith(("import numpy as np", "import numpy as np,"))]


def test_readme_has_runnable_examples():
    assert len(RUNNABLE) >= 2


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_example_runs(index):
    code = RUNNABLE[index]
    if "import torch" in code:
        pytest.importorskip("torch")
    exec(compile(code, f"README.md example {index}", "exec"), {"__name__": "__readme__"})
