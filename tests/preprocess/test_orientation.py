"""to_ras / reorient: exact permutations and flips that keep every voxel's world position."""

import numpy as np
import pytest

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.orientation import reorient, to_ras


def _affine(columns, origin):
    """4x4 affine whose voxel axes point along `columns` (world RAS mm per voxel step)."""
    affine = np.eye(4)
    affine[:3, :3] = np.array(columns, dtype=float).T
    affine[:3, 3] = origin
    return affine


# (axis codes, affine): axis 0 goes toward the first letter, and so on; anisotropic voxels to catch mix-ups.
KNOWN = {
    "LAS": _affine([(-2, 0, 0), (0, 2.5, 0), (0, 0, 3)], (60, -80, -40)),
    "LPI": _affine([(-1, 0, 0), (0, -1.5, 0), (0, 0, -2)], (30, 40, 50)),
    "SRA": _affine([(0, 0, 3), (2, 0, 0), (0, 2.5, 0)], (-20, -50, -30)),
    "IPL": _affine([(0, 0, -3), (0, -2, 0), (-1.5, 0, 0)], (10, 20, 30)),
}


def _volume(affine, shape=(5, 6, 7)):
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    return Volume(data=data, affine=affine)


def _assert_world_positions_kept(before: Volume, after: Volume, n_voxels=20):
    """Each sampled voxel of `before` is found, with its value, at the same world point in `after`."""
    rng = np.random.default_rng(1)
    for _ in range(n_voxels):
        index = np.array([rng.integers(n) for n in before.shape[:3]])
        world = before.affine @ np.append(index, 1.0)
        index_after = np.linalg.solve(after.affine, world)[:3]
        assert np.allclose(index_after, np.round(index_after), atol=1e-9)  # lands exactly on a voxel
        assert after.data[tuple(np.round(index_after).astype(int))] == before.data[tuple(index)]


@pytest.mark.parametrize("codes", list(KNOWN))
def test_to_ras_gives_positive_diagonal_affine_and_keeps_world_positions(codes):
    volume = _volume(KNOWN[codes])
    ras = to_ras(volume)
    linear = ras.affine[:3, :3]
    assert np.all(np.diag(linear) > 0)
    assert np.count_nonzero(linear - np.diag(np.diag(linear))) == 0
    assert sorted(ras.spacing_mm) == sorted(volume.spacing_mm)
    assert ras.meta["orientation_in"] == codes
    _assert_world_positions_kept(volume, ras)


def test_to_ras_keeps_world_positions_of_an_oblique_volume():
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = KNOWN["SRA"].copy()
    affine[:3, :3] = rotation @ affine[:3, :3]
    volume = _volume(affine)
    ras = to_ras(volume)
    assert np.all(np.diag(ras.affine[:3, :3]) > 0)  # each axis now points closest to R, A, S
    _assert_world_positions_kept(volume, ras)


def test_to_ras_is_idempotent_and_leaves_ras_input_alone():
    ras = to_ras(_volume(KNOWN["SRA"]))
    again = to_ras(ras)
    assert np.array_equal(again.data, ras.data)
    assert np.array_equal(again.affine, ras.affine)
    assert again.meta["orientation_in"] == "RAS"


def test_to_ras_moves_each_frame_of_a_4d_volume_like_a_3d_one():
    series = _volume(KNOWN["LPI"], shape=(5, 6, 7, 3))
    ras = to_ras(series)
    assert ras.shape[3] == 3
    for t in range(3):
        frame = to_ras(Volume(series.data[..., t], series.affine))
        assert np.array_equal(ras.data[..., t], frame.data)
        assert np.array_equal(ras.affine, frame.affine)


def test_reorient_back_to_the_input_orientation_restores_the_volume():
    volume = _volume(KNOWN["IPL"])
    ras = to_ras(volume)
    back = reorient(ras, ras.meta["orientation_in"])
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.affine, volume.affine, atol=1e-12)


@pytest.mark.parametrize("codes", ["RAX", "RRS", "RA", ""])
def test_reorient_rejects_codes_that_are_not_an_orientation(codes):
    with pytest.raises(InputError, match="axcodes"):
        reorient(_volume(KNOWN["LAS"]), codes)


def test_to_ras_rejects_a_singular_affine():
    affine = KNOWN["LAS"].copy()
    affine[:3, 2] = 0
    with pytest.raises(InputError, match="singular"):
        to_ras(_volume(affine))
