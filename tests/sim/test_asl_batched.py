"""Tests for brainfm_lite.sim.asl.batched: a batch simulated on torch is the same subjects as the numpy path, maps equal
to float32 rounding, for every labelling scheme, readout, M0 mode, diagnosis and labelling failure of the cohort."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.sim.asl.batched import simulate_asl_batch
from brainfm_lite.sim.asl.cohort import make_asl_cohort

# Subjects of the seed-0, 6-study cohort at 4 mm (prevalence x3) that between them cover every protocol and
# diagnosis branch of the simulation: 0 pCASL 3D with a carotid labelling failure, 1 PASL 2D, 4 alzheimers and a
# stenosis, 6 healthy, 7 a posterior labelling failure, 13 and 22 infarcts, 22 voxelwise M0 (the others: a reference
# value), 23 a global labelling failure, 35 pCASL 2D. Several share a study and a diagnosis, so the batch groups them.
INDICES = [0, 1, 4, 6, 7, 13, 22, 23, 35]
MAPS = ("true_cbf", "att", "delta_m", "m0", "cbf")
RTOL, ATOL_OF_MAX = 1e-4, 1e-5  # float32 rounding: relative, and absolute as a fraction of the map's largest value


@pytest.fixture(scope="module")
def cohort():
    return make_asl_cohort(36, 6, seed=0, spacing_mm=4.0, prevalence_scale=3.0)


@pytest.fixture(scope="module")
def pairs(cohort):
    """(numpy subjects, batched subjects) for INDICES."""
    return [cohort[k] for k in INDICES], simulate_asl_batch(cohort, INDICES, device="cpu")


def _assert_maps_close(result: np.ndarray, expected: np.ndarray, rtol=RTOL, atol_of_max=ATOL_OF_MAX):
    np.testing.assert_allclose(result, expected, rtol=rtol, atol=atol_of_max * np.abs(expected).max())


def test_the_subjects_cover_every_branch_of_the_simulation(cohort, pairs):
    numpy_subjects, _ = pairs
    sites = [cohort.sites[s.site] for s in numpy_subjects]
    assert {s.labelling for s in sites} == {"pcasl", "pasl"} and {s.readout for s in sites} == {"2d", "3d"}
    assert {s.m0_mode for s in sites} == {"voxelwise", "reference"}
    assert {name for s in numpy_subjects for name, label in s.labels.items() if label} == {"alzheimers", "vascular",
                                                                                            "ftd"}
    assert {s.effects["vascular"]["kind"] for s in numpy_subjects if "vascular" in s.effects} == {"stenosis",
                                                                                                  "infarct"}
    assert sum(s.artifacts["labelling_failure"] > 0 for s in numpy_subjects) >= 3


@pytest.mark.parametrize("name", MAPS)
def test_batched_maps_equal_the_numpy_maps_to_float32_rounding(pairs, name):
    for expected, result in zip(*pairs):
        got, want = getattr(result, name), getattr(expected, name)
        assert got.data.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_array_equal(got.affine, want.affine)
        _assert_maps_close(got.data, want.data)


def test_batched_anatomy_is_the_numpy_anatomy(pairs):
    for expected, result in zip(*pairs):
        for tissue in ("gm", "wm", "csf"):
            # scipy's interpolation and filters, in double as scipy computes: the same float32 fractions.
            np.testing.assert_allclose(result.tissue[tissue], expected.tissue[tissue], rtol=0, atol=1e-6)


def test_batched_subjects_have_the_numpy_labels_artefacts_and_qei(pairs):
    for expected, result in zip(*pairs):
        assert (result.index, result.site, result.age, result.sex) == (expected.index, expected.site, expected.age,
                                                                       expected.sex)
        assert (result.labels, result.severity, result.effects) == (expected.labels, expected.severity,
                                                                    expected.effects)
        assert result.artifacts == pytest.approx(expected.artifacts, rel=RTOL, abs=1e-6)
        assert result.quality["qei"] == pytest.approx(expected.quality["qei"], rel=RTOL)


def test_a_batch_of_one_and_other_orders_give_the_same_subject(cohort, pairs):
    _, batched = pairs
    position = INDICES.index(22)  # an infarct at a voxelwise-M0 site
    (alone,) = simulate_asl_batch(cohort, [22])
    reordered = simulate_asl_batch(cohort, [INDICES[0], 22, 22])
    for subject in (alone, reordered[1], reordered[2]):
        assert subject.index == 22 and subject.effects == batched[position].effects
        for name in MAPS:
            _assert_maps_close(getattr(subject, name).data, getattr(batched[position], name).data, rtol=1e-6,
                               atol_of_max=1e-6)


def test_indices_outside_the_cohort_are_refused_and_no_indices_give_no_subjects(cohort):
    with pytest.raises(InputError, match="indices"):
        simulate_asl_batch(cohort, [0, len(cohort)])
    assert simulate_asl_batch(cohort, []) == []
