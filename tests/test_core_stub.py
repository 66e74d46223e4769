"""python/fusedrnn/_core.pyi against the compiled module: the same names, arguments, defaults and types.

pybind11 writes each function's signature as the first line of its ``__doc__`` (``name(a: int, b: str =
'x') -> list``); the stub is parsed with ``ast``. Types are compared by their outer name (the stub may
say ``list[tuple[str, ...]]`` where pybind11 says ``list``, or anything where pybind11 says ``object``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fusedrnn
from fusedrnn import _core

STUB = Path(fusedrnn.__file__).with_name("_core.pyi")

# pybind11's spellings -> the stub's.
_RUNTIME_SPELLINGS = {
    "numpy.ndarray": "NDArray",
    "collections.abc.Sequence": "Sequence",
    "collections.abc.Callable": "Callable",
}
# A C++ integer argument (pybind11 2.x says int; 3.x the protocols it accepts); returned, it is an int.
_INTEGER_ARGUMENT = ("int", "typing.SupportsInt | typing.SupportsIndex")


def _stub_tree():
    return ast.parse(STUB.read_text(), filename=str(STUB))


def _aliases(tree):
    return {
        node.target.id: node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None
    }


def _outer_names(annotation, aliases):
    """The outer type names of a stub annotation: ``NDArray[x] | None`` -> {"NDArray", "None"}."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _outer_names(annotation.left, aliases) | _outer_names(annotation.right, aliases)
    if isinstance(annotation, ast.Subscript):
        return _outer_names(annotation.value, aliases)
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return {"None"}
    name = ast.unparse(annotation)
    if name in aliases and name != "_Int":  # _Int stands for pybind11's integer spelling itself
        return _outer_names(aliases[name], aliases)
    return {name}


def _runtime_names(text, argument):
    """The outer names of a pybind11 annotation, in the stub's spelling."""
    text = text.strip()
    if argument and text in _INTEGER_ARGUMENT:
        return {"_Int"}
    outer = (part.strip().split("[", 1)[0] for part in text.split("|"))  # tuple[int, int]: tuple
    return {_RUNTIME_SPELLINGS.get(name, name) for name in outer}


_SIGNATURE = re.compile(r"^(?P<name>\w*)\((?P<args>.*)\) -> (?P<returns>.+)$")


def _split_arguments(text):
    """Top-level comma split of pybind11's argument list (defaults and types may hold commas)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in parts + [current] if p.strip()]


def _runtime_signature(function):
    """[(name, annotation text, default text or None)], return annotation text."""
    first = function.__doc__.splitlines()[0]
    match = _SIGNATURE.match(first)
    assert match, f"no pybind11 signature in {first!r}"
    arguments = []
    for part in _split_arguments(match["args"]):
        head, _, default = part.partition(" = ")
        name, _, annotation = head.partition(": ")
        arguments.append((name, annotation, default or None))
    return arguments, match["returns"]


def _stub_signature(node):
    args = node.args
    assert not (args.vararg or args.kwarg or args.kwonlyargs), f"{node.name}: *args / **kwargs in the stub"
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    return list(zip(args.args, defaults, strict=True)), node.returns


def _compare(label, runtime, stub_node, aliases, method):
    runtime_args, runtime_returns = _runtime_signature(runtime)
    stub_args, stub_returns = _stub_signature(stub_node)
    if method:  # the bound instance: self (arg0 for a property's getter)
        runtime_args, stub_args = runtime_args[1:], stub_args[1:]
    assert [a[0] for a in runtime_args] == [a.arg for a, _ in stub_args], f"{label}: argument names"
    for (name, annotation, default), (stub_arg, stub_default) in zip(runtime_args, stub_args, strict=True):
        where = f"{label}({name})"
        assert stub_arg.annotation is not None, f"{where}: not annotated in the stub"
        stub_types = _outer_names(stub_arg.annotation, aliases)
        assert "Any" not in stub_types, f"{where}: typed Any in the stub"
        if annotation != "object":  # pybind11's object: the binding checks the value itself
            # A Literal of strings narrows pybind11's str to the values the binding accepts.
            stub_types = {"str" if t == "Literal" else t for t in stub_types}
            assert stub_types == _runtime_names(annotation, argument=True), (
                f"{where}: the stub says {ast.unparse(stub_arg.annotation)}, the module {annotation}"
            )
        if default is None:
            assert stub_default is None, f"{where}: the stub has a default, the module none"
        else:
            assert stub_default is not None, f"{where}: the module has the default {default}, the stub none"
            assert ast.literal_eval(stub_default) == ast.literal_eval(default), f"{where}: default"
    assert stub_returns is not None, f"{label}: no return type in the stub"
    returned = _outer_names(stub_returns, aliases)
    expected = _runtime_names(runtime_returns, argument=False)
    # pybind11 says dict / list / tuple; the stub may name a TypedDict (a dict) instead.
    if expected == {"dict"} and returned <= _typed_dicts(_stub_tree()):
        return
    assert returned == expected, f"{label}: returns {ast.unparse(stub_returns)}, the module {runtime_returns}"


def _typed_dicts(tree):
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "TypedDict" for b in node.bases)
    }


def _runtime_functions():
    return {
        name: value
        for name, value in vars(_core).items()
        if callable(value) and not isinstance(value, type) and not name.startswith("__")
    }


def _stub_functions(tree):
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_functions_match():
    tree = _stub_tree()
    aliases = _aliases(tree)
    runtime, stub = _runtime_functions(), _stub_functions(tree)
    assert sorted(stub) == sorted(runtime)
    for name, function in runtime.items():
        _compare(name, function, stub[name], aliases, method=False)


def test_module_attributes_match():
    tree = _stub_tree()
    declared = {
        node.target.id
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is None
    }
    runtime = {
        name
        for name, value in vars(_core).items()
        if not callable(value) and not name.startswith("__") or name == "__version__"
    }
    assert declared == runtime


def _stub_class(tree, name):
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name]
    return node


def test_plan_matches():
    tree = _stub_tree()
    aliases = _aliases(tree)
    node = _stub_class(tree, "Plan")
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
    properties = {
        name: n
        for name, n in methods.items()
        if any(isinstance(d, ast.Name) and d.id == "property" for d in n.decorator_list)
    }
    runtime = {name: value for name, value in vars(_core.Plan).items() if not name.startswith("_")}
    runtime_properties = {name for name, value in runtime.items() if isinstance(value, property)}
    assert sorted(methods) == sorted(set(runtime) | {"__init__"})
    assert sorted(properties) == sorted(runtime_properties)
    for name in methods:
        value = getattr(_core.Plan, name)
        function = value.fget if isinstance(value, property) else value
        assert not isinstance(value, property) or value.fset is None, f"Plan.{name}: read-only in the stub"
        _compare(f"Plan.{name}", function, methods[name], aliases, method=True)


@pytest.mark.parametrize("cell", sorted(_core.cells))
def test_cell_facts_match(cell):
    fields = {
        n.target.id: ast.unparse(n.annotation)
        for n in _stub_class(_stub_tree(), "CellFacts").body
        if isinstance(n, ast.AnnAssign)
    }
    facts = _core.cells[cell]
    assert {key: type(value).__name__ for key, value in facts.items()} == fields


def test_cpu_info_matches():
    tree = _stub_tree()
    fields = {
        n.target.id: n.annotation for n in _stub_class(tree, "CpuInfo").body if isinstance(n, ast.AnnAssign)
    }
    info = _core.cpu_info()
    assert sorted(fields) == sorted(info)
    for key, annotation in fields.items():
        outer = _outer_names(annotation, _aliases(tree))
        if outer == {"Literal"}:
            assert info[key] in ast.literal_eval(ast.unparse(annotation.slice)), key
        else:
            assert outer == {type(info[key]).__name__}, key
