"""Tests for brainfm_lite.sim.cohort: the synthetic cohort (shape, ageing, lesions, sites), on 4 mm grids."""

import numpy as np
import pytest
from scipy import ndimage

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.cohort import LABELS, TISSUES, atrophy_fraction, make_cohort, make_subject
from brainfm_lite.sim.sites import Site

SPACING = 4.0
# A site that changes nothing: the anatomy as it is, in template units.
CLEAN = Site(name="clean", field_t=3.0, spacing_mm=(1.0, 1.0, 1.0), noise_sigma=0.0, bias_strength=0.0,
             intensity_scale=1.0)


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(10, seed=0, spacing_mm=SPACING)


@pytest.fixture(scope="module")
def subjects(cohort):
    return list(cohort)


def _arrays(subject):
    return {"t1w": subject.t1w.data, "labels": subject.labels, **subject.tissue}


def _assert_same_subject(first, second):
    for name, array in _arrays(first).items():
        np.testing.assert_array_equal(array, _arrays(second)[name], err_msg=name)


def _brain(subject, threshold=0.5):
    return (subject.tissue["gm"] + subject.tissue["wm"] + subject.tissue["lesion"]) > threshold


def _dice(a, b):
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_same_seed_gives_the_same_cohort_and_another_seed_another(cohort):
    again = make_cohort(10, seed=0, spacing_mm=SPACING)
    _assert_same_subject(cohort[3], again[3])
    other = make_cohort(10, seed=1, spacing_mm=SPACING)[3]
    assert not np.array_equal(cohort[3].tissue["gm"], other.tissue["gm"])
    assert not np.array_equal(cohort[3].t1w.data, other.t1w.data)


def test_subject_k_does_not_depend_on_cohort_size(cohort):
    small = make_cohort(3, seed=0, spacing_mm=SPACING)
    _assert_same_subject(small[2], cohort[2])
    assert small[2].subject_id == cohort[2].subject_id == "sub-0003"


def test_every_image_shares_the_anatomy_grid(subjects):
    anatomy = load_anatomy(SPACING)
    for subject in subjects:
        np.testing.assert_array_equal(subject.affine, anatomy.affine)
        np.testing.assert_array_equal(subject.t1w.affine, anatomy.affine)
        assert subject.t1w.data.dtype == np.float32 and subject.labels.dtype == np.uint8
        assert subject.lesion_mask.dtype == bool
        for array in _arrays(subject).values():
            assert array.shape == anatomy.shape


def test_fractions_lie_in_0_1_and_sum_to_at_most_one(subjects):
    for subject in subjects:
        assert set(subject.tissue) == set(TISSUES)
        for name, fraction in subject.tissue.items():
            assert fraction.dtype == np.float32 and fraction.min() >= 0 and fraction.max() <= 1, name
        assert sum(subject.tissue.values()).max() <= 1 + 1e-5


def test_labels_are_the_largest_fraction_inside_the_head(subjects):
    for subject in subjects:
        fractions = np.stack([subject.tissue[name] for name in TISSUES])
        inside = fractions.sum(axis=0) >= 0.5
        assert np.all(subject.labels[~inside] == LABELS["background"])
        np.testing.assert_array_equal(subject.labels[inside], fractions.argmax(axis=0)[inside] + 1)
        np.testing.assert_array_equal(subject.lesion_mask, subject.labels == LABELS["lesion"])


def test_subjects_differ_in_shape_but_stay_brain_like(subjects):
    anatomy = load_anatomy(SPACING)
    template_brain = (anatomy.gm + anatomy.wm) > 0.5
    brains = [_brain(subject) for subject in subjects]
    for brain in brains:
        assert 0.8 < _dice(brain, template_brain) < 0.99
    assert _dice(brains[0], brains[1]) < 0.99


def test_head_size_scales_the_intracranial_volume(subjects):
    icv = np.array([subject.summary()["icv_ml"] for subject in subjects])
    scale = np.array([subject.meta["head_scale"] for subject in subjects])
    assert np.corrcoef(icv, scale**3)[0, 1] > 0.9


def test_the_same_person_older_has_less_brain_and_more_csf():
    young, old = (make_subject(4, CLEAN, seed=0, spacing_mm=SPACING, lesion_prob=0.0, age=age) for age in (20, 80))
    young_row, old_row = young.summary(), old.summary()
    # Brain volume falls by exactly the modelled fraction; the skull (ICV) does not change.
    assert old_row["brain_ml"] == pytest.approx((1 - atrophy_fraction(80)) * young_row["brain_ml"], rel=2e-3)
    assert old_row["icv_ml"] == pytest.approx(young_row["icv_ml"], rel=1e-3)
    assert old_row["csf_ml"] > young_row["csf_ml"] + 100
    # The lateral ventricles widen: more CSF-labelled voxels around the template's ventricles.
    around_ventricles = ndimage.binary_dilation(load_anatomy(SPACING).ventricles > 0.2, iterations=2)
    ventricle_voxels = [np.count_nonzero((s.labels == LABELS["csf"]) & around_ventricles) for s in (young, old)]
    assert ventricle_voxels[1] > 1.3 * ventricle_voxels[0]
    # The T1w image darkens where tissue became CSF.
    assert old.t1w.data[_brain(young)].mean() < young.t1w.data[_brain(young)].mean()


def test_brain_loss_rate_is_realistic_after_40():
    for age in range(40, 90, 5):
        rate_per_year = atrophy_fraction(age + 1) - atrophy_fraction(age)  # of the brain at 20
        assert 0.002 <= rate_per_year <= 0.005, age
    assert atrophy_fraction(20) == 0 and atrophy_fraction(10) == 0


def test_brain_fraction_of_the_head_falls_with_age_across_the_cohort(subjects):
    table = [subject.summary() for subject in subjects]
    age = np.array([row["age"] for row in table])
    brain_fraction = np.array([row["brain_ml"] / row["icv_ml"] for row in table])
    assert np.corrcoef(age, brain_fraction)[0, 1] < -0.8


def test_lesions_replace_tissue_and_leave_the_rest_unchanged():
    kinds = set()
    for index in range(4):
        plain = make_subject(index, CLEAN, spacing_mm=SPACING, lesion_prob=0.0)
        lesioned = make_subject(index, CLEAN, spacing_mm=SPACING, lesion_prob=1.0)
        assert not plain.lesion_mask.any() and plain.tissue["lesion"].max() == 0
        assert lesioned.lesion_mask.any()
        kinds.add(lesioned.meta["lesion_kind"])
        np.testing.assert_array_equal(plain.tissue["csf"], lesioned.tissue["csf"])
        np.testing.assert_allclose(plain.tissue["gm"] + plain.tissue["wm"],
                                   lesioned.tissue["gm"] + lesioned.tissue["wm"] + lesioned.tissue["lesion"],
                                   atol=1e-5)
        # Lesions are darker than white matter on T1, and sit where there was brain tissue (partial-volume
        # voxels at the edge may have been labelled CSF before, never background).
        assert lesioned.t1w.data[lesioned.lesion_mask].mean() < plain.t1w.data[plain.labels == LABELS["wm"]].mean()
        before = plain.labels[lesioned.lesion_mask]
        assert np.all(before != LABELS["background"])
        assert np.mean(np.isin(before, [LABELS["gm"], LABELS["wm"]])) > 0.9
    assert kinds == {"wmh", "stroke"}


def test_site_changes_the_image_but_not_the_anatomy():
    biased = Site("biased", 3.0, (1.0, 1.0, 1.0), noise_sigma=0.0, bias_strength=0.2, intensity_scale=3.0)
    clean, with_bias = (make_subject(5, site, spacing_mm=SPACING) for site in (CLEAN, biased))
    for name in TISSUES:
        np.testing.assert_array_equal(clean.tissue[name], with_bias.tissue[name])
    brain = _brain(clean)
    log_ratio = np.log(with_bias.t1w.data[brain] / clean.t1w.data[brain])
    assert log_ratio.mean() == pytest.approx(np.log(3.0), abs=0.2)  # the intensity scale, times a bias near 1
    assert log_ratio.std() > 0.03  # a smooth field, not a constant


def test_cohort_assigns_sites_in_turn(cohort, subjects):
    assert [subject.site for subject in subjects] == [cohort.sites[k % 3] for k in range(10)]


def test_the_same_subject_at_4_and_2_mm_is_the_same_person():
    coarse, fine = (make_subject(1, CLEAN, spacing_mm=spacing_mm) for spacing_mm in (4.0, 2.0))
    assert (coarse.age, coarse.sex, coarse.meta["head_scale"]) == (fine.age, fine.sex, fine.meta["head_scale"])
    assert coarse.summary()["brain_ml"] == pytest.approx(fine.summary()["brain_ml"], rel=0.01)


def test_volume_returns_each_image_on_the_subject_grid(subjects):
    subject = subjects[0]
    for name in ("t1w", "gm", "wm", "csf", "lesion", "labels", "lesion_mask"):
        volume = subject.volume(name)
        assert isinstance(volume, Volume) and volume.shape == subject.labels.shape
        np.testing.assert_array_equal(volume.affine, subject.affine)
    np.testing.assert_array_equal(subject.volume("labels").data, subject.labels)
    with pytest.raises(InputError, match="t2w"):
        subject.volume("t2w")


def test_table_has_one_consistent_row_per_subject(cohort, subjects):
    table = cohort.table()
    assert len(table) == len(cohort) == 10
    for row, subject in zip(table, subjects):
        assert row["subject_id"] == subject.subject_id and row["site"] == subject.site.name
        assert row["has_lesion"] == bool(subject.lesion_mask.any())
        assert row["brain_ml"] == pytest.approx(row["gm_ml"] + row["wm_ml"] + row["lesion_ml"], abs=0.02)
        assert 1000 < row["brain_ml"] < 2000 and 20 <= row["age"] <= 90 and row["sex"] in ("F", "M")


def test_cohort_indexing_follows_python_rules(cohort):
    assert cohort[-1].subject_id == "sub-0010"
    with pytest.raises(IndexError):
        cohort[10]


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "n must"), ({"n": 2, "seed": -1}, "seed"), ({"n": 2, "lesion_prob": 1.5}, "lesion_prob"),
    ({"n": 2, "age_range": (60, 30)}, "age_range"), ({"n": 2, "spacing_mm": 2.5}, "whole number"),
    ({"n": 2, "n_sites": 0}, "n_sites"),
])
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(InputError, match=message):
        make_cohort(**kwargs)
