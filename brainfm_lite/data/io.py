"""Load and save NIfTI volumes (``.nii``, ``.nii.gz``), checking each file before trusting it.

`load_volume` reads the header first and rejects a damaged or absurd file before any large allocation;
`save_volume` writes to a temporary file beside the destination and renames it, so a failed write never leaves a
half-written image behind. Every problem raises `InputError` with the file's path and what is wrong with it.

Example:
    >>> volume = load_volume("sub-01_T1w.nii.gz")           # doctest: +SKIP
    >>> volume.shape, volume.spacing_mm                       # doctest: +SKIP
    ((176, 256, 256), (1.0, 1.0, 1.0))
    >>> save_volume(volume.with_data(volume.data * 2), "scaled.nii.gz")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import Opener
from nibabel.spatialimages import HeaderDataError

from brainfm_lite.atomic import atomic_path
from brainfm_lite.data.memory import check_memory, format_bytes
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError

# Limits on what a header may claim. No brain MRI comes near them, so a larger value means a damaged header,
# and rejecting it up front avoids asking for terabytes of memory.
MAX_AXIS_VOXELS = 4096
MAX_TOTAL_VOXELS = 2**31  # 8 GiB as float32

# Below these the affine cannot map voxels to world space in a usable way.
MIN_SPACING_MM = 1e-6
MIN_ABS_DETERMINANT = 1e-12  # mm^3 per voxel

# Deflate cannot shrink data by more than about 1032:1 (one 258-byte match per two bits), so a .nii.gz whose header
# describes more voxel bytes than this many times its size is cut short or lies about its shape.
MAX_GZIP_RATIO = 1100

FLOAT32_MAX = float(np.finfo(np.float32).max)

# What nibabel, gzip and zlib raise on a file that is not NIfTI, cut short or corrupted.
_READ_ERRORS = (ImageFileError, HeaderDataError, OSError, EOFError, zlib.error, ValueError)


def load_volume(
    path: str | os.PathLike,
    *,
    ndim: int = 3,
    index: int | None = None,
    replace_nonfinite: float | None = None,
    max_bytes: int | None = None,
) -> Volume:
    """Read a NIfTI file into a validated `Volume`.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file (NIfTI-1 or NIfTI-2).
        ndim: 3 for one volume [X, Y, Z]; 4 for a series [X, Y, Z, T]. With ``ndim=3``, a 4D file whose time
            axis has length 1 counts as 3D.
        index: with ``ndim=3``, which volume to take along the time axis (axis 3) of a 4D file. Only that
            volume is read from disk.
        replace_nonfinite: None to reject NaN or infinite voxels; a number to put in their place instead (their
            count goes to ``meta["nonfinite_replaced"]``).
        max_bytes: the most memory reading may take, in bytes (default: the environment variable
            ``BRAINFM_MAX_MEMORY_GB``, else no cap); the memory available now always limits it too.

    Returns:
        A Volume with float32 data (the file's scaling slope and intercept applied), the 4x4 voxel-to-world
        affine nibabel chooses (sform, else qform, else pixdim), ``path``, and ``meta`` with ``source``,
        ``orig_shape`` (shape in the file) and ``orig_dtype`` (voxel type in the file).

    Raises:
        InputError: the file is missing, not NIfTI, truncated or corrupt; has the wrong number of dimensions,
            an empty or absurdly large axis, a non-numeric voxel type, non-positive spacing, a singular or
            non-finite affine, scaling factors that overflow float32, non-finite voxels (unless
            ``replace_nonfinite``), more voxel data than a compressed file can hold or than memory allows; or an
            argument is invalid.
    """
    path = Path(path).expanduser()
    _check_arguments(path, ndim, index, replace_nonfinite)

    image = _open_nifti(path)
    header = _header_as_written(path, image)
    shape = _check_header(path, header, ndim, index)
    _check_affine(path, image.affine)
    _check_size(path, image, header, shape, max_bytes)
    data = _read_data(path, image, index).reshape(shape)

    meta = {"source": str(path), "orig_shape": tuple(image.shape), "orig_dtype": header.get_data_dtype().name}
    if index is not None:
        meta["index"] = index
    n_nonfinite = int(data.size - np.count_nonzero(np.isfinite(data)))
    if n_nonfinite:
        _check_scaling(path, image, header, index, n_nonfinite)
    if n_nonfinite and replace_nonfinite is None:
        raise InputError(
            f"{path}: {n_nonfinite} voxels are NaN or infinite; "
            "pass replace_nonfinite=0.0 (or another value) to replace them"
        )
    if replace_nonfinite is not None:
        data[~np.isfinite(data)] = replace_nonfinite
        meta["nonfinite_replaced"] = n_nonfinite
    return Volume(data=data, affine=image.affine, path=path, meta=meta)


def save_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write a `Volume` to a ``.nii`` or ``.nii.gz`` file, atomically.

    The image is written to a hidden temporary file in the destination's directory and then renamed over
    ``path``, so readers see either the old file or the complete new one (a temporary left by a crash is removed
    by the next save). The data is stored as float32; the affine goes into the sform with code 1 (scanner), units
    mm and seconds, and into the qform with code 1 too when the qform can hold it. A qform holds rotations,
    spacings and a flip only, so a sheared affine goes into the sform alone (qform code 0): the file then states
    one geometry, not the affine and a different rigid approximation of it. NIfTI stores the affine as float32,
    so it comes back equal to about 7 significant digits.

    Args:
        volume: a 3D [X, Y, Z] or 4D [X, Y, Z, T] volume with finite voxels and an invertible affine.
        path: destination; its directory must exist. An existing file is replaced.

    Returns:
        The destination path.

    Raises:
        InputError: bad file name, missing directory, data that `load_volume` would reject (wrong number of
            dimensions, empty or oversized axes, NaN/inf voxels, singular or non-finite affine), or a failed
            write. Nothing is written at ``path`` in any of these cases.
    """
    path = Path(path).expanduser()
    _nifti_suffix(path)  # refuses a name that is not .nii or .nii.gz
    if not path.parent.is_dir():
        raise InputError(f"{path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, cannot write a NIfTI file there")
    data = np.asarray(volume.data, dtype=np.float32)
    if data.ndim not in (3, 4):
        raise InputError(f"{path}: data has shape {data.shape}; only 3D [X, Y, Z] or 4D [X, Y, Z, T] can be saved")
    _check_dimensions(path, data.shape)
    _check_affine(path, volume.affine)
    n_nonfinite = int(data.size - np.count_nonzero(np.isfinite(data)))
    if n_nonfinite:
        raise InputError(f"{path}: refusing to save {n_nonfinite} NaN or infinite voxels")

    image = nib.Nifti1Image(data, volume.affine)
    image.set_qform(volume.affine, code=1)
    if not np.allclose(image.get_qform(), volume.affine, rtol=1e-5, atol=1e-5):
        image.set_qform(None, code=0)  # sheared: a qform would hold another geometry than the sform
    image.set_sform(volume.affine, code=1)
    image.header.set_xyzt_units("mm", "sec")

    try:
        with atomic_path(path) as temporary:  # keeps the .nii/.nii.gz suffix, so nibabel picks the format
            nib.save(image, temporary)
    except OSError as err:
        raise InputError(f"{path}: could not be written ({err})") from err
    return path


def _check_arguments(path: Path, ndim, index, replace_nonfinite) -> None:
    """Refuse arguments of the wrong type by name (True is an int to Python, "0" a string to numpy)."""
    if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim not in (3, 4):
        raise InputError(f"{path}: ndim must be 3 or 4, got {ndim!r}")
    if index is not None and (isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer))):
        raise InputError(f"{path}: index must be an integer, got {index!r}")
    if index is not None and ndim != 3:
        raise InputError(f"{path}: index= picks one 3D volume, so it needs ndim=3 (got ndim={ndim})")
    if replace_nonfinite is not None:
        number = not isinstance(replace_nonfinite, (bool, np.bool_)) and isinstance(
            replace_nonfinite, (int, float, np.integer, np.floating))
        if not number or not abs(float(replace_nonfinite)) <= FLOAT32_MAX:
            raise InputError(f"{path}: replace_nonfinite must be a finite number (within float32) or None, "
                             f"got {replace_nonfinite!r}")


def _nifti_suffix(path: Path) -> str:
    """The NIfTI suffix of ``path`` as spelled there (``.nii`` or ``.nii.gz``, any case); InputError otherwise."""
    name = path.name.lower()
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return path.name[-len(suffix) :]
    if name.endswith((".hdr", ".img", ".hdr.gz", ".img.gz")):
        raise InputError(
            f"{path}: Analyze or NIfTI pair files (.hdr/.img) are not supported; convert to one .nii.gz first, "
            "e.g. nibabel.save(nibabel.load(path), 'image.nii.gz')"
        )
    raise InputError(f"{path}: not a NIfTI file name (expected a .nii or .nii.gz suffix)")


def _open_nifti(path: Path) -> nib.Nifti1Image:
    """Open ``path`` lazily: nibabel parses the header and reads no voxels yet."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a NIfTI file")
    _nifti_suffix(path)
    try:
        # mmap=False: read voxels into memory so that no file stays mapped (and locked on Windows) afterwards.
        return nib.load(path, mmap=False)
    except _READ_ERRORS as err:
        raise InputError(f"{path}: not a readable NIfTI file ({err})") from err


def _header_as_written(path: Path, image: nib.Nifti1Image) -> nib.Nifti1Header:
    """The header exactly as stored in the file.

    ``nib.load`` silently "fixes" some fields (a zero pixdim becomes 1, a negative one positive); the checks
    must see what the file really says.
    """
    with Opener(path) as fileobj:
        return type(image.header).from_fileobj(fileobj, check=False)


def _check_header(path: Path, header: nib.Nifti1Header, ndim: int, index: int | None) -> tuple[int, ...]:
    """Check the header alone and return the shape the voxel array will have.

    Args:
        path: the file, for messages.
        header: its header as written.
        ndim: 3 or 4, as asked by the caller.
        index: the volume asked for along axis 3, or None.

    Returns:
        [X, Y, Z] or [X, Y, Z, T]: the file's shape without trailing length-1 axes beyond ``ndim``, and
        without the time axis when ``index`` is given.
    """
    file_shape = tuple(int(n) for n in header.get_data_shape())
    _check_dimensions(path, file_shape)

    shape = file_shape
    while len(shape) > ndim and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) < 3:
        raise InputError(f"{path}: image is {len(shape)}D with shape {file_shape}; a 3D volume [X, Y, Z] is needed")
    if len(shape) > 4:
        raise InputError(
            f"{path}: image is {len(shape)}D with shape {file_shape}; "
            "only 3D [X, Y, Z] and 4D [X, Y, Z, T] images are supported"
        )
    if index is not None:
        n_volumes = file_shape[3] if len(file_shape) > 3 else 0
        if not 0 <= index < n_volumes:
            raise InputError(
                f"{path}: index={index} is out of range; the file has {n_volumes} volumes along axis 3 "
                f"(shape {file_shape})"
            )
        shape = shape[:3]
    elif len(shape) == 4 and ndim == 3:
        n_volumes = shape[3]
        raise InputError(
            f"{path}: expected a 3D volume but the file is 4D with shape {file_shape}: axis 3 is time "
            f"({n_volumes} volumes). Pick one with load_volume(path, index=k), 0 <= k < {n_volumes}, "
            "or load the series with ndim=4"
        )
    elif len(shape) != ndim:
        raise InputError(f"{path}: image is {len(shape)}D with shape {file_shape}; ndim={ndim} was asked for")

    dtype = header.get_data_dtype()
    if dtype.kind not in "iuf":
        raise InputError(f"{path}: voxel type {dtype} is not supported (integer or real floating point only)")
    spacing = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    if not np.all(np.isfinite(spacing) & (spacing > 0)):
        raise InputError(f"{path}: voxel spacing pixdim[1:4] = {spacing.tolist()} must be finite and positive")
    return shape


def _check_dimensions(path: Path, shape: tuple[int, ...]) -> None:
    """Reject empty axes and sizes no brain image has (a sign of a damaged header)."""
    for axis, length in enumerate(shape):
        if length <= 0:
            raise InputError(f"{path}: axis {axis} has length {length} (shape {shape}); the image is empty")
        if length > MAX_AXIS_VOXELS:
            raise InputError(
                f"{path}: axis {axis} has {length} voxels (shape {shape}), more than the {MAX_AXIS_VOXELS} "
                "allowed; the header is probably damaged"
            )
    n_voxels = int(np.prod(shape, dtype=object))  # Python integers: no overflow
    if n_voxels > MAX_TOTAL_VOXELS:
        raise InputError(
            f"{path}: shape {shape} has {n_voxels} voxels, more than the {MAX_TOTAL_VOXELS} allowed; "
            "the header is probably damaged"
        )


def _check_affine(path: Path, affine: np.ndarray) -> None:
    """Reject an affine that cannot map voxel indices to world mm and back."""
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise InputError(f"{path}: affine must be 4x4, got shape {affine.shape}")
    if not np.all(np.isfinite(affine)):
        raise InputError(f"{path}: affine has NaN or infinite entries:\n{affine}")
    if not np.array_equal(affine[3], [0.0, 0.0, 0.0, 1.0]):
        raise InputError(f"{path}: affine's last row must be [0, 0, 0, 1], got {affine[3].tolist()}")
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    if np.any(spacing < MIN_SPACING_MM):
        raise InputError(f"{path}: voxel spacing from the affine is {spacing.tolist()} mm; every axis needs a size")
    determinant = np.linalg.det(affine[:3, :3])
    if abs(determinant) < MIN_ABS_DETERMINANT:
        raise InputError(f"{path}: affine is singular (determinant {determinant:.3g}); it cannot place voxels in space")


def _check_size(path: Path, image: nib.Nifti1Image, header: nib.Nifti1Header, shape: tuple[int, ...],
                max_bytes: int | None) -> None:
    """Refuse, before reading, voxel data that a compressed file cannot hold or that would not fit in memory."""
    dtype = header.get_data_dtype()
    if path.name.lower().endswith(".gz"):
        in_header = int(image.dataobj.offset) + int(np.prod(image.shape, dtype=object)) * dtype.itemsize
        size = path.stat().st_size
        if in_header > MAX_GZIP_RATIO * size:
            raise InputError(
                f"{path}: its header describes {format_bytes(in_header)} of voxels (shape {tuple(image.shape)}, "
                f"{dtype}), more than a {format_bytes(size)} gzip file can hold; the file is cut short or its "
                "header is damaged"
            )
    # What reading holds at its peak: the stored values, nibabel's float64 when it applies a scaling, float32 data.
    n_voxels = int(np.prod(shape, dtype=object))
    scaled = _scaling(image) != (1.0, 0.0)
    needed = n_voxels * (dtype.itemsize + (8 if scaled else 0) + (0 if dtype == np.float32 and not scaled else 4))
    check_memory(needed, f"{path}: its voxels (shape {shape}, {dtype})", max_bytes=max_bytes)


def _scaling(image: nib.Nifti1Image) -> tuple[float, float]:
    """(slope, intercept) nibabel applies to the stored values; (1, 0) when the file has none."""
    slope, inter = getattr(image.dataobj, "slope", 1.0), getattr(image.dataobj, "inter", 0.0)
    return float(1.0 if slope is None else slope), float(0.0 if inter is None else inter)


def _check_scaling(path: Path, image: nib.Nifti1Image, header: nib.Nifti1Header, index: int | None,
                   n_nonfinite: int) -> None:
    """Raise InputError when the header's scaling, not the stored values, made voxels infinite.

    A scaling factor such as ``scl_slope=1e38`` turns ordinary stored values into numbers beyond float32: that
    is a damaged header, and replacing the voxels (``replace_nonfinite``) would throw the data away.
    """
    slope, inter = _scaling(image)
    if (slope, inter) == (1.0, 0.0):
        return
    dtype = header.get_data_dtype()
    if dtype.kind == "f":  # stored floats can hold NaN and inf themselves: count those (error path only)
        stored = np.asanyarray(image.dataobj.get_unscaled())
        if index is not None:
            stored = stored[:, :, :, index]
        if n_nonfinite <= stored.size - np.count_nonzero(np.isfinite(stored)):
            return
    raise InputError(
        f"{path}: the header's scaling (scl_slope={slope:g}, scl_inter={inter:g}) turns the stored {dtype} values "
        f"into numbers beyond float32's range (+-{FLOAT32_MAX:.3g}) in {n_nonfinite} voxels; the scaling "
        "factors are probably damaged (replace_nonfinite would discard real data, so it is not applied)"
    )


def _read_data(path: Path, image: nib.Nifti1Image, index: int | None) -> np.ndarray:
    """Read the voxels (all, or volume ``index`` along axis 3) as float32, scaling applied."""
    if path.name.lower().endswith(".nii"):
        # An uncompressed file's size is known from its header: catch truncation before reading anything.
        expected = image.dataobj.offset + int(np.prod(image.shape)) * image.get_data_dtype().itemsize
        actual = path.stat().st_size
        if actual < expected:
            raise InputError(f"{path}: file is cut short: its header needs {expected} bytes, the file has {actual}")
    try:
        if index is None:
            voxels = np.asanyarray(image.dataobj)
        else:
            voxels = image.dataobj[:, :, :, index]  # the proxy reads only this volume from disk
    except _READ_ERRORS as err:
        raise InputError(f"{path}: voxel data could not be read, the file is truncated or corrupt ({err})") from err
    # Copies only when needed: to convert the type, or because a partial read gives a read-only array. Values
    # beyond float32 become inf here; _check_scaling explains them.
    with np.errstate(over="ignore"):
        return np.require(voxels, dtype=np.float32, requirements="W")
