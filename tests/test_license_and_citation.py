"""Issue 16, item 8: the code's licence is the one pyproject.toml declares, and CITATION.cff is valid YAML that cites
this very release (a release that forgets to bump its version there fails here)."""

from pathlib import Path

import pytest
import yaml

import brainfm_lite

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is 3.11+; tomli is its backport
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_cites_this_version_under_the_declared_licence():
    cff = citation()
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == brainfm_lite.__version__
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]
    assert cff["license"] == declared == "MIT"
    assert cff["authors"] == [{"name": "The brainfm-lite authors"}]


def test_citation_references_the_four_source_papers_with_authors():
    references = citation()["references"]
    assert len(references) == 4
    assert all(ref["title"] and ref["authors"] and ref["year"] for ref in references)
    titles = " | ".join(ref["title"] for ref in references)
    assert all(word in titles for word in ("ICHOR", "SimCLR", "Sequence-Invariant", "Stroke"))


def test_license_file_is_the_mit_licence_of_the_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 The brainfm-lite authors" in text


def test_landing_page_cites_the_book_as_citation_cff_does_and_names_both_licences():
    landing = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    cff = citation()
    assert f"{cff['title']}, version {cff['version']}." in landing, "the landing page's citation is out of date"
    assert "`LICENSE`" in landing and "`LICENSE-book.md`" in landing
    book_licence = (ROOT / "LICENSE-book.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in book_licence and "creativecommons.org/licenses/by/4.0" in book_licence
