"""Tests for brainfm_lite.datasets.elastic: the control-point smooth deformation."""

import pytest
import torch

from brainfm_lite.datasets.elastic import RandSmoothDeform, warp
from brainfm_lite.errors import InputError


def test_zero_displacement_is_the_identity():
    image = torch.rand(2, 6, 7, 8)
    torch.testing.assert_close(warp(image, torch.zeros(3, 3, 3, 3)), image)


def test_uniform_displacement_shifts_by_whole_voxels_along_the_right_axis():
    image = torch.rand(1, 6, 7, 8)
    for axis in range(3):
        displacement = torch.zeros(3, 2, 2, 2)
        displacement[axis] = 1.0  # every output voxel reads its neighbour one voxel further along `axis`
        shifted = warp(image, displacement)
        kept = [slice(None)] * 4
        kept[axis + 1] = slice(0, -1)
        moved = [slice(None)] * 4
        moved[axis + 1] = slice(1, None)
        torch.testing.assert_close(shifted[tuple(kept)], image[tuple(moved)])


def test_seeded_random_deformation_is_reproducible_and_moves_channels_alike():
    image = torch.rand(1, 12, 12, 12)
    stack = torch.cat([image, image])
    deform = RandSmoothDeform(control_points=3, max_displacement=(2.0, 2.0))
    deform.set_random_state(seed=3)
    first = deform(stack)
    deform.set_random_state(seed=3)
    torch.testing.assert_close(deform(stack), first)
    torch.testing.assert_close(first[0], first[1])
    assert not torch.allclose(first, stack)


def test_bad_arguments_raise_input_error():
    with pytest.raises(InputError):
        RandSmoothDeform(control_points=1)
    with pytest.raises(InputError):
        RandSmoothDeform()(torch.rand(4, 4, 4))
