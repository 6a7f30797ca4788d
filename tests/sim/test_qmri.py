"""Tests for brainfm_lite.sim.qmri: qMRI maps from tissue fractions, and the contrasts simulated from them."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics import signal
from brainfm_lite.physics.sequences import PRESETS, Sequence, sample_sequence
from brainfm_lite.physics.tissues import BACKGROUND, MAP_NAMES, TISSUES_3T
from brainfm_lite.sim import qmri
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.sim.qmri import (
    Compartments,
    contrast_ratios,
    core_labels,
    qmri_compartments,
    qmri_maps,
    simulate_contrast,
    subject_contrasts,
    tissue_means,
)

SHAPE = (24, 24, 24)
TOLERANCE = 0.03  # the smooth 3 % field and the noise may move a tissue mean slightly past its range


def _slabs():
    """Fractions in slabs along x: pure CSF, GM, WM, lesion, half GM/WM, half GM/CSF, and background."""
    fractions = {name: np.zeros(SHAPE, np.float32) for name in ("gm", "wm", "csf", "lesion")}
    fractions["csf"][2:5] = 1
    fractions["gm"][5:8] = 1
    fractions["wm"][8:11] = 1
    fractions["lesion"][11:14] = 1
    fractions["gm"][14:17] = fractions["wm"][14:17] = 0.5
    fractions["gm"][17:20] = fractions["csf"][17:20] = 0.5
    return fractions


REGIONS = {"csf": np.s_[2:5], "gm": np.s_[5:8], "wm": np.s_[8:11], "lesion": np.s_[11:14],
           "gm_wm": np.s_[14:17], "gm_csf": np.s_[17:20], "background": np.s_[20:]}


@pytest.fixture(scope="module")
def subject():
    return make_cohort(1, seed=1, spacing_mm=4.0, lesion_prob=1.0)[0]  # white-matter hyperintensities


def _median(maps, name, region):
    return float(np.median(maps[name][REGIONS[region]]))


def test_maps_are_finite_float32_with_positive_rates_everywhere():
    maps = qmri_maps(_slabs(), rng=0)
    assert set(maps) == set(MAP_NAMES)
    for name, values in maps.items():
        assert values.dtype == np.float32 and values.shape == SHAPE and np.isfinite(values).all(), name
    assert all(maps[name].min() > 0 for name in ("r1", "r2", "r2s"))
    assert 0 <= maps["pd"].min() and maps["pd"].max() <= 1
    assert 0 <= maps["mt"].min() and maps["mt"].max() < 1


def test_background_has_no_protons_and_the_background_rates():
    maps = qmri_maps(_slabs(), rng=0)
    assert np.all(maps["pd"][REGIONS["background"]] == 0)
    for name in ("r1", "r2", "r2s"):
        assert np.all(maps[name][REGIONS["background"]] == BACKGROUND[name])


@pytest.mark.parametrize("tissue", ["gm", "wm", "csf", "lesion"])
def test_tissue_values_fall_in_their_literature_ranges(tissue):
    for seed in range(4):
        maps = qmri_maps(_slabs(), rng=seed)
        for name in MAP_NAMES:
            low, high = TISSUES_3T[tissue].range(name)
            value = _median(maps, name, tissue)
            assert low * (1 - TOLERANCE) <= value <= high * (1 + TOLERANCE), (tissue, name, seed, value)


def test_subjects_differ_but_the_same_seed_repeats():
    first, again, other = qmri_maps(_slabs(), rng=1), qmri_maps(_slabs(), rng=1), qmri_maps(_slabs(), rng=2)
    for name in MAP_NAMES:
        np.testing.assert_array_equal(first[name], again[name])
    gm_r1 = [_median(qmri_maps(_slabs(), rng=seed), "r1", "gm") for seed in range(6)]
    assert np.ptp(gm_r1) > 0.02 * np.mean(gm_r1)  # per-subject draw, not one fixed value
    assert not np.array_equal(first["r1"], other["r1"])


def test_tissue_is_not_uniform_but_varies_by_a_few_percent():
    maps = qmri_maps(_slabs(), rng=0)
    relative_std = maps["r1"][REGIONS["wm"]].std() / maps["r1"][REGIONS["wm"]].mean()
    assert 0.003 < relative_std < 0.08


def test_lesion_replaces_white_matter_values():
    maps = qmri_maps(_slabs(), rng=0)
    assert _median(maps, "r1", "lesion") < 0.9 * _median(maps, "r1", "wm")
    assert _median(maps, "pd", "lesion") > _median(maps, "pd", "wm")
    assert _median(maps, "mt", "lesion") < _median(maps, "mt", "wm")


def test_adding_a_lesion_changes_only_the_lesion_voxels():
    with_lesion = _slabs()
    without = {**with_lesion, "lesion": np.zeros(SHAPE, np.float32)}
    first, second = qmri_maps(with_lesion, rng=4), qmri_maps(without, rng=4)
    outside_lesion = np.ones(SHAPE, bool)
    outside_lesion[REGIONS["lesion"]] = False
    for name in MAP_NAMES:
        np.testing.assert_array_equal(first[name][outside_lesion], second[name][outside_lesion])


def test_partial_volume_voxel_lies_between_its_tissues():
    maps = qmri_maps(_slabs(), rng=0)
    for name in ("pd", "r1"):  # the maps whose GM and WM ranges do not overlap
        gm, wm, mixed = (_median(maps, name, region) for region in ("gm", "wm", "gm_wm"))
        assert min(gm, wm) < mixed < max(gm, wm), name


def test_partial_volume_mixes_rates_weighted_by_proton_density(monkeypatch):
    monkeypatch.setattr(qmri, "SMOOTH_VARIATION", 0.0)
    monkeypatch.setattr(qmri, "WHITE_NOISE", 0.0)
    maps = qmri_maps(_slabs(), rng=0)
    pd_gm, pd_csf = _median(maps, "pd", "gm"), _median(maps, "pd", "csf")
    r1_gm, r1_csf = _median(maps, "r1", "gm"), _median(maps, "r1", "csf")
    assert _median(maps, "pd", "gm_csf") == pytest.approx((pd_gm + pd_csf) / 2, rel=1e-5)
    expected_r1 = (pd_gm * r1_gm + pd_csf * r1_csf) / (pd_gm + pd_csf)
    assert _median(maps, "r1", "gm_csf") == pytest.approx(expected_r1, rel=1e-5)


def test_bad_fractions_are_rejected():
    fractions = _slabs()
    with pytest.raises(InputError, match="csf"):
        qmri_maps({"gm": fractions["gm"], "wm": fractions["wm"]})
    with pytest.raises(InputError, match="shape"):
        qmri_maps({**fractions, "csf": np.zeros((4, 4, 4))})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        qmri_maps({**fractions, "gm": fractions["gm"] * 2})
    with pytest.raises(InputError, match="sum"):
        qmri_maps({**fractions, "wm": fractions["gm"]})  # GM and WM both 1 in the GM slab


@pytest.mark.parametrize("model", [qmri_maps, qmri_compartments])
def test_simulated_contrast_has_the_maps_grid_and_accepts_presets_and_sequences(model):
    maps = model(_slabs(), rng=0)
    for sequence in ("t1w", sample_sequence(0), sample_sequence(1), sample_sequence(0, kinds=["mp2rage"])):
        image = simulate_contrast(maps, sequence)
        assert image.shape == SHAPE and image.dtype == np.float32 and np.isfinite(image).all()
        assert np.all(image[REGIONS["background"]] == 0)
    with pytest.raises(InputError, match="preset"):
        simulate_contrast(maps, "dwi")


def test_mp2rage_is_stored_as_the_scanner_does_in_0_to_1():
    maps = qmri_maps(_slabs(), rng=0)
    image = simulate_contrast(maps, sample_sequence(0, kinds=["mp2rage"]))
    assert image.min() >= 0 and image.max() <= 1
    assert np.all(image[REGIONS["background"]] == 0)
    # Long T1 is dark on the uniform image: CSF < GM < WM, as on any T1-weighted scan.
    assert np.median(image[REGIONS["csf"]]) < np.median(image[REGIONS["gm"]]) < np.median(image[REGIONS["wm"]])


def test_the_same_subject_always_gets_the_same_maps(subject):
    first, again = qmri_maps(subject), qmri_maps(subject)
    np.testing.assert_array_equal(first["r1"], again["r1"])
    assert first["r1"].shape == subject.tissue["gm"].shape


def test_clinical_contrasts_order_tissues_as_a_radiologist_expects(subject):
    images = subject_contrasts(subject)
    assert set(images) == {"t1w", "t2w", "pdw", "flair"}
    assert np.array_equal(images["t1w"].affine, subject.t1w.affine)
    means = {name: tissue_means(image.data, subject.labels) for name, image in images.items()}
    t1w, t2w, flair = means["t1w"], means["t2w"], means["flair"]
    assert t1w["wm"] > t1w["gm"] > t1w["csf"]
    assert t2w["csf"] > t2w["gm"] > t2w["wm"]
    # FLAIR nulls fluid: the ventricles are the darkest tissue (the 4 mm voxels mostly CSF are tested below).
    assert flair["csf"] < min(flair["gm"], flair["wm"])
    assert t2w["lesion"] > t2w["gm"] > t2w["wm"]  # lesions are bright on T2w and FLAIR
    assert flair["lesion"] > 1.2 * max(flair["gm"], flair["wm"])


def test_tissue_means_and_contrast_ratios_of_a_labelled_image():
    labels = np.array([[[0, 1, 2, 3, 3]]])
    image = np.array([[[9.0, 1.0, 3.0, 4.0, 2.0]]])
    assert tissue_means(image, labels) == {"csf": 1.0, "gm": 3.0, "wm": 3.0}
    assert contrast_ratios(image, labels) == {"gm_wm": 1.0, "csf_wm": pytest.approx(1 / 3)}
    with pytest.raises(InputError, match="shape"):
        tissue_means(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(InputError, match="csf"):
        contrast_ratios(image, np.array([[[0, 2, 2, 3, 3]]]))


def test_core_labels_keep_only_voxels_mostly_of_their_tissue(subject):
    core = core_labels(subject, 0.8)
    kept = core > 0
    assert np.array_equal(core[kept], subject.labels[kept])
    assert 0 < kept.sum() < (subject.labels > 0).sum()
    for value, name in {1: "csf", 2: "gm", 3: "wm"}.items():
        assert subject.tissue[name][core == value].min() >= 0.8


# --- partial volume: per-tissue compartments (synthetic subjects) and voxelwise maps (one compartment) ---

PURE_CSF, PURE_WM, HALF_CSF_HALF_WM = 0, 1, 2


def _csf_wm_compartments():
    """Three voxels (pure CSF, pure WM, half of each) whose tissues have their midpoint values everywhere."""
    fractions = {"csf": np.array([1.0, 0.0, 0.5], np.float32), "wm": np.array([0.0, 1.0, 0.5], np.float32)}
    maps = {tissue: {name: np.full(3, TISSUES_3T[tissue].midpoint(name), np.float32) for name in MAP_NAMES}
            for tissue in fractions}
    return Compartments(fractions, maps)


def test_flair_of_a_4mm_subject_nulls_the_ventricles(subject):
    compartments = qmri_compartments(subject)
    core = core_labels(subject, 0.8)  # the ventricles at 4 mm: voxels at least 80 % CSF
    # The inversion time that nulls this subject's CSF (its T1 is drawn within the literature range, so the
    # preset's TI, tuned to the range's midpoint, nulls it only partly): TI = ln(2 / (1 + E1)) / R1.
    r1_csf = float(np.median(compartments.maps["csf"]["r1"]))
    tr = 9.0
    ti = float(np.log(2.0 / (1.0 + np.exp(-tr * r1_csf))) / r1_csf)
    nulling = Sequence("flair", {"tr": tr, "te": 0.12, "ti": ti})
    assert contrast_ratios(simulate_contrast(compartments, nulling), core)["csf_wm"] < 0.35
    # One compartment per voxel does not null the CSF that shares a voxel with brain: the ratio is far higher.
    assert contrast_ratios(simulate_contrast(compartments.voxel_maps(), nulling), core)["csf_wm"] > 0.5


@pytest.mark.parametrize("sequence", ["t2w", "pdw", "flair", sample_sequence(5, kinds=["gre"]),
                                      sample_sequence(6, kinds=["spgr"]), sample_sequence(7, kinds=["fse"])])
def test_half_csf_half_wm_voxel_gives_the_mean_of_the_pure_tissue_signals(sequence):
    image = simulate_contrast(_csf_wm_compartments(), sequence)
    assert image[HALF_CSF_HALF_WM] == pytest.approx((image[PURE_CSF] + image[PURE_WM]) / 2, rel=1e-5)


def test_inversion_recovery_sums_signed_signals_so_opposite_tissues_cancel():
    # At TI = 1 s WM has recovered past its null and CSF has not: a half-and-half voxel is darker than both
    # tissues (the dark boundary line of inversion-recovery magnitude images), not their mean.
    flair = Sequence("flair", {"tr": 9.0, "te": 0.02, "ti": 1.0})
    compartments = _csf_wm_compartments()
    image = simulate_contrast(compartments, flair)
    (csf,), (wm,) = (flair.readouts(**compartments.maps[tissue]) for tissue in ("csf", "wm"))
    assert csf[HALF_CSF_HALF_WM] < 0 < wm[HALF_CSF_HALF_WM]
    assert image[HALF_CSF_HALF_WM] == pytest.approx(abs(csf + wm)[HALF_CSF_HALF_WM] / 2, rel=1e-5)
    assert image[HALF_CSF_HALF_WM] < min(image[PURE_CSF], image[PURE_WM])


def test_mp2rage_forms_its_image_from_the_voxels_summed_readouts():
    sequence = sample_sequence(0, kinds=["mp2rage"])
    compartments = _csf_wm_compartments()
    image = simulate_contrast(compartments, sequence)
    csf, wm = (sequence.readouts(**compartments.maps[tissue]) for tissue in ("csf", "wm"))
    gre1, gre2 = ((csf_readout + wm_readout)[HALF_CSF_HALF_WM] / 2 for csf_readout, wm_readout in zip(csf, wm))
    assert image[HALF_CSF_HALF_WM] == pytest.approx(signal.mp2rage_uniform(gre1, gre2) + 0.5, rel=1e-5)
    # The uniform image of the mean readouts, not the mean of the two uniform images.
    assert abs(image[HALF_CSF_HALF_WM] - (image[PURE_CSF] + image[PURE_WM]) / 2) > 0.01
    assert 0 <= image.min() and image.max() <= 1
    assert image[PURE_CSF] < image[PURE_WM]


def test_voxelwise_maps_run_the_signal_equation_once_per_voxel():
    maps = _csf_wm_compartments().voxel_maps()
    for sequence in ("t1w", "flair", sample_sequence(2), sample_sequence(3)):
        sequence = PRESETS[sequence] if isinstance(sequence, str) else sequence
        np.testing.assert_array_equal(simulate_contrast(maps, sequence),
                                      np.asarray(sequence.simulate(**maps), dtype=np.float32))


def test_voxel_maps_are_the_compartments_mixed_and_pure_voxels_keep_their_tissue():
    fractions = _slabs()
    compartments = qmri_compartments(fractions, rng=3)
    maps = qmri_maps(fractions, rng=3)
    for name in MAP_NAMES:
        np.testing.assert_array_equal(maps[name], compartments.voxel_maps()[name])
        np.testing.assert_allclose(maps[name][REGIONS["wm"]], compartments.maps["wm"][name][REGIONS["wm"]],
                                   rtol=1e-6)


def test_subject_contrasts_sum_the_compartments_by_default(subject):
    flair = subject_contrasts(subject, ["flair"])["flair"].data
    np.testing.assert_array_equal(flair, simulate_contrast(qmri_compartments(subject), "flair"))
    np.testing.assert_array_equal(subject_contrasts(subject, ["flair"], maps=qmri_maps(subject))["flair"].data,
                                  simulate_contrast(qmri_maps(subject), "flair"))


def test_compartments_of_torch_tensors_give_the_numpy_image_as_a_tensor():
    compartments = qmri_compartments(_slabs(), rng=0)
    tensors = Compartments({tissue: torch.from_numpy(f) for tissue, f in compartments.fractions.items()},
                           {tissue: {name: torch.from_numpy(values) for name, values in maps.items()}
                            for tissue, maps in compartments.maps.items()})
    for sequence in ("t1w", sample_sequence(0, kinds=["mp2rage"])):
        image = simulate_contrast(tensors, sequence)
        assert isinstance(image, torch.Tensor)
        np.testing.assert_allclose(image.numpy(), simulate_contrast(compartments, sequence), rtol=1e-3, atol=1e-6)
