"""Tests for brainfm_lite.physics._ndimage: the batched torch forms of the scipy.ndimage operations the simulators
use give scipy's numbers, item by item, and numpy input still goes to scipy itself."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from brainfm_lite.errors import InputError
from brainfm_lite.physics._ndimage import gaussian_filter, sample_linear, shift_linear, zoom_linear_wrap

SHAPE = (13, 17, 11)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).standard_normal((3, *SHAPE)).astype(np.float32)


@pytest.mark.parametrize("mode", ["reflect", "nearest", "wrap", "mirror"])
@pytest.mark.parametrize("sigma", [0.8, (1.3, 0.0, 2.5), 7.0])  # 7 voxels: the kernel is wider than the grid
def test_gaussian_filter_of_a_batch_is_scipys_of_each_image(images, mode, sigma):
    expected = np.stack([ndimage.gaussian_filter(image, sigma, mode=mode) for image in images])
    result = gaussian_filter(torch.from_numpy(images), sigma, mode=mode)
    assert result.dtype == torch.float32 and result.shape == images.shape
    # scipy accumulates in double and rounds to float32 after each axis; so does the torch form.
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_gaussian_filter_takes_one_sigma_per_item_and_leaves_sigma_zero_alone(images):
    sigmas = np.array([[0.0], [1.0], [2.5]])
    expected = np.stack([image if s == 0 else ndimage.gaussian_filter(image, s, mode="nearest")
                         for image, (s,) in zip(images, sigmas)])
    result = gaussian_filter(torch.from_numpy(images), sigmas, mode="nearest").numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(result[0], images[0])


def test_numpy_input_is_scipys_own_result(images):
    np.testing.assert_array_equal(gaussian_filter(images[0], 1.5, mode="nearest"),
                                  ndimage.gaussian_filter(images[0], 1.5, mode="nearest"))
    np.testing.assert_array_equal(shift_linear(images[0], (0.5, -1.2, 2.0)),
                                  ndimage.shift(images[0], (0.5, -1.2, 2.0), order=1, mode="nearest"))


def test_shift_of_a_batch_is_scipys_with_one_shift_per_item(images):
    shifts = np.array([[0.3, -2.7, 1.0], [0.0, 0.0, 0.0], [-4.5, 3.2, -0.1]])
    expected = np.stack([ndimage.shift(image, s, order=1, mode="nearest") for image, s in zip(images, shifts)])
    result = shift_linear(torch.from_numpy(images), torch.from_numpy(shifts).reshape(3, 1, 1, 3))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_sample_linear_is_map_coordinates_with_zero_outside_the_grid(images):
    index = np.random.default_rng(1).uniform(-1.0, 18.0, (2, 3, 5, 6, 7)).astype(np.float32)
    index[0, :, 0, 0, 0] = (0.0, 16.0, 10.0)  # the last voxel of an axis is inside; a hair beyond is outside
    index[0, :, 0, 0, 1] = (12.0001, 3.0, 3.0)
    grid = {"a": images[0], "b": images[1]}
    result = sample_linear({name: torch.from_numpy(image) for name, image in grid.items()}, torch.from_numpy(index))
    for name, image in grid.items():
        expected = np.stack([ndimage.map_coordinates(image, i, order=1, mode="constant", cval=0.0, output=np.float32)
                             for i in index])
        assert result[name].shape == (2, 5, 6, 7) and result[name].dtype == torch.float32
        np.testing.assert_allclose(result[name].numpy(), expected, rtol=1e-6, atol=1e-6)
    assert result["a"][0, 0, 0, 1] == 0 and result["a"][0, 0, 0, 0] == images[0][0, 16, 10]


def test_zoom_is_scipys_periodic_grid_mode_zoom():
    coarse = np.random.default_rng(2).standard_normal((2, 5, 7, 4))
    expected = np.stack([ndimage.zoom(c, [n / m for n, m in zip(SHAPE, c.shape)], order=1, grid_mode=True,
                                      mode="grid-wrap") for c in coarse])
    result = zoom_linear_wrap(torch.from_numpy(coarse), SHAPE)
    assert result.shape == (2, *SHAPE) and result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_bad_sigma_shape_and_mode_are_rejected(images):
    batch = torch.from_numpy(images)
    with pytest.raises(InputError, match="sigma"):
        gaussian_filter(batch, np.ones((2, 3)), mode="nearest")
    with pytest.raises(InputError, match="mode"):
        gaussian_filter(batch, 1.0, mode="grid-wrap")
