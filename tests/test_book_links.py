"""The repository URL lives in pyproject.toml only; the Colab badges, install cells and launch buttons follow it."""

import json
import re
from pathlib import Path

import pytest
import yaml

from brainfm_lite import book_links
from brainfm_lite.book_links import (
    BADGES_END,
    BADGES_START,
    COLAB,
    badges_in_readme,
    book_chapters,
    book_config,
    colab_url,
    readme_badges,
    repository_url,
    write_readme_badges,
)
from brainfm_lite.book_runner import chapter_notebooks, stage_book
from brainfm_lite.config import default_profile
from brainfm_lite.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = chapter_notebooks(ROOT)


def _write_pyproject(folder: Path, url: str | None) -> None:
    urls = f'\n[project.urls]\nRepository = "{url}"\n' if url else ""
    (folder / "pyproject.toml").write_text(f'[project]\nname = "brainfm-lite"\n{urls}')


def test_repository_url_is_read_from_pyproject(tmp_path):
    _write_pyproject(tmp_path, "https://github.com/someone/a-fork/")
    assert repository_url(tmp_path) == "https://github.com/someone/a-fork"


@pytest.mark.parametrize("url", ["https://gitlab.com/org/repo", "git@github.com:org/repo.git", "not a url"])
def test_a_repository_colab_cannot_open_is_refused(tmp_path, url):
    _write_pyproject(tmp_path, url)
    with pytest.raises(InputError, match="github.com/<org>/<repo>"):
        repository_url(tmp_path)


def test_a_pyproject_without_the_url_is_named(tmp_path):
    _write_pyproject(tmp_path, None)
    with pytest.raises(InputError, match="no \\[project.urls\\] Repository"):
        repository_url(tmp_path)


def test_colab_url_has_the_launch_buttons_form():
    url = colab_url("book/01_data.ipynb", "https://github.com/org/repo", branch="dev")
    assert url == f"{COLAB}/github/org/repo/blob/dev/book/01_data.ipynb"


def test_book_config_adds_the_repository_and_colab_and_keeps_the_rest():
    config = {"title": "T", "launch_buttons": {"notebook_interface": "jupyterlab"}, "repository": {"branch": "x"}}
    derived = book_config(config, "https://github.com/org/repo")
    assert derived["repository"] == {"url": "https://github.com/org/repo", "branch": book_links.BRANCH,
                                     "path_to_book": ""}
    assert derived["launch_buttons"] == {"notebook_interface": "jupyterlab", "colab_url": COLAB}
    assert derived["title"] == "T" and config["repository"] == {"branch": "x"}, "the input was changed"


def test_the_source_config_does_not_hold_the_url():
    """_config.yml must not be a second place for the URL: the runner writes it into the staged copy."""
    assert repository_url(ROOT) not in (ROOT / "_config.yml").read_text()


def test_the_staged_config_has_colab_buttons_for_pyprojects_url(tmp_path):
    root = tmp_path / "book_root"
    (root / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        (root / name).write_text((ROOT / name).read_text())
    _write_pyproject(root, "https://github.com/someone/a-fork")
    stage = tmp_path / "_build" / "stage"
    stage_book(root, stage)
    staged = yaml.safe_load((stage / "_config.yml").read_text())
    source = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert staged["repository"]["url"] == "https://github.com/someone/a-fork"
    assert staged["launch_buttons"]["colab_url"] == COLAB
    assert {k: v for k, v in staged.items() if k not in ("repository", "launch_buttons")} == \
        {k: v for k, v in source.items() if k not in ("repository", "launch_buttons")}


def test_readme_badges_match_pyproject_and_the_chapters():
    """README's "Open in Colab" block is what pyproject's URL and the table of contents give; on drift, rerun
    `python -m brainfm_lite.book_links` from the repository root."""
    expected = readme_badges(book_chapters(ROOT), repository_url(ROOT))
    assert badges_in_readme(ROOT / "README.md") == expected, (
        "README's Colab badges differ from pyproject.toml's URL or the chapters: run "
        "`python -m brainfm_lite.book_links`")
    assert len(re.findall(r"colab-badge\.svg", expected)) == len(NOTEBOOKS)


def test_write_readme_badges_rewrites_only_the_block(tmp_path):
    root = tmp_path / "repo"
    (root / "book").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_a\n")
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# 1. First chapter\n", "text"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "book" / "01_a.ipynb").write_text(json.dumps(nb))
    _write_pyproject(root, "https://github.com/org/repo")
    (root / "README.md").write_text(f"# Title\n\nbefore\n\n{BADGES_START}\nold\n{BADGES_END}\n\nafter\n")
    write_readme_badges(root)
    text = (root / "README.md").read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "| 1. First chapter | [![Open In Colab]" in text
    assert f"({COLAB}/github/org/repo/blob/main/book/01_a.ipynb)" in text and "old" not in text


def test_a_readme_without_the_block_is_named(tmp_path):
    (tmp_path / "README.md").write_text("# no badges\n")
    with pytest.raises(InputError, match="README.md: no Colab badge block"):
        badges_in_readme(tmp_path / "README.md")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_installs_pyprojects_repository_with_the_notebook_extra(notebook):
    install = next(c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
    source = "".join(install["source"])
    urls = re.findall(r"https://[^\s\"']+", source)
    assert urls == [repository_url(ROOT)], f"install cell clones {urls}, pyproject.toml says {repository_url(ROOT)}"
    assert "brainfm-lite[notebook]" in source and "[book]" not in source


def test_the_notebook_extra_is_light():
    """On Colab the install cell installs [notebook]: no book toolchain, no kernel pins."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!\[ ]", req)[0].lower() for req in extras["notebook"]}
    assert names and not names & {"jupyter-book", "papermill", "ipykernel", "nbformat", "pytest"}
    assert "brainfm-lite[notebook]" in extras["book"], "the book toolchain must include what a chapter needs"


@pytest.mark.parametrize("cuda, expected", [(True, "colab"), (False, "smoke")])
def test_default_profile_is_colab_on_a_cuda_gpu_else_smoke(monkeypatch, cuda, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert default_profile() == expected


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_leaves_the_profile_to_default_profile_unless_injected(notebook, monkeypatch):
    """Run the parameters cell, then papermill's injection (or none), then the line that picks the profile."""
    import torch

    cells = json.loads(notebook.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    parameters = "".join(cells[index]["source"])
    picks = next(line for c in cells[index + 1:] if c["cell_type"] == "code"
                 for line in "".join(c["source"]).splitlines() if "load_profile(" in line)
    pick = picks.split("load_profile(", 1)[1].split(",", 1)[0]  # the profile argument

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for injected, expected in [("", "colab"), ("profile_name = 'smoke'\n", "smoke")]:
        scope = {"default_profile": default_profile}
        exec(parameters + "\n" + injected, scope)
        assert eval(pick, scope) == expected, f"{notebook.stem}: {pick!r} after injection {injected!r}"
