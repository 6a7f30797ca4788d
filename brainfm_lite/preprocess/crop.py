"""Crop or pad a volume to a fixed voxel shape around the brain, keeping world positions.

Networks want one input shape; brains come in many fields of view. `crop_or_pad` cuts a window of the requested
shape centred on the brain (the bounding box of a mask, or of the nonzero voxels) and pads where the window leaves
the image. Only whole voxels move, so the affine is just translated: every kept voxel keeps its world position.

Example:
    >>> fixed = crop_or_pad(volume, (96, 112, 96), mask=brain)   # doctest: +SKIP
    >>> volume.data[bounding_box(brain, margin=2)]                # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from brainfm_lite.data.checks import as_mask, describe
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """The smallest box holding every True voxel of `mask`, grown by `margin` voxels and clipped to the array.

    Args:
        mask: bool array, any number of dimensions.
        margin: voxels added on every side (>= 0).

    Returns:
        One slice per axis (stop exclusive), so ``data[bounding_box(mask)]`` is the box's content.
    """
    mask = np.asarray(mask, dtype=bool)
    if margin < 0:
        raise InputError(f"bounding_box margin must be >= 0 voxels; got {margin}")
    if not mask.any():
        raise InputError(f"bounding_box of an empty mask (shape {mask.shape}) is undefined")
    boxes = []
    for axis in range(mask.ndim):
        other_axes = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(mask.any(axis=other_axes))
        boxes.append(slice(max(0, present[0] - margin), min(mask.shape[axis], present[-1] + 1 + margin)))
    return tuple(boxes)


def crop_or_pad(volume: Volume, shape, *, center=None, mask=None, fill: float | str = 0.0) -> Volume:
    """Cut (and pad where needed) a window of `shape` voxels out of a 3D or 4D volume.

    The window is centred on, in order of preference: `center` (voxel indices), the bounding box of `mask`,
    the bounding box of the nonzero voxels, or the middle of the image when every voxel is 0.

    Args:
        volume: [X, Y, Z] or [X, Y, Z, T]; a time axis is kept whole.
        shape: output spatial shape (3 positive ints).
        center: voxel coordinates (3 numbers, may be fractional) of the window's centre.
        mask: bool array (or Volume) on the volume's grid marking the brain.
        fill: value of padded voxels: a number, or "min" for the volume's minimum.

    Returns:
        A new Volume of spatial shape `shape` whose affine is translated so that world positions are kept;
        ``meta["crop_or_pad"]`` records the shape and the window's first voxel in the input grid.
    """
    if volume.data.ndim not in (3, 4):
        raise InputError(f"crop_or_pad needs a 3D or 4D volume; {describe(volume)} has shape {volume.shape}")
    if isinstance(fill, str) and fill != "min":
        raise InputError(f'crop_or_pad fill must be a number or "min"; got {fill!r}')
    shape = _as_shape(shape, volume)
    window_centre = _window_centre(volume, center, mask)
    # First voxel of the window; floor(x + 0.5) rounds halves the same way everywhere (np.round would not).
    start = np.floor(window_centre - (shape - 1) / 2 + 0.5).astype(int)

    pad_value = float(volume.data.min()) if fill == "min" else float(fill)
    out = np.full(tuple(shape) + volume.shape[3:], pad_value, dtype=np.float32)
    source, target = [], []
    for axis in range(3):
        lo = max(start[axis], 0)
        hi = max(lo, min(start[axis] + shape[axis], volume.shape[axis]))  # lo == hi: the window misses the image
        source.append(slice(lo, hi))
        target.append(slice(lo - start[axis], hi - start[axis]))
    out[tuple(target)] = volume.data[tuple(source)]
    return volume.with_data(out, _translated(volume.affine, start),
                            crop_or_pad={"shape": shape.tolist(), "start": start.tolist()})


def _as_shape(shape, volume: Volume) -> np.ndarray:
    values = np.asarray(shape)
    if values.shape != (3,) or not np.issubdtype(values.dtype, np.integer) or np.any(values < 1):
        raise InputError(f"crop_or_pad shape must be 3 positive integers; got {shape!r} for {describe(volume)}")
    return values.astype(int)


def _window_centre(volume: Volume, center, mask) -> np.ndarray:
    """Voxel coordinates of the point the window is centred on."""
    if center is not None:
        values = np.asarray(center, dtype=np.float64)
        if values.shape != (3,) or not np.all(np.isfinite(values)):
            raise InputError(f"center must be 3 voxel coordinates; got {center!r} for {describe(volume)}")
        return values
    if mask is not None:
        brain = as_mask(mask, volume)
        if not brain.any():
            raise InputError(f"the mask given to crop_or_pad for {describe(volume)} is empty")
    else:
        brain = volume.data != 0
        brain = brain.any(axis=3) if brain.ndim == 4 else brain
        if not brain.any():
            return (np.array(volume.shape[:3]) - 1) / 2
    box = bounding_box(brain)
    return np.array([(b.start + b.stop - 1) / 2 for b in box])


def _translated(affine: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Affine of a grid whose voxel 0 is voxel `start` of the grid of `affine`."""
    shift = np.eye(4)
    shift[:3, 3] = start
    return affine @ shift
