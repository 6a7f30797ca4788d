"""Dice and HD95 on masks whose answer is known: cubes shifted by k voxels."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.eval.metrics import dice, hd95


def cube(shift=(0, 0, 0), label=1, edge=6, size=20):
    labels = np.zeros((size, size, size), np.uint8)
    start = np.array([5, 5, 5]) + np.array(shift)
    labels[start[0]:start[0] + edge, start[1]:start[1] + edge, start[2]:start[2] + edge] = label
    return labels


@pytest.mark.parametrize("k", [1, 2, 3])
def test_dice_of_a_cube_shifted_by_k_voxels(k):
    # Overlap is (6 - k) x 6 x 6 of two 6^3 cubes: Dice = 2 (6 - k) 36 / (2 * 216) = (6 - k) / 6.
    assert dice(cube((k, 0, 0)), cube(), labels=(1,))[1] == pytest.approx((6 - k) / 6)


@pytest.mark.parametrize("k", [1, 2])
def test_hd95_of_a_shifted_cube_is_the_shift_in_mm(k):
    spacing_mm = (2.0, 3.0, 4.0)
    assert hd95(cube((0, k, 0)), cube(), labels=(1,), spacing_mm=spacing_mm)[1] == pytest.approx(3.0 * k)
    assert hd95(cube((0, 0, k)), cube(), labels=(1,), spacing_mm=spacing_mm)[1] == pytest.approx(4.0 * k)


def test_identical_maps_score_perfectly_per_label():
    truth = cube() + cube((8, 8, 8), label=2, edge=4)
    assert dice(truth, truth, labels=(1, 2)) == {1: 1.0, 2: 1.0}
    assert hd95(truth, truth, labels=(1, 2), spacing_mm=4.0) == {1: 0.0, 2: 0.0}


def test_empty_mask_convention():
    empty, present = np.zeros((20, 20, 20), np.uint8), cube()
    assert dice(empty, empty, labels=(1,))[1] == 1.0       # nothing to find, nothing found
    assert dice(present, empty, labels=(1,))[1] == 0.0     # false positives only
    assert dice(empty, present, labels=(1,))[1] == 0.0     # missed entirely
    assert hd95(empty, empty, labels=(1,))[1] == 0.0
    assert np.isnan(hd95(empty, present, labels=(1,))[1])
    assert np.isnan(hd95(present, empty, labels=(1,))[1])


def test_mismatched_shapes_raise():
    with pytest.raises(InputError):
        dice(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)))
