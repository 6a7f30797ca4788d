"""The lazy subpackage exports (brainfm_lite._lazy): eval, viz and physics export every public name of their
modules from their ``__init__``, sorted, importable, and without importing torch or matplotlib up front."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from brainfm_lite._lazy import exported_names, lazy_exports

PACKAGE = Path(__file__).resolve().parents[1] / "brainfm_lite"
LAZY = ("eval", "viz", "physics")
# Public names left out of the package namespace, and why.
NOT_EXPORTED = {("physics", "tissues", "tissues"): "the function has the name of its module, which shadows it"}


def public_names(module_file: Path) -> set[str]:
    """Functions, classes and constants a module defines at top level without a leading underscore."""
    names = set()
    for node in ast.parse(module_file.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize("package", LAZY)
def test_every_public_name_of_the_subpackage_is_exported_once_and_sorted(package):
    module = importlib.import_module(f"brainfm_lite.{package}")
    exported = exported_names(PACKAGE / package / "__init__.py")
    assert module.__all__ == sorted(module.__all__) and set(module.__all__) == set(exported)
    for path in sorted((PACKAGE / package).glob("[!_]*.py")):
        missing = {name for name in public_names(path) if (package, path.stem, name) not in NOT_EXPORTED} \
            - set(exported)
        assert not missing, f"brainfm_lite/{package}/__init__.py does not export {sorted(missing)} of {path.name}"
        for name in public_names(path) & set(exported):
            assert exported[name] == (f"brainfm_lite.{package}.{path.stem}", name)


@pytest.mark.parametrize("package", LAZY)
def test_every_exported_name_is_the_object_of_its_module(package):
    module = importlib.import_module(f"brainfm_lite.{package}")
    for name, (source, attribute) in exported_names(PACKAGE / package / "__init__.py").items():
        assert getattr(module, name) is getattr(importlib.import_module(source), attribute)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_importing_the_subpackages_loads_neither_torch_nor_matplotlib():
    code = ("import sys, brainfm_lite.eval, brainfm_lite.viz, brainfm_lite.physics; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'monai', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_submodule_is_still_imported_by_its_own_name():
    """``from package import submodule`` falls through the lazy ``__getattr__`` to the import system."""
    from brainfm_lite.physics import signal

    assert signal.__name__ == "brainfm_lite.physics.signal"


def test_a_name_bound_twice_or_a_missing_block_is_refused(tmp_path):
    twice = tmp_path / "twice.py"
    twice.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a import x\n    from b import x\n")
    with pytest.raises(ValueError, match="'x' is imported twice"):
        lazy_exports("twice", twice)
    none = tmp_path / "none.py"
    none.write_text("from a import x\n")
    with pytest.raises(ValueError, match="no 'if TYPE_CHECKING:' block"):
        exported_names(none)
