"""Execute the book's chapters at a profile with papermill, then render the HTML with Jupyter Book 1.x.

The sources in ``book/`` are never rewritten: executed copies go to ``<build>/stage/`` together with the book's
configuration, and Jupyter Book renders that stage into ``<build>/html``. Each chapter writes its metrics JSON to
``<build>/results/<profile>/<chapter>.json``; the runner adds its wall time, puts a provenance note at the top of
the executed page and hides what a reader does not need (papermill's injected-parameters cell, the chapter's own
provenance table, which the note replaces).

Building some chapters (``--chapters 01_data``) keeps the whole book: the others keep their executed copy from an
earlier run in the same build folder, or appear as "not executed yet" pages, so navigation and search always cover
every chapter. A chapter that fails leaves its executed copy in ``<build>/executed/`` and the stage untouched.

    python data_scripts/run_book.py --profile smoke            # what `make book` runs
    python data_scripts/run_book.py --profile full --store-reference   # also copy the JSON to book/results/full/
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from brainfm_lite.atomic import atomic_path, write_json
from brainfm_lite.book_links import book_config, repository_url
from brainfm_lite.config import PROFILES, load_profile
from brainfm_lite.errors import BrainFMError, InputError

BOOK_FILES = ("_config.yml", "_toc.yml")
# The cell tag by which Jupyter Book (myst-nb) leaves a cell out of the page.
HIDE_CELL = "remove-cell"
# Output metadata by which `ChapterRun.show_provenance` marks its table (the runner's note replaces it on the page).
PROVENANCE_OUTPUT = {"brainfm_lite": "provenance"}
# Longest a single cell may run before the chapter is failed (seconds; None = no limit). A hung kernel then fails
# the run with a clear error instead of blocking CI until its time limit. A profile given as a YAML path has no
# limit: its scale is the user's.
CELL_TIMEOUT_S = {"smoke": 600, "reference": 7200, "colab": 3600, "full": None}


@dataclass
class ChapterResult:
    """Outcome of executing one chapter."""

    chapter: str
    ok: bool
    wall_time_s: float
    executed: Path
    error: str | None = None


@dataclass
class BookRun:
    profile_name: str
    chapters: list[ChapterResult] = field(default_factory=list)
    html: Path | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.chapters)


def toc_files(root: Path) -> list[str]:
    """Every page listed in `_toc.yml`, in book order, as paths relative to the root without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []):
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return pages


def chapter_notebooks(root: Path) -> list[Path]:
    """The notebooks of the book, in table-of-contents order."""
    return [root / f"{page}.ipynb" for page in toc_files(root) if (root / f"{page}.ipynb").is_file()]


def _declares_parameter(notebook: Path, name: str) -> bool:
    """Whether the notebook's cell tagged ``parameters`` assigns `name`."""
    cells = json.loads(notebook.read_text())["cells"]
    return any("parameters" in cell.get("metadata", {}).get("tags", [])
               and re.search(rf"^{name}\s*=", "".join(cell["source"]), flags=re.M) for cell in cells)


def chapter_parameters(root: Path, profile: str | Path, overrides: dict | None = None) -> dict:
    """The papermill parameters every chapter gets at `profile`, checked: ``{"profile_name": ..., "overrides": ...}``.

    Args:
        root: the repository root.
        profile: a profile name (smoke, reference, colab, full: starts from ``book/params/<name>.yaml``) or the
            path of a profile YAML file (handed to the chapters as an absolute path: they run in ``book/``).
        overrides: profile values to change, e.g. ``{"n_subjects": "8"}`` (text as typed after ``--set`` is read as
            the field's type); they go on top of the params file's own ``overrides``.

    Raises:
        InputError: an unknown profile name, a missing or bad profile file, an unknown key or a bad value; the same
            checks as every other command (`load_profile`), before any chapter runs.
    """
    overrides = dict(overrides or {})
    load_profile(profile, **overrides)  # errors name the profile as the user gave it
    if str(profile) in PROFILES:
        parameters = yaml.safe_load((root / "book" / "params" / f"{profile}.yaml").read_text()) or {}
        parameters["overrides"] = {**(parameters.get("overrides") or {}), **overrides}
        load_profile(parameters["profile_name"], **parameters["overrides"])  # with the params file's overrides
    else:
        parameters = {"profile_name": str(Path(profile).resolve()), "overrides": overrides}
    return parameters


def execute_chapter(notebook: Path, output: Path, *, profile_name: str, results_dir: Path,
                    parameters: dict) -> ChapterResult:
    """Run one notebook with papermill at a profile; the executed copy goes to `output` (the source is untouched).

    Args:
        profile_name: the profile's label (its name, or its YAML file's stem): picks the cell timeout, heads the note.
        parameters: the papermill parameters (`chapter_parameters`); ``results_dir`` is added.
    """
    import papermill

    parameters = {**parameters, "results_dir": str(results_dir)}
    if _declares_parameter(notebook, "interactive"):
        # A rendered page has no kernel to drive sliders, and widget cells can stall nbclient until the cell
        # timeout (jupyter/nbclient#312): the build runs the chapter's static figures only.
        parameters["interactive"] = False
    output.parent.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
            kernel_name="python3", progress_bar=False, request_save_on_cell_execute=False,
            execution_timeout=CELL_TIMEOUT_S.get(profile_name),
        )
    except papermill.PapermillExecutionError as err:
        error = f"{err.ename}: {err.evalue} (cell {err.exec_count})"
    except (TimeoutError, RuntimeError) as err:  # nbclient's CellTimeoutError and DeadKernelError
        error = f"{type(err).__name__}: {err}"
    wall = time.perf_counter() - start
    result = ChapterResult(notebook.stem, error is None, round(wall, 1), output, error)
    _finish_record(results_dir / f"{notebook.stem}.json", result)
    _tidy_for_the_page(output)
    _insert_provenance_note(output, results_dir / f"{notebook.stem}.json", profile_name)
    return result


def _tidy_for_the_page(executed: Path) -> None:
    """Hide papermill's injected-parameters cell (it shows the builder's own paths) and drop the chapter's provenance
    table (the note that `_insert_provenance_note` puts under the title says the same, once)."""
    import nbformat

    if not executed.is_file():
        return
    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and HIDE_CELL not in tags:
            tags.append(HIDE_CELL)
        if cell.cell_type == "code":
            cell.outputs = [out for out in cell.outputs
                            if not PROVENANCE_OUTPUT.items() <= out.get("metadata", {}).items()]
    nbformat.write(nb, executed)


def _finish_record(path: Path, result: ChapterResult) -> None:
    """Add the runner's wall time to the metrics file the chapter wrote (or write one if it failed early)."""
    record = json.loads(path.read_text()) if path.is_file() else {"chapter": result.chapter, "metrics": {}}
    record["wall_time_s"] = result.wall_time_s
    record["executed_by"] = "brainfm_lite.book_runner (papermill)"
    record["ok"] = result.ok
    if result.error:
        record["error"] = result.error
    write_json(path, record)


def _insert_provenance_note(executed: Path, record_path: Path, profile_name: str) -> None:
    """Put a 'how this page was produced' note right under the chapter title of the executed copy."""
    if not executed.is_file() or not record_path.is_file():
        return
    record = json.loads(record_path.read_text())
    env = record.get("provenance", {})
    versions = env.get("versions", {})
    note = (
        ":::{admonition} How this page was produced\n:class: note\n"
        f"Executed at the **{profile_name}** profile on **{env.get('device_name', 'unknown device')}** "
        f"in **{record.get('wall_time_s', '?')} s** on {env.get('date_utc', '?')} UTC "
        f"(commit `{env.get('git_commit') or 'unknown'}`; brainfm-lite {versions.get('brainfm-lite')}, "
        f"torch {versions.get('torch')}, monai {versions.get('monai')}). "
        f"Its numbers are in `results/{profile_name}/{record_path.name}`.\n:::"
    )
    _insert_note(executed, note, tag="provenance")


def _insert_note(notebook: Path, text: str, *, tag: str) -> None:
    """Insert a Markdown cell tagged `tag` right under the title (the first cell) of `notebook`."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [tag]
    nb.cells.insert(1, cell)
    nbformat.write(nb, notebook)


def stage_book(root: Path, stage: Path) -> None:
    """Copy the book's configuration and non-notebook pages into the stage folder, keeping executed chapters.

    Everything else in the stage is replaced, so a page deleted from ``book/`` leaves the site; executed copies of
    the book's chapters from an earlier run stay, for the chapters this run does not execute.
    """
    executed = {stage / notebook.relative_to(root) for notebook in chapter_notebooks(root)}
    if stage.exists():
        for path in sorted(stage.rglob("*"), reverse=True):  # a folder's files before the folder
            if path.is_dir() and not path.is_symlink():
                if not any(path.iterdir()):
                    path.rmdir()
            elif path not in executed:
                path.unlink()
    stage.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        shutil.copy2(root / name, stage / name)
    _add_repository_links(root, stage / "_config.yml")
    shutil.copytree(root / "book", stage / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"),
                    dirs_exist_ok=True)


def _add_repository_links(root: Path, staged_config: Path) -> None:
    """Give the staged configuration the repository and Colab launch buttons, from ``pyproject.toml``'s URL.

    The source ``_config.yml`` does not hold the URL (``pyproject.toml`` is its one place; see `book_links`), and
    Jupyter Book 1 cannot merge two configuration files, so the staged copy is the derived one.
    """
    config = yaml.safe_load(staged_config.read_text(encoding="utf-8")) or {}
    derived = book_config(config, repository_url(root))
    with atomic_path(staged_config) as tmp:
        tmp.write_text("# Derived by brainfm_lite.book_runner from ../../_config.yml and pyproject.toml's URL.\n"
                       + yaml.safe_dump(derived, sort_keys=False, allow_unicode=True), encoding="utf-8")


# A chapter cites its numbered figures (code outputs captioned by ``metadata.mystnb.figure``) with {numref}`name`.
NUMREF_ROLE = re.compile(r"\{numref\}`[^`]*`")
UNDRAWN_FIGURE = "a figure not drawn in this build"


def _unlink_figure_references(notebook: Path) -> None:
    """Put words in place of each {numref} in the text of `notebook`, a chapter staged without outputs: its figures
    are outputs, so the references would be undefined labels (warnings; errors in a strict build)."""
    import nbformat

    def words(match: re.Match) -> str:
        before = match.string[:match.start()]
        starts_sentence = not before.strip() or re.search(r"([.!?]\s+|\n\s*\n)\Z", before)
        return UNDRAWN_FIGURE[0].upper() + UNDRAWN_FIGURE[1:] if starts_sentence else UNDRAWN_FIGURE

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = NUMREF_ROLE.sub(words, cell.source)
    nbformat.write(nb, notebook)


def stage_unexecuted_chapters(root: Path, stage: Path) -> list[str]:
    """Give every chapter without an executed copy in the stage a page: its source, under a "not executed" note,
    its references to figures in words (`_unlink_figure_references`).

    Returns:
        The stems of those chapters.
    """
    missing = []
    for notebook in chapter_notebooks(root):
        staged = stage / notebook.relative_to(root)
        if staged.is_file():
            continue
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, staged)
        _insert_note(staged, (
            ":::{admonition} Not executed in this build\n:class: warning\n"
            "This chapter has not been run in this build yet, so its code shows no output. "
            f"Run it with `make book CHAPTERS={notebook.stem}` (or `brainfm book --chapters {notebook.stem}`).\n:::"
        ), tag="not-executed")
        _unlink_figure_references(staged)
        missing.append(notebook.stem)
    return missing


def render_html(stage: Path, output_root: Path, *, warnings_as_errors: bool = False) -> Path:
    """Render the staged book with Jupyter Book 1.x into `<output_root>/_build/html`."""
    # jupyter_book has no __main__; call its click entry point in a child process of this same Python.
    entry = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
    command = [sys.executable, "-c", entry, "build", str(stage), "--path-output", str(output_root)]
    if warnings_as_errors:
        command += ["-W", "-n", "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        # The error is one line (a command's error is one line on stderr); the whole output goes to a log file.
        log = output_root / "_build" / "jupyter-book.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(log) as tmp:
            tmp.write_text(f"$ {' '.join(command)}\n\n[stdout]\n{done.stdout}\n[stderr]\n{done.stderr}")
        lines = [line.strip() for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
        problems = [line for line in lines if re.search(r"\b(ERROR|WARNING)\b|Error\b|Exception\b", line)]
        shown = problems[0] if problems else lines[-1] if lines else "no output"
        raise BrainFMError(f"jupyter-book build failed ({done.returncode}; {len(problems)} error or warning lines), "
                           f"the first: {shown[:300]}; the whole output is in {log}")
    return output_root / "_build" / "html"


def run_book(root: Path, *, profile_name: str | Path = "smoke", overrides: dict | None = None,
             chapters: list[str] | None = None, build_dir: Path | None = None, render: bool = True,
             warnings_as_errors: bool = False, store_reference: bool = False, log=print) -> BookRun:
    """Execute the chosen chapters (default: all) at profile `profile_name`, then render HTML into `<build_dir>/html`.

    Args:
        root: the repository root (holds `_toc.yml`, `_config.yml`, `book/`).
        profile_name: smoke, reference, colab or full (papermill parameters from `book/params/<profile_name>.yaml`),
            or a profile YAML path, as every `brainfm` command takes (its results go to `results/<file stem>/`).
        overrides: profile values to change for every chapter (`chapter_parameters`).
        chapters: notebook stems to execute (e.g. ["01_data"]); the others keep their executed copy from an earlier
            run into the same `build_dir`, or render as "not executed yet" pages.
        build_dir: output folder named `_build` (default `<root>/_build`); HTML lands in `<build_dir>/html`.
        store_reference: copy each chapter's metrics JSON to `book/results/<profile_name>/` (for full-profile runs;
            a named profile only).
    """
    root = Path(root).resolve()
    parameters = chapter_parameters(root, profile_name, overrides)
    if store_reference and str(profile_name) not in PROFILES:
        raise InputError(f"--store-reference records the book's results of a named profile ({', '.join(PROFILES)}); "
                         f"{profile_name} is a profile file")
    profile_name = Path(str(profile_name)).stem  # the label of results folders, logs and the pages' note
    build_dir = Path(build_dir).resolve() if build_dir else root / "_build"
    if build_dir.name != "_build":
        # Jupyter Book always writes to <path-output>/_build/html; keep one layout everywhere.
        raise InputError(f"{build_dir}: the build folder must be named '_build'")
    stage = build_dir / "stage"
    results_dir = build_dir / "results" / profile_name
    notebooks = chapter_notebooks(root)
    if chapters:
        unknown = set(chapters) - {nb.stem for nb in notebooks}
        if unknown:
            raise InputError(f"unknown chapters {sorted(unknown)}; the book has {[nb.stem for nb in notebooks]}")
        notebooks = [nb for nb in notebooks if nb.stem in chapters]

    stage_book(root, stage)
    run = BookRun(profile_name)
    for notebook in notebooks:
        page = notebook.relative_to(root)
        log(f"[{profile_name}] executing {page} ...")
        result = execute_chapter(notebook, build_dir / "executed" / page, profile_name=profile_name,
                                 results_dir=results_dir, parameters=parameters)
        log(f"[{profile_name}]   {'ok' if result.ok else 'FAILED'} in {result.wall_time_s} s"
            + (f": {result.error}" if result.error else ""))
        if result.ok:  # a failed chapter stays in executed/ for a look; the stage keeps its last good copy
            (stage / page).parent.mkdir(parents=True, exist_ok=True)
            os.replace(result.executed, stage / page)
            result.executed = stage / page
        run.chapters.append(result)
        if store_reference and result.ok:
            reference = root / "book" / "results" / profile_name / f"{notebook.stem}.json"
            reference.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(results_dir / f"{notebook.stem}.json", reference)
    if render and run.ok:
        missing = stage_unexecuted_chapters(root, stage)
        if chapters:
            log(f"[{profile_name}] the other chapters keep their pages from earlier runs"
                + (f"; not executed yet: {', '.join(missing)}" if missing else ""))
        run.html = render_html(stage, build_dir.parent, warnings_as_errors=warnings_as_errors)
    return run

