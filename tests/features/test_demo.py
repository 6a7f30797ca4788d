"""The example T1 dataset the book writes: a BIDS folder that nibabel and the features path read, its scans stored
unlike the encoders' inputs (LPS, thick oblique slices); and the IXI T1 scans found where the registry puts them."""

import json

import nibabel as nib
import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.features.demo import local_ixi_t1_scans, write_example_t1_dataset
from brainfm_lite.features.extract import features_from_scans
from brainfm_lite.features.inputs import expand_inputs
from brainfm_lite.features.recipe import Recipe
from brainfm_lite.features.scans import preprocess_scan

SPACING_MM, SLICE_MM = 4.0, 6.0


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return write_example_t1_dataset(tmp_path_factory.mktemp("t1") / "ds", n_subjects=3, seed=0,
                                    spacing_mm=SPACING_MM, slice_mm=SLICE_MM)


def slice_angle_deg(affine) -> float:
    """Angle between the stored slice axis (the third voxel axis) and the scanner's z axis, degrees."""
    axis = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    return float(np.degrees(np.arccos(abs(axis[2]))))


def test_a_bids_folder_with_one_t1w_scan_per_participant(example):
    root = example.root
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["BIDSVersion"] == "1.9.0" and description["Name"]
    rows = (root / "participants.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:2] == ["participant_id", "age"] and [r.split("\t")[0] for r in rows[1:]] == [
        "sub-01", "sub-02", "sub-03"]
    assert example.participants == ["01", "02", "03"]
    assert example.scans == [root / f"sub-{p}" / "anat" / f"sub-{p}_T1w.nii.gz" for p in example.participants]
    assert expand_inputs([root]) == example.scans  # what `brainfm features ROOT` finds
    for scan in example.scans:
        sidecar = json.loads(scan.with_name(scan.name.replace(".nii.gz", ".json")).read_text())
        assert sidecar["SliceThickness"] == SLICE_MM and sidecar["MagneticFieldStrength"] > 0


def test_scans_are_stored_as_a_scanner_would_not_as_an_encoder_takes_them(example):
    angles = []
    for scan in example.scans:
        image = nib.load(scan)  # the format's own reader
        assert nib.aff2axcodes(image.affine) == ("L", "P", "S")
        assert np.allclose(image.header.get_zooms(), (SPACING_MM, SPACING_MM, SLICE_MM))
        assert image.header["sform_code"] > 0 and image.get_fdata().std() > 0
        angles.append(slice_angle_deg(image.affine))
    assert all(0 < a <= 10 for a in angles) and len(set(np.round(angles, 3))) == 3  # oblique, each its own


def test_the_same_seed_writes_the_same_scans_and_a_subject_keeps_its_position(example, tmp_path):
    again = write_example_t1_dataset(tmp_path / "again", n_subjects=1, seed=0, spacing_mm=SPACING_MM,
                                     slice_mm=SLICE_MM)
    first, repeated = nib.load(example.scans[0]), nib.load(again.scans[0])
    assert np.array_equal(first.get_fdata(), repeated.get_fdata()) and np.allclose(first.affine, repeated.affine)


def test_the_features_path_prepares_and_embeds_every_scan(example, t1_encoder, kit):
    table = features_from_scans(t1_encoder, [example.root], device="cpu")
    assert table.files == [str(s) for s in example.scans] and table.features.shape[0] == 3
    assert np.isfinite(table.features).all()
    ready = preprocess_scan(example.scans[0], Recipe.from_dict(kit.T1_RECIPE))
    assert ready.shape == kit.SHAPE and np.allclose(ready.spacing_mm, 4.0)
    assert nib.aff2axcodes(ready.affine) == ("R", "A", "S")


@pytest.mark.parametrize("options", [{"n_subjects": 0}, {"slice_mm": 2.0}, {"orientation": "XYZ"},
                                     {"spacing_mm": 2.5}])
def test_options_that_cannot_make_a_dataset_are_refused(tmp_path, options):
    with pytest.raises(InputError):
        write_example_t1_dataset(tmp_path / "ds", **{"spacing_mm": SPACING_MM, **options})


def test_ixi_t1_scans_are_found_where_the_registry_unpacks_them(tmp_path):
    assert local_ixi_t1_scans(tmp_path) == []
    folder = tmp_path / "ixi" / "IXI-T1"
    folder.mkdir(parents=True)
    names = ["IXI012-HH-1211-T1.nii.gz", "IXI002-Guys-0828-T1.nii.gz", "IXI013-HH-1212-T1.nii.gz"]
    for name in names + ["IXI002-Guys-0828-T2.nii.gz"]:
        (folder / name).write_bytes(b"")
    found = local_ixi_t1_scans(tmp_path)
    assert [p.name for p in found] == sorted(names)
    assert local_ixi_t1_scans(tmp_path, limit=2) == found[:2]
