"""Volume <-> SimpleITK: the same voxel sits at the same physical point (RAS in NIfTI, LPS in ITK)."""

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from brainfm_lite.data.sitk_bridge import from_sitk, single_threaded, to_sitk
from brainfm_lite.data.volume import Volume


def _oblique_las_volume():
    """An LAS, anisotropic, slightly oblique volume with distinct voxel values."""
    angle = np.deg2rad(12)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([-1.5, 2.0, 3.0])
    affine[:3, 3] = (20.0, -35.0, 12.0)
    data = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    return Volume(data, affine)


def test_a_voxel_maps_to_the_same_world_point_and_value():
    volume = _oblique_las_volume()
    image = to_sitk(volume)
    for index in [(0, 0, 0), (4, 1, 3), (2, 5, 6)]:
        ras = volume.affine @ np.append(index, 1.0)
        lps = np.array(image.TransformIndexToPhysicalPoint(index))
        assert np.allclose(lps, [-ras[0], -ras[1], ras[2]])
        assert image.GetPixel(index) == volume.data[index]


def test_round_trip_returns_the_same_volume():
    volume = _oblique_las_volume()
    back = from_sitk(to_sitk(volume), like=volume)
    assert np.array_equal(back.data, volume.data)
    assert np.allclose(back.affine, volume.affine, atol=1e-12)


def test_simpleitk_and_nibabel_agree_on_a_file_written_by_simpleitk(tmp_path):
    # An independent check of the conventions: ITK's own NIfTI writer converts LPS back to RAS.
    volume = _oblique_las_volume()
    path = tmp_path / "written_by_itk.nii.gz"
    sitk.WriteImage(to_sitk(volume), str(path))
    image = nib.load(path)
    assert np.allclose(image.affine, volume.affine, atol=1e-4)
    assert np.array_equal(image.get_fdata(dtype=np.float32), volume.data)


def test_single_threaded_restores_the_previous_thread_count():
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    with single_threaded():
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 1
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == before
