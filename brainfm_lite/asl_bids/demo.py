"""A tiny ASL-BIDS dataset with a known CBF map, written in the real format (for the book and for trying the reader).

The phantom is an ellipsoidal "head": CSF in the centre, white matter around it, a grey-matter shell outside;
CBF is ``cbf_gm`` in GM, ``cbf_wm`` in WM and 0 in CSF. Label and control images come from the Buxton kinetic
model (`brainfm_lite.physics.asl`) with an arterial transit time shorter than the PLD, so the white-paper equation
recovers the CBF exactly when ``noise_sd`` is 0. The M0 is acquired with a 4 s TR, so the reader's
saturation-recovery correction is part of the round trip.

Layout written (``m0_type="Separate"``)::

    dataset_description.json  participants.tsv
    sub-01/perf/sub-01_asl.nii.gz  sub-01_asl.json  sub-01_aslcontext.tsv  sub-01_m0scan.nii.gz  sub-01_m0scan.json
    derivatives/tissue/sub-01/anat/sub-01_label-{GM,WM,CSF}_probseg.nii.gz      tissue maps on the ASL grid

Example:
    >>> example = write_example_dataset("asl_demo")                    # doctest: +SKIP
    >>> [r.cbf[example.gm_mask].mean() for r in quantify_participant(example.root, "01")]  # doctest: +SKIP
    [60.0]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.data.io import save_volume
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.physics.asl import LABELLING_EFFICIENCY, T1_TISSUE, asl_signal_pasl, asl_signal_pcasl

# Acquisition of the example (s): white-paper pCASL timing; PASL with QUIPSS II.
PLD_S = 1.8
LABELLING_DURATION_S = 1.8
PASL_TI1_S = 0.8
TRANSIT_TIME_S = {"PCASL": 1.0, "CASL": 1.0, "PASL": 0.7}  # below the PLD: the whole bolus has arrived
M0_TR_S = 4.0
# Equilibrium magnetisation per tissue (arbitrary units, about proton density x 1000).
M0_TISSUE = {"gm": 820.0, "wm": 700.0, "csf": 1000.0}


@dataclass(frozen=True)
class ExampleDataset:
    """What `write_example_dataset` wrote.

    Attributes:
        root: the BIDS dataset root.
        participant: its participant label (``01``).
        gm, wm, csf: tissue probability maps (NIfTI, on the ASL grid), for ``brainfm cbf --gm --wm --csf``.
        cbf_true: float64 [X, Y, Z], the CBF the data were made from, mL/100 g/min.
        gm_mask: bool [X, Y, Z], grey-matter voxels.
    """

    root: Path
    participant: str
    gm: Path
    wm: Path
    csf: Path
    cbf_true: np.ndarray
    gm_mask: np.ndarray


def write_example_dataset(root: str | Path, *, labelling_type: str = "PCASL", m0_type: str = "Separate",
                          shape: tuple[int, int, int] = (32, 32, 16), spacing_mm: float = 3.0, n_pairs: int = 4,
                          cbf_gm: float = 60.0, cbf_wm: float = 20.0, noise_sd: float = 0.0,
                          seed: int = 0) -> ExampleDataset:
    """Write a one-participant ASL-BIDS dataset with a known CBF map.

    Args:
        root: dataset folder (created; files already there are replaced).
        labelling_type: ``PCASL``, ``CASL`` or ``PASL`` (QUIPSS II).
        m0_type: ``Separate`` (an ``m0scan.nii.gz`` with ``IntendedFor``) or ``Included`` (two ``m0scan``
            volumes at the start of the series).
        shape: voxels [X, Y, Z]; spacing_mm: isotropic voxel size.
        n_pairs: control/label pairs.
        cbf_gm, cbf_wm: CBF of grey and white matter, mL/100 g/min.
        noise_sd: standard deviation of Gaussian noise added to every image (0: exact round trip).
        seed: noise seed.

    Returns:
        An `ExampleDataset`.

    Raises:
        InputError: an unknown labelling or M0 type, a shape under 8 voxels per axis, or fewer than 1 pair.
    """
    if labelling_type not in LABELLING_EFFICIENCY:
        raise InputError(f"labelling_type {labelling_type!r} is not one of {', '.join(LABELLING_EFFICIENCY)}")
    if m0_type not in ("Separate", "Included"):
        raise InputError(f"m0_type {m0_type!r}: the example writes Separate or Included")
    if len(shape) != 3 or min(shape) < 8 or n_pairs < 1:
        raise InputError(f"shape {shape} needs 3 axes of at least 8 voxels and n_pairs >= 1 (got {n_pairs})")
    root = Path(root).expanduser()
    perf = root / "sub-01" / "perf"
    anat = root / "derivatives" / "tissue" / "sub-01" / "anat"
    perf.mkdir(parents=True, exist_ok=True)
    anat.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = -spacing_mm * (np.asarray(shape) - 1) / 2  # centred on the origin

    tissues = _phantom(shape)
    cbf = cbf_gm * tissues["gm"] + cbf_wm * tissues["wm"]
    m0 = sum(M0_TISSUE[name] * tissues[name] for name in tissues)
    m0_acquired = m0 * -np.expm1(-M0_TR_S / T1_TISSUE[3.0])  # incomplete recovery at a 4 s TR
    delta_m = _difference_signal(labelling_type, cbf, m0)

    def noisy(image):
        return image + noise_sd * rng.standard_normal(image.shape) if noise_sd else image

    volumes, context = [], []
    if m0_type == "Included":
        volumes += [noisy(m0_acquired) for _ in range(2)]
        context += ["m0scan"] * 2
    for _ in range(n_pairs):
        volumes += [noisy(m0_acquired), noisy(m0_acquired - delta_m)]
        context += ["control", "label"]
    save_volume(Volume(np.stack(volumes, axis=3), affine), perf / "sub-01_asl.nii.gz")
    (perf / "sub-01_aslcontext.tsv").write_text("volume_type\n" + "\n".join(context) + "\n")
    _write_json(perf / "sub-01_asl.json", _asl_sidecar(labelling_type, m0_type, n_pairs, spacing_mm))
    if m0_type == "Separate":
        save_volume(Volume(noisy(m0_acquired), affine), perf / "sub-01_m0scan.nii.gz")
        _write_json(perf / "sub-01_m0scan.json", {
            "IntendedFor": "bids::sub-01/perf/sub-01_asl.nii.gz", "RepetitionTimePreparation": M0_TR_S,
            "EchoTime": 0.0112, "MagneticFieldStrength": 3, "MRAcquisitionType": "3D"})
    paths = {}
    for name in ("gm", "wm", "csf"):
        paths[name] = anat / f"sub-01_label-{name.upper()}_probseg.nii.gz"
        save_volume(Volume(tissues[name], affine), paths[name])
    _write_json(root / "dataset_description.json", {
        "Name": "brainfm_lite example ASL-BIDS dataset (synthetic phantom)", "BIDSVersion": "1.9.0",
        "DatasetType": "raw", "License": "CC0"})
    (root / "participants.tsv").write_text("participant_id\nsub-01\n")
    return ExampleDataset(root=root, participant="01", gm=paths["gm"], wm=paths["wm"], csf=paths["csf"],
                          cbf_true=cbf, gm_mask=tissues["gm"] > 0.5)


def _phantom(shape) -> dict[str, np.ndarray]:
    """Hard tissue masks (float 0/1) of nested ellipsoids: CSF core, WM, GM shell; background outside."""
    axes = [np.linspace(-1, 1, n) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    radius = np.sqrt(x**2 + y**2 + z**2)
    csf = radius < 0.3
    wm = (radius >= 0.3) & (radius < 0.6)
    gm = (radius >= 0.6) & (radius < 0.9)
    return {"gm": gm.astype(np.float64), "wm": wm.astype(np.float64), "csf": csf.astype(np.float64)}


def _difference_signal(labelling_type: str, cbf: np.ndarray, m0: np.ndarray) -> np.ndarray:
    alpha = LABELLING_EFFICIENCY[labelling_type]
    att = TRANSIT_TIME_S[labelling_type]
    if labelling_type == "PASL":
        return asl_signal_pasl(cbf, m0, att=att, ti=PLD_S, ti1=PASL_TI1_S, alpha=alpha)
    return asl_signal_pcasl(cbf, m0, att=att, pld=PLD_S, tau=LABELLING_DURATION_S, alpha=alpha)


def _asl_sidecar(labelling_type: str, m0_type: str, n_pairs: int, spacing_mm: float) -> dict:
    sidecar = {
        "ArterialSpinLabelingType": labelling_type, "M0Type": m0_type, "PostLabelingDelay": PLD_S,
        "BackgroundSuppression": False, "TotalAcquiredPairs": n_pairs, "MagneticFieldStrength": 3,
        "MRAcquisitionType": "3D", "EchoTime": 0.0112, "RepetitionTimePreparation": M0_TR_S,
        "AcquisitionVoxelSize": [spacing_mm] * 3,
    }
    if labelling_type == "PASL":
        sidecar.update(BolusCutOffFlag=True, BolusCutOffTechnique="QUIPSSII", BolusCutOffDelayTime=PASL_TI1_S)
    else:
        sidecar["LabelingDuration"] = LABELLING_DURATION_S
    return sidecar


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n")
