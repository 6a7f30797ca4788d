"""Tests for brainfm_lite.datasets.simclr_views: seeded MONAI views of 3D-Neuro-SimCLR and the dataset of view pairs."""

import pytest
import torch

from brainfm_lite.datasets.simclr_views import SimCLRViewConfig, SimCLRViews, ViewPairs, standardise_in_mask
from brainfm_lite.errors import InputError

STILL = {"min_crop_fraction": 1.0, "flip_prob": 0.0, "rotation_prob": 0.0, "intensity_prob": 0.0}


def brain_like(size=24) -> torch.Tensor:
    """A smooth blob [1, X, Y, Z] inside an ellipsoid "brain", 0 outside, with structure in every direction (so
    flips and rotations change it)."""
    axis = torch.linspace(-1, 1, size)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    inside = (x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.7) ** 2 < 1
    blob = torch.exp(-((x - 0.2) ** 2 + 2 * y**2 + 3 * (z + 0.1) ** 2) * 3) + 0.3 * x + 1.0
    return torch.where(inside, blob, torch.zeros(())).float()[None]


def test_the_same_seed_gives_the_same_view_and_another_seed_another():
    image, views = brain_like(), SimCLRViews()
    first = views(image, seed=5)
    assert type(first) is torch.Tensor and first.shape == image.shape  # no MetaTensor, size kept
    torch.testing.assert_close(views(image, seed=5), first)
    assert not torch.allclose(views(image, seed=6), first)


def test_without_augmentation_a_view_is_the_image_standardised_in_its_brain():
    image = brain_like()
    view = SimCLRViews(SimCLRViewConfig(**STILL))(image, seed=1)
    brain = image != 0
    torch.testing.assert_close(view, standardise_in_mask(image, brain), atol=1e-5, rtol=1e-5)
    assert abs(float(view[brain].mean())) < 1e-4 and abs(float(view[brain].std(unbiased=False)) - 1) < 1e-4
    assert torch.all(view[~brain] == 0)


def test_every_view_is_standardised_inside_its_brain_with_background_zero():
    image = 100 * brain_like() + 7.0 * (brain_like() != 0)  # raw scanner-like units: standardising undoes them
    for seed in range(6):
        view = SimCLRViews()(image, seed=seed)
        inside = view != 0
        assert inside.float().mean() > 0.05  # the crop holds anatomy
        assert abs(float(view[inside].mean())) < 1e-3 and abs(float(view[inside].std(unbiased=False)) - 1) < 1e-3


def test_the_flip_is_about_the_left_right_axis_only():
    image = brain_like()
    expected = {standardise_in_mask(image, image != 0), standardise_in_mask(image.flip(1), image.flip(1) != 0)}
    for seed in range(8):
        view = SimCLRViews(SimCLRViewConfig(**{**STILL, "flip_prob": 0.5}))(image, seed=seed)
        assert any(torch.allclose(view, option, atol=1e-5) for option in expected)


def test_the_rotation_is_about_the_inferior_superior_axis_only():
    image = brain_like()[..., 12:13].expand(1, 24, 24, 24).clone()  # the same in every axial slice
    config = SimCLRViewConfig(**{**STILL, "rotation_prob": 1.0})
    for seed in range(3):
        view = SimCLRViews(config)(image, seed=seed)
        torch.testing.assert_close(view, view[..., :1].expand_as(view))  # axial slices still all alike
        assert not torch.allclose(view, standardise_in_mask(image, image != 0), atol=1e-3)


def test_a_crop_alone_zooms_in_and_keeps_brain():
    image = brain_like()
    config = SimCLRViewConfig(**{**STILL, "min_crop_fraction": 0.3, "min_brain_fraction": 0.5})
    views = [SimCLRViews(config)(image, seed=k) for k in range(5)]
    assert any(not torch.allclose(view, standardise_in_mask(image, image != 0), atol=1e-3) for view in views)
    assert all((view != 0).float().mean() >= 0.45 for view in views)  # nearest-neighbour resize rounds a little


def test_pairs_differ_within_an_item_and_keep_site_and_index():
    dataset = [{"image": brain_like(), "site": torch.tensor(2), "index": torch.tensor(0)}]
    torch.manual_seed(0)
    item = ViewPairs(dataset)[0]
    assert item["view1"].shape == item["view2"].shape == (1, 24, 24, 24)
    assert not torch.allclose(item["view1"], item["view2"])
    assert int(item["site"]) == 2
    torch.manual_seed(0)
    torch.testing.assert_close(ViewPairs(dataset)[0]["view1"], item["view1"])  # reproducible from the global seed


def test_bad_config_and_input_raise_input_error():
    with pytest.raises(InputError):
        SimCLRViewConfig(min_crop_fraction=0.0)
    with pytest.raises(InputError):
        SimCLRViewConfig(gamma=(1.5, 0.5))
    with pytest.raises(InputError):
        SimCLRViewConfig(flip_axis=3)
    with pytest.raises(InputError):
        SimCLRViews()(torch.zeros(8, 8, 8), seed=0)
