"""MNI152 template and brain mask from nilearn's bundled copy, as cached Volumes."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.orientation import axis_codes
from brainfm_lite.preprocess.templates import mni_brain_mask, mni_template


def test_the_2mm_template_is_the_ras_mni_grid():
    template = mni_template(2)
    assert template.shape == (99, 117, 95)
    assert template.spacing_mm == (2.0, 2.0, 2.0)
    assert axis_codes(template.affine) == "RAS"
    assert np.allclose(np.linalg.solve(template.affine, [0, 0, 0, 1])[:3], (49, 67, 36))  # MNI origin (AC)
    assert 0.0 <= template.data.min() and template.data.max() <= 1.0


def test_template_and_mask_share_the_grid_at_another_spacing():
    template, mask = mni_template(2, spacing_mm=4.0), mni_brain_mask(2, spacing_mm=4.0)
    assert template.shape == mask.shape and np.array_equal(template.affine, mask.affine)
    assert template.spacing_mm == (4.0, 4.0, 4.0)
    assert set(np.unique(mask.data)) == {0.0, 1.0}
    # skull-stripped: the signal is inside the mask
    assert template.data[mask.data == 0].mean() < 0.02 < 0.3 < template.data[mask.data == 1].mean()


def test_callers_get_copies_of_the_cache():
    first = mni_template(2, spacing_mm=4.0)
    first.data[:] = -1
    assert mni_template(2, spacing_mm=4.0).data.min() >= 0.0


@pytest.mark.parametrize("resolution, spacing_mm", [(3, None), (2, 0.0), (2, (2.0, 2.0, 2.0))])
def test_unsupported_grids_are_rejected(resolution, spacing_mm):
    with pytest.raises(InputError):
        mni_template(resolution, spacing_mm)


def test_tissue_maps_share_the_template_grid_and_reject_unknown_names():
    from brainfm_lite.preprocess.templates import mni_tissue

    gm, wm = mni_tissue("gm", 2), mni_tissue("wm", 2)
    assert gm.shape == wm.shape == mni_template(2).shape
    assert 0.0 <= gm.data.min() and gm.data.max() <= 1.0 and wm.data.max() > 0.9
    with pytest.raises(InputError, match="gm"):
        mni_tissue("csf")
