"""Tests for brainfm_lite.preprocess.regions: geometric MNI regions on any grid."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.regions import region_masks, region_names, regional_means, soft_region, world_coordinates


def mni_grid(spacing_mm=4.0):
    """An MNI-aligned grid covering the brain (as the templates use: origin -98, -134, -72 mm)."""
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[:3, 3] = (-98.0, -134.0, -72.0)
    shape = tuple(int(np.ceil(extent / spacing_mm)) for extent in (198, 234, 190))
    return shape, affine


def region_at(masks, point_mm, affine):
    ijk = np.round(np.linalg.solve(affine, [*point_mm, 1.0])[:3]).astype(int)
    return [name for name, mask in masks.items() if mask[tuple(ijk)]]


def test_world_coordinates_follow_the_affine():
    shape, affine = mni_grid()
    x, y, z = world_coordinates(shape, affine)
    assert (x[0, 0, 0], y[0, 0, 0], z[0, 0, 0]) == (-98.0, -134.0, -72.0)
    assert x[1, 0, 0] - x[0, 0, 0] == 4.0 and z[0, 0, 2] == -64.0


@pytest.mark.parametrize("parcellation", ["lobes", "territories"])
def test_parcellations_cover_every_voxel_exactly_once(parcellation):
    shape, affine = mni_grid()
    masks = region_masks(shape, affine, parcellation=parcellation)
    assert list(masks) == region_names(parcellation)
    coverage = np.sum([m.astype(int) for m in masks.values()], axis=0)
    np.testing.assert_array_equal(coverage, 1)


@pytest.mark.parametrize("point, lobe, territory", [
    ((-4, -50, 28), "posterior_cingulate", "aca_l"),
    ((6, -68, 48), "precuneus", "aca_r"),     # medial parietal: ACA in front of the parieto-occipital sulcus
    ((-45, -55, 45), "parietal_l", "mca_l"),
    ((50, -20, -15), "temporal_r", "mca_r"),
    ((30, -90, 5), "occipital_r", "pca_r"),
    ((-35, 40, 20), "frontal_l", "mca_l"),
    ((20, -70, -40), "cerebellum_r", "posterior_fossa"),
])
def test_landmarks_fall_in_their_textbook_regions(point, lobe, territory):
    shape, affine = mni_grid(2.0)
    assert region_at(region_masks(shape, affine), point, affine) == [lobe]
    assert region_at(region_masks(shape, affine, parcellation="territories"), point, affine) == [territory]


def test_left_is_negative_x_and_hemispheres_mirror():
    shape, affine = mni_grid(2.0)  # symmetric about x = 0 (from -98 to +98 mm)
    masks = region_masks(shape, affine)
    x, _, _ = world_coordinates(shape, affine)
    off_midline = x[:, 0, 0] != 0  # the x = 0 plane goes to the right
    np.testing.assert_array_equal(masks["parietal_l"][off_midline], masks["parietal_r"][::-1][off_midline])
    assert np.all(x[masks["frontal_l"]] < 0) and np.all(x[masks["frontal_r"]] >= 0)


def test_within_restricts_the_regions():
    shape, affine = mni_grid()
    within = np.zeros(shape, dtype=bool)
    within[:, :, 20:] = True
    masks = region_masks(shape, affine, within=within)
    assert not any(m[:, :, :20].any() for m in masks.values())
    with pytest.raises(InputError, match="within has shape"):
        region_masks(shape, affine, within=within[:-1])


def test_soft_region_is_one_inside_zero_far_away_and_smooth():
    shape, affine = mni_grid()
    masks = region_masks(shape, affine)
    weight = soft_region(masks, ["occipital_l", "occipital_r"], spacing_mm=4.0, fwhm_mm=12.0)
    assert weight.min() >= 0 and weight.max() <= 1
    inner = masks["occipital_l"] & (world_coordinates(shape, affine)[1] < -100)
    assert weight[inner].mean() > 0.9
    assert weight[masks["frontal_l"]].max() < 0.01
    with pytest.raises(InputError, match="unknown regions"):
        soft_region(masks, ["occipital"], spacing_mm=4.0)


def test_regional_means_weighted_and_empty_regions_are_nan():
    image = np.arange(8, dtype=float).reshape(2, 2, 2)
    masks = {"low": image < 4, "high": image >= 4, "none": np.zeros_like(image, dtype=bool)}
    means = regional_means(image, masks)
    assert means["low"] == 1.5 and means["high"] == 5.5 and np.isnan(means["none"])
    weights = np.where(image == 7, 3.0, 1.0)
    assert regional_means(image, masks, weights=weights)["high"] == pytest.approx((4 + 5 + 6 + 21) / 6)


def test_unknown_parcellation_is_refused():
    shape, affine = mni_grid()
    with pytest.raises(InputError, match="unknown parcellation"):
        region_masks(shape, affine, parcellation="aal")
