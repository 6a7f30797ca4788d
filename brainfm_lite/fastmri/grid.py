"""The prior's grid: fastMRI k-space brought to the pixel size the diffusion prior was trained at.

The shipped prior learnt FLAIR slices of ``recon_image_size`` squared pixels of ``recon_spacing_mm`` (64 x 64 of
3 mm at the reference profile); a fastMRI brain image is 320 x 320 pixels of about 0.7 mm. `ReconGrid` brings each
slice's measured k-space to the prior's pixel size with operations that keep it a Cartesian acquisition (whole
phase-encode columns measured or not), so data consistency stays exact on the new grid:

1. columns (phase encoding): keep the central ``n_cols`` columns of k-space, ``n_cols`` = the encoded field of view
   y over the prior's spacing, rounded to a multiple of the U-Net's size factor. This is a lower-resolution
   acquisition of the same field of view (pixel ``fov_y / n_cols``), and a column mask stays a column mask;
2. rows (readout, fully sampled): keep the central ``round(fov_x / pixel)`` rows of k-space (the same pixel size),
   transform the rows to image space, and keep the central ``n_rows`` rows, which span the ``reconSpace`` field of
   view x, as fastMRI's crop of ``reconstruction_rss`` drops the readout oversampling;
3. k-space is multiplied by ``sqrt(kept / original samples)``, so that with the orthonormal FFT an image pixel keeps
   the file's units (the reconstruction and ``reconstruction_rss`` can be compared directly).

The grid is ``n_rows`` x ``n_cols`` pixels of ``pixel_mm``: the size follows the file's field of view (72 x 72 for
a 220 mm brain field of view at 3 mm), not the prior's training size; the U-Net is convolutional, so only the pixel
size needs to match. `reference_to_grid` brings ``reconstruction_rss`` to the same grid for scoring by the same
Fourier cropping (its central k-space at the grid's pixel size, then the magnitude), and gives the region where the
reference exists (the ``reconSpace`` field of view).

    >>> grid = recon_grid(scan.geometry, spacing_mm=3.0, multiple=4)       # doctest: +SKIP
    >>> grid.shape, grid.pixel_mm                                          # doctest: +SKIP
    ((72, 72), (3.0556, 3.0556))
    >>> k = grid.kspace_to_grid(scan.kspace(0))                            # [C, 72, 72]   # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.header import HeaderGeometry
from brainfm_lite.physics.kspace import fft2c, ifft2c


@dataclass(frozen=True)
class ReconGrid:
    """Where the reconstruction happens.

    Attributes:
        source_shape: (H, W) of the file's k-space.
        kspace_rows: k-space rows kept (step 2 of the module docstring) before the rows are cropped in image space.
        shape: (n_rows, n_cols) of the grid's images and k-space.
        pixel_mm: (row, column) pixel size, mm.
        slice_mm: slice thickness from the header (``reconSpace`` field of view z), mm; 0 when unknown.
    """

    source_shape: tuple[int, int]
    kspace_rows: int
    shape: tuple[int, int]
    pixel_mm: tuple[float, float]
    slice_mm: float = 0.0

    def kspace_to_grid(self, kspace: torch.Tensor) -> torch.Tensor:
        """The file's k-space [..., C, H, W] on this grid, [..., C, n_rows, n_cols] (same units in image space)."""
        if tuple(kspace.shape[-2:]) != self.source_shape:
            raise InputError(f"k-space must be [..., {self.source_shape[0]}, {self.source_shape[1]}]; got "
                             f"{tuple(kspace.shape)}")
        n_rows, n_cols = self.shape
        kspace = centre_resize(centre_resize(kspace, -1, n_cols), -2, self.kspace_rows)
        kspace = kspace * math.sqrt(self.kspace_rows * n_cols / (self.source_shape[0] * self.source_shape[1]))
        rows = centre_resize(_ifft_rows(kspace), -2, n_rows)  # image space along the rows only: crop the readout
        return _fft_rows(rows)

    def columns_to_grid(self, columns) -> torch.Tensor:
        """A column pattern of the file's k-space [W] (bool) on this grid, [n_cols]; columns added are False."""
        columns = torch.as_tensor(np.asarray(columns), dtype=torch.bool)
        if columns.shape != (self.source_shape[1],):
            raise InputError(f"column mask must be [{self.source_shape[1]}]; got {tuple(columns.shape)}")
        return centre_resize(columns, -1, self.shape[1])

    def to_dict(self) -> dict:
        """The grid as JSON-ready numbers."""
        return {"shape": list(self.shape), "pixel_mm": [round(p, 4) for p in self.pixel_mm],
                "slice_mm": self.slice_mm, "source_shape": list(self.source_shape), "kspace_rows": self.kspace_rows}


def recon_grid(geometry: HeaderGeometry, *, spacing_mm: float, multiple: int = 1) -> ReconGrid:
    """The grid of a file at the prior's pixel size (module docstring).

    Args:
        geometry: the file's header geometry.
        spacing_mm: the prior's pixel size, mm (its training slices' ``recon_spacing_mm``).
        multiple: both sides are rounded to a multiple of this (the U-Net's ``size_multiple``).

    Returns:
        A `ReconGrid`.
    """
    if not spacing_mm > 0 or int(multiple) < 1:
        raise InputError(f"spacing_mm must be > 0 and multiple >= 1; got {spacing_mm}, {multiple}")
    encoded, recon = geometry.encoded, geometry.recon
    height, width = encoded.matrix[:2]
    n_cols = _round_to(encoded.fov_mm[1] / spacing_mm, multiple)
    col_mm = encoded.fov_mm[1] / n_cols
    kspace_rows = max(1, round(encoded.fov_mm[0] / col_mm))
    row_mm = encoded.fov_mm[0] / kspace_rows
    n_rows = _round_to(recon.fov_mm[0] / row_mm, multiple)
    return ReconGrid(source_shape=(height, width), kspace_rows=kspace_rows, shape=(n_rows, n_cols),
                     pixel_mm=(row_mm, col_mm), slice_mm=float(recon.fov_mm[2]))


def reference_to_grid(reference: np.ndarray, reference_pixel_mm: tuple[float, float],
                      grid: ReconGrid) -> tuple[np.ndarray, tuple[slice, slice]]:
    """``reconstruction_rss`` on the grid, for scoring.

    The reference's k-space (``fft2c`` of the image) keeps its central ``round(fov / pixel)`` samples along each
    axis (the reference's field of view at the grid's pixel size, times the same energy factor as
    `ReconGrid.kspace_to_grid`); the magnitude of its inverse is centred on the grid (cropped or zero-padded).

    Args:
        reference: float [S, h, w] (magnitudes).
        reference_pixel_mm: its (row, column) pixel size, mm.
        grid: the `ReconGrid`.

    Returns:
        (reference on the grid, float32 [S, n_rows, n_cols]; the (rows, columns) slices of the grid that the
        reference covers: score there only).
    """
    height, width = reference.shape[-2:]
    size = (max(1, round(height * reference_pixel_mm[0] / grid.pixel_mm[0])),
            max(1, round(width * reference_pixel_mm[1] / grid.pixel_mm[1])))
    kspace = fft2c(torch.from_numpy(np.asarray(reference, dtype=np.float32)))
    kspace = centre_resize(centre_resize(kspace, -2, size[0]), -1, size[1])
    image = ifft2c(kspace * math.sqrt(size[0] * size[1] / (height * width))).abs()
    image = centre_resize(centre_resize(image, -2, grid.shape[0]), -1, grid.shape[1])
    covered = tuple(_centre_slice(n, min(n, m)) for n, m in zip(grid.shape, size))
    return image.numpy().astype(np.float32), covered


def centre_resize(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """Crop or zero-pad `x` along `dim` to `size` about its centre, index ``n // 2`` going to ``size // 2`` (the DC
    sample of `fft2c`'s k-space, the centre pixel of its images)."""
    n = x.shape[dim]
    if size == n:
        return x
    if size < n:
        return x.narrow(dim, n // 2 - size // 2, size)
    shape = list(x.shape)
    shape[dim] = size
    out = x.new_zeros(shape)
    out.narrow(dim, size // 2 - n // 2, n).copy_(x)
    return out


def _centre_slice(n: int, kept: int) -> slice:
    start = n // 2 - kept // 2
    return slice(start, start + kept)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, multiple * round(value / multiple))


def _ifft_rows(kspace: torch.Tensor) -> torch.Tensor:
    """Centred, orthonormal inverse FFT along the rows (axis -2) alone."""
    shifted = torch.fft.ifftshift(kspace, dim=-2)
    return torch.fft.fftshift(torch.fft.ifft(shifted, dim=-2, norm="ortho"), dim=-2)


def _fft_rows(image: torch.Tensor) -> torch.Tensor:
    """Centred, orthonormal FFT along the rows (axis -2) alone."""
    shifted = torch.fft.ifftshift(image, dim=-2)
    return torch.fft.fftshift(torch.fft.fft(shifted, dim=-2, norm="ortho"), dim=-2)
