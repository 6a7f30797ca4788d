"""Where a number came from: the environment of a run and the per-chapter metrics file the book shows.

A chapter opens with ``run = ChapterRun("01_data", cfg, results_dir)``; it prints the provenance (profile,
device, versions, date), ``run.record(...)`` adds metrics to ``<results_dir>/<chapter>.json`` (written atomically
each time, so a chapter that fails half-way still leaves what it measured), and ``run.compare(...)`` shows the live
numbers beside the reference ones that a full-profile GPU run stored under ``book/results/full/``.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import torch

from brainfm_lite.atomic import write_json
from brainfm_lite.config import DEVICE_PATTERN, Profile
from brainfm_lite.errors import InputError
from brainfm_lite.threads import use_free_cores

REFERENCE_PROFILE = "full"
_VERSIONED = ("brainfm-lite", "torch", "monai", "numpy", "nibabel", "nilearn", "SimpleITK")


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device `spec` names ("auto": CUDA when present, else the CPU).

    Raises:
        InputError: a name that is no device, or CUDA (MPS) asked for where there is none.
    """
    if not isinstance(spec, str) or not DEVICE_PATTERN.fullmatch(spec):
        raise InputError(f'device must be "auto", "cpu", "cuda", "cuda:<index>" or "mps"; got {spec!r}')
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {spec!r}: this machine has no CUDA GPU that torch can use; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {spec!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device {spec!r}: MPS is not available here; use --device cpu")
    return device


def device_name(device: torch.device) -> str:
    """Human-readable name of a device, e.g. 'NVIDIA H100 80GB HBM3' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def repo_root(start: str | Path | None = None) -> Path | None:
    """The brainfm-lite checkout containing `start` (default: the working directory), or None outside one."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "brainfm_lite").is_dir():
            return folder
    return None


def git_commit(root: Path | None) -> str | None:
    """Short commit hash of the checkout (with '+dirty' when it has local changes), or None."""
    if root is None:
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def environment(device: torch.device | None = None) -> dict:
    """Versions, device and date of this process: what a reader needs to trust (or redo) a number."""
    device = device or resolve_device()
    versions = {}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "device": str(device),
        "device_name": device_name(device),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "versions": versions,
        "git_commit": git_commit(repo_root()),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    }


def default_results_dir(profile_name: str) -> Path:
    """`_build/results/<profile_name>` in a checkout, else `./brainfm_results/<profile_name>`."""
    root = repo_root()
    base = root / "_build" / "results" if root else Path.cwd() / "brainfm_results"
    return base / profile_name


class ChapterRun:
    """The record of one execution of one chapter: provenance plus metrics, kept in one JSON file.

    Args:
        chapter: chapter id, the notebook stem (e.g. "01_data").
        profile: the `Profile` the chapter runs under.
        results_dir: folder for `<chapter>.json` (default: `default_results_dir(profile.name)`).
    """

    def __init__(self, chapter: str, profile: Profile, results_dir: str | Path | None = None):
        self.chapter = chapter
        self.profile = profile
        self.device = resolve_device(profile.device)
        if self.device.type == "cpu":  # one thread per core left free: oversubscribed cores slow a chapter 3-6x
            use_free_cores()
        self.results_dir = Path(results_dir) if results_dir else default_results_dir(profile.name)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.results_dir / f"{chapter}.json"
        self._start = time.perf_counter()
        self.data = {
            "chapter": chapter,
            "profile": profile.name,
            "profile_values": profile.to_dict(),
            "provenance": environment(self.device),
            "metrics": {},
        }
        self._save()

    def record(self, **metrics) -> None:
        """Add metrics (JSON-serialisable values: numbers, strings, lists, dicts) and save the file."""
        self.data["metrics"].update(metrics)
        self._save()

    def _save(self) -> None:
        self.data["provenance"]["elapsed_s"] = round(time.perf_counter() - self._start, 2)
        write_json(self.path, self.data)

    def provenance_markdown(self) -> str:
        """A short Markdown table: profile, device, versions, commit, date."""
        p = self.data["provenance"]
        v = p["versions"]
        rows = [
            ("profile", self.profile.name),
            ("device", p["device_name"]),
            ("versions", f"brainfm-lite {v['brainfm-lite']}, torch {v['torch']}, monai {v['monai']}, "
                         f"nibabel {v['nibabel']}, nilearn {v['nilearn']}, python {p['python']}"),
            ("commit", p["git_commit"] or "unknown"),
            ("date (UTC)", p["date_utc"]),
            ("results file", str(self.path)),
        ]
        return "| run | |\n|---|---|\n" + "\n".join(f"| {k} | {val} |" for k, val in rows)

    def show_provenance(self) -> None:
        """Display the provenance table in a notebook (plain text elsewhere).

        The output carries the metadata ``{"brainfm_lite": "provenance"}``: the book's runner drops it from the
        rendered page, which shows the same facts once, in a note under the chapter's title.
        """
        _show_markdown(self.provenance_markdown(), metadata={"brainfm_lite": "provenance"})

    def reference(self) -> dict | None:
        """Metrics recorded by a full-profile run under `book/results/full/<chapter>.json`, if present."""
        root = repo_root()
        path = root / "book" / "results" / REFERENCE_PROFILE / f"{self.chapter}.json" if root else None
        if path is None or not path.is_file():
            return None
        return json.loads(path.read_text())

    def compare(self, *keys: str) -> None:
        """Display the live metrics beside the reference run's (all metrics when no keys are given)."""
        _show_markdown(self.compare_markdown(*keys))

    def compare_markdown(self, *keys: str) -> str:
        """Markdown table of live metrics beside the reference run's (or a note that none is recorded)."""
        reference = self.reference()
        live = self.data["metrics"]
        keys = keys or tuple(live)
        if reference is None:
            text = (f"No reference run is recorded under `book/results/{REFERENCE_PROFILE}/{self.chapter}.json` yet; "
                    f"the numbers above are this run's ({self.profile.name} profile) only.")
        else:
            ref = reference.get("metrics", {})
            ref_env = reference.get("provenance", {})
            header = (f"| metric | this run ({self.profile.name}) | reference ({reference.get('profile')}, "
                      f"{ref_env.get('device_name', '?')}, {ref_env.get('date_utc', '?')}) |\n|---|---|---|\n")
            text = header + "\n".join(f"| {k} | {_fmt(live.get(k))} | {_fmt(ref.get(k))} |" for k in keys)
        return text


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _show_markdown(text: str, metadata: dict | None = None) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text), metadata=metadata)
