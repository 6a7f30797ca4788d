"""resample / resample_like: world coordinates kept, values interpolated at the right places."""

import numpy as np
import pytest
from scipy import ndimage

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.resample import resample, resample_like


def _affine(spacing_mm, origin=(-30.0, -40.0, -20.0), rotation_deg=0.0):
    """RAS affine with voxels of `spacing_mm`, optionally rotated about z (oblique)."""
    angle = np.deg2rad(rotation_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(spacing_mm)
    affine[:3, 3] = origin
    return affine


def _world(volume: Volume) -> np.ndarray:
    """World coordinates (mm) of every voxel, shape [X, Y, Z, 3]."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in volume.shape[:3]], indexing="ij"), axis=-1)
    return index @ volume.affine[:3, :3].T + volume.affine[:3, 3]


def _fov_centre(volume: Volume) -> np.ndarray:
    return volume.affine[:3, :3] @ ((np.array(volume.shape[:3]) - 1) / 2) + volume.affine[:3, 3]


def _ramp(world: np.ndarray) -> np.ndarray:
    """A linear function of world position: linear interpolation reproduces it exactly."""
    return 0.5 * world[..., 0] - 0.25 * world[..., 1] + 0.125 * world[..., 2] + 40.0


def _inside(source: Volume, target: Volume, margin: float) -> np.ndarray:
    """Voxels of `target` whose centre lies at least `margin` source voxels inside the source grid."""
    world = _world(target)
    index = (world - source.affine[:3, 3]) @ np.linalg.inv(source.affine[:3, :3]).T
    upper = np.array(source.shape[:3]) - 1 - margin
    return np.all((index >= margin) & (index <= upper), axis=-1)


GRIDS = {
    "isotropic": ((20, 24, 18), (2.0, 2.0, 2.0), 0.0),
    "anisotropic": ((30, 22, 12), (1.0, 1.3, 3.0), 0.0),
    "oblique": ((20, 20, 16), (1.5, 1.5, 2.0), 25.0),
}


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("spacing_mm", [1.0, 2.5, 4.0, (1.2, 3.0, 2.0)])
def test_field_of_view_centre_moves_less_than_half_a_new_voxel(grid, spacing_mm):
    shape, old_spacing, rotation = GRIDS[grid]
    volume = Volume(np.zeros(shape, np.float32), _affine(old_spacing, rotation_deg=rotation))
    resampled = resample(volume, spacing_mm)
    shift = np.linalg.norm(_fov_centre(resampled) - _fov_centre(volume))
    assert shift < 0.5 * min(resampled.spacing_mm)
    assert np.allclose(resampled.spacing_mm, np.broadcast_to(spacing_mm, (3,)))
    expected_shape = np.floor(np.array(shape) * old_spacing / np.broadcast_to(spacing_mm, (3,)) + 0.5)  # halves up
    assert resampled.shape == tuple(expected_shape.astype(int))
    # direction cosines are kept
    old_directions = volume.affine[:3, :3] / np.array(volume.spacing_mm)
    assert np.allclose(resampled.affine[:3, :3] / np.array(resampled.spacing_mm), old_directions)


@pytest.mark.parametrize("grid", list(GRIDS))
def test_linear_resampling_reads_values_at_the_right_world_positions(grid):
    shape, old_spacing, rotation = GRIDS[grid]
    volume = Volume(np.zeros(shape, np.float32), _affine(old_spacing, rotation_deg=rotation))
    volume = volume.with_data(_ramp(_world(volume)))
    resampled = resample(volume, (1.7, 2.2, 1.4), order=1)
    inside = _inside(volume, resampled, margin=0.0)
    assert inside.sum() > 100
    assert np.allclose(resampled.data[inside], _ramp(_world(resampled))[inside], atol=1e-3)


@pytest.mark.parametrize("order, margin", [(1, 0.0), (3, 3.0)])
def test_a_constant_image_stays_constant_inside(order, margin):
    volume = Volume(np.full((24, 20, 16), 7.0, np.float32), _affine((1.0, 1.5, 2.0), rotation_deg=10))
    resampled = resample(volume, 1.3, order=order)
    inside = _inside(volume, resampled, margin=margin)
    assert inside.sum() > 100
    assert np.allclose(resampled.data[inside], 7.0, atol=1e-4)
    assert np.all(resampled.data[~_inside(volume, resampled, margin=-1.0)] == 0)  # outside the old grid: 0


def test_nearest_neighbour_keeps_the_label_set():
    rng = np.random.default_rng(0)
    labels = rng.choice([0, 1, 2, 5, 41], size=(16, 18, 14)).astype(np.float32)
    volume = Volume(labels, _affine((1.0, 1.2, 2.0), rotation_deg=15))
    for spacing_mm in (0.7, 1.9, (2.0, 1.0, 3.0)):
        resampled = resample(volume, spacing_mm, order=0)
        assert set(np.unique(resampled.data)) <= {0.0, 1.0, 2.0, 5.0, 41.0}
        assert len(np.unique(resampled.data)) == 5


def test_downsampling_keeps_the_mean_intensity():
    rng = np.random.default_rng(0)
    smooth = ndimage.gaussian_filter(rng.normal(size=(48, 48, 40)), sigma=3) * 30 + 100
    volume = Volume(smooth.astype(np.float32), _affine((1.0, 1.0, 1.0)))
    for spacing_mm in (2.0, 4.0, (2.0, 3.0, 4.0)):
        resampled = resample(volume, spacing_mm)
        assert abs(resampled.data.mean() - volume.data.mean()) < 0.005 * volume.data.mean()


def test_each_frame_of_a_4d_volume_is_resampled_like_a_3d_one():
    rng = np.random.default_rng(0)
    series = Volume(rng.normal(size=(10, 12, 8, 3)).astype(np.float32), _affine((2.0, 2.0, 3.0)))
    resampled = resample(series, 3.0)
    for t in range(3):
        assert np.array_equal(resampled.data[..., t], resample(Volume(series.data[..., t], series.affine), 3.0).data)


@pytest.mark.parametrize("spacing_mm", [0.0, -2.0, (1.0, 0.0, 1.0), (1.0, 2.0), "two", np.nan])
def test_invalid_spacing_is_rejected(spacing_mm):
    volume = Volume(np.zeros((4, 4, 4), np.float32), _affine((1.0, 1.0, 1.0)))
    with pytest.raises(InputError, match="spacing_mm"):
        resample(volume, spacing_mm)


def test_unknown_interpolation_order_is_rejected():
    volume = Volume(np.zeros((4, 4, 4), np.float32), _affine((1.0, 1.0, 1.0)))
    with pytest.raises(InputError, match="order"):
        resample(volume, 2.0, order=2)


def test_resample_like_lands_on_the_reference_grid_at_the_same_world_points():
    moving = Volume(np.zeros((20, 22, 18), np.float32), _affine((2.0, 2.0, 2.0), origin=(-20, -22, -18)))
    moving = moving.with_data(_ramp(_world(moving)))
    reference = Volume(np.zeros((15, 16, 20), np.float32),
                       _affine((1.5, 2.5, 1.0), origin=(-10, -15, -8), rotation_deg=30))
    moved = resample_like(moving, reference)
    assert moved.shape == reference.shape
    assert np.array_equal(moved.affine, reference.affine)
    inside = _inside(moving, reference, margin=0.0)
    assert inside.sum() > 100
    assert np.allclose(moved.data[inside], _ramp(_world(reference))[inside], atol=1e-3)


def test_resample_like_with_nearest_neighbour_keeps_a_mask_binary():
    mask = np.zeros((20, 20, 20), np.float32)
    mask[5:15, 4:12, 6:16] = 1
    moving = Volume(mask, _affine((2.0, 2.0, 2.0)))
    reference = Volume(np.zeros((40, 40, 40), np.float32),
                       _affine((1.3, 1.3, 1.3), origin=(-25, -50, -25), rotation_deg=20))
    moved = resample_like(moving, reference, order=0)
    assert set(np.unique(moved.data)) == {0.0, 1.0}
    # the mask's volume in mm^3 is kept to within a few percent
    assert abs(moved.data.sum() * 1.3**3 - mask.sum() * 8.0) < 0.05 * mask.sum() * 8.0
