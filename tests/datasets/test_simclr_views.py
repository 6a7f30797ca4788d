"""Tests for brainfm_lite.datasets.simclr_views: seeded MONAI views of 3D-Neuro-SimCLR and the dataset of view pairs."""

import pytest
import torch

from brainfm_lite.datasets.simclr_views import SimCLRViewConfig, SimCLRViews, ViewPairs
from brainfm_lite.errors import InputError


def brain_like(size=24) -> torch.Tensor:
    """A smooth blob [1, X, Y, Z] with structure in every direction (so flips and rotations change it)."""
    axis = torch.linspace(-1, 1, size)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    return (torch.exp(-((x - 0.2) ** 2 + 2 * y**2 + 3 * (z + 0.1) ** 2) * 3) + 0.3 * x)[None]


def test_the_same_seed_gives_the_same_view_and_another_seed_another():
    image, views = brain_like(), SimCLRViews()
    first = views(image, seed=5)
    assert type(first) is torch.Tensor and first.shape == image.shape  # no MetaTensor, size kept
    torch.testing.assert_close(views(image, seed=5), first)
    assert not torch.allclose(views(image, seed=6), first)


def test_without_augmentation_a_view_is_the_image():
    config = SimCLRViewConfig(min_crop_fraction=1.0, flip_prob=0.0, rotation_prob=0.0, intensity_shift=0.0,
                              gamma=(1.0, 1.0))
    image = brain_like()
    torch.testing.assert_close(SimCLRViews(config)(image, seed=1), image, atol=1e-5, rtol=1e-5)


def test_a_crop_alone_zooms_in():
    config = SimCLRViewConfig(min_crop_fraction=0.5, flip_prob=0.0, rotation_prob=0.0, intensity_shift=0.0,
                              gamma=(1.0, 1.0))
    image = brain_like()
    views = [SimCLRViews(config)(image, seed=k) for k in range(5)]
    assert any(not torch.allclose(view, image, atol=1e-3) for view in views)


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
        SimCLRViews()(torch.zeros(8, 8, 8), seed=0)
