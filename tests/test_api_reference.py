"""The API reference (book/api/) and the glossary: every module has its section, the chapters' links name things that
exist, importing the package for autodoc reaches no network. The strict book build (tests/test_book.py) renders them.
"""

import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import brainfm_lite
from brainfm_lite.book_docstrings import join_return_continuations
from brainfm_lite.book_runner import chapter_notebooks, toc_files

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = sorted((ROOT / "book" / "api").glob("*.rst"))
GLOSSARY = ROOT / "book" / "glossary.md"
PY_ROLE = re.compile(r"\{py:(func|class|meth|mod|data|obj)\}`(?:[^`<]*<)?~?([\w.]+)>?`")
TERM_ROLE = re.compile(r"\{term\}`(?:[^`<]*<)?([^`<>]+)>?`")
REQUIRED_TERMS = (
    "TR", "TE", "TI", "flip angle", "PLD", "labelling duration", "CBF", "M0", "QEI", "acceleration R",
    "autocalibration lines", "ACS", "NT-Xent", "temperature", "EMA", "DDPM", "DDIM", "linear probe", "fine-tuning",
    "masking ratio", "data consistency", "coil sensitivity", "k-space", "MP2RAGE", "bias field", "held-out site",
)


def _public_modules() -> set[str]:
    """Every module of the package whose dotted name has no private (underscore) part."""
    walk = pkgutil.walk_packages(brainfm_lite.__path__, "brainfm_lite.")
    return {info.name for info in walk if not any(part.startswith("_") for part in info.name.split("."))}


def _documented_modules() -> set[str]:
    return {m for page in API_PAGES for m in re.findall(r"^\.\. automodule:: ([\w.]+)", page.read_text(), re.M)}


def _glossary_terms() -> set[str]:
    """The glossary's terms, lower case (as Sphinx matches them): the unindented lines of its directive."""
    block = GLOSSARY.read_text().split("```{glossary}", 1)[1].split("\n```", 1)[0]
    return {line.strip().lower() for line in block.splitlines()
            if line.strip() and not line.startswith((" ", ":"))}


def _resolve(dotted: str):
    """The object a dotted path names: the longest importable module, then attributes (AttributeError: none)."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
            break
        except ModuleNotFoundError:
            continue
    for part in parts[split:]:
        obj = getattr(obj, part)
    return obj


def _chapter_markdown(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")


def test_every_public_module_has_a_section_on_an_api_page():
    missing = sorted(_public_modules() - _documented_modules())
    assert not missing, f"add these modules to a page of book/api/ (one `automodule` section each): {missing}"


def test_api_pages_and_glossary_are_in_the_table_of_contents():
    pages = set(toc_files(ROOT))
    assert {f"book/api/{page.stem}" for page in API_PAGES} <= pages
    assert "book/glossary" in pages


def test_glossary_defines_the_terms_the_book_relies_on():
    terms = _glossary_terms()
    assert {term.lower() for term in REQUIRED_TERMS} <= terms, sorted({t.lower() for t in REQUIRED_TERMS} - terms)


@pytest.mark.parametrize("notebook", chapter_notebooks(ROOT), ids=lambda p: p.stem)
def test_chapter_links_name_glossary_terms_and_package_objects(notebook):
    """Every {term} is in the glossary and every {py:...} target imports; each chapter links at least 3 of each."""
    text = _chapter_markdown(notebook)
    terms = [t.strip().lower() for t in TERM_ROLE.findall(text)]
    assert not sorted(set(terms) - _glossary_terms()), "terms missing from book/glossary.md"
    targets = [target for _, target in PY_ROLE.findall(text)]
    for target in targets:
        obj = _resolve(target)
        assert obj.__doc__, f"{target} has no docstring, so the API reference has no entry to link to"
    assert len(set(terms)) >= 3 and len(set(targets)) >= 3, (sorted(set(terms)), sorted(set(targets)))


def test_importing_every_module_reaches_no_network():
    """Autodoc imports each module to read its docstrings: none may download (or open any socket) at import."""
    code = (
        "import importlib, socket, sys\n"
        "def refuse(*args, **kwargs):\n"
        "    raise RuntimeError('network access at import')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        f"for name in {sorted(_public_modules())!r}:\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_returns_continuation_lines_join_their_paragraph_and_lists_keep_their_shape():
    doc = [
        "Args:", "    x: a value", "        continued.", "",
        "Returns:", "    list of dict: one row per task,", "        JSON-serialisable.", "",
        "    - a list item", "      continued", "",
        "Raises:", "    InputError: bad", "        input.",
    ]
    joined = join_return_continuations(doc)
    assert joined[6] == "    JSON-serialisable."  # one paragraph, not a nested block
    assert joined[9] == "      continued"  # a list item's own continuation
    assert joined[2] == "        continued." and joined[13] == "        input."  # other sections untouched
