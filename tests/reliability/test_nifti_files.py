"""Issue 17, item 5: hostile NIfTI files and arguments get one clear InputError naming the file, before any large
allocation; a sheared affine is written with one geometry."""

import gzip
import os

import nibabel as nib
import numpy as np
import pytest
from nibabel.arrayproxy import ArrayProxy

from brainfm_lite.data.io import load_volume, save_volume
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError


def never_read_voxels(monkeypatch):
    """Make any attempt to read voxel data fail the test."""

    def fail(*args, **kwargs):
        raise AssertionError("voxel data was read")

    monkeypatch.setattr(ArrayProxy, "__array__", fail)
    monkeypatch.setattr(ArrayProxy, "__getitem__", fail)


def test_an_overflowing_scale_factor_is_diagnosed_as_such(tmp_path):
    image = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4))
    image.header.set_slope_inter(1e38, 0.0)  # 59 * 1e38 is far beyond float32
    path = tmp_path / "scaled.nii"
    nib.save(image, path)

    for options in ({}, {"replace_nonfinite": 0.0}):  # replacing would zero real data: refused either way
        with pytest.raises(InputError) as caught:
            load_volume(path, **options)
        message = str(caught.value)
        assert str(path) in message and "scl_slope=1e+38" in message and "float32" in message
        assert "pass replace_nonfinite" not in message


def test_stored_nan_voxels_are_still_reported_as_nan(write_nifti):
    data = np.ones((4, 5, 6), dtype=np.float32)
    data[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="1 voxels are NaN or infinite; pass replace_nonfinite"):
        load_volume(write_nifti("holes.nii.gz", data))


def test_a_small_gzip_file_claiming_gigabytes_is_refused_before_reading(tmp_path, monkeypatch):
    header = nib.Nifti1Header()
    header.set_data_dtype(np.float32)
    header.set_data_shape((1024, 1024, 1024))  # 4 GiB of float32
    header.set_sform(np.eye(4), code=1)
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4 + os.urandom(1 << 20)))  # about 1 MB
    never_read_voxels(monkeypatch)

    with pytest.raises(InputError) as caught:
        load_volume(path)
    assert str(path) in str(caught.value) and "4.0 GiB" in str(caught.value)


def test_voxels_beyond_the_memory_cap_or_the_free_memory_are_refused_up_front(write_nifti, monkeypatch):
    path = write_nifti("brain.nii.gz", np.ones((16, 16, 16), dtype=np.float32))
    never_read_voxels(monkeypatch)
    with pytest.raises(InputError, match="max_bytes") as caught:
        load_volume(path, max_bytes=1000)
    assert str(path) in str(caught.value)

    monkeypatch.setenv("BRAINFM_MAX_MEMORY_GB", "1e-6")  # about 1 kB
    with pytest.raises(InputError, match="BRAINFM_MAX_MEMORY_GB"):
        load_volume(path)
    monkeypatch.delenv("BRAINFM_MAX_MEMORY_GB")

    from brainfm_lite.data import memory  # here, not at the top: the module is new

    monkeypatch.setattr(memory, "available_memory", lambda: 4096)
    with pytest.raises(InputError, match="available now") as caught:
        load_volume(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("options, name", [
    ({"replace_nonfinite": "0"}, "replace_nonfinite"),
    ({"replace_nonfinite": True}, "replace_nonfinite"),
    ({"replace_nonfinite": 1e39}, "replace_nonfinite"),
    ({"index": True}, "index"),
    ({"index": np.True_}, "index"),
    ({"ndim": 3.0}, "ndim"),
], ids=["string-replacement", "bool-replacement", "replacement-beyond-float32", "bool-index", "numpy-bool-index",
        "float-ndim"])
def test_arguments_of_the_wrong_type_are_refused_by_name(write_nifti, options, name):
    path = write_nifti("bold.nii.gz", np.ones((4, 5, 6, 2), dtype=np.float32))
    with pytest.raises(InputError) as caught:
        load_volume(path, **options)
    assert str(path) in str(caught.value) and f"{name} must be" in str(caught.value)


def rotation_x(degrees: float, spacing_mm: float = 2.0) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    affine = np.diag([spacing_mm, spacing_mm, spacing_mm, 1.0])
    affine[1:3, 1:3] = spacing_mm * np.array([[c, -s], [s, c]])
    affine[:3, 3] = [5.0, -3.0, 8.0]
    return affine


SHEARED = np.array([[-1.5, 0.2, 0.0, 3.0], [0.0, 1.5, 0.1, -7.0], [0.0, 0.0, 3.0, 11.0], [0.0, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("affine, qform_code", [(SHEARED, 0), (rotation_x(10.0), 1)], ids=["sheared", "oblique"])
def test_qform_and_sform_never_disagree(tmp_path, affine, qform_code):
    path = save_volume(Volume(np.ones((4, 5, 6), dtype=np.float32), affine), tmp_path / "brain.nii.gz")
    image = nib.load(path)
    assert int(image.header["sform_code"]) == 1
    np.testing.assert_allclose(image.get_sform(), affine, atol=1e-5)
    # A reader that prefers the qform (ITK, FSL for some tools) finds the same geometry, or no qform at all.
    assert int(image.header["qform_code"]) == qform_code
    if qform_code:
        np.testing.assert_allclose(image.get_qform(), affine, atol=1e-5)
    np.testing.assert_allclose(load_volume(path).affine, affine, atol=1e-5)
