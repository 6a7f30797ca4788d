"""Tests for brainfm_lite.datasets.seqinv_views: views change contrast but keep anatomy; the three variants."""

import numpy as np
import pytest
import torch

from brainfm_lite.datasets.seqinv_views import (
    SeqInvPairs,
    SeqInvViewConfig,
    SeqInvViews,
    maps_from_array,
    view_sequences,
)
from brainfm_lite.datasets.structural import StructuralDataset
from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import KINDS, sample_sequence
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.sim.qmri import preset


@pytest.fixture(scope="module")
def dataset():
    return StructuralDataset(make_cohort(2, seed=0, spacing_mm=4.0), size=(32, 32, 32))


@pytest.fixture(scope="module")
def subject(dataset):
    arrays = dataset.load(0)
    return maps_from_array(arrays["maps"]), arrays["brain"].astype(bool)


def dice(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(2 * (a * b).sum() / (a.sum() + b.sum()))


def test_two_contrasts_with_the_same_deformation_differ_in_intensity_but_not_in_anatomy(subject):
    maps, brain = subject
    views = SeqInvViews()
    t1 = views.view(maps, brain, preset("t1w"), seed=4)
    t2 = views.view(maps, brain, preset("t2w"), seed=4)
    assert dice(t1["mask"], t2["mask"]) > 0.99
    inside = t1["mask"][0] > 0
    correlation = np.corrcoef(t1["clean"][0][inside].numpy(), t2["clean"][0][inside].numpy())[0, 1]
    assert correlation < 0.5  # T1w and T2w invert the GM/WM/CSF order


def test_the_deformed_mask_follows_the_deformed_anatomy(subject):
    maps, brain = subject
    quiet = SeqInvViewConfig(corruption_prob=0.0)  # no noise: the clean image is non-zero where the brain went
    view = SeqInvViews(quiet).view(maps, brain, preset("pdw"), seed=7)
    assert not torch.equal(view["mask"][0].bool(), torch.from_numpy(brain))  # it did move
    raw = SeqInvViews(quiet).view(maps, np.ones_like(brain), preset("pdw"), seed=7)["clean"][0]
    signal = raw > raw.min() + 0.5 * raw.std()  # PD-weighted: the head is bright, the background 0
    assert dice(signal.float(), view["mask"][0]) > 0.9


def test_views_are_zscored_in_their_mask_and_corruption_changes_the_input_only(subject):
    maps, brain = subject
    noisy = SeqInvViewConfig(corruption_prob=1.0)
    view = SeqInvViews(noisy).view(maps, brain, preset("t1w"), seed=1)
    inside = view["mask"][0] > 0
    for name in ("image", "clean"):
        values = view[name][0][inside]
        assert abs(values.mean().item()) < 1e-4 and values.std().item() == pytest.approx(1.0, abs=1e-3)
        assert view[name][0][~inside].abs().max() == 0
    assert not torch.allclose(view["image"], view["clean"])


def test_variants_choose_their_sequences():
    rng = np.random.default_rng(0)
    a, b = view_sequences("seqinv", rng)
    assert a != b
    a, b = view_sequences("seqaug", rng)
    assert a == b and a != preset("t1w")
    assert view_sequences("baseline", rng) == (preset("t1w"), preset("t1w"))
    with pytest.raises(InputError):
        view_sequences("mixed", rng)


def test_pairs_dataset_items(dataset):
    torch.manual_seed(0)
    item = SeqInvPairs(dataset, "baseline")[1]
    for name in ("view1", "view2", "clean1", "clean2", "mask1", "mask2"):
        assert item[name].shape == (1, 32, 32, 32) and torch.isfinite(item[name]).all()
    assert int(item["index"]) == 1
    with pytest.raises(InputError):
        SeqInvPairs(dataset, "seqinvv")


@pytest.mark.parametrize("kind", KINDS)
def test_every_sequence_family_gives_a_view_that_correlates_with_its_clean_image(subject, kind):
    """MP2RAGE once gave signed views divided by a brain mean <= 0, whose noise folded the sign (r = -0.34)."""
    maps, brain = subject
    noisy = SeqInvViews(SeqInvViewConfig(corruption_prob=1.0))
    for seed in range(4):
        sequence = sample_sequence(np.random.default_rng(seed), kinds=[kind])
        view = noisy.view(maps, brain, sequence, seed=seed)
        inside = view["mask"][0] > 0
        r = np.corrcoef(view["image"][0][inside].numpy(), view["clean"][0][inside].numpy())[0, 1]
        assert r > 0.5, f"{kind} seed {seed}: r = {r:.2f}"


def test_default_views_keep_the_head_s_size_and_a_crop_rescales_it(subject):
    """A subject's size is what tells it apart across contrasts (the embedded cohort is one scaled template): the
    default views move and deform the head but do not rescale it; a crop-and-resize does."""
    maps, brain = subject
    still = {"flip_prob": 0.0, "elastic_prob": 0.0, "corruption_prob": 0.0}
    configs = {"default": SeqInvViewConfig(**still), "crop": SeqInvViewConfig(min_crop_fraction=0.75, **still)}
    volumes = {name: [float(SeqInvViews(config).view(maps, brain, preset("t1w"), seed=seed)["mask"].sum())
                      for seed in range(4)] for name, config in configs.items()}
    assert volumes["default"] == [float(brain.sum())] * 4
    assert max(abs(v / brain.sum() - 1) for v in volumes["crop"]) > 0.1
