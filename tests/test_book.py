"""The book: notebooks are clean and open the same way; every chapter executes at smoke; the HTML builds strictly.

The full execution + strict build runs once per session (the ``smoke_book`` fixture in conftest.py) and several
tests read its outputs (tests/test_book_browser.py opens the same site in a browser).
"""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from brainfm_lite.book_runner import chapter_notebooks, run_book, stage_unexecuted_chapters, toc_files

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = chapter_notebooks(ROOT)
CODE_COLUMNS = 88  # what fits the page's code box without a horizontal scrollbar (checked in a browser too)


def test_every_notebook_in_book_is_in_the_toc():
    in_toc = {ROOT / f"{page}.ipynb" for page in toc_files(ROOT)}
    on_disk = set((ROOT / "book").glob("*.ipynb"))
    assert on_disk == in_toc & on_disk, f"not in _toc.yml: {sorted(on_disk - in_toc)}"
    assert NOTEBOOKS, "the book has no chapter notebooks"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_one_parameters_cell(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "notebook has outputs"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert re.search(r"^profile_name = ", tagged[0].source, re.M) and "results_dir" in tagged[0].source


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_opens_the_same_way(notebook):
    """Title and 'what you will learn', then the install cell, then imports, then parameters."""
    cells = nbformat.read(notebook, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "What you will learn" in cells[0].source
    first_code = [c for c in cells if c.cell_type == "code"][:3]
    assert "find_spec(\"brainfm_lite\")" in first_code[0].source, "first code cell must be the install cell"
    assert "remove-cell" in first_code[0].metadata.get("tags", []), "the install cell is for Colab, not the page"
    assert "parameters" in first_code[2].metadata.get("tags", []), "third code cell must be the parameters cell"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_fit_the_page(notebook):
    """Every line of code is at most 88 characters, so the page shows it whole (no horizontal scrollbar)."""
    long = [f"cell {c.get('id')}: {len(line)} chars: {line[:60]}..." for c in _cells(notebook)
            if c.cell_type == "code" for line in c.source.splitlines() if len(line) > CODE_COLUMNS]
    assert not long, f"{len(long)} code lines over {CODE_COLUMNS} characters:\n" + "\n".join(long)


def test_profiles_parameter_files_exist():
    for profile in ("smoke", "reference", "colab", "full"):
        assert yaml.safe_load((ROOT / "book" / "params" / f"{profile}.yaml").read_text())["profile_name"] == profile


def _cells(notebook: Path) -> list:
    return nbformat.read(notebook, as_version=4).cells


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_chapter_repeats_a_code_cell_or_a_heading(notebook):
    """A pasted-twice section shows up as the same code (more than a line or two) or the same heading again."""
    code = [c.source.strip() for c in _cells(notebook)
            if c.cell_type == "code" and len(c.source.strip().splitlines()) > 2]
    repeated_code = sorted({s.splitlines()[0] for s in code if code.count(s) > 1})
    assert not repeated_code, f"code cells repeated (first lines): {repeated_code}"
    headings = [line.strip() for c in _cells(notebook) if c.cell_type == "markdown"
                for line in c.source.splitlines() if re.match(r"#{1,6} ", line)]
    repeated_headings = sorted({h for h in headings if headings.count(h) > 1})
    assert not repeated_headings, f"headings repeated: {repeated_headings}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_import_the_package_from_its_subpackages(notebook):
    """Notebooks import names from a subpackage's __init__ (brainfm_lite.eval, not brainfm_lite.eval.metrics), so
    that moving a function between modules never touches a chapter."""
    imports = re.findall(r"^from (brainfm_lite[\w.]*) import", "\n".join(c.source for c in _cells(notebook)), re.M)
    allowed = {"brainfm_lite.sim.asl", "brainfm_lite.config", "brainfm_lite.provenance"}
    deep = sorted({m for m in imports if m.count(".") > 1 and m not in allowed})
    assert not deep, f"import these from their subpackage instead: {deep}"


EXERCISE = re.compile(r"^```\{exercise\}[^\n]*\n:label: (\S+)", re.M)
SOLUTION_START = re.compile(r"^```\{solution-start\} (\S+)", re.M)
MIN_EXERCISES = 2


def exercises_and_solution_code(notebook: Path) -> dict[str, list[str]]:
    """Each exercise label of a chapter -> the code cells of its gated solution (``solution-start`` ...
    ``solution-end``), or [] where it has no solution or one without code."""
    found, current = {}, None
    for cell in _cells(notebook):
        if cell.cell_type == "markdown":
            for label in EXERCISE.findall(cell.source):
                found.setdefault(label, [])
            starts = SOLUTION_START.findall(cell.source)
            current = starts[-1] if starts else current
            if "```{solution-end}" in cell.source:
                current = None
        elif current is not None:
            found.setdefault(current, []).append(cell.source)
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_has_exercises_whose_solutions_are_code_that_runs_with_it(notebook):
    """At least two exercises, each with a gated solution holding code cells: the chapter's smoke run in
    `test_every_chapter_executes_at_smoke` executes them, so a solution that stops working fails the suite."""
    exercises = exercises_and_solution_code(notebook)
    assert len(exercises) >= MIN_EXERCISES, f"{len(exercises)} exercises, want at least {MIN_EXERCISES}"
    without_code = sorted(label for label, code in exercises.items() if not any(c.strip() for c in code))
    assert not without_code, f"exercises without a solution that runs code: {without_code}"


# Figures. A code cell whose metadata holds ``mystnb.figure`` (a name and a caption) has each of its rich outputs
# wrapped by myst-nb in a numbered Sphinx figure ("Fig. N"), which the text cites with {numref}`name`. So a
# captioned cell must show exactly one rich output: its figure (printed text is fine).
CAPTIONED_CHAPTERS = ("01_data", "02_physics", "03_asl", "04_mae", "05_downstream", "06_simclr", "07_seqinv",
                      "08_recon")
DRAWS = re.compile(r"\bplt\.(?:show|subplots?|figure)\(|\bplot_\w+\(")  # pyplot, brainfm_lite.viz and nilearn
NUMREF = re.compile(r"\{numref\}`(?:[^`<]*<)?([\w-]+)>?`")
# Drawn only when the reader has the real data (IXI's T1 scans, fastMRI's brain files): captioned, but not cited,
# since a {numref} to a figure that a build without those data lacks is an undefined reference (a warning).
DATA_DEPENDENT_FIGURES = {"fig-01-ixi-scan", "fig-08-fastmri-real"}


def drawing_cells(notebook: Path) -> list:
    """The code cells that show a figure on the page: those that call pyplot or a ``plot_*`` function
    (brainfm_lite.viz, nilearn), or a function that a drawing cell of the same chapter defines. The sliders
    (`slice_browser`, `sequence_explorer`) draw only in a live kernel, not on the page, and a cell tagged
    remove-output or remove-cell shows nothing there."""
    code = [c for c in _cells(notebook) if c.cell_type == "code"
            and not {"remove-output", "remove-cell"} & set(c.metadata.get("tags", []))]
    drawing = [c for c in code if DRAWS.search(c.source)]
    helpers = sorted({name for c in drawing for name in re.findall(r"^def (\w+)\(", c.source, re.M)})
    calls = re.compile(r"\b(?:%s)\(" % "|".join(helpers)) if helpers else None
    return [c for c in code if DRAWS.search(c.source) or (calls and calls.search(c.source))]


def figure_of(cell) -> dict:
    return cell.metadata.get("mystnb", {}).get("figure", {})


@pytest.mark.parametrize("chapter", CAPTIONED_CHAPTERS)
def test_every_figure_has_a_numbered_caption_that_the_text_cites(chapter):
    notebook = ROOT / "book" / f"{chapter}.ipynb"
    cells = drawing_cells(notebook)
    assert cells, f"{chapter} draws no figure: the detection rule or the chapter changed"
    prefix = f"fig-{chapter[:2]}-"
    uncaptioned = [c.get("id") for c in cells if not figure_of(c).get("name", "").startswith(prefix)
                   or not figure_of(c).get("caption", "").strip()]
    assert not uncaptioned, f"figure cells without metadata.mystnb.figure (name {prefix}..., caption): {uncaptioned}"
    captioned = [c for c in _cells(notebook) if c.cell_type == "code" and figure_of(c)]
    with_display = [c.get("id") for c in captioned if "display(" in c.source]
    assert not with_display, f"captioned cells that also display() something (one rich output each): {with_display}"
    names = {figure_of(c)["name"] for c in captioned}
    cited = {name for c in _cells(notebook) if c.cell_type == "markdown" for name in NUMREF.findall(c.source)}
    uncited = sorted(names - cited - DATA_DEPENDENT_FIGURES)
    assert not uncited, f"figures the text never cites with {{numref}}: {uncited}"
    dangling = sorted(cited - names)
    assert not dangling, f"{{numref}} to figures this chapter does not have: {dangling}"


def test_figure_names_are_unique_in_the_book():
    names = [figure_of(c)["name"] for notebook in NOTEBOOKS for c in _cells(notebook)
             if c.cell_type == "code" and figure_of(c).get("name")]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"figure names used twice: {repeated}"


@pytest.mark.book
def test_every_chapter_executes_at_smoke(smoke_book):
    run, build, _ = smoke_book
    failed = [(c.chapter, c.error) for c in run.chapters if not c.ok]
    assert not failed
    assert sorted(c.chapter for c in run.chapters) == sorted(nb.stem for nb in NOTEBOOKS)


@pytest.mark.book
def test_a_subset_build_keeps_every_chapter_in_navigation_and_search(smoke_book):
    """The site was rendered by a build of the first chapter alone (see `smoke_book`): the other chapters, executed
    by the build before, still have their pages, are in every page's navigation and are found by search."""
    run, build, _ = smoke_book
    html = build / "html"
    landing = (html / f"{toc_files(ROOT)[0]}.html").read_text()
    for notebook in NOTEBOOKS:
        page = notebook.relative_to(ROOT).with_suffix(".html")
        assert (html / page).is_file(), f"{page} is missing from the site"
        assert f'href="{page.name}"' in landing, f"{page} is missing from the navigation"
        assert "Not executed in this build" not in (html / page).read_text()
    index = (html / "searchindex.js").read_text()
    assert "perfus" in index  # the stem Sphinx's English search indexes "perfusion" under
    assert all(f'"{page}"' in index for page in toc_files(ROOT)), "a page is missing from the search index"


@pytest.mark.book
def test_html_book_renders_with_provenance_on_each_chapter(smoke_book):
    run, build, _ = smoke_book
    assert run.html == build / "html" and (build / "html" / "index.html").is_file()
    for notebook in NOTEBOOKS:
        page = build / "html" / notebook.relative_to(ROOT).with_suffix(".html")
        html = page.read_text()
        assert "How this page was produced" in html and "smoke" in html
        assert "<img" in html, f"{page.name} shows no figure"
        assert html.count('class="solution dropdown') >= MIN_EXERCISES, f"{page.name}: solutions not hidden"


@pytest.mark.book
def test_each_chapter_writes_metrics_with_provenance(smoke_book):
    _, build, _ = smoke_book
    for notebook in NOTEBOOKS:
        record = json.loads((build / "results" / "smoke" / f"{notebook.stem}.json").read_text())
        assert record["ok"] and record["wall_time_s"] > 0
        assert record["provenance"]["versions"]["torch"] and record["provenance"]["device"]
        assert record["metrics"], f"{notebook.stem} recorded no metrics"


@pytest.mark.book
def test_running_the_book_leaves_the_sources_untouched(smoke_book, tree_digest):
    _, _, before = smoke_book
    assert tree_digest(ROOT / "book") == before


def _mini_book(tmp_path: Path, code: str, extra_parameters: str = "") -> Path:
    """A one-chapter book in tmp_path whose notebook runs `code` after the usual parameters cell."""
    root = tmp_path / "mini"
    (root / "book" / "params").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_mini\n")
    (root / "book" / "intro.md").write_text("# Mini\n")
    (root / "book" / "references.bib").write_text("")
    (root / "book" / "params" / "smoke.yaml").write_text("profile_name: smoke\noverrides: {}\n")
    params = nbformat.v4.new_code_cell("profile_name = 'x'\noverrides = {}\nresults_dir = None\n" + extra_parameters)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Mini chapter"), params,
                                         nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "book" / "01_mini.ipynb")
    return root


def test_a_failing_chapter_is_reported_not_rendered(tmp_path):
    root = _mini_book(tmp_path, "raise RuntimeError('boom in chapter')")
    run = run_book(root, profile_name="smoke", build_dir=tmp_path / "_build", log=lambda *_: None)
    assert not run.ok and run.html is None
    assert "boom in chapter" in run.chapters[0].error
    record = json.loads((tmp_path / "_build" / "results" / "smoke" / "01_mini.json").read_text())
    assert record["ok"] is False and "boom" in record["error"]
    assert nbformat.read(root / "book" / "01_mini.ipynb", as_version=4).cells[2].outputs == []


def test_a_hung_cell_fails_the_chapter_instead_of_blocking(tmp_path, monkeypatch):
    import brainfm_lite.book_runner as runner

    monkeypatch.setitem(runner.CELL_TIMEOUT_S, "smoke", 2)
    root = _mini_book(tmp_path, "import time\ntime.sleep(30)")
    run = run_book(root, profile_name="smoke", build_dir=tmp_path / "_build", log=lambda *_: None)
    assert not run.ok and "Timeout" in run.chapters[0].error  # interrupted, not left to sleep its 30 s



def test_a_chapter_staged_without_outputs_cites_its_figures_in_words(tmp_path):
    """An unexecuted chapter's page has no figures, so its {numref} roles become words, not undefined labels."""
    root = _mini_book(tmp_path, "plt.plot([0, 1])")
    notebook = root / "book" / "01_mini.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("{numref}`fig-01-line` is a line. Both ends of\n"
                                                  "{numref}`Figure %s <fig-01-line>` are marked."))
    nbformat.write(nb, notebook)
    assert stage_unexecuted_chapters(root, tmp_path / "stage") == ["01_mini"]
    text = nbformat.read(tmp_path / "stage" / "book" / "01_mini.ipynb", as_version=4).cells[-1].source
    assert text == ("A figure not drawn in this build is a line. Both ends of\n"
                    "a figure not drawn in this build are marked.")

def test_the_book_build_turns_widgets_off_in_chapters_that_offer_them(tmp_path):
    """A static page cannot drive sliders; a chapter with an `interactive` parameter gets False from the build."""
    root = _mini_book(tmp_path, "assert interactive is False, interactive", extra_parameters="interactive = True")
    run = run_book(root, profile_name="smoke", build_dir=tmp_path / "_build", render=False, log=lambda *_: None)
    assert run.ok, run.chapters[0].error


def _add_chapter(root: Path, stem: str, code: str) -> None:
    """Add a chapter (a title, the parameters cell, one code cell) to a `_mini_book` and to its table of contents."""
    params = nbformat.v4.new_code_cell("profile_name = 'x'\noverrides = {}\nresults_dir = None\n")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# Chapter {stem}"), params,
                                         nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "book" / f"{stem}.ipynb")
    with (root / "_toc.yml").open("a") as toc:
        toc.write(f"  - file: book/{stem}\n")


def test_building_one_chapter_keeps_the_whole_book(tmp_path):
    """`--chapters` executes some chapters and renders all: the others keep their last executed page, or show as
    not executed yet; navigation and search cover every chapter."""
    root = _mini_book(tmp_path, "print('output of chapter one')")
    _add_chapter(root, "02_more", "print('perfusion, measured in chapter two')")
    build, html = tmp_path / "_build", tmp_path / "_build" / "html"
    quiet = {"profile_name": "smoke", "build_dir": build, "log": lambda *_: None}

    first = run_book(root, chapters=["01_mini"], **quiet)
    assert first.ok and first.html == html
    not_yet = (html / "book" / "02_more.html").read_text()
    assert "Not executed in this build" in not_yet and "CHAPTERS=02_more" in not_yet

    second = run_book(root, chapters=["02_more"], **quiet)
    assert second.ok and [c.chapter for c in second.chapters] == ["02_more"]
    one, two = ((html / "book" / name).read_text() for name in ("01_mini.html", "02_more.html"))
    assert "output of chapter one" in one, "chapter one lost its executed output"
    assert "perfusion, measured in chapter two" in two and "Not executed in this build" not in two
    assert 'href="02_more.html"' in one and 'href="01_mini.html"' in two, "navigation lacks a chapter"
    index = (html / "searchindex.js").read_text()
    assert '"book/01_mini"' in index and '"book/02_more"' in index and "perfus" in index


def test_pages_hide_the_injected_parameters_and_show_provenance_once(tmp_path):
    from brainfm_lite.book_runner import PROVENANCE_OUTPUT, _tidy_for_the_page

    injected = nbformat.v4.new_code_cell("results_dir = '/tmp/somewhere/_build/results/smoke'")
    injected.metadata["tags"] = ["injected-parameters"]
    shown = nbformat.v4.new_code_cell("run.show_provenance()\nprint('kept')")
    shown.outputs = [nbformat.v4.new_output("display_data", {"text/markdown": "| run | |"},
                                            metadata=dict(PROVENANCE_OUTPUT)),
                     nbformat.v4.new_output("stream", name="stdout", text="kept\n")]
    path = tmp_path / "executed.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[injected, shown]), path)
    _tidy_for_the_page(path)
    cells = nbformat.read(path, as_version=4).cells
    assert "remove-cell" in cells[0].metadata["tags"]
    assert [out.get("text") for out in cells[1].outputs] == ["kept\n"]
