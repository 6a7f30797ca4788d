"""Scans and encoders for the `brainfm features` tests: nibabel's own test scans, nilearn's MNI152 template written to
NIfTI with nibabel, BIDS folders laid out by hand, and a tiny CNN encoder saved through the hub with a recipe.

Nothing is written with brainfm_lite's own writers (save_volume, the cohort's BIDS writer), so the tests read files
made in each format's own conventions; nothing downloads (nibabel and nilearn ship these images)."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
import torch
from nibabel.testing import data_path

from brainfm_lite.models import EncoderConfig, build_encoder, save_pretrained
from brainfm_lite.preprocess.templates import mni_template, mni_tissue

NIBABEL_DATA = Path(data_path)
ANATOMICAL = NIBABEL_DATA / "anatomical.nii"  # 33 x 41 x 25 voxels of 2 mm, a T1-weighted head
MOVED = NIBABEL_DATA / "reoriented_anat_moved.nii"  # 21 x 26 x 22 voxels of 4 mm, the same head reoriented
EXAMPLE_4D = NIBABEL_DATA / "example4d.nii.gz"  # 128 x 96 x 24 x 2: a series, not one volume
SHAPE = (16, 16, 16)  # the tiny encoder's input: 64 mm at 4 mm covers these small heads
T1_RECIPE = {"modality": "T1w", "spacing_mm": 4.0, "shape": list(SHAPE), "registration": "none",
             "bias_correct": False, "brain_mask": "otsu", "clip": None, "intensity": "zscore"}
CBF_RECIPE = {**T1_RECIPE, "modality": "CBF", "brain_mask": "nonzero"}  # CBF maps are 0 outside the brain
CBF_GM, CBF_WM = 60.0, 20.0  # mL/100 g/min


def tiny_encoder(seed: int = 0):
    """A two-stage 3D CNN (8 features) taking SHAPE, with weights fixed by `seed`."""
    torch.manual_seed(seed)
    return build_encoder(EncoderConfig(kind="cnn", img_size=SHAPE, widths=(4, 8), channels_last=False)).eval()


def save_encoder(folder: Path, recipe: dict | None, seed: int = 0) -> Path:
    """The tiny encoder saved with `save_pretrained`, its metadata holding `recipe` (None: no record)."""
    metadata = {"objective": "test"} if recipe is None else {"objective": "test", "preprocessing": recipe}
    return save_pretrained(tiny_encoder(seed), folder, metadata=metadata)


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    """A float32 NIfTI-1 file written by nibabel itself (sform and qform set, as scanners' converters do)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)
    return path


@pytest.fixture(scope="session")
def kit():
    """This module's constants and helpers (ANATOMICAL, T1_RECIPE, save_encoder, write_nifti ...), for the tests."""
    return SimpleNamespace(**{name: value for name, value in globals().items() if not name.startswith('_')})


@pytest.fixture
def t1_encoder(tmp_path) -> Path:
    return save_encoder(tmp_path / "t1_encoder", T1_RECIPE)


@pytest.fixture(scope="session")
def mni_file(tmp_path_factory) -> Path:
    """nilearn's MNI152 2009a T1 template (2 mm) as a .nii.gz."""
    template = mni_template(2)
    return write_nifti(tmp_path_factory.mktemp("mni") / "mni152_T1w.nii.gz", template.data, template.affine)


@pytest.fixture(scope="session")
def cbf_file(tmp_path_factory) -> Path:
    """A CBF map in mL/100 g/min on the MNI152 2 mm grid: 60 in grey matter, 20 in white matter, by fraction."""
    gm, wm = mni_tissue("gm", 2), mni_tissue("wm", 2)
    cbf = CBF_GM * gm.data + CBF_WM * wm.data
    return write_nifti(tmp_path_factory.mktemp("cbf") / "sub-01_desc-mean_cbf.nii.gz", cbf, gm.affine)


@pytest.fixture
def bids_root(tmp_path) -> Path:
    """Two subjects (one with a session), laid out by hand as BIDS 1.9 says, and files that are not T1w scans."""
    root = tmp_path / "ds"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "two heads", "BIDSVersion": "1.9.0"}')
    image = nib.load(ANATOMICAL)
    data, affine = image.get_fdata(dtype=np.float32), image.affine
    write_nifti(root / "sub-01" / "anat" / "sub-01_T1w.nii.gz", data, affine)
    write_nifti(root / "sub-02" / "ses-1" / "anat" / "sub-02_ses-1_run-1_T1w.nii", data[::-1].copy(), affine)
    write_nifti(root / "sub-01" / "anat" / "sub-01_T2w.nii.gz", data, affine)  # another contrast
    write_nifti(root / "derivatives" / "x" / "sub-01" / "anat" / "sub-01_T1w.nii.gz", data, affine)  # not raw
    shutil.copy(root / "sub-01" / "anat" / "sub-01_T1w.nii.gz", root / "sub-01" / "anat" / "._sub-01_T1w.nii.gz")
    (root / "sub-01" / "anat" / "sub-01_T1w.json").write_text("{}")
    return root
