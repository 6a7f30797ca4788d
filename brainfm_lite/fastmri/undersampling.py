"""Which columns of the grid's k-space the reconstruction sees: a retrospective mask at R, or the file's own.

- ``retrospective`` (fully sampled files: fastMRI's training and validation sets): the package's
  `~brainfm_lite.physics.kspace.cartesian_mask` over the file's W columns at acceleration R, the central
  `CENTER_FRACTION` (8 %) always sampled (26 autocalibration lines of a 320-column brain k-space, as the stroke
  DPM paper and fastMRI's challenge masks keep), then cropped to the grid; columns the header says were never
  acquired (fastMRI's zero padding) count as not sampled. This is the acquisition an R-fold accelerated scan makes,
  so the two modes treat a file alike.
- ``acquired`` (test and challenge files, whose k-space is already undersampled): the file's ``mask``, cropped to
  the grid.

Cropping k-space to the grid keeps its central columns, where masks sample densely (the 26 autocalibration lines are
a third of a 72-column grid), so the acceleration on the grid is lower than the file's: at R = 4 about 2 for a
fastMRI brain file at 3 mm. `effective_acceleration` reports it, and the autocalibration lines on the grid are what
the coil sensitivities are estimated from.

    >>> columns = retrospective_mask(grid, 4, seed=0, acquired=scan.geometry.acquired_columns(320))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.recon_experiments import CENTER_FRACTION
from brainfm_lite.fastmri.grid import ReconGrid
from brainfm_lite.physics.kspace import cartesian_mask

MASK_MODES = ("retrospective", "acquired")


def retrospective_mask(grid: ReconGrid, acceleration: float, *, seed: int = 0, acquired=None,
                       center_fraction: float = CENTER_FRACTION) -> torch.Tensor:
    """A random column mask of the file's k-space at `acceleration`, its centre fully sampled, on the grid.

    Args:
        grid: the `~brainfm_lite.fastmri.grid.ReconGrid`.
        acceleration: R >= 1, over the file's W columns.
        seed: seed of the mask.
        acquired: bool [W] of the file's columns that hold data (None: all).
        center_fraction: fraction of the file's columns always sampled.

    Returns:
        bool [n_cols], the grid's sampled columns.
    """
    width = grid.source_shape[1]
    n_centre = round(width * center_fraction)
    if not acceleration >= 1 or n_centre > width / acceleration:
        raise InputError(f"--R {acceleration:g} does not fit the file's {width} columns with {n_centre} "
                         f"autocalibration lines; R must be between 1 and {width / max(n_centre, 1):g}")
    mask = cartesian_mask((width,), acceleration, center_fraction, seed=seed)
    if acquired is not None:
        mask = mask & torch.as_tensor(np.asarray(acquired), dtype=torch.bool)
    return grid.columns_to_grid(mask)


def acquired_mask(grid: ReconGrid, file_mask) -> torch.Tensor:
    """The file's ``mask`` [W] on the grid's columns (bool [n_cols])."""
    return grid.columns_to_grid(file_mask)


def effective_acceleration(mask: torch.Tensor, acquired_on_grid: torch.Tensor | None = None) -> float:
    """Columns that hold data over columns sampled (R on the grid)."""
    total = int(acquired_on_grid.sum()) if acquired_on_grid is not None else mask.shape[-1]
    sampled = int(mask.sum())
    return total / sampled if sampled else float("inf")
