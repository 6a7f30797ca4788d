"""A small BIDS folder of T1 scans as a scanner would write them (to try ``brainfm features`` on), and the IXI T1
scans when they are in the data directory.

`write_example_t1_dataset` simulates a few subjects of the embedded cohort (`brainfm_lite.sim`) and writes each
T1-weighted image the way a scanner's converter might, not the way the encoders were trained on:

- thicker axial slices than in-plane voxels (``slice_mm``), as clinical 2D protocols have;
- slices angled to the head (an oblique acquisition, as protocols aligned with the AC-PC line are: the affine
  holds the rotation) and the head off the scanner's centre, both drawn per subject;
- voxels stored in ``orientation`` order (LPS by default, as DICOM converters often write them), not RAS;
- the intensity scale, bias field and noise of the subject's site.

The in-plane voxel is the simulation's grid (``spacing_mm``, a whole number of mm; a real scan's is finer).
Preparing these scans as an encoder's recipe says (`brainfm_lite.features.scans.preprocess_scan`) therefore has
something to do at every step: reorder to RAS, resample to isotropic voxels, mask, z-score, crop or pad.

Layout written (BIDS 1.9)::

    dataset_description.json  participants.tsv
    sub-01/anat/sub-01_T1w.nii.gz  sub-01_T1w.json      ... one folder per subject

`local_ixi_t1_scans` lists the IXI T1 scans that ``brainfm data fetch ixi --files IXI-T1.tar`` unpacked under the
data directory (``<data_dir>/ixi/IXI-T1/IXI<id>-<site>-<scan>-T1.nii.gz``).

Example:
    >>> example = write_example_t1_dataset("t1_demo", n_subjects=3)                # doctest: +SKIP
    >>> len(features_from_scans("weights/simclr_t1", [example.root]))            # doctest: +SKIP
    3
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.atomic import atomic_path
from brainfm_lite.data.io import save_volume
from brainfm_lite.errors import InputError
from brainfm_lite.fetch.download import data_dir as resolve_data_dir
from brainfm_lite.preprocess.orientation import reorient
from brainfm_lite.preprocess.resample import resample
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.sim.streams import Stream, stream_rng

BIDS_VERSION = "1.9.0"
MAX_SLICE_ANGLE_DEG = 10.0  # oblique slices: up to this rotation about the left-right axis
MAX_SHIFT_MM = 10.0  # the head's centre this far from the scanner's, along each axis at most
IXI_T1_FOLDER = Path("ixi") / "IXI-T1"  # where the registry unpacks IXI-T1.tar under the data directory


@dataclass(frozen=True)
class ExampleT1Dataset:
    """What `write_example_t1_dataset` wrote.

    Attributes:
        root: the BIDS dataset root.
        scans: the T1w files, one per subject, in participant order.
        participants: the participant labels (``01``, ``02``, ...).
    """

    root: Path
    scans: list[Path]
    participants: list[str]


def write_example_t1_dataset(root: str | Path, *, n_subjects: int = 3, seed: int = 0, spacing_mm: float = 3.0,
                             slice_mm: float | None = None, orientation: str = "LPS",
                             n_sites: int = 3) -> ExampleT1Dataset:
    """Write a BIDS dataset of `n_subjects` T1-weighted scans stored as a scanner might write them (module docstring).

    Args:
        root: dataset folder (created; files already there are replaced).
        n_subjects: subjects (>= 1), subject k of ``make_cohort(n_subjects, seed=seed, ...)`` as ``sub-<k + 1>``.
        seed: cohort seed; it also draws each subject's slice angle and head position.
        spacing_mm: the simulation's grid and the in-plane voxel size, a whole number of mm.
        slice_mm: axial slice thickness, mm (>= `spacing_mm`); None: 1.5 x `spacing_mm`.
        orientation: voxel order of the files, three axis codes (e.g. "LPS", "RAS", "PIR").
        n_sites: sites of the cohort; subject k is scanned at site ``k % n_sites``.

    Returns:
        An `ExampleT1Dataset`.

    Raises:
        InputError: fewer than 1 subject, a spacing that is not a whole number of mm, slices thinner than the
            in-plane voxels, or an orientation that is not three axis codes.
    """
    if isinstance(n_subjects, bool) or int(n_subjects) != n_subjects or n_subjects < 1:
        raise InputError(f"n_subjects must be a positive integer; got {n_subjects!r}")
    slice_mm = 1.5 * spacing_mm if slice_mm is None else float(slice_mm)
    if not slice_mm >= spacing_mm:
        raise InputError(f"slice_mm ({slice_mm:g}) must be at least the in-plane spacing_mm ({spacing_mm:g})")
    cohort = make_cohort(int(n_subjects), seed=seed, spacing_mm=spacing_mm, n_sites=n_sites)  # checks the spacing
    root = Path(root).expanduser()
    scans, participants, rows = [], [], []
    for index, subject in enumerate(cohort):
        label = f"{index + 1:02d}"
        anat = root / f"sub-{label}" / "anat"
        anat.mkdir(parents=True, exist_ok=True)
        thick = resample(subject.t1w, (spacing_mm, spacing_mm, slice_mm))
        angle_deg, shift_mm = _head_position(seed, index)
        placed = thick.with_data(thick.data, affine=_rigid(angle_deg, shift_mm) @ thick.affine)
        stored = reorient(placed, orientation)
        scans.append(save_volume(stored, anat / f"sub-{label}_T1w.nii.gz"))
        _write_json(anat / f"sub-{label}_T1w.json", {
            "MagneticFieldStrength": subject.site.field_t, "InstitutionName": subject.site.name,
            "SliceThickness": slice_mm, "SyntheticSubject": subject.subject_id,
            "SyntheticPosition": {"slice_angle_deg": round(angle_deg, 2),
                                  "shift_mm": [round(s, 2) for s in shift_mm]}})
        participants.append(label)
        rows.append(f"sub-{label}\t{subject.age:.0f}\t{subject.sex}\t{subject.site.name}\n")
    _write_json(root / "dataset_description.json", {
        "Name": "brainfm_lite example T1w dataset (synthetic cohort)", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw", "License": "CC0",
        "GeneratedBy": [{"Name": "brainfm_lite.features.demo",
                         "Description": f"make_cohort({n_subjects}, seed={seed}, spacing_mm={spacing_mm:g}, "
                                        f"n_sites={n_sites}); slices {slice_mm:g} mm, stored {orientation}"}]})
    _write_text(root / "participants.tsv", "participant_id\tage\tsex\tsite\n" + "".join(rows))
    return ExampleT1Dataset(root=root, scans=scans, participants=participants)


def local_ixi_t1_scans(data_dir: str | os.PathLike | None = None, *, limit: int | None = None) -> list[Path]:
    """The IXI T1 scans under the data directory, sorted by name (``[]`` when IXI-T1 was not fetched).

    Args:
        data_dir: the data directory (None: ``$BRAINFM_DATA``, else ``~/brainfm_data``; see
            `brainfm_lite.fetch.download.data_dir`).
        limit: at most this many (the first by name); None: all.
    """
    folder = resolve_data_dir(data_dir) / IXI_T1_FOLDER
    scans = sorted((p for p in folder.rglob("IXI*-T1.nii.gz") if p.is_file()), key=lambda p: p.name)
    return scans if limit is None else scans[:limit]


def _head_position(seed: int, index: int) -> tuple[float, np.ndarray]:
    """Subject `index`'s slice angle (degrees, about the left-right axis) and head shift (mm, x y z)."""
    rng = stream_rng(seed, Stream.EXAMPLE_T1_POSITION, index)
    return float(rng.uniform(-MAX_SLICE_ANGLE_DEG, MAX_SLICE_ANGLE_DEG)), rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, 3)


def _rigid(angle_deg: float, shift_mm: np.ndarray) -> np.ndarray:
    """4 x 4 world transform: rotation by `angle_deg` about the x (left-right) axis, then a shift."""
    angle = np.deg2rad(angle_deg)
    transform = np.eye(4)
    transform[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    transform[:3, 3] = shift_mm
    return transform


def _write_json(path: Path, content: dict) -> None:
    _write_text(path, json.dumps(content, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
