"""Write a synthetic cohort to disk as a BIDS-like dataset, so that file-based tools and chapters can read it.

Layout (``sub-0001`` is subject 0)::

    root/dataset_description.json
    root/participants.tsv                          participant_id, age, sex, site
    root/participants.json                         what the columns mean
    root/sub-0001/anat/sub-0001_T1w.nii.gz         the acquired T1w image
    root/sub-0001/anat/sub-0001_T1w.json           the site (field strength, resolution, noise, ...)
    root/derivatives/synth/dataset_description.json
    root/derivatives/synth/dseg.tsv                label values and names
    root/derivatives/synth/sub-0001/anat/sub-0001_label-{GM,WM,CSF}_probseg.nii.gz
    root/derivatives/synth/sub-0001/anat/sub-0001_dseg.nii.gz
    root/derivatives/synth/sub-0001/anat/sub-0001_label-lesion_mask.nii.gz

Every file is written atomically (a temporary file renamed into place), so an interrupted run never leaves a
half-written image. Existing files are replaced.

Example:
    >>> write_bids(make_cohort(12, seed=0), "data/synth")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from brainfm_lite import __version__
from brainfm_lite.atomic import atomic_path
from brainfm_lite.data.io import save_volume
from brainfm_lite.sim.cohort import LABELS, Cohort, Subject

BIDS_VERSION = "1.9.0"
PIPELINE = "synth"
PROBSEG = {"GM": "gm", "WM": "wm", "CSF": "csf"}  # BIDS label -> tissue name


def write_bids(cohort: Cohort, root: str | os.PathLike) -> Path:
    """Write every subject of ``cohort`` under ``root`` (created if missing) and return ``root``.

    Args:
        cohort: from `make_cohort`; each subject is simulated once while writing.
        root: dataset folder.

    Returns:
        The dataset root as a Path.
    """
    root = Path(root).expanduser()
    derivatives = root / "derivatives" / PIPELINE
    derivatives.mkdir(parents=True, exist_ok=True)
    generated_by = [{"Name": "brainfm_lite.sim.cohort", "Version": __version__,
                     "Description": f"make_cohort({cohort.n}, seed={cohort.seed}, spacing_mm={cohort.spacing_mm}, "
                                    f"n_sites={len(cohort.sites)}, lesion_prob={cohort.lesion_prob}, "
                                    f"age_range={cohort.age_range})"}]
    _write_json(root / "dataset_description.json",
                {"Name": "brainfm-lite synthetic cohort", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
                 "GeneratedBy": generated_by})
    _write_json(derivatives / "dataset_description.json",
                {"Name": "brainfm-lite synthetic cohort: true tissue maps", "BIDSVersion": BIDS_VERSION,
                 "DatasetType": "derivative", "GeneratedBy": generated_by})
    _write_text(derivatives / "dseg.tsv", "index\tname\n" + "".join(f"{v}\t{k}\n" for k, v in LABELS.items()))

    rows = []
    for subject in cohort:
        _write_subject(subject, root, derivatives)
        rows.append(f"{subject.subject_id}\t{subject.age:.1f}\t{subject.sex}\t{subject.site.name}\n")
    _write_text(root / "participants.tsv", "participant_id\tage\tsex\tsite\n" + "".join(rows))
    _write_json(root / "participants.json", {
        "age": {"Description": "age at scan", "Units": "year"},
        "sex": {"Description": "sex", "Levels": {"F": "female", "M": "male"}},
        "site": {"Description": "acquisition site; its parameters are in each T1w JSON sidecar"},
    })
    return root


def _write_subject(subject: Subject, root: Path, derivatives: Path) -> None:
    """The T1w image and sidecar of one subject, and its true tissue maps under the derivatives."""
    sid = subject.subject_id
    anat = root / sid / "anat"
    anat.mkdir(parents=True, exist_ok=True)
    save_volume(subject.t1w, anat / f"{sid}_T1w.nii.gz")
    _write_json(anat / f"{sid}_T1w.json", _sidecar(subject))

    truth = derivatives / sid / "anat"
    truth.mkdir(parents=True, exist_ok=True)
    for label, name in PROBSEG.items():
        save_volume(subject.volume(name), truth / f"{sid}_label-{label}_probseg.nii.gz")
    save_volume(subject.volume("labels"), truth / f"{sid}_dseg.nii.gz")
    save_volume(subject.volume("lesion_mask"), truth / f"{sid}_label-lesion_mask.nii.gz")


def _sidecar(subject: Subject) -> dict:
    """BIDS fields we know (field strength, site as institution) plus every simulation parameter."""
    site = subject.site
    return {
        "MagneticFieldStrength": site.field_t,
        "InstitutionName": site.name,
        "SliceThickness": site.spacing_mm[2],
        "SyntheticSite": {"name": site.name, "field_t": site.field_t, "spacing_mm": list(site.spacing_mm),
                          "noise_sigma": site.noise_sigma, "bias_strength": site.bias_strength,
                          "intensity_scale": site.intensity_scale},
        "SyntheticSubject": subject.meta,
    }


def _write_json(path: Path, content: dict) -> None:
    _write_text(path, json.dumps(content, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, renamed over it)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
