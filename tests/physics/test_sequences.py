"""Tests for brainfm_lite.physics.sequences: seeded sampler, parameter ranges, simulation and presets."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics import signal
from brainfm_lite.physics.sequences import KINDS, PRESETS, Sequence, sample_sequence
from brainfm_lite.physics.tissues import MAP_NAMES, TISSUES_3T

# Tissue midpoints (3 T) in the order WM, GM, CSF.
WM, GM, CSF = 0, 1, 2
TISSUE_MAPS = {name: np.array([TISSUES_3T[t].midpoint(name) for t in ("wm", "gm", "csf")]) for name in MAP_NAMES}

# Inclusive bounds per kind and parameter, from the sampler's documented table.
RANGES = {
    "mprage": {"tr": (1.9, 2.5), "te": (2e-3, 4e-3), "ti": (0.6, 1.2), "flip_deg": (5, 12),
               "n_excitations": (100, 200), "inversion_efficiency": (0.8, 1.0)},
    "mp2rage": {"tr": (6.25, 6.25), "ti1": (0.6, 0.9), "ti2": (2.2, 2.2), "flip1_deg": (3, 6),
                "flip2_deg": (3, 6), "n_excitations": (160, 160)},
    "gre": {"tr": (5e-3, 5.0), "te": (2e-3, 80e-3), "flip_deg": (5, 50)},
    "spgr": {"tr": (5e-3, 0.8), "te": (2e-3, 80e-3), "flip_deg": (5, 50)},
    "fse": {"tr": (2.0, 8.0), "te": (20e-3, 150e-3)},
    "flair": {"tr": (1e-3, 5.0), "te": (20e-3, 20e-3), "ti": (1e-3, 3.0)},
}


@pytest.fixture(scope="module")
def many_draws():
    rng = np.random.default_rng(2024)
    return [sample_sequence(rng) for _ in range(2000)]


def test_same_seed_gives_the_same_sequence():
    assert sample_sequence(7) == sample_sequence(7)
    assert [sample_sequence(np.random.default_rng(3)) for _ in range(3)] == \
        [sample_sequence(np.random.default_rng(3)) for _ in range(3)]
    assert len({repr(sample_sequence(seed)) for seed in range(20)}) == 20


def test_every_kind_is_drawn_about_uniformly(many_draws):
    counts = Counter(sequence.kind for sequence in many_draws)
    assert set(counts) == set(KINDS)
    assert all(250 < count < 420 for count in counts.values()), counts  # expected 333 +- 17


def test_parameters_stay_in_their_ranges(many_draws):
    for sequence in many_draws:
        for name, (low, high) in RANGES[sequence.kind].items():
            assert low <= sequence.params[name] <= high, (sequence.kind, name, sequence.params[name])
        assert 0.3 <= sequence.params["receive_scale"] <= 7.0
        if sequence.kind == "flair":
            assert sequence.params["ti"] <= sequence.params["tr"]


def test_log_uniform_parameters_are_spread_over_decades(many_draws):
    gre_tr = np.array([s.params["tr"] for s in many_draws if s.kind == "gre"])
    # Log-uniform over 5 ms..5 s: about a third of the draws in each decade.
    fraction_below_50ms = np.mean(gre_tr < 0.05)
    assert 0.25 < fraction_below_50ms < 0.42


def test_every_drawn_sequence_simulates_finite_images(many_draws):
    for sequence in many_draws[:300]:
        image = sequence.simulate(**TISSUE_MAPS)
        assert image.shape == (3,) and np.isfinite(image).all(), sequence


def test_kinds_restricts_the_draw_and_rejects_unknown_names():
    assert {sample_sequence(seed, kinds=["fse", "flair"]).kind for seed in range(50)} == {"fse", "flair"}
    with pytest.raises(InputError):
        sample_sequence(0, kinds=["t1w"])
    with pytest.raises(InputError):
        Sequence("dwi", {})


def test_receive_scale_multiplies_pd_except_for_mp2rage():
    params = {"tr": 5.0, "te": 0.1}
    plain = Sequence("fse", params).simulate(**TISSUE_MAPS)
    scaled = Sequence("fse", {**params, "receive_scale": 2.5}).simulate(**TISSUE_MAPS)
    np.testing.assert_allclose(scaled, 2.5 * plain)
    mp2rage = sample_sequence(1, kinds=["mp2rage"])
    unscaled = Sequence("mp2rage", {**mp2rage.params, "receive_scale": 1.0})
    np.testing.assert_allclose(mp2rage.simulate(**TISSUE_MAPS), unscaled.simulate(**TISSUE_MAPS))


def test_gre_uses_the_mt_map_when_given():
    sequence = Sequence("gre", {"tr": 0.025, "te": 0.005, "flip_deg": 20.0})
    expected = signal.spgr(TISSUE_MAPS["pd"], TISSUE_MAPS["r1"], TISSUE_MAPS["r2s"], tr=0.025, te=0.005,
                           flip_deg=20.0, mt=TISSUE_MAPS["mt"])
    np.testing.assert_allclose(sequence.simulate(**TISSUE_MAPS), expected)


def test_simulate_keeps_torch_tensors_and_asks_for_missing_maps():
    maps = {name: torch.from_numpy(values) for name, values in TISSUE_MAPS.items()}
    assert isinstance(PRESETS["t1w"].simulate(**maps), torch.Tensor)
    with pytest.raises(InputError, match="r2"):
        PRESETS["t2w"].simulate(TISSUE_MAPS["pd"], TISSUE_MAPS["r1"], r2s=TISSUE_MAPS["r2s"])


def _preset_image(name):
    return PRESETS[name].simulate(**TISSUE_MAPS)


def test_t1w_preset_has_wm_brighter_than_gm_brighter_than_csf():
    image = _preset_image("t1w")
    assert image[WM] > image[GM] > image[CSF]


def test_t2w_preset_has_csf_brighter_than_gm_brighter_than_wm():
    image = _preset_image("t2w")
    assert image[CSF] > image[GM] > image[WM]


def test_pdw_preset_has_low_contrast_with_csf_at_least_gm_above_wm():
    image = _preset_image("pdw")
    assert image[CSF] >= image[GM] > image[WM]
    assert image[GM] / image[WM] < 1.5  # much flatter than T2w
    t2w = _preset_image("t2w")
    assert image[CSF] / image[WM] < t2w[CSF] / t2w[WM]


def test_flair_preset_darkens_csf_and_keeps_gm_above_wm():
    image = _preset_image("flair")
    assert image[CSF] < 0.3 * image[WM]
    assert image[GM] > image[WM]
    # TI is close to the CSF null: ln(2) * T1 corrected for the finite TR.
    t1_csf, tr = 1 / TISSUE_MAPS["r1"][CSF], PRESETS["flair"].params["tr"]
    null = -t1_csf * math.log((1 + math.exp(-tr / t1_csf)) / 2)
    assert abs(PRESETS["flair"].params["ti"] - null) < 0.2


def test_readouts_keep_their_sign_and_simulate_forms_the_image_from_them(many_draws):
    for sequence in many_draws[:120]:
        readouts = sequence.readouts(**TISSUE_MAPS)
        assert len(readouts) == (2 if sequence.kind == "mp2rage" else 1)
        np.testing.assert_allclose(sequence.simulate(**TISSUE_MAPS), sequence.image_from_readouts(readouts))
    # Shortly after the inversion CSF has not recovered past zero: its readout is negative, its image positive.
    flair = Sequence("flair", {"tr": 9.0, "te": 0.1, "ti": 0.3})
    (signed,) = flair.readouts(**TISSUE_MAPS)
    assert signed[CSF] < 0 < flair.simulate(**TISSUE_MAPS)[CSF]


def test_mp2rage_image_of_summed_readouts_is_not_the_sum_of_images():
    sequence = sample_sequence(3, kinds=["mp2rage"])
    wm_and_csf = [(readout[WM] + readout[CSF]) / 2 for readout in sequence.readouts(**TISSUE_MAPS)]
    mixed = sequence.image_from_readouts(tuple(wm_and_csf))
    np.testing.assert_allclose(mixed, signal.mp2rage_uniform(*wm_and_csf))
    images = sequence.simulate(**TISSUE_MAPS)
    assert abs(mixed - (images[WM] + images[CSF]) / 2) > 0.01
