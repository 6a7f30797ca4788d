"""Tests for the synthetic ASL cohort: sites, perfusion and diagnoses, acquisition artefacts, determinism."""

from dataclasses import replace

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.asl.acquisition import ArtifactDraw
from brainfm_lite.sim.asl.cohort import make_asl_cohort, rescan
from brainfm_lite.sim.asl.perfusion import apply_diagnosis, healthy_perfusion, perfusion_grid
from brainfm_lite.sim.asl.sites import DIAGNOSES, make_asl_sites, white_paper_site

NO_ARTEFACT = ArtifactDraw(motion_mm=0.0, failure_loss=0.0, failure_territory="none", noise_factor=1.0)


@pytest.fixture(scope="module")
def cohort():
    return make_asl_cohort(40, 4, seed=1, spacing_mm=4.0)


@pytest.fixture(scope="module")
def person(cohort):
    """A subject without any diagnosis (its truth is the healthy model)."""
    return next(s for s in (cohort[k] for k in range(len(cohort))) if not any(s.labels.values()))


@pytest.fixture(scope="module")
def template():
    anatomy = load_anatomy(4.0)
    return anatomy, perfusion_grid(anatomy.shape, anatomy.affine)


def test_subject_is_deterministic_and_does_not_depend_on_cohort_size(cohort):
    small = make_asl_cohort(5, 4, seed=1, spacing_mm=4.0)
    a, b = small[3], cohort[3]
    np.testing.assert_array_equal(a.cbf.data, b.cbf.data)
    assert (a.labels, a.site, a.age, a.artifacts, a.quality) == (b.labels, b.site, b.age, b.artifacts, b.quality)
    other_seed = make_asl_cohort(5, 4, seed=2, spacing_mm=4.0)[3]
    assert not np.array_equal(other_seed.cbf.data, a.cbf.data)


def test_sites_stay_the_same_when_more_are_drawn():
    few, many = make_asl_sites(3, seed=0), make_asl_sites(7, seed=0)
    for a, b in zip(few, many):
        assert replace(a, weight=0.0) == replace(b, weight=0.0)
    assert sum(s.weight for s in many) == pytest.approx(1.0)
    assert {s.labelling for s in few} == {"pcasl", "pasl"}  # even three studies mix both labelling schemes


def test_subject_carries_what_the_tasks_need(cohort, person):
    assert set(person.labels) == set(DIAGNOSES) and set(person.artifacts) == {"motion", "labelling_failure",
                                                                                "noise", "transit"}
    assert 0.0 <= person.quality["qei"] <= 1.0
    assert person.sex in ("F", "M") and 20 <= person.age <= 90 and 0 <= person.site < 4
    for subject in (cohort[k] for k in range(10)):
        assert all((subject.severity[d] > 0) == bool(subject.labels[d]) for d in DIAGNOSES)
    assert person.cbf.shape == person.true_cbf.shape == person.tissue["gm"].shape
    assert cohort.site_of(person.index) == person.site


def test_records_are_the_same_in_parallel(cohort):
    small = make_asl_cohort(4, 4, seed=1, spacing_mm=4.0)
    serial = small.records(n_jobs=1)
    assert serial == small.records(n_jobs=2)
    assert serial[2]["regional_cbf"]["precuneus"] > 0 and "mca_l" in serial[2]["regional_cbf"]


def _ratio(after, before, mask):
    return float(after[mask].sum() / before[mask].sum())


@pytest.mark.parametrize("rng_seed", range(3))
def test_alzheimers_lowers_posterior_cbf_much_more_than_elsewhere(template, rng_seed):
    anatomy, grid = template
    cbf, att = healthy_perfusion(anatomy.gm, anatomy.wm, grid, age=70, sex="F", rng=np.random.default_rng(0))
    sick = cbf.copy()
    apply_diagnosis("alzheimers", 1.0, sick, att.copy(), grid, gm=anatomy.gm, rng=np.random.default_rng(rng_seed))
    lobes = grid.lobes
    for region in ("posterior_cingulate", "precuneus", "parietal_l", "parietal_r"):
        assert _ratio(sick, cbf, lobes[region]) < 0.85
    for region in ("frontal_l", "occipital_r", "cerebellum_l"):
        assert _ratio(sick, cbf, lobes[region]) > 0.9  # only the 5 % global loss, and a soft edge


@pytest.mark.parametrize("rng_seed", range(3))
def test_ftd_lowers_frontal_and_anterior_temporal_cbf_not_posterior(template, rng_seed):
    anatomy, grid = template
    cbf, att = healthy_perfusion(anatomy.gm, anatomy.wm, grid, age=60, sex="M", rng=np.random.default_rng(0))
    sick = cbf.copy()
    details = apply_diagnosis("ftd", 1.0, sick, att.copy(), grid, gm=anatomy.gm, rng=np.random.default_rng(rng_seed))
    worse = "l" if details["left"] >= details["right"] else "r"
    y = grid.positions_mm[1]
    assert _ratio(sick, cbf, grid.lobes[f"frontal_{worse}"] & (y > 20)) < 0.85
    assert _ratio(sick, cbf, grid.lobes["anterior_cingulate"]) < 0.9  # a thin region: the blurred edge dilutes it
    for region in ("occipital_l", "precuneus", "cerebellum_r"):
        assert _ratio(sick, cbf, grid.lobes[region]) > 0.99


def test_vascular_deficit_is_one_sided_in_the_mca_territory_with_longer_transit(template):
    anatomy, grid = template
    cbf, att = healthy_perfusion(anatomy.gm, anatomy.wm, grid, age=65, sex="F", rng=np.random.default_rng(0))
    kinds = set()
    for rng_seed in range(12):
        sick, late = cbf.copy(), att.copy()
        details = apply_diagnosis("vascular", 1.0, sick, late, grid, gm=anatomy.gm,
                                  rng=np.random.default_rng(rng_seed))
        kinds.add(details["kind"])
        side, other = details["side"], "r" if details["side"] == "l" else "l"
        territory = grid.territories[f"mca_{side}"] & (anatomy.gm > 0.3)
        assert _ratio(sick, cbf, territory) < 0.9
        assert (late - att)[territory].mean() > 0.2
        assert _ratio(sick, cbf, grid.territories[f"mca_{other}"]) > 0.97
        assert _ratio(sick, cbf, grid.territories["posterior_fossa"]) > 0.99
    assert kinds == {"stenosis", "infarct"}


def test_unknown_diagnosis_and_bad_severity_are_refused(template):
    anatomy, grid = template
    cbf, att = healthy_perfusion(anatomy.gm, anatomy.wm, grid, age=65, sex="F", rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="unknown diagnosis"):
        apply_diagnosis("migraine", 0.5, cbf, att, grid, gm=anatomy.gm, rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="severity"):
        apply_diagnosis("ftd", 1.5, cbf, att, grid, gm=anatomy.gm, rng=np.random.default_rng(0))


def test_clean_scan_with_delay_longer_than_transit_recovers_true_cbf(person):
    clean = rescan(person, white_paper_site(), NO_ARTEFACT)  # PLD 1.8 s, 3 mm voxels: no blur on a 4 mm grid
    arrived = (person.tissue["gm"] > 0.5) & (person.att.data < 1.7)
    ratio = clean.cbf.data[arrived] / person.true_cbf.data[arrived]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    assert np.percentile(np.abs(ratio - 1), 90) < 0.05  # only the little physiological noise left under BS
    assert clean.quality["qei"] > 0.9


@pytest.mark.parametrize("artefact, scans", [
    ("motion", [NO_ARTEFACT, replace(NO_ARTEFACT, motion_mm=1.0), replace(NO_ARTEFACT, motion_mm=3.0)]),
    ("labelling_failure", [NO_ARTEFACT, replace(NO_ARTEFACT, failure_loss=0.5, failure_territory="carotid_l"),
                           replace(NO_ARTEFACT, failure_loss=0.9, failure_territory="carotid_l")]),
    ("noise", [NO_ARTEFACT, replace(NO_ARTEFACT, noise_factor=3.0), replace(NO_ARTEFACT, noise_factor=8.0)]),
])
def test_artefacts_raise_their_known_amount_and_lower_qei(person, artefact, scans):
    site = replace(white_paper_site(noise=0.004), background_suppression=False)
    results = [rescan(person, site, draw, seed=5) for draw in scans]
    amounts = [r.artifacts[artefact] for r in results]
    qeis = [r.quality["qei"] for r in results]
    assert amounts[0] < amounts[1] < amounts[2]
    assert qeis[0] > qeis[1] > qeis[2]


def test_transit_artefact_grows_as_the_delay_shortens(person):
    results = [rescan(person, replace(white_paper_site(noise=0.004), pld=pld), NO_ARTEFACT) for pld in (2.0, 1.0, 0.5)]
    transit = [r.artifacts["transit"] for r in results]
    assert transit[0] < 0.01 < transit[1] < transit[2]
    assert results[0].quality["qei"] > results[2].quality["qei"]
    gm = person.tissue["gm"] > 0.5
    assert results[2].cbf.data[gm].mean() < 0.9 * results[0].cbf.data[gm].mean()  # late label: CBF underestimated


def test_sites_measure_the_same_person_differently(person):
    means = []
    for site in make_asl_sites(6, seed=0):
        scan = rescan(person, site, NO_ARTEFACT)
        means.append(scan.cbf.data[person.tissue["gm"] > 0.5].mean())
    assert np.std(means) / np.mean(means) > 0.08  # efficiency, gain, M0, resolution and timing all differ


def test_bad_cohort_arguments_are_refused():
    with pytest.raises(InputError, match="n must be"):
        make_asl_cohort(0, 3)
    with pytest.raises(InputError, match="n_sites"):
        make_asl_cohort(5, 0)
    with pytest.raises(IndexError):
        make_asl_cohort(5, 2)[5]
