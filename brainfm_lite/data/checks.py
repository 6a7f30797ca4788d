"""Argument checks shared by the preprocessing steps, so every step rejects bad input with the same words."""

from __future__ import annotations

import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError


def describe(volume: Volume) -> str:
    """How an error message names a volume: its file when it has one."""
    return f"'{volume.path}'" if volume.path is not None else "the volume (made in memory)"


def require_3d(volume: Volume, step: str) -> None:
    """Raise InputError unless `volume` is a single 3D image [X, Y, Z]."""
    if volume.data.ndim != 3:
        raise InputError(f"{step} needs a 3D volume [X, Y, Z]; {describe(volume)} has shape {volume.shape}")


def as_spacing(spacing_mm, volume: Volume) -> np.ndarray:
    """`spacing_mm` (one number or three, mm) as a float array of 3 positive values."""
    problem = InputError(f"spacing_mm must be one positive number or three; got {spacing_mm!r} for {describe(volume)}")
    try:
        values = np.asarray(spacing_mm, dtype=np.float64)
    except (TypeError, ValueError):
        raise problem from None
    if values.ndim == 0:
        values = np.full(3, float(values))
    if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise problem
    return values


def as_mask(mask, volume: Volume) -> np.ndarray:
    """`mask` (a bool-like array or a Volume on the same grid) as a bool array of shape volume.shape[:3]."""
    values = mask.data if isinstance(mask, Volume) else np.asarray(mask)
    if values.shape != volume.shape[:3]:
        raise InputError(
            f"mask has shape {values.shape} but {describe(volume)} has spatial shape {volume.shape[:3]}"
        )
    return values > 0.5 if values.dtype != bool else values
