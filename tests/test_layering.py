"""The Python package's layering (docs/architecture.md): no import circle among the top-level modules,
no module reaching into another's private names, one table of per-cell facts, and each layer class's
option record (`fusedrnn._options.OPTIONS`) as the one list of its options."""

import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import fusedrnn as fr
from fusedrnn import _options

PACKAGE = Path(fr.__file__).parent
MODULES = {path.stem: path for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__main__"}


def imports(path):
    """(module, names) for every import of a sibling module anywhere in the file, deferred and
    TYPE_CHECKING imports included: ``from . import a`` -> (a, ()), ``from .a import b`` -> (a, (b,))."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                found += [(alias.name, ()) for alias in node.names]
            else:
                found.append((node.module.split(".")[0], tuple(alias.name for alias in node.names)))
    return found


def test_no_import_circle_among_the_top_level_modules():
    graph = {
        name: {target for target, _ in imports(path) if target in MODULES and target != "__init__"}
        for name, path in MODULES.items()
        if name != "__init__"
    }
    done, path = set(), []

    def visit(name):
        if name in path:
            raise AssertionError(f"import circle: {' -> '.join(path[path.index(name) :] + [name])}")
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in graph:
        visit(name)


def test_no_module_imports_or_reads_another_modules_private_names():
    # _core is the extension: its underscore names are its interface to this package.
    for name, path in MODULES.items():
        text = path.read_text()
        for module, names in imports(path):
            private = [n for n in names if n.startswith("_") and module != "_core"]
            assert not private, f"{name}.py imports {private} from {module}"
        siblings = "|".join(m for m in MODULES if m not in ("_core", "__init__"))
        reach = re.findall(rf"\b(?:{siblings})\._[a-z]\w*", text)
        assert not reach, f"{name}.py reads {sorted(set(reach))}"


def test_gate_counts_are_written_only_where_cpp_exports_them():
    for name, path in MODULES.items():
        text = path.read_text()
        assert not re.search(r"[\"']lstm[\"']\s*:\s*4\b", text), f"{name}.py writes LSTM's gate count"


@pytest.mark.parametrize("layer_class", [fr.LSTM, fr.GRU, fr.RNN], ids=lambda c: c.__name__)
def test_constructor_signature_is_the_option_record(layer_class):
    record = _options.OPTIONS[layer_class.__name__]
    parameters = inspect.signature(layer_class.__init__).parameters
    own = [p for p in parameters if p not in ("self", "seed", "unknown", *layer_class._aliases)]
    assert sorted(own) == sorted(record)
    for name, option in record.items():
        default = parameters[name].default
        if option.default is _options.REQUIRED:
            assert default is inspect.Parameter.empty, name
        elif name == "dtype":
            assert np.dtype(default).name == option.default
        else:
            assert default == option.default and type(default) is type(option.default), name
    layer = layer_class(3, 4)
    expected = {name: option.default for name, option in record.items() if name != "dtype"}
    expected.update(input_size=3, hidden_size=4)
    assert {name: getattr(layer, name) for name in expected} == expected
