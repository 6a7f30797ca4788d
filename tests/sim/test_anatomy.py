"""Tests for brainfm_lite.sim.anatomy: the MNI152 anatomy (T1, tissue fractions, ventricles) on coarse grids."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.sim.anatomy import load_anatomy


@pytest.fixture(scope="module")
def anatomy():
    return load_anatomy(4.0)


def test_grid_is_isotropic_ras_at_the_requested_spacing(anatomy):
    assert anatomy.spacing_mm == 4.0
    np.testing.assert_array_equal(np.diag(anatomy.affine)[:3], [4.0, 4.0, 4.0])
    assert np.count_nonzero(anatomy.affine[:3, :3] - np.diag(np.diag(anatomy.affine[:3, :3]))) == 0
    for name in ("t1", "gm", "wm", "csf", "ventricles"):
        array = getattr(anatomy, name)
        assert array.shape == anatomy.shape and array.dtype == np.float32, name


def test_fractions_lie_in_0_1_and_leave_room_for_background(anatomy):
    for name in ("gm", "wm", "csf"):
        fraction = getattr(anatomy, name)
        assert fraction.min() >= 0 and fraction.max() <= 1, name
    total = anatomy.gm + anatomy.wm + anatomy.csf
    assert total.max() <= 1 + 1e-5
    assert total[0, 0, 0] == 0  # a corner of the field of view is background


def test_block_averaging_keeps_tissue_volumes_across_spacings(anatomy):
    fine = load_anatomy(2.0)
    for name in ("gm", "wm", "csf"):
        coarse_ml = getattr(anatomy, name).sum(dtype=np.float64) * 4.0**3 / 1000
        fine_ml = getattr(fine, name).sum(dtype=np.float64) * 2.0**3 / 1000
        assert coarse_ml == pytest.approx(fine_ml, rel=1e-4), name
    # Both grids cover the same field of view: their first voxels' outer corners coincide.
    np.testing.assert_allclose(anatomy.affine[:3, 3] - 2.0, fine.affine[:3, 3] - 1.0)


def test_tissue_intensities_follow_t1_contrast(anatomy):
    intensity = anatomy.tissue_intensity
    assert intensity["wm"] > intensity["gm"] > intensity["csf"] > 0


def test_ventricles_are_a_central_part_of_the_csf(anatomy):
    assert np.all(anatomy.ventricles <= anatomy.csf)
    volume_ml = anatomy.ventricles.sum() * 4.0**3 / 1000
    assert 5 < volume_ml < 40  # young-adult lateral ventricles hold roughly 10-25 mL
    centre = anatomy.affine[:3, :3] @ np.argwhere(anatomy.ventricles > 0).mean(axis=0) + anatomy.affine[:3, 3]
    assert abs(centre[0] - anatomy.brain_centre_mm[0]) < 5  # both hemispheres, so centred on the midline


def test_cached_arrays_cannot_be_changed_in_place(anatomy):
    with pytest.raises(ValueError):
        anatomy.gm[0, 0, 0] = 1.0


@pytest.mark.parametrize("spacing_mm", [2.5, 0, -4, "four"])
def test_spacing_must_be_a_whole_number_of_mm(spacing_mm):
    with pytest.raises(InputError, match="whole number"):
        load_anatomy(spacing_mm)
