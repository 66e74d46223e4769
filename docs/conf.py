"""Sphinx configuration of the fusedrnn documentation (built by tools/build_docs.sh).

The API reference is read from the installed package (autodoc imports ``fusedrnn``, whose compiled
``_core`` exists only once built), so the build needs ``pip install ".[docs]"`` first, never a path
into ``python/``.
"""

import importlib.metadata
import re
from pathlib import Path

import fusedrnn
from fusedrnn import demos

project = "fusedrnn"
author = "the fusedrnn developers"
copyright = "the fusedrnn developers"

# The version is set once, in pyproject.toml; CMake compiles it into _core, which fusedrnn.__version__
# reads. A mismatch with the installed distribution's metadata means a stale build: refuse it.
release = fusedrnn.__version__
if release != importlib.metadata.version("fusedrnn"):
    raise RuntimeError(
        f"fusedrnn.__version__ {release} differs from the installed metadata "
        f"{importlib.metadata.version('fusedrnn')}: reinstall the package"
    )
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# Docstrings are numpydoc (Parameters / Returns sections); napoleon reads that form and plain prose
# alike, so the reference does not depend on how far a docstring has been converted.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True  # "Attributes" sections as fields, not as a second description of each attribute
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": True}  # the whole public API, documented or not
autoclass_content = "both"  # the class docstring, then __init__'s when it has one

html_theme = "furo"
html_title = f"fusedrnn {release}"

# Every demo (fusedrnn.demos.DEMOS, which examples/ mirrors) has its page under examples/.
_missing = sorted(set(demos.DEMOS) - {p.stem for p in (Path(__file__).parent / "examples").glob("*.md")})
if _missing:
    raise RuntimeError(f"docs/examples/ has no page for the demo(s) {', '.join(_missing)}")


# In this package a name that ends in "_" is an in-place function (PyTorch's convention: orthogonal_,
# clip_grad_norm_), never a reST hyperlink reference; a docstring that mentions one in plain text would
# otherwise render as a link to a missing target (an error). Escape that underscore outside literals.
_LITERAL_OR_NAME = re.compile(r"(``.+?``|`[^`]+`)|\b(\w+)_\b")


def _escape_in_place_names(app, what, name, obj, options, lines):
    literal_indent = None  # inside an indented literal block (after "::") deeper than this
    for i, line in enumerate(lines):
        text = line.lstrip()
        indent = len(line) - len(text)
        if literal_indent is not None:
            if not text or indent > literal_indent:
                continue
            literal_indent = None
        if text.startswith((">>>", "...")):
            continue
        lines[i] = _LITERAL_OR_NAME.sub(lambda m: m.group(1) or m.group(2) + "\\_", line)
        if line.rstrip().endswith("::") or text.startswith(".. "):
            literal_indent = indent


# Members a class inherits from another library (scikit-learn's estimators add set_*_request methods)
# carry that library's cross-references: the reference documents what fusedrnn defines.
def _skip_foreign_members(app, what, name, obj, skip, options):
    module = getattr(obj, "__module__", None)
    if isinstance(module, str) and not module.startswith("fusedrnn"):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_in_place_names)
    app.connect("autodoc-skip-member", _skip_foreign_members)
