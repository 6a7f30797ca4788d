"""Find and read ASL-BIDS series: ``perf/*_asl.nii[.gz]`` with its ``aslcontext.tsv``, sidecars and M0 scan.

BIDS 1.9 layout read here::

    dataset_description.json
    asl.json                                  optional, inherited by every series (root-level sidecar)
    sub-<label>/[ses-<label>/]perf/
        sub-<label>[_ses-<label>][_acq-...][_run-...]_asl.nii.gz       4D series [X, Y, Z, T] (or one 3D volume)
        sub-<label>[...]_asl.json                                       sidecar (fields may be inherited)
        sub-<label>[...]_aslcontext.tsv                                 one ``volume_type`` row per volume
        sub-<label>[...]_m0scan.nii.gz + _m0scan.json                   M0Type "Separate"; IntendedFor the series
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.asl_bids.entities import BidsName, parse_name
from brainfm_lite.asl_bids.sidecars import Sidecar, applicable_files, read_sidecar
from brainfm_lite.data.io import load_volume
from brainfm_lite.errors import InputError

# aslcontext.tsv volume types (BIDS 1.9, from DICOM tag 0018,9257 ASL Context).
VOLUME_TYPES = ("control", "label", "m0scan", "deltam", "cbf", "noRF", "n/a")


@dataclass
class AslSeries:
    """One ASL series as stored: voxels, volume types and merged metadata, not yet interpreted.

    Attributes:
        root: the BIDS dataset root.
        path: the ``*_asl.nii[.gz]`` file.
        name: its parsed BIDS name (entities, suffix, extension).
        data: float64 [X, Y, Z, T]; a 3D file has T = 1.
        affine: 4x4 voxel-to-world matrix, mm.
        context_path: the ``aslcontext.tsv`` used (the lowest applicable one).
        volume_types: one entry of `VOLUME_TYPES` per volume.
        metadata: the merged ``asl.json`` sidecars.
    """

    root: Path
    path: Path
    name: BidsName
    data: np.ndarray
    affine: np.ndarray
    context_path: Path
    volume_types: tuple[str, ...]
    metadata: Sidecar

    @property
    def n_volumes(self) -> int:
        return self.data.shape[3]

    def indices(self, volume_type: str) -> list[int]:
        """Volume indices (0-based, acquisition order) of one volume type."""
        return [i for i, kind in enumerate(self.volume_types) if kind == volume_type]

    def relative(self, path: Path) -> str:
        """``path`` relative to the dataset root, with forward slashes (as BIDS URIs write it)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()


def find_series(root: str | Path, participant: str, session: str | None = None) -> list[Path]:
    """The ASL series of one participant (optionally one session), sorted by name.

    Args:
        root: BIDS dataset root.
        participant: label with or without ``sub-`` (``01`` or ``sub-01``).
        session: label with or without ``ses-``; None for every session (or none).

    Raises:
        InputError: no such participant or session folder, or no ``*_asl.nii[.gz]`` in its ``perf`` folders.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"{root}: BIDS root is not a folder")
    subject = root / f"sub-{_label(participant, 'sub')}"
    if not subject.is_dir():
        known = sorted(p.name for p in root.glob("sub-*") if p.is_dir())
        raise InputError(f"{subject}: no such participant folder "
                         f"(participants in {root}: {', '.join(known) or 'none'})")
    if session is not None:
        folders = [subject / f"ses-{_label(session, 'ses')}" / "perf"]
        if not folders[0].parent.is_dir():
            raise InputError(f"{folders[0].parent}: no such session folder")
    else:
        folders = [subject / "perf", *sorted(subject.glob("ses-*/perf"))]
    found = sorted(p for folder in folders for p in folder.glob("*_asl.nii*") if parse_name(p) is not None)
    if not found:
        searched = ", ".join(str(f) for f in folders)
        raise InputError(f"{searched}: no *_asl.nii[.gz] series found")
    return found


def read_series(root: str | Path, path: str | Path) -> AslSeries:
    """Read one ASL series: voxels, ``aslcontext.tsv`` (checked against the volume count) and merged sidecars."""
    root, path = Path(root).expanduser(), Path(path).expanduser()
    name = parse_name(path)
    if name is None or name.suffix != "asl" or name.extension not in (".nii", ".nii.gz"):
        raise InputError(f"{path}: not an ASL-BIDS series name (expected ..._asl.nii[.gz])")
    data, affine = load_4d(path)
    metadata = read_sidecar(root, path, suffix="asl")
    contexts = applicable_files(root, path, suffix="aslcontext", extension=".tsv")
    if not contexts:
        own = path.with_name(f"{name.stem()}_aslcontext.tsv")
        raise InputError(f"{own}: missing; every ASL series needs an aslcontext.tsv with one volume_type per volume")
    context_path = contexts[-1]  # the lowest applicable TSV wins (inheritance rule 5a)
    volume_types = read_aslcontext(context_path)
    if len(volume_types) != data.shape[3]:
        raise InputError(f"{context_path}: volume_type has {len(volume_types)} rows but {path.name} has "
                         f"{data.shape[3]} volumes; there must be one row per volume")
    return AslSeries(root=root, path=path, name=name, data=data, affine=affine, context_path=context_path,
                     volume_types=volume_types, metadata=metadata)


def read_aslcontext(path: Path) -> tuple[str, ...]:
    """The ``volume_type`` column of an ``aslcontext.tsv``, one entry per volume.

    Raises:
        InputError: unreadable file, no ``volume_type`` header, or a value not in `VOLUME_TYPES`.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle, delimiter="\t") if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: not a readable TSV file ({err})") from err
    header = [cell.strip() for cell in rows[0]] if rows else []
    if "volume_type" not in header:
        raise InputError(f"{path}: volume_type column missing (first row must be the header 'volume_type')")
    column = header.index("volume_type")
    types = []
    for line, row in enumerate(rows[1:], start=2):
        value = row[column].strip() if column < len(row) else ""
        if value not in VOLUME_TYPES:
            raise InputError(f"{path}: volume_type {value!r} on line {line} is not one of {', '.join(VOLUME_TYPES)}")
        types.append(value)
    return tuple(types)


def m0scans_for(series: AslSeries) -> list[Path]:
    """``*_m0scan.nii[.gz]`` files in the series' folder whose sidecar's ``IntendedFor`` names the series.

    ``IntendedFor`` may hold BIDS URIs (``bids::sub-01/perf/sub-01_asl.nii.gz``, BIDS >= 1.8) or paths relative to
    the subject folder (``perf/sub-01_asl.nii.gz``, the older form); a string or a list of them.
    """
    target = series.path.resolve()
    subject = next(p for p in [series.path.parent, *series.path.parents] if p.name.startswith("sub-"))
    matches = []
    for candidate in sorted(series.path.parent.glob("*_m0scan.nii*")):
        if parse_name(candidate) is None:
            continue
        intended = read_sidecar(series.root, candidate, suffix="m0scan").get("IntendedFor", [])
        for entry in [intended] if isinstance(intended, str) else list(intended):
            if _resolve_intended(str(entry), series.root, subject) == target:
                matches.append(candidate)
                break
    return matches


def _resolve_intended(entry: str, root: Path, subject: Path) -> Path | None:
    if entry.startswith("bids::"):
        return (root / entry[len("bids::"):]).resolve()
    if entry.startswith("bids:"):
        return None  # another dataset's file
    return (subject / entry).resolve()


def load_4d(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """[X, Y, Z, T] float64 voxels and the affine of a NIfTI file; a 3D file (one volume) gets T = 1."""
    try:
        volume = load_volume(path, ndim=4)
        data = volume.data
    except InputError as error_4d:
        try:
            volume = load_volume(path, ndim=3)
        except InputError:
            raise error_4d from None
        data = volume.data[..., None]
    return data.astype(np.float64), volume.affine


def _label(value: str, prefix: str) -> str:
    label = str(value).removeprefix(f"{prefix}-")
    if not label or not label.isalnum():
        raise InputError(f"{prefix} label {value!r}: BIDS labels are letters and digits only")
    return label
