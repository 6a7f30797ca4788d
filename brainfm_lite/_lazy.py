"""Lazy public names for a subpackage's ``__init__`` (PEP 562), read from its ``if TYPE_CHECKING:`` imports.

A subpackage such as :mod:`brainfm_lite.viz` writes its public names the usual way, as imports from its modules,
but under ``if TYPE_CHECKING:``, so that type checkers and editors see them while ``import brainfm_lite.viz`` stays
as fast as an empty package (no matplotlib, torch or MONAI) and cannot start an import cycle. The first time a name
is used, ``from brainfm_lite.viz import plot_cbf_row`` imports only the module that defines it::

    from typing import TYPE_CHECKING

    from brainfm_lite._lazy import lazy_exports

    if TYPE_CHECKING:
        from brainfm_lite.viz.asl_plots import plot_cbf_row

    __all__ = ["plot_cbf_row"]
    __getattr__, __dir__ = lazy_exports(__name__, __file__)
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path


def exported_names(init_file: str | Path) -> dict[str, tuple[str, str]]:
    """``{public name: (module, attribute)}`` from the ``from ... import ...`` statements under the
    ``if TYPE_CHECKING:`` block of a package's ``__init__.py``.

    Raises:
        ValueError: the file has no such block, or two imports bind the same name.
    """
    tree = ast.parse(Path(init_file).read_text(), filename=str(init_file))
    blocks = [node for node in tree.body if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
              and node.test.id == "TYPE_CHECKING"]
    if not blocks:
        raise ValueError(f"{init_file}: no 'if TYPE_CHECKING:' block of imports to export")
    names: dict[str, tuple[str, str]] = {}
    for node in (n for block in blocks for n in block.body):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = alias.asname or alias.name
                if name in names:
                    raise ValueError(f"{init_file}: {name!r} is imported twice ({names[name][0]}, {node.module})")
                names[name] = (node.module, alias.name)
    return names


def lazy_exports(package: str, init_file: str | Path):
    """PEP 562 ``__getattr__`` and ``__dir__`` for `package`: each name of its ``TYPE_CHECKING`` imports is
    imported from its module on first use, then stored in the package (later look-ups cost nothing)."""
    names = exported_names(init_file)

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = names[name]
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
