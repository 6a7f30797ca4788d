"""Links from the book to its repository: the one repository URL, the Colab launch links and the README's badges.

The URL is written once by hand, in ``pyproject.toml`` (``[project.urls] Repository``). Everything else derives
from it:

- the rendered book's Colab buttons: `book_config` adds ``repository`` and ``launch_buttons`` to the copy of
  ``_config.yml`` that the book runner stages (Jupyter Book 1 reads them from that file, and writing them into the
  source ``_config.yml`` would be a second copy of the URL);
- README's "Open in Colab" badges, the block between `BADGES_START` and `BADGES_END` (rewritten by
  ``python -m brainfm_lite.book_links``);
- the chapters' install cells, which must work before the package is installed and so hold the URL as text.

``tests/test_book_links.py`` fails when the badges or an install cell drift from ``pyproject.toml``.
"""

from __future__ import annotations

import copy
import importlib.metadata
import re
import sys
from pathlib import Path

from brainfm_lite.atomic import atomic_path
from brainfm_lite.errors import InputError

COLAB = "https://colab.research.google.com"
BRANCH = "main"  # the branch Colab opens the chapters from
BADGE_IMAGE = f"{COLAB}/assets/colab-badge.svg"
BADGES_START = "<!-- colab-badges: generated from pyproject.toml by `python -m brainfm_lite.book_links` -->"
BADGES_END = "<!-- /colab-badges -->"
_PACKAGE_CHECKOUT = Path(__file__).resolve().parents[1]
_GITHUB = re.compile(r"https://github\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+?)/?")


def repository_url(root: str | Path | None = None) -> str:
    """The repository URL from ``pyproject.toml`` (``[project.urls] Repository``).

    Looks in `root` (a checkout), then in the checkout this package runs from, then in the installed package's
    metadata (``Project-URL``).

    Raises:
        InputError: no URL found, or it is not ``https://github.com/<org>/<repo>`` (Colab opens GitHub only).
    """
    folders = [Path(root)] if root is not None else []
    for folder in (*folders, _PACKAGE_CHECKOUT):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            url = _url_in_pyproject(pyproject)
            break
    else:
        url = _url_in_metadata()
    if url is None:
        raise InputError(f"{folders[0] / 'pyproject.toml' if folders else 'pyproject.toml'}: no [project.urls] "
                         "Repository, and the installed brainfm-lite has no Project-URL 'Repository'")
    if not _GITHUB.fullmatch(url):
        raise InputError(f"repository URL {url!r}: expected https://github.com/<org>/<repo> (Colab opens GitHub)")
    return url.rstrip("/")


def _url_in_pyproject(path: Path) -> str | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: tomllib is 3.11+; tomli is its backport, when installed
        try:
            import tomli as tomllib
        except ImportError:
            return _url_in_metadata()
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid TOML ({err})") from err
    return project.get("urls", {}).get("Repository")


def _url_in_metadata() -> str | None:
    try:
        entries = importlib.metadata.metadata("brainfm-lite").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    urls = dict(entry.split(", ", 1) for entry in entries if ", " in entry)
    return urls.get("Repository")


def colab_url(notebook: str, repository: str, *, branch: str = BRANCH) -> str:
    """The Colab address that opens `notebook` (a path in the repository, e.g. ``book/01_data.ipynb``).

    The same form as the book's launch button (sphinx-book-theme): ``<colab>/github/<org>/<repo>/blob/<branch>/<path>``.
    """
    match = _GITHUB.fullmatch(repository)
    if match is None:
        raise InputError(f"repository URL {repository!r}: expected https://github.com/<org>/<repo>")
    return f"{COLAB}/github/{match['org']}/{match['repo']}/blob/{branch}/{notebook}"


def book_config(config: dict, repository: str, *, branch: str = BRANCH) -> dict:
    """A copy of the Jupyter Book configuration (``_config.yml`` as a dict) with the repository and Colab buttons.

    Pages are addressed from the repository root (``book/01_data``), so ``path_to_book`` is empty. Other launch
    button settings in `config` are kept.
    """
    derived = copy.deepcopy(config)
    derived["repository"] = {**(config.get("repository") or {}), "url": repository, "branch": branch,
                             "path_to_book": ""}
    derived["launch_buttons"] = {**(config.get("launch_buttons") or {}), "colab_url": COLAB}
    return derived


def readme_badges(chapters: list[tuple[str, str]], repository: str) -> str:
    """The README block of "Open in Colab" badges, one table row per chapter.

    Args:
        chapters: (title, notebook path in the repository) pairs, in book order.
        repository: the repository URL (`repository_url`).
    """
    rows = [f"| {title} | [![Open In Colab]({BADGE_IMAGE})]({colab_url(path, repository)}) |"
            for title, path in chapters]
    return "\n".join([BADGES_START, "", "| chapter | run it |", "| --- | --- |", *rows, "", BADGES_END])


def book_chapters(root: str | Path) -> list[tuple[str, str]]:
    """(title, path) of every chapter notebook of the book at `root`, in table-of-contents order.

    The title is the notebook's first Markdown heading (``# 1. Brain MRI data ...``) without its ``#``.
    """
    import json

    from brainfm_lite.book_runner import chapter_notebooks

    root = Path(root)
    chapters = []
    for notebook in chapter_notebooks(root):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        heading = next((line for cell in cells if cell["cell_type"] == "markdown"
                        for line in "".join(cell["source"]).splitlines() if line.startswith("# ")), None)
        if heading is None:
            raise InputError(f"{notebook}: no '# ' title in its Markdown cells")
        chapters.append((heading[2:].strip(), notebook.relative_to(root).as_posix()))
    return chapters


def badges_in_readme(readme: str | Path) -> str:
    """The badge block of a README (from `BADGES_START` to `BADGES_END`, both included).

    Raises:
        InputError: the README lacks either marker.
    """
    text = Path(readme).read_text(encoding="utf-8")
    start, end = text.find(BADGES_START), text.find(BADGES_END)
    if start < 0 or end < start:
        raise InputError(f"{readme}: no Colab badge block ({BADGES_START!r} ... {BADGES_END!r})")
    return text[start:end + len(BADGES_END)]


def write_readme_badges(root: str | Path) -> Path:
    """Rewrite the badge block of ``<root>/README.md`` from ``pyproject.toml`` and the book's chapters."""
    root = Path(root)
    readme = root / "README.md"
    old = badges_in_readme(readme)
    new = readme_badges(book_chapters(root), repository_url(root))
    with atomic_path(readme) as tmp:
        tmp.write_text(readme.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return readme


if __name__ == "__main__":
    print(f"rewrote {write_readme_badges(Path.cwd())}")
