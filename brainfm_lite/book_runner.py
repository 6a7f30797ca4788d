"""Execute the book's chapters at a profile with papermill, then render the HTML with Jupyter Book 1.x.

The sources in ``book/`` are never rewritten: executed copies go to ``<build>/stage/`` together with the book's
configuration, and Jupyter Book renders that stage into ``<build>/html``. Each chapter writes its metrics JSON to
``<build>/results/<profile>/<chapter>.json``; the runner adds its wall time and puts a provenance note at the top of
the executed page.

    python data_scripts/run_book.py --profile smoke            # what `make book` runs
    python data_scripts/run_book.py --profile full --store-reference   # also copy the JSON to book/results/full/
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from brainfm_lite.atomic import write_json
from brainfm_lite.config import PROFILES
from brainfm_lite.errors import BrainFMError, InputError

BOOK_FILES = ("_config.yml", "_toc.yml")
# Longest a single cell may run before the chapter is failed (seconds; None = no limit). A hung kernel then fails
# the run with a clear error instead of blocking CI until its time limit.
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


def execute_chapter(notebook: Path, output: Path, *, profile_name: str, results_dir: Path,
                    params_file: Path) -> ChapterResult:
    """Run one notebook with papermill at a profile; the executed copy goes to `output` (the source is untouched)."""
    import papermill

    parameters = yaml.safe_load(params_file.read_text()) or {}
    parameters["results_dir"] = str(results_dir)
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
    _insert_provenance_note(output, results_dir / f"{notebook.stem}.json", profile_name)
    return result


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
    import nbformat

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
    nb = nbformat.read(executed, as_version=4)
    cell = nbformat.v4.new_markdown_cell(note)
    cell.metadata["tags"] = ["provenance"]
    nb.cells.insert(1, cell)
    nbformat.write(nb, executed)


def stage_book(root: Path, stage: Path) -> None:
    """Copy the book's configuration and non-notebook pages into a fresh stage folder."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in BOOK_FILES:
        shutil.copy2(root / name, stage / name)
    shutil.copytree(root / "book", stage / "book", ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))


def render_html(stage: Path, output_root: Path, *, warnings_as_errors: bool = False) -> Path:
    """Render the staged book with Jupyter Book 1.x into `<output_root>/_build/html`."""
    # jupyter_book has no __main__; call its click entry point in a child process of this same Python.
    entry = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
    command = [sys.executable, "-c", entry, "build", str(stage), "--path-output", str(output_root)]
    if warnings_as_errors:
        command += ["-W", "-n", "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BrainFMError(f"jupyter-book build failed ({done.returncode}):\n"
                           f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return output_root / "_build" / "html"


def run_book(root: Path, *, profile_name: str = "smoke", chapters: list[str] | None = None,
             build_dir: Path | None = None, render: bool = True, warnings_as_errors: bool = False,
             store_reference: bool = False, log=print) -> BookRun:
    """Execute the chosen chapters (default: all) at profile `profile_name`, then render HTML into `<build_dir>/html`.

    Args:
        root: the repository root (holds `_toc.yml`, `_config.yml`, `book/`).
        profile_name: smoke, reference, colab or full (papermill parameters from `book/params/<profile_name>.yaml`).
        chapters: notebook stems to execute (e.g. ["01_data"]); others are left out of the render.
        build_dir: output folder named `_build` (default `<root>/_build`); HTML lands in `<build_dir>/html`.
        store_reference: copy each chapter's metrics JSON to `book/results/<profile_name>/` (for full-profile runs).
    """
    if profile_name not in PROFILES:
        raise InputError(f"unknown profile '{profile_name}': choose one of {', '.join(PROFILES)}")
    root = Path(root).resolve()
    build_dir = Path(build_dir).resolve() if build_dir else root / "_build"
    if build_dir.name != "_build":
        # Jupyter Book always writes to <path-output>/_build/html; keep one layout everywhere.
        raise InputError(f"{build_dir}: the build folder must be named '_build'")
    stage = build_dir / "stage"
    results_dir = build_dir / "results" / profile_name
    params_file = root / "book" / "params" / f"{profile_name}.yaml"
    notebooks = chapter_notebooks(root)
    if chapters:
        unknown = set(chapters) - {nb.stem for nb in notebooks}
        if unknown:
            raise InputError(f"unknown chapters {sorted(unknown)}; the book has {[nb.stem for nb in notebooks]}")
        notebooks = [nb for nb in notebooks if nb.stem in chapters]

    stage_book(root, stage)
    run = BookRun(profile_name)
    for notebook in notebooks:
        log(f"[{profile_name}] executing {notebook.relative_to(root)} ...")
        result = execute_chapter(notebook, stage / notebook.relative_to(root), profile_name=profile_name,
                                 results_dir=results_dir, params_file=params_file)
        log(f"[{profile_name}]   {'ok' if result.ok else 'FAILED'} in {result.wall_time_s} s"
            + (f": {result.error}" if result.error else ""))
        run.chapters.append(result)
        if store_reference and result.ok:
            reference = root / "book" / "results" / profile_name / f"{notebook.stem}.json"
            reference.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(results_dir / f"{notebook.stem}.json", reference)
    if render and run.ok:
        _write_stage_toc(root, stage, {nb.stem for nb in notebooks} if chapters else None)
        run.html = render_html(stage, build_dir.parent, warnings_as_errors=warnings_as_errors)
    return run


def _write_stage_toc(root: Path, stage: Path, keep: set[str] | None) -> None:
    """When only some chapters ran, drop the others from the staged table of contents (they have no executed copy)."""
    if keep is None:
        return
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    present = {p for p in toc_files(root) if not (root / f"{p}.ipynb").is_file() or Path(p).name in keep}

    def prune(entries):
        out = []
        for entry in entries or []:
            if "file" in entry and entry["file"] not in present:
                continue
            if "sections" in entry:
                entry["sections"] = prune(entry["sections"])
            out.append(entry)
        return out

    toc["chapters"] = prune(toc.get("chapters"))
    for part in toc.get("parts", []):
        part["chapters"] = prune(part.get("chapters"))
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
