"""register_to_mni / apply_registration on moved copies of the 4 mm MNI template (fast, and the truth is known)."""

import json

import numpy as np
import pytest

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.registration import apply_registration, register_to_mni
from brainfm_lite.preprocess.resample import resample_like
from brainfm_lite.preprocess.templates import mni_brain_mask, mni_template

SPACING = 4.0


def _moved(volume: Volume, degrees=10.0, shift_mm=(8.0, 0.0, 0.0), scale=1.0) -> Volume:
    """The same voxels placed elsewhere in the world: rotated about x by `degrees` and scaled about the field of
    view's centre, then shifted by `shift_mm` (RAS)."""
    angle = np.deg2rad(degrees)
    linear = scale * np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    centre = volume.affine[:3, :3] @ ((np.array(volume.shape) - 1) / 2) + volume.affine[:3, 3]
    motion = np.eye(4)
    motion[:3, :3] = linear
    motion[:3, 3] = centre - linear @ centre + np.array(shift_mm)
    return volume.with_data(volume.data, motion @ volume.affine)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def template():
    return mni_template(2, spacing_mm=SPACING)


def test_rigid_registration_undoes_a_rotation_and_a_shift(template):
    moved = _moved(template)
    before = _correlation(resample_like(moved, template).data, template.data)
    registered = register_to_mni(moved, transform="rigid", spacing_mm=SPACING)
    after = _correlation(registered.data, template.data)
    assert before < 0.9 and after > 0.95
    assert registered.shape == template.shape and np.array_equal(registered.affine, template.affine)
    # Euler3D parameters: 3 angles (rad), 3 translations (mm, LPS); the rotation found is the one applied
    angles = np.rad2deg(registered.meta["registration"]["parameters"][:3])
    assert np.allclose(np.abs(angles), [10.0, 0.0, 0.0], atol=1.0)


def test_affine_registration_recovers_a_10_percent_scaling(template):
    moved = _moved(template, degrees=5.0, scale=1.1)
    affine = register_to_mni(moved, transform="affine", spacing_mm=SPACING)
    rigid = register_to_mni(moved, transform="rigid", spacing_mm=SPACING)
    matrix = np.reshape(affine.meta["registration"]["parameters"][:9], (3, 3))
    assert np.cbrt(np.linalg.det(matrix)) == pytest.approx(1.1, abs=0.02)
    assert _correlation(affine.data, template.data) > 0.95
    assert _correlation(rigid.data, template.data) < _correlation(affine.data, template.data) - 0.05
    assert [s["transform"] for s in affine.meta["registration"]["stages"]] == ["rigid", "affine"]


def test_registration_is_deterministic(template):
    moved = _moved(template, degrees=-7.0, shift_mm=(0.0, 5.0, -6.0))
    first = register_to_mni(moved, transform="rigid", spacing_mm=SPACING)
    second = register_to_mni(moved, transform="rigid", spacing_mm=SPACING)
    assert np.array_equal(first.data, second.data)
    assert first.meta["registration"]["parameters"] == second.meta["registration"]["parameters"]


def test_meta_records_the_registration_and_is_json_serialisable(template):
    registered = register_to_mni(_moved(template), transform="rigid", spacing_mm=SPACING)
    record = registered.meta["registration"]
    assert record["transform"] == "rigid" and record["spacing_mm"] == SPACING
    assert len(record["parameters"]) == 6 and record["iterations"] > 0
    assert np.isfinite(record["final_metric"]) and record["final_metric"] < 0  # Mattes MI: lower is better
    json.dumps(record)


def test_apply_registration_carries_a_mask_with_the_same_transform(template):
    moved = _moved(template)
    registered = register_to_mni(moved, transform="rigid", spacing_mm=SPACING)
    mask = mni_brain_mask(2, spacing_mm=SPACING)
    moved_mask = moved.with_data(mask.data)  # the mask of the moved scan, on its grid
    mask_in_mni = apply_registration(moved_mask, registered.meta["registration"], order=0)
    assert set(np.unique(mask_in_mni.data)) == {0.0, 1.0}
    overlap = (mask_in_mni.data > 0.5) & (mask.data > 0.5)
    assert 2 * overlap.sum() / (mask_in_mni.data.sum() + mask.data.sum()) > 0.97


def test_bad_inputs_are_rejected(template):
    with pytest.raises(InputError, match="transform"):
        register_to_mni(template, transform="bspline")
    with pytest.raises(InputError, match="3D"):
        register_to_mni(Volume(np.ones((4, 4, 4, 2), np.float32), np.eye(4)))
