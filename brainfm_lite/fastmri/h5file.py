"""Read a fastMRI brain ``.h5`` file: multi-coil k-space, ``reconstruction_rss``, the header and the acquired mask.

A fastMRI multi-coil file (Zbontar et al. 2018; the layout fastMRI's ``SliceDataset`` reads) holds

- ``kspace``: complex64 [slices, coils, H, W], H the readout (oversampled two-fold), W the phase-encode columns,
  with the centred, orthonormal FFT convention of `brainfm_lite.physics.kspace.fft2c`;
- ``reconstruction_rss`` (training and validation files): float32 [slices, h, w], the root-sum-of-squares of the
  fully sampled coil images cropped to the centre of the ``reconSpace`` field of view (e.g. 320 x 320);
- ``ismrmrd_header``: the scanner's XML header (`header.parse_header`);
- ``mask`` (test and challenge files, whose k-space is undersampled): [W], the columns acquired;
- attributes ``acquisition`` (e.g. "AXFLAIR"), ``max``, ``norm``, ``patient_id``.

`read_fastmri` checks all of it and reads everything but the k-space, which `FastMRIFile.kspace` reads one slice at
a time (a brain volume of 16 slices, 20 coils, 640 x 320 is 0.5 GB). It reads with h5py directly rather than
through `~brainfm_lite.datasets.recon_slices.load_fastmri_kspace` (MONAI's reader), which loads the whole volume
and neither the mask nor the header fields.

    >>> scan = read_fastmri("file_brain_AXFLAIR_200_6002425.h5", slices=slice(0, 4))  # doctest: +SKIP
    >>> scan.kspace(0).shape                                                         # doctest: +SKIP
    torch.Size([16, 640, 320])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.header import HeaderGeometry, parse_header

ATTRIBUTES = ("acquisition", "max", "norm", "patient_id")


@dataclass
class FastMRIFile:
    """A checked fastMRI multi-coil file, the slices chosen.

    Attributes:
        path: the file.
        geometry: the header's `HeaderGeometry`.
        shape: ``kspace`` shape in the file (slices, coils, H, W).
        slices: indices of the chosen slices in the file.
        reference: ``reconstruction_rss`` of the chosen slices, float32 [S, h, w]; None when the file has none.
        mask: the file's ``mask`` as bool [W]; None when the file has none (fully sampled k-space).
        attributes: the file's attributes among `ATTRIBUTES` (str or float).
    """

    path: Path
    geometry: HeaderGeometry
    shape: tuple[int, int, int, int]
    slices: list[int]
    reference: np.ndarray | None = None
    mask: np.ndarray | None = None
    attributes: dict = field(default_factory=dict)

    def kspace(self, position: int) -> torch.Tensor:
        """The k-space of the `position`-th chosen slice, complex64 [C, H, W] (read from the file now)."""
        import h5py

        with h5py.File(self.path, "r") as h5:
            return torch.from_numpy(np.asarray(h5["kspace"][self.slices[position]], dtype=np.complex64))

    @property
    def reference_pixel_mm(self) -> tuple[float, float] | None:
        """(row, column) pixel size of ``reconstruction_rss``, mm: the ``reconSpace`` field of view over its size."""
        if self.reference is None:
            return None
        fov_x, fov_y, _ = self.geometry.recon.fov_mm
        return fov_x / self.reference.shape[-2], fov_y / self.reference.shape[-1]


def read_fastmri(path: str | Path, *, slices: slice | None = None) -> FastMRIFile:
    """Check a fastMRI multi-coil ``.h5`` file and read all but its k-space.

    Args:
        path: the file.
        slices: the slices to use (a Python slice over the file's slices; None: all).

    Returns:
        A `FastMRIFile`.

    Raises:
        InputError: the file is missing or not HDF5; ``kspace`` missing, not complex, or single-coil
            [slices, H, W] (the reconstruction needs the coils); ``ismrmrd_header`` missing or without the matrix
            sizes and fields of view, or its encoded matrix not the shape of ``kspace``; ``reconstruction_rss`` or
            ``mask`` of the wrong shape; no slice chosen. Each message names the file and the dataset or field.
    """
    import h5py

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an HDF5 file (a fastMRI .h5 file is HDF5)")
    try:
        with h5py.File(path, "r") as h5:
            shape = _kspace_shape(h5, path)
            geometry = _geometry(h5, path, shape)
            chosen = _chosen_slices(shape[0], slices, path)
            reference = _reference(h5, path, shape, chosen)
            mask = _mask(h5, path, shape)
            attributes = {key: _attribute(h5.attrs[key]) for key in ATTRIBUTES if key in h5.attrs}
    except OSError as error:  # truncated or damaged HDF5
        raise InputError(f"{path}: not a readable HDF5 file ({error})") from error
    return FastMRIFile(path=path, geometry=geometry, shape=shape, slices=chosen, reference=reference, mask=mask,
                       attributes=attributes)


def parse_slices(text: str | None) -> slice | None:
    """``"A:B"`` (either end may be left out, as in Python) -> ``slice(A, B)``; None or "" -> None (every slice).

    Raises:
        InputError: not of the form A:B with integers.
    """
    if text is None or text.strip() in ("", ":"):
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(part) if part.strip() else None for part in parts)
    except ValueError:
        raise InputError(f"--slices takes A:B (slices A to B - 1, as Python counts); got {text!r}") from None
    return slice(start, stop)


def _kspace_shape(h5, path: Path) -> tuple[int, int, int, int]:
    import h5py

    kspace = h5.get("kspace")
    if not isinstance(kspace, h5py.Dataset):
        raise InputError(f"{path}: no 'kspace' dataset; not a fastMRI raw-data file")
    if kspace.dtype.kind != "c":
        raise InputError(f"{path}: 'kspace' is {kspace.dtype}, expected complex values")
    if kspace.ndim == 3:
        raise InputError(f"{path}: 'kspace' is single-coil [slices, H, W] {tuple(kspace.shape)}; brainfm recon needs "
                         "multi-coil k-space [slices, coils, H, W] (fastMRI's brain_multicoil files) to estimate coil "
                         "sensitivities")
    if kspace.ndim != 4 or min(kspace.shape) < 1:
        raise InputError(f"{path}: 'kspace' must be [slices, coils, H, W]; got shape {tuple(kspace.shape)}")
    return tuple(int(n) for n in kspace.shape)


def _geometry(h5, path: Path, shape) -> HeaderGeometry:
    if "ismrmrd_header" not in h5:
        raise InputError(f"{path}: no 'ismrmrd_header' dataset; the reconstruction needs its matrix sizes and fields "
                         "of view")
    raw = h5["ismrmrd_header"][()]
    raw = raw.tobytes() if isinstance(raw, np.ndarray) else raw
    geometry = parse_header(raw, source=str(path))
    encoded = geometry.encoded.matrix[:2]
    if encoded != shape[2:]:
        raise InputError(f"{path}: 'ismrmrd_header' encoding/encodedSpace/matrixSize (x, y) = {encoded} does not "
                         f"match 'kspace' (H, W) = {shape[2:]}")
    return geometry


def _chosen_slices(n_slices: int, slices: slice | None, path: Path) -> list[int]:
    chosen = list(range(n_slices))[slices] if slices is not None else list(range(n_slices))
    if not chosen:
        raise InputError(f"{path}: --slices {slices.start}:{slices.stop} chooses none of the file's {n_slices} slices")
    return chosen


def _reference(h5, path: Path, shape, chosen: list[int]) -> np.ndarray | None:
    if "reconstruction_rss" not in h5:
        return None
    reference = h5["reconstruction_rss"]
    if reference.ndim != 3 or reference.shape[0] != shape[0] or reference.dtype.kind not in "fiu":
        raise InputError(f"{path}: 'reconstruction_rss' must be real [slices, h, w] with the {shape[0]} slices of "
                         f"'kspace'; got {reference.dtype} {tuple(reference.shape)}")
    return np.asarray(reference[()], dtype=np.float32)[chosen]


def _mask(h5, path: Path, shape) -> np.ndarray | None:
    if "mask" not in h5:
        return None
    mask = np.asarray(h5["mask"][()])
    if mask.ndim != 1 or mask.shape[0] != shape[3] or mask.dtype.kind not in "biuf":
        raise InputError(f"{path}: 'mask' must be [W] = [{shape[3]}] (the acquired columns); got {mask.dtype} "
                         f"{mask.shape}")
    return mask != 0


def _attribute(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (str, int, float)) else str(value)
