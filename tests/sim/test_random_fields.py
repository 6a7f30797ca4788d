"""Tests for brainfm_lite.sim.random_fields: smooth Gaussian random fields and Gaussian blur in mm."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.sim.random_fields import (
    FWHM_TO_SIGMA,
    field_noise,
    gaussian_blur_mm,
    smooth_field_from_noise,
    smooth_random_field,
)

SHAPE = (32, 32, 32)


def _neighbour_correlation(field: np.ndarray, lag: int) -> float:
    """Correlation between voxels ``lag`` apart along x."""
    return float(np.corrcoef(field[:-lag].ravel(), field[lag:].ravel())[0, 1])


def test_field_is_float32_of_the_shape_with_zero_mean_and_unit_variance():
    field = smooth_random_field((20, 24, 28), 2.0, fwhm_mm=12.0, rng=np.random.default_rng(0))
    assert field.shape == (20, 24, 28) and field.dtype == np.float32
    assert abs(field.mean()) < 1e-5 and field.std() == pytest.approx(1.0, abs=1e-4)


def test_correlation_length_grows_with_the_fwhm():
    correlations = [_neighbour_correlation(smooth_random_field(SHAPE, 2.0, fwhm_mm=fwhm,
                                                               rng=np.random.default_rng(1)), lag=4)
                    for fwhm in (6.0, 20.0, 60.0)]
    assert correlations[0] < correlations[1] < correlations[2]
    assert correlations[0] < 0.5 < correlations[2]  # 8 mm apart: nearly independent at 6 mm, alike at 60 mm


def test_the_same_seed_gives_the_same_field_and_another_seed_another():
    first, again, other = (smooth_random_field(SHAPE, 4.0, fwhm_mm=20.0, rng=np.random.default_rng(seed))
                           for seed in (3, 3, 4))
    np.testing.assert_array_equal(first, again)
    assert abs(np.corrcoef(first.ravel(), other.ravel())[0, 1]) < 0.5  # two seeds: unrelated fields


@pytest.mark.parametrize("spacing_mm, fwhm_mm", [(2.0, 0.0), (2.0, -5.0), (0.0, 10.0)])
def test_non_positive_fwhm_or_spacing_is_rejected(spacing_mm, fwhm_mm):
    with pytest.raises(InputError, match="positive"):
        smooth_random_field(SHAPE, spacing_mm, fwhm_mm=fwhm_mm, rng=np.random.default_rng(0))


def test_blur_of_a_point_has_the_requested_fwhm_in_mm():
    point = np.zeros((41, 41, 41), np.float32)
    point[20, 20, 20] = 1
    blurred = gaussian_blur_mm(point, 8.0, spacing_mm=2.0)
    profile = blurred[:, 20, 20]
    position_mm = (np.arange(41) - 20) * 2.0
    sigma_mm = np.sqrt(np.sum(profile * position_mm**2) / np.sum(profile))
    assert sigma_mm == pytest.approx(8.0 * FWHM_TO_SIGMA, rel=0.03)
    assert blurred.sum() == pytest.approx(1.0, rel=1e-4)  # blurring moves signal, it does not create it


def test_blur_per_axis_and_zero_fwhm():
    image = np.random.default_rng(0).standard_normal((16, 16, 16)).astype(np.float32)
    assert gaussian_blur_mm(image, 0.0, spacing_mm=2.0) is image
    only_x = gaussian_blur_mm(image, (6.0, 0.0, 0.0), spacing_mm=2.0)
    # Smoothing along x only: neighbours along x become alike, neighbours along y stay as unrelated as before.
    assert _neighbour_correlation(only_x, 1) > 0.5
    assert abs(_neighbour_correlation(np.moveaxis(only_x, 1, 0), 1)) < 0.2


def test_a_torch_batch_of_noises_gives_each_subjects_numpy_field_and_blur():
    noises = [field_noise((20, 24, 28), 2.0, fwhm_mm=12.0, rng=np.random.default_rng(seed)) for seed in range(3)]
    fields = smooth_field_from_noise(torch.from_numpy(np.stack(noises)), (20, 24, 28), 2.0, fwhm_mm=12.0)
    assert fields.shape == (3, 20, 24, 28) and fields.dtype == torch.float32
    for seed, field in enumerate(fields):
        expected = smooth_random_field((20, 24, 28), 2.0, fwhm_mm=12.0, rng=np.random.default_rng(seed))
        np.testing.assert_allclose(field.numpy(), expected, rtol=1e-5, atol=1e-6)
    fwhm = torch.tensor([0.0, 3.0, 7.0], dtype=torch.float64).reshape(3, 1, 1, 1)  # one FWHM per item
    blurred = gaussian_blur_mm(fields, fwhm, spacing_mm=2.0)
    for field, item_fwhm, result in zip(fields.numpy(), (0.0, 3.0, 7.0), blurred.numpy()):
        np.testing.assert_allclose(result, gaussian_blur_mm(field, item_fwhm, spacing_mm=2.0), rtol=1e-6, atol=1e-6)
