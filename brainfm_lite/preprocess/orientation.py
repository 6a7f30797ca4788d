"""`to_ras`: put the voxel axes in RAS+ order by exact axis permutations and flips (no interpolation).

`reorient` does the same toward any orientation, e.g. to write a result back in the scan's own orientation
(``reorient(result, volume.meta["orientation_in"])``).

After `to_ras`, axis 0 of the array increases toward the subject's Right, axis 1 toward Anterior and axis 2
toward Superior. Voxel values are only moved, never interpolated, and the affine is updated so that every voxel
keeps its world position (mm). An oblique acquisition stays oblique: the axes are matched to the closest of R, A, S.

Example:
    >>> ras = to_ras(volume)                   # doctest: +SKIP
    >>> ras.meta["orientation_in"]             # doctest: +SKIP
    'LAS'
"""

from __future__ import annotations

import nibabel.orientations as orientations
import numpy as np

from brainfm_lite.data.checks import describe
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError


def axis_codes(affine: np.ndarray) -> str:
    """The world direction each voxel axis points to, e.g. "LAS" (axis 0 toward Left, 1 Anterior, 2 Superior)."""
    return "".join(orientations.aff2axcodes(affine))


def to_ras(volume: Volume) -> Volume:
    """Reorient a 3D [X, Y, Z] or 4D [X, Y, Z, T] volume to RAS+ (the time axis is left alone).

    Args:
        volume: any orientation; the affine must be invertible.

    Returns:
        A new Volume with permuted/flipped voxels, the matching affine, and ``meta["orientation_in"]`` holding the
        input's axis codes (e.g. "LAS"). A RAS input comes back with identical voxels and affine.
    """
    return reorient(volume, "RAS")


def reorient(volume: Volume, axcodes: str) -> Volume:
    """Permute and flip the voxel axes of a 3D or 4D volume so that they point along `axcodes` (e.g. "LPI").

    Args:
        volume: any orientation; the affine must be invertible.
        axcodes: three letters, one of R/L, one of A/P and one of S/I, in any order.

    Returns:
        A new Volume whose every voxel keeps its world position; ``meta["orientation_in"]`` holds the input's codes.
    """
    if volume.data.ndim not in (3, 4) or not np.isfinite(volume.affine).all():
        raise InputError(f"reorienting needs a 3D or 4D volume with a finite affine; {describe(volume)} has shape "
                         f"{volume.shape} and affine\n{volume.affine}")
    if abs(np.linalg.det(volume.affine[:3, :3])) < 1e-12:
        raise InputError(f"the affine of {describe(volume)} is singular: voxels have no world position")
    try:
        target = orientations.axcodes2ornt(tuple(axcodes))
    except ValueError:
        target = None
    if target is None or sorted(target[:, 0].tolist()) != [0, 1, 2]:  # each world axis exactly once
        raise InputError(f"axcodes must be 3 letters such as 'RAS' or 'LPI'; got {axcodes!r}")

    # io_orientation says, for each voxel axis, which RAS axis it is closest to and whether it runs backwards;
    # ornt_transform turns that into the permutation-and-flip that takes the array to `axcodes`.
    transform = orientations.ornt_transform(orientations.io_orientation(volume.affine), target)
    data = orientations.apply_orientation(volume.data, transform)
    # inv_ornt_aff maps new voxel indices back to old ones; composing keeps each voxel's world position.
    affine = volume.affine @ orientations.inv_ornt_aff(transform, volume.shape[:3])
    return volume.with_data(np.ascontiguousarray(data), affine, orientation_in=axis_codes(volume.affine))
