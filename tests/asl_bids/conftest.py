"""Hand-made ASL-BIDS datasets for the `brainfm cbf` tests.

Files are written here with nibabel, json and plain text, in the BIDS 1.9 conventions, never with a writer of
brainfm_lite, and the difference signals come from the white paper's equations (and the Buxton model for
multi-delay data) written out below with their own constants, so the tests check the package against an
independent oracle.
"""

import contextlib
import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from brainfm_lite import cli

SHAPE = (8, 8, 4)
AFFINE = np.diag([3.0, 3.0, 4.0, 1.0])
CBF_GM, CBF_WM = 60.0, 20.0
T1_BLOOD = 1.65  # s at 3 T (white paper)
T1_GM = 1.607  # s at 3 T, for the M0 recovery (Wright et al. 2008)
LAMBDA = 0.9  # mL/g
ALPHA = {"PCASL": 0.85, "CASL": 0.68, "PASL": 0.98}


def tissue():
    """GM in the first half along x, WM in the second; M0 varies along y so that every voxel differs."""
    gm = np.zeros(SHAPE, bool)
    gm[: SHAPE[0] // 2] = True
    m0 = np.where(gm, 800.0, 650.0) * (1 + 0.05 * np.arange(SHAPE[1]))[None, :, None]
    cbf = np.where(gm, CBF_GM, CBF_WM)
    return SimpleNamespace(gm=gm, wm=~gm, m0=m0, cbf=cbf)


def pcasl_dm(cbf, m0, *, pld, tau, alpha):
    """White paper (P)CASL: dM = 2 alpha (M0/lambda) f T1b exp(-PLD/T1b) (1 - exp(-tau/T1b)), f = CBF/6000."""
    f = cbf / 6000.0
    return 2 * alpha * (m0 / LAMBDA) * f * T1_BLOOD * np.exp(-pld / T1_BLOOD) * (1 - np.exp(-tau / T1_BLOOD))


def pasl_dm(cbf, m0, *, ti, ti1, alpha):
    """White paper PASL (QUIPSS II): dM = 2 alpha (M0/lambda) f TI1 exp(-TI/T1b)."""
    return 2 * alpha * (m0 / LAMBDA) * (cbf / 6000.0) * ti1 * np.exp(-ti / T1_BLOOD)


def buxton_pcasl_dm(cbf, m0, *, att, pld, tau, alpha):
    """Buxton (1998) one-compartment pCASL signal with transit time att (T1 tissue = T1 blood)."""
    f = cbf / 6000.0
    amplitude = 2 * alpha * (m0 / LAMBDA) * f * T1_BLOOD
    full = np.exp(-pld / T1_BLOOD) * (1 - np.exp(-tau / T1_BLOOD))
    partial = np.exp(-att / T1_BLOOD) * (1 - np.exp(-np.clip(tau + pld - att, 0, None) / T1_BLOOD))
    return amplitude * np.where(pld >= att, full, partial)


def buxton_pasl_dm(cbf, m0, *, att, ti, ti1, alpha):
    """Buxton one-compartment PASL signal: the delivered bolus length is clip(TI - att, 0, TI1)."""
    return 2 * alpha * (m0 / LAMBDA) * (cbf / 6000.0) * np.clip(ti - att, 0, ti1) * np.exp(-ti / T1_BLOOD)


def acquired_m0(m0, tr):
    """M0 image after a saturation recovery of TR seconds."""
    return m0 * (1 - math.exp(-tr / T1_GM))


def write(root: Path, files: dict) -> Path:
    """Write ``{relative path: content}``: arrays as NIfTI (float32, `AFFINE`), dicts as JSON, lists of strings as
    an aslcontext TSV (header ``volume_type``), strings as text. Adds a dataset_description.json."""
    files = {"dataset_description.json": {"Name": "hand-made ASL test", "BIDSVersion": "1.9.0"}, **files}
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, np.ndarray):
            nib.save(nib.Nifti1Image(content.astype(np.float32), AFFINE), path)
        elif isinstance(content, dict):
            path.write_text(json.dumps(content, indent=2))
        elif isinstance(content, list):
            path.write_text("volume_type\n" + "".join(f"{row}\n" for row in content))
        else:
            path.write_text(content)
    return root


def run_cbf(root: Path, out: Path, *options: str):
    """``brainfm cbf ROOT --participant 01 --out OUT [options]`` in-process: (exit code, stderr)."""
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        code = cli.main(["cbf", str(root), "--participant", "01", "--out", str(out), *options])
    return code, stderr.getvalue()


def read_map(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj, dtype=np.float64)


def pcasl_sidecar(**changes) -> dict:
    """A complete, valid single-delay 3D pCASL asl.json; ``changes`` override (None removes a field)."""
    sidecar = {"ArterialSpinLabelingType": "PCASL", "M0Type": "Separate", "PostLabelingDelay": 1.8,
               "LabelingDuration": 1.8, "BackgroundSuppression": False, "MagneticFieldStrength": 3,
               "MRAcquisitionType": "3D", "EchoTime": 0.011, "RepetitionTimePreparation": 4.0,
               "TotalAcquiredPairs": 2}
    sidecar.update(changes)
    return {key: value for key, value in sidecar.items() if value is not None}


def separate_pcasl_files(*, sidecar=None, m0_sidecar=None) -> dict:
    """Files of a valid single-delay pCASL series (2 pairs) with a separate M0 scan acquired at TR 4 s."""
    t = tissue()
    dm = pcasl_dm(t.cbf, t.m0, pld=1.8, tau=1.8, alpha=ALPHA["PCASL"])
    control = acquired_m0(t.m0, 4.0)
    volumes = np.stack([control, control - dm, control, control - dm], axis=3)
    m0_json = {"IntendedFor": "bids::sub-01/perf/sub-01_asl.nii.gz", "RepetitionTimePreparation": 4.0,
               "EchoTime": 0.011}
    if m0_sidecar is not None:
        m0_json = {key: value for key, value in {**m0_json, **m0_sidecar}.items() if value is not None}
    return {
        "sub-01/perf/sub-01_asl.nii.gz": volumes,
        "sub-01/perf/sub-01_asl.json": pcasl_sidecar(**(sidecar or {})),
        "sub-01/perf/sub-01_aslcontext.tsv": ["control", "label", "control", "label"],
        "sub-01/perf/sub-01_m0scan.nii.gz": acquired_m0(t.m0, 4.0),
        "sub-01/perf/sub-01_m0scan.json": m0_json,
    }


@pytest.fixture
def asl():
    """The hand-made dataset helpers of this folder."""
    return SimpleNamespace(
        SHAPE=SHAPE, ALPHA=ALPHA, CBF_GM=CBF_GM, CBF_WM=CBF_WM, tissue=tissue, pcasl_dm=pcasl_dm, pasl_dm=pasl_dm,
        buxton_pcasl_dm=buxton_pcasl_dm, buxton_pasl_dm=buxton_pasl_dm, acquired_m0=acquired_m0, write=write,
        run_cbf=run_cbf, read_map=read_map, pcasl_sidecar=pcasl_sidecar, separate_pcasl_files=separate_pcasl_files,
    )
