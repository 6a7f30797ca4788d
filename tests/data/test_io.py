"""Tests for brainfm_lite.data.io: NIfTI round trips, atomic saves, and rejection of every kind of bad file."""

import os
import tracemalloc
from pathlib import Path

import nibabel as nib
import nibabel.testing
import numpy as np
import pytest
from nibabel.arrayproxy import ArrayProxy

from brainfm_lite.data import io
from brainfm_lite.data.io import load_volume, save_volume
from brainfm_lite.errors import InputError

RNG_SEED = 0


def random_data(shape, seed=RNG_SEED):
    return np.random.default_rng(seed).normal(100.0, 20.0, size=shape).astype(np.float32)


def patch_header(path, header_dtype=nib.nifti1.header_dtype, **fields):
    """Overwrite header fields of an uncompressed NIfTI file in place, as a damaged file would have them."""
    raw = bytearray(path.read_bytes())
    header = np.frombuffer(raw, dtype=header_dtype, count=1).copy()
    for name, value in fields.items():
        header[name] = value
    raw[: header_dtype.itemsize] = header.tobytes()
    path.write_bytes(bytes(raw))
    return path


# ---------------------------------------------------------------------------------------------------------------
# Round trips and reading options
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_save_then_load_gives_back_data_affine_and_spacing(tmp_path, small_volume, suffix):
    path = save_volume(small_volume, tmp_path / f"brain{suffix}")
    loaded = load_volume(path)

    assert path == tmp_path / f"brain{suffix}"
    assert loaded.data.dtype == np.float32
    np.testing.assert_array_equal(loaded.data, small_volume.data)
    np.testing.assert_allclose(loaded.affine, small_volume.affine, atol=1e-5)
    assert loaded.affine.dtype == np.float64
    assert loaded.spacing_mm == pytest.approx((2.0, 2.0, 2.0))
    assert loaded.path == path
    assert loaded.meta["source"] == str(path)
    assert loaded.meta["orig_shape"] == (6, 7, 5)
    assert loaded.meta["orig_dtype"] == "float32"


def test_save_writes_scanner_qform_and_sform_in_mm(tmp_path, small_volume):
    path = save_volume(small_volume, tmp_path / "brain.nii.gz")

    image = nib.load(path)
    assert int(image.header["qform_code"]) == 1
    assert int(image.header["sform_code"]) == 1
    assert image.header.get_xyzt_units() == ("mm", "sec")
    assert image.header.get_data_dtype() == np.float32
    np.testing.assert_allclose(image.get_qform(), small_volume.affine, atol=1e-5)
    np.testing.assert_allclose(image.get_sform(), small_volume.affine, atol=1e-5)


def test_a_sheared_affine_goes_into_the_sform_alone(tmp_path, small_volume):
    # A qform cannot hold a shear: writing its nearest rigid part would give the file two geometries.
    affine = np.array([[-1.5, 0.2, 0.0, 3.0], [0.0, 1.5, 0.1, -7.0], [0.0, 0.0, 3.0, 11.0], [0.0, 0.0, 0.0, 1.0]])
    path = save_volume(small_volume.with_data(small_volume.data, affine=affine), tmp_path / "sheared.nii.gz")

    header = nib.load(path).header
    assert int(header["qform_code"]) == 0
    assert int(header["sform_code"]) == 1
    np.testing.assert_allclose(load_volume(path).affine, affine, atol=1e-5)


def test_save_and_load_4d_series(tmp_path, small_volume):
    series = small_volume.with_data(random_data((6, 7, 5, 3)))
    loaded = load_volume(save_volume(series, tmp_path / "series.nii.gz"), ndim=4)

    assert loaded.shape == (6, 7, 5, 3)
    np.testing.assert_array_equal(loaded.data, series.data)


def test_save_replaces_an_existing_file(tmp_path, small_volume):
    path = tmp_path / "brain.nii.gz"
    save_volume(small_volume, path)
    save_volume(small_volume.with_data(small_volume.data + 1.0), path)

    np.testing.assert_array_equal(load_volume(path).data, small_volume.data + 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brain.nii.gz"]


def test_integer_file_is_scaled_to_float32(tmp_path):
    stored = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    image = nib.Nifti1Image(stored, np.diag([1.0, 1.0, 1.0, 1.0]))
    image.header.set_slope_inter(0.5, 10.0)
    path = tmp_path / "scaled.nii"
    nib.save(image, path)

    loaded = load_volume(path)
    assert loaded.data.dtype == np.float32
    np.testing.assert_allclose(loaded.data, stored * 0.5 + 10.0)
    assert loaded.meta["orig_dtype"] == "int16"


def test_4d_file_without_index_explains_the_time_axis(write_nifti):
    path = write_nifti("bold.nii.gz", random_data((4, 5, 6, 3)))
    with pytest.raises(InputError) as caught:
        load_volume(path)
    message = str(caught.value)
    assert str(path) in message
    assert "axis 3 is time (3 volumes)" in message
    assert "index=" in message


def test_index_picks_that_volume(write_nifti):
    series = random_data((4, 5, 6, 3))
    path = write_nifti("bold.nii.gz", series)
    for k in range(3):
        volume = load_volume(path, index=k)
        assert volume.shape == (4, 5, 6)
        np.testing.assert_array_equal(volume.data, series[..., k])
        assert volume.meta["index"] == k
    # The picked volume can be changed in place without touching the file (nibabel's partial reads are read-only).
    volume.data[0, 0, 0] = -1.0


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_index_reads_one_volume_not_the_whole_series(write_nifti, suffix):
    path = write_nifti(f"bold{suffix}", random_data((32, 32, 32, 20)))
    series_bytes = 32 * 32 * 32 * 20 * 4

    tracemalloc.start()
    try:
        load_volume(path, index=7)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < series_bytes / 4


def test_4d_file_with_one_volume_loads_as_3d(write_nifti):
    data = random_data((4, 5, 6, 1))
    volume = load_volume(write_nifti("single.nii.gz", data))
    assert volume.shape == (4, 5, 6)
    np.testing.assert_array_equal(volume.data, data[..., 0])
    assert volume.meta["orig_shape"] == (4, 5, 6, 1)


def test_replace_nonfinite_fills_and_counts_bad_voxels(write_nifti):
    data = random_data((4, 5, 6))
    data[0, 0, 0] = np.nan
    data[1, 2, 3] = np.inf
    data[3, 4, 5] = -np.inf
    volume = load_volume(write_nifti("holes.nii.gz", data), replace_nonfinite=0.0)

    assert volume.meta["nonfinite_replaced"] == 3
    assert volume.data[0, 0, 0] == 0.0 and volume.data[1, 2, 3] == 0.0 and volume.data[3, 4, 5] == 0.0
    good = np.isfinite(data)
    np.testing.assert_array_equal(volume.data[good], data[good])


def test_nibabel_anatomical_scan_loads_with_2mm_spacing():
    path = os.path.join(nibabel.testing.data_path, "anatomical.nii")
    volume = load_volume(path)

    assert volume.shape == (33, 41, 25)
    assert volume.spacing_mm == pytest.approx((2.0, 2.0, 2.0))
    assert volume.affine[0, 0] < 0  # LAS: x runs right to left
    np.testing.assert_allclose(volume.data, nib.load(path).get_fdata(), rtol=1e-6)


def test_nibabel_example_4d_epi_loads_as_series_or_one_volume():
    path = os.path.join(nibabel.testing.data_path, "example4d.nii.gz")
    series = load_volume(path, ndim=4)
    second = load_volume(path, index=1)

    assert series.shape == (128, 96, 24, 2)
    np.testing.assert_array_equal(second.data, series.data[..., 1])
    with pytest.raises(InputError, match=r"axis 3 is time \(2 volumes\)"):
        load_volume(path)


# ---------------------------------------------------------------------------------------------------------------
# Bad files and arguments for load_volume
# ---------------------------------------------------------------------------------------------------------------


def missing_file(tmp_path, write_nifti):
    return tmp_path / "absent.nii.gz", {}


def directory(tmp_path, write_nifti):
    path = tmp_path / "folder.nii"
    path.mkdir()
    return path, {}


def wrong_suffix(tmp_path, write_nifti):
    path = tmp_path / "brain.mgz"
    path.write_bytes(b"\0" * 400)
    return path, {}


def analyze_pair(tmp_path, write_nifti):
    path = tmp_path / "brain.hdr"
    nib.save(nib.Nifti1Pair(random_data((4, 5, 6)), np.eye(4)), path)
    return path, {}


def text_named_nii(tmp_path, write_nifti):
    path = tmp_path / "notes.nii"
    path.write_text("these are not voxels\n" * 40)
    return path, {}


def not_gzip_named_nii_gz(tmp_path, write_nifti):
    path = tmp_path / "notes.nii.gz"
    path.write_text("these are not voxels\n" * 40)
    return path, {}


def bad_magic(tmp_path, write_nifti):
    return patch_header(write_nifti("brain.nii", random_data((4, 5, 6))), magic=b"xyz\0"), {}


def truncated_nii(tmp_path, write_nifti):
    path = write_nifti("brain.nii", random_data((8, 8, 8)))
    path.write_bytes(path.read_bytes()[:-100])
    return path, {}


def truncated_nii_gz(tmp_path, write_nifti):
    path = write_nifti("brain.nii.gz", random_data((20, 20, 20)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path, {}


def two_dimensional(tmp_path, write_nifti):
    return write_nifti("slice.nii.gz", random_data((8, 9))), {}


def five_dimensional(tmp_path, write_nifti):
    return write_nifti("vectors.nii.gz", random_data((4, 5, 6, 2, 3))), {}


def zero_length_axis(tmp_path, write_nifti):
    return patch_header(write_nifti("brain.nii", random_data((4, 5, 6))), dim=[3, 4, 0, 6, 1, 1, 1, 1]), {}


def complex_voxels(tmp_path, write_nifti):
    return write_nifti("phase.nii.gz", random_data((4, 5, 6)).astype(np.complex64)), {}


def singular_affine(tmp_path, write_nifti):
    # Columns 0 and 1 point the same way: the grid collapses onto a plane.
    affine = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    return write_nifti("brain.nii.gz", random_data((4, 5, 6)), affine=affine), {}


def zero_column_affine(tmp_path, write_nifti):
    # nibabel refuses to build such an image, so damage the stored sform: axis 1 then has no size.
    path = write_nifti("brain.nii", random_data((4, 5, 6)))
    return patch_header(path, srow_y=[0.0, 0.0, 0.0, -12.0]), {}


def nan_affine(tmp_path, write_nifti):
    path = write_nifti("brain.nii", random_data((4, 5, 6)))
    return patch_header(path, srow_x=[np.nan, 0.0, 0.0, 0.0]), {}


def zero_pixdim(tmp_path, write_nifti):
    return patch_header(write_nifti("brain.nii", random_data((4, 5, 6))), pixdim=[1, 2, 0, 2, 1, 1, 1, 1]), {}


def negative_pixdim(tmp_path, write_nifti):
    return patch_header(write_nifti("brain.nii", random_data((4, 5, 6))), pixdim=[1, -2, 2, 2, 1, 1, 1, 1]), {}


def nan_pixdim(tmp_path, write_nifti):
    return patch_header(write_nifti("brain.nii", random_data((4, 5, 6))), pixdim=[1, 2, np.nan, 2, 1, 1, 1, 1]), {}


def nonfinite_voxels(tmp_path, write_nifti):
    data = random_data((4, 5, 6))
    data[0, 0, :2] = np.nan
    data[3, 4, 5] = np.inf
    return write_nifti("holes.nii.gz", data), {}


def index_out_of_range(tmp_path, write_nifti):
    return write_nifti("bold.nii.gz", random_data((4, 5, 6, 3))), {"index": 3}


def index_on_3d_file(tmp_path, write_nifti):
    return write_nifti("brain.nii.gz", random_data((4, 5, 6))), {"index": 0}


def series_asked_of_3d_file(tmp_path, write_nifti):
    return write_nifti("brain.nii.gz", random_data((4, 5, 6))), {"ndim": 4}


@pytest.mark.parametrize(
    "make_input, expected",
    [
        pytest.param(missing_file, "no such file", id="missing"),
        pytest.param(directory, "is a directory", id="directory"),
        pytest.param(wrong_suffix, "expected a .nii or .nii.gz suffix", id="wrong-suffix"),
        pytest.param(analyze_pair, ".hdr/.img) are not supported", id="analyze-pair"),
        pytest.param(text_named_nii, "not a readable NIfTI file", id="text-named-nii"),
        pytest.param(not_gzip_named_nii_gz, "not a readable NIfTI file", id="not-gzip"),
        pytest.param(bad_magic, "not a readable NIfTI file", id="bad-magic"),
        pytest.param(truncated_nii, "file is cut short: its header needs 2400 bytes", id="truncated-nii"),
        pytest.param(truncated_nii_gz, "truncated or corrupt", id="truncated-nii-gz"),
        pytest.param(two_dimensional, "image is 2D", id="2d"),
        pytest.param(five_dimensional, "image is 5D", id="5d"),
        pytest.param(zero_length_axis, "axis 1 has length 0", id="zero-length-axis"),
        pytest.param(complex_voxels, "voxel type complex64", id="complex"),
        pytest.param(singular_affine, "affine is singular", id="singular-affine"),
        pytest.param(zero_column_affine, "voxel spacing from the affine", id="zero-spacing-affine"),
        pytest.param(nan_affine, "affine has NaN", id="nan-affine"),
        pytest.param(zero_pixdim, "pixdim", id="zero-pixdim"),
        pytest.param(negative_pixdim, "pixdim", id="negative-pixdim"),
        pytest.param(nan_pixdim, "pixdim", id="nan-pixdim"),
        pytest.param(nonfinite_voxels, "3 voxels are NaN or infinite", id="nonfinite-voxels"),
        pytest.param(index_out_of_range, "index=3 is out of range", id="index-out-of-range"),
        pytest.param(index_on_3d_file, "index=0 is out of range", id="index-on-3d"),
        pytest.param(series_asked_of_3d_file, "ndim=4 was asked for", id="ndim4-on-3d"),
    ],
)
def test_bad_input_raises_input_error_naming_the_file(tmp_path, write_nifti, make_input, expected):
    path, options = make_input(tmp_path, write_nifti)
    with pytest.raises(InputError) as caught:
        load_volume(path, **options)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def never_read_voxels(monkeypatch):
    """Make any attempt to read voxel data fail the test."""

    def fail(*args, **kwargs):
        raise AssertionError("voxel data was read")

    monkeypatch.setattr(ArrayProxy, "__array__", fail)
    monkeypatch.setattr(ArrayProxy, "__getitem__", fail)
    monkeypatch.setattr(nib.Nifti1Image, "get_fdata", fail)


@pytest.mark.parametrize(
    "dim, nifti2, expected",
    [
        pytest.param([3, 30000, 5, 6, 1, 1, 1, 1], False, "axis 0 has 30000 voxels", id="axis-30000"),
        pytest.param([3, 2048, 2048, 1024, 1, 1, 1, 1], False, "4294967296 voxels", id="total-2**32"),
        pytest.param([3, 4, 100000, 6, 1, 1, 1, 1], True, "axis 1 has 100000 voxels", id="nifti2-axis-100000"),
    ],
)
def test_absurd_header_dimensions_rejected_without_reading(write_nifti, monkeypatch, dim, nifti2, expected):
    path = write_nifti("huge.nii", random_data((4, 5, 6)), nifti2=nifti2)
    header_dtype = nib.nifti2.header_dtype if nifti2 else nib.nifti1.header_dtype
    patch_header(path, header_dtype=header_dtype, dim=dim)
    never_read_voxels(monkeypatch)

    with pytest.raises(InputError) as caught:
        load_volume(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "options, expected",
    [
        pytest.param({"ndim": 2}, "ndim must be 3 or 4", id="ndim-2"),
        pytest.param({"ndim": 4, "index": 0}, "needs ndim=3", id="index-with-ndim-4"),
        pytest.param({"index": 1.0}, "index must be an integer", id="float-index"),
        pytest.param({"replace_nonfinite": np.nan}, "must be a finite number", id="nan-replacement"),
    ],
)
def test_bad_arguments_raise_input_error(write_nifti, options, expected):
    path = write_nifti("bold.nii.gz", random_data((4, 5, 6, 2)))
    with pytest.raises(InputError, match=expected) as caught:
        load_volume(path, **options)
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------------------------------------------------------
# save_volume: atomic, and refuses what load_volume would reject
# ---------------------------------------------------------------------------------------------------------------


def fail_while_writing(monkeypatch):
    """nibabel writes half a file, then the disk fills up."""

    def write_half_then_fail(image, filename, **kwargs):
        Path(filename).write_bytes(b"\0" * 200)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nib.Nifti1Image, "to_filename", write_half_then_fail)


def fail_while_renaming(monkeypatch):
    """The file is written but the rename over the destination fails."""

    def refuse(source, destination):
        raise PermissionError(13, "Permission denied", str(destination))

    monkeypatch.setattr(io.os, "replace", refuse)


@pytest.mark.parametrize("make_it_fail", [fail_while_writing, fail_while_renaming], ids=["write", "rename"])
def test_failed_save_leaves_no_file_and_no_temporary(tmp_path, small_volume, monkeypatch, make_it_fail):
    path = tmp_path / "brain.nii.gz"
    make_it_fail(monkeypatch)
    with pytest.raises(InputError) as caught:
        save_volume(small_volume, path)

    assert str(path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_previous_file(tmp_path, small_volume, monkeypatch):
    path = save_volume(small_volume, tmp_path / "brain.nii")
    fail_while_writing(monkeypatch)
    with pytest.raises(InputError):
        save_volume(small_volume.with_data(small_volume.data * 0.0), path)
    monkeypatch.undo()

    np.testing.assert_array_equal(load_volume(path).data, small_volume.data)
    assert [p.name for p in tmp_path.iterdir()] == ["brain.nii"]


def nan_data(volume, tmp_path):
    data = volume.data.copy()
    data[1, 1, 1] = np.nan
    return volume.with_data(data), tmp_path / "out.nii.gz", "NaN or infinite voxels"


def inf_data(volume, tmp_path):
    data = volume.data.copy()
    data[1, 1, 1] = -np.inf
    return volume.with_data(data), tmp_path / "out.nii", "NaN or infinite voxels"


def zero_size_axis(volume, tmp_path):
    return volume.with_data(volume.data, affine=np.diag([2.0, 2.0, 0.0, 1.0])), tmp_path / "out.nii.gz", "spacing"


def collinear(volume, tmp_path):
    affine = np.array([[1.0, 2.0, 0.0, 0.0], [2.0, 4.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    return volume.with_data(volume.data, affine=affine), tmp_path / "out.nii.gz", "affine is singular"


def nan_in_affine(volume, tmp_path):
    affine = volume.affine.copy()
    affine[0, 3] = np.nan
    return volume.with_data(volume.data, affine=affine), tmp_path / "out.nii.gz", "affine has NaN"


def flat_data(volume, tmp_path):
    return volume.with_data(volume.data[:, :, 0]), tmp_path / "out.nii.gz", "only 3D"


def missing_directory(volume, tmp_path):
    return volume, tmp_path / "not-there" / "out.nii.gz", "does not exist"


def unknown_suffix(volume, tmp_path):
    return volume, tmp_path / "out.nrrd", "expected a .nii or .nii.gz suffix"


@pytest.mark.parametrize(
    "make_case",
    [nan_data, inf_data, zero_size_axis, collinear, nan_in_affine, flat_data, missing_directory, unknown_suffix],
)
def test_save_refuses_bad_volume_and_writes_nothing(tmp_path, small_volume, make_case):
    volume, path, expected = make_case(small_volume, tmp_path)
    with pytest.raises(InputError) as caught:
        save_volume(volume, path)

    assert str(path) in str(caught.value)
    assert expected in str(caught.value)
    assert list(tmp_path.iterdir()) == []
