"""QEI of a computed CBF map, with tissue probability maps the user gives (on the ASL grid)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainfm_lite.asl_bids.quantify import CbfResult
from brainfm_lite.data.io import load_volume
from brainfm_lite.errors import InputError
from brainfm_lite.physics.asl import qei

GRID_TOLERANCE_MM = 1e-3
PROBABILITY_TOLERANCE = 1e-3  # resampled maps stray a little outside [0, 1]


def tissue_qei(result: CbfResult, gm: str | Path, wm: str | Path, csf: str | Path) -> float:
    """QEI (`brainfm_lite.physics.asl.qei`, as ASLPrep computes it) of ``result.cbf``.

    Args:
        result: a computed CBF map.
        gm, wm, csf: NIfTI tissue probability maps in [0, 1] on the CBF map's grid (same shape and affine).

    Returns:
        QEI in [0, 1].

    Raises:
        InputError: a map that cannot be read, lies on another grid, holds values outside [0, 1], or has fewer
            than 2 voxels above the tissue threshold.
    """
    maps = [_probability_map(Path(path), result) for path in (gm, wm, csf)]
    spacing_mm = tuple(np.linalg.norm(result.series.affine[:3, :3], axis=0))
    try:
        return qei(result.cbf, *maps, voxel_size_mm=spacing_mm)
    except InputError as err:
        raise InputError(f"{gm}, {wm}, {csf}: {err}") from err


def _probability_map(path: Path, result: CbfResult) -> np.ndarray:
    volume = load_volume(path)
    shape = result.cbf.shape
    if volume.shape != shape or not np.allclose(volume.affine, result.series.affine, atol=GRID_TOLERANCE_MM):
        raise InputError(f"{path}: grid (shape {volume.shape}) differs from the CBF map's (shape {shape}, affine of "
                         f"{result.series.path.name}); resample the tissue map onto the ASL grid first")
    data = volume.data.astype(np.float64)
    if data.min() < -PROBABILITY_TOLERANCE or data.max() > 1 + PROBABILITY_TOLERANCE:
        raise InputError(f"{path}: tissue probabilities must lie in [0, 1]; got {data.min():g} to {data.max():g}")
    return np.clip(data, 0.0, 1.0)
