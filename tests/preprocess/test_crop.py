"""crop_or_pad / bounding_box: exact output shape, world positions kept, the brain kept whole."""

import numpy as np
import pytest

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.crop import bounding_box, crop_or_pad

AFFINE = np.array([[-2.0, 0, 0, 40], [0, 2.5, 0, -60], [0, 0, 3.0, -30], [0, 0, 0, 1]])


def _head(shape=(40, 50, 30), centre=(14, 30, 17), radii=(8, 10, 6)):
    """A volume holding an ellipsoidal 'brain' of values 1..N (all different) away from the image centre."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    brain = (((grid - centre) / radii) ** 2).sum(axis=-1) <= 1
    data = np.zeros(shape, np.float32)
    data[brain] = np.arange(1, brain.sum() + 1)
    return Volume(data, AFFINE.copy()), brain


def _assert_world_positions_kept(before: Volume, after: Volume):
    """Every nonzero voxel of `after` holds the value of `before` at the same world point."""
    for index in np.argwhere(after.data != 0)[::7]:
        world = after.affine @ np.append(index, 1.0)
        source = np.linalg.solve(before.affine, world)[:3]
        assert np.allclose(source, np.round(source))
        assert before.data[tuple(np.round(source).astype(int))] == after.data[tuple(index)]


@pytest.mark.parametrize("shape", [(24, 28, 16), (64, 64, 64), (20, 80, 12)])
def test_output_has_the_exact_shape_and_keeps_world_positions(shape):
    volume, _ = _head()
    out = crop_or_pad(volume, shape)
    assert out.shape == shape
    assert np.count_nonzero(out.data) > 0
    _assert_world_positions_kept(volume, out)
    assert out.meta["crop_or_pad"]["shape"] == list(shape)


def test_the_brain_stays_whole_and_centred():
    volume, brain = _head()
    out = crop_or_pad(volume, (24, 28, 20), mask=brain)
    assert np.count_nonzero(out.data) == brain.sum()  # nothing of the brain was cut
    out_box = bounding_box(out.data != 0)
    centre = np.array([(b.start + b.stop - 1) / 2 for b in out_box])
    assert np.all(np.abs(centre - (np.array(out.shape) - 1) / 2) <= 0.5)


def test_padding_uses_zero_or_the_volume_minimum():
    volume = Volume(np.full((6, 6, 6), -3.0, np.float32), AFFINE.copy())
    volume.data[2:4, 2:4, 2:4] = 5.0
    zero_padded = crop_or_pad(volume, (10, 10, 10))
    min_padded = crop_or_pad(volume, (10, 10, 10), fill="min")
    assert zero_padded.data[0, 0, 0] == 0.0 and min_padded.data[0, 0, 0] == -3.0
    assert (zero_padded.data == 5.0).sum() == 8 and (min_padded.data == 5.0).sum() == 8


def test_a_given_centre_becomes_the_middle_of_the_window():
    volume, _ = _head()
    out = crop_or_pad(volume, (11, 11, 11), center=(20, 25, 15))
    assert out.data[5, 5, 5] == volume.data[20, 25, 15]
    world_middle = out.affine @ np.array([5, 5, 5, 1.0])
    assert np.allclose(world_middle, volume.affine @ np.array([20, 25, 15, 1.0]))


def test_a_window_outside_the_image_is_all_padding():
    volume, _ = _head()
    out = crop_or_pad(volume, (8, 8, 8), center=(200, -100, 15))
    assert out.shape == (8, 8, 8) and not out.data.any()


def test_a_4d_volume_keeps_its_time_axis():
    volume, brain = _head()
    series = Volume(np.stack([volume.data, 2 * volume.data], axis=-1), volume.affine)
    out = crop_or_pad(series, (24, 28, 20), mask=brain)
    assert out.shape == (24, 28, 20, 2)
    assert np.array_equal(out.data[..., 1], 2 * out.data[..., 0])
    assert np.count_nonzero(out.data[..., 0]) == brain.sum()


def test_bounding_box_with_margin_is_clipped_to_the_array():
    mask = np.zeros((10, 12, 8), bool)
    mask[1:4, 5:9, 3] = True
    assert bounding_box(mask) == (slice(1, 4), slice(5, 9), slice(3, 4))
    assert bounding_box(mask, margin=2) == (slice(0, 6), slice(3, 11), slice(1, 6))


def test_empty_masks_and_bad_shapes_are_rejected():
    volume, brain = _head()
    with pytest.raises(InputError, match="empty"):
        bounding_box(np.zeros((3, 3, 3), bool))
    with pytest.raises(InputError, match="empty"):
        crop_or_pad(volume, (8, 8, 8), mask=np.zeros_like(brain))
    with pytest.raises(InputError, match="mask has shape"):
        crop_or_pad(volume, (8, 8, 8), mask=brain[:-1])
    for shape in [(8, 8), (8, 0, 8), (8.5, 8, 8)]:
        with pytest.raises(InputError, match="shape"):
            crop_or_pad(volume, shape)
