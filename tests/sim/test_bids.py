"""Tests for brainfm_lite.sim.bids: the synthetic cohort written as a BIDS-like dataset."""

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from brainfm_lite.sim.bids import write_bids
from brainfm_lite.sim.cohort import make_cohort


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(3, seed=0, spacing_mm=4.0, lesion_prob=1.0)


@pytest.fixture(scope="module")
def dataset(cohort, tmp_path_factory):
    return write_bids(cohort, tmp_path_factory.mktemp("bids") / "synth")


def _load(path):
    image = nib.load(path)
    return np.asarray(image.dataobj), image.affine


def test_every_subject_has_its_files(cohort, dataset):
    truth = dataset / "derivatives" / "synth"
    for name in ("dataset_description.json", "participants.tsv", "participants.json"):
        assert (dataset / name).is_file(), name
    assert (truth / "dataset_description.json").is_file() and (truth / "dseg.tsv").is_file()
    for sid in (f"sub-{k:04d}" for k in range(1, len(cohort) + 1)):
        raw, derived = dataset / sid / "anat", truth / sid / "anat"
        expected = [raw / f"{sid}_T1w.nii.gz", raw / f"{sid}_T1w.json", derived / f"{sid}_dseg.nii.gz",
                    derived / f"{sid}_label-lesion_mask.nii.gz",
                    *(derived / f"{sid}_label-{label}_probseg.nii.gz" for label in ("GM", "WM", "CSF"))]
        for path in expected:
            assert path.is_file(), path
    assert not list(dataset.rglob(".*")), "temporary files left behind"


def test_images_read_back_with_their_data_and_affine(cohort, dataset):
    subject = cohort[1]
    sid = subject.subject_id
    t1w, affine = _load(dataset / sid / "anat" / f"{sid}_T1w.nii.gz")
    np.testing.assert_allclose(affine, subject.affine, atol=1e-5)
    np.testing.assert_array_equal(t1w, subject.t1w.data)
    anat = dataset / "derivatives" / "synth" / sid / "anat"
    gm, _ = _load(anat / f"{sid}_label-GM_probseg.nii.gz")
    np.testing.assert_array_equal(gm, subject.tissue["gm"])
    labels, _ = _load(anat / f"{sid}_dseg.nii.gz")
    np.testing.assert_array_equal(labels, subject.labels)
    lesion, _ = _load(anat / f"{sid}_label-lesion_mask.nii.gz")
    np.testing.assert_array_equal(lesion > 0, subject.lesion_mask)
    assert subject.lesion_mask.any()


def test_participants_table_lists_every_subject(cohort, dataset):
    with open(dataset / "participants.tsv", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    assert list(rows[0]) == ["participant_id", "age", "sex", "site"]
    for row, subject in zip(rows, cohort, strict=True):
        assert row["participant_id"] == subject.subject_id and row["sex"] == subject.sex
        assert row["site"] == subject.site.name and float(row["age"]) == pytest.approx(subject.age, abs=0.05)


def test_sidecars_describe_the_site_and_the_dataset(cohort, dataset):
    subject = cohort[2]
    sidecar = json.loads((dataset / subject.subject_id / "anat" / f"{subject.subject_id}_T1w.json").read_text())
    assert sidecar["MagneticFieldStrength"] == subject.site.field_t
    assert sidecar["SyntheticSite"]["noise_sigma"] == subject.site.noise_sigma
    assert sidecar["SyntheticSubject"]["lesion_kind"] == subject.meta["lesion_kind"]
    description = json.loads((dataset / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and "seed=0" in description["GeneratedBy"][0]["Description"]
    derived = json.loads((dataset / "derivatives" / "synth" / "dataset_description.json").read_text())
    assert derived["DatasetType"] == "derivative"
    legend = (dataset / "derivatives" / "synth" / "dseg.tsv").read_text().splitlines()
    assert legend[0] == "index\tname" and "4\tlesion" in legend


def test_writing_again_replaces_the_dataset(tmp_path):
    first = write_bids(make_cohort(2, seed=0, spacing_mm=4.0), tmp_path / "ds")
    second = write_bids(make_cohort(2, seed=5, spacing_mm=4.0), tmp_path / "ds")
    assert first == second
    t1w, _ = _load(second / "sub-0001" / "anat" / "sub-0001_T1w.nii.gz")
    np.testing.assert_array_equal(t1w, make_cohort(2, seed=5, spacing_mm=4.0)[0].t1w.data)
