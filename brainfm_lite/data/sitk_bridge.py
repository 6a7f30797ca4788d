"""Convert between `Volume` (NIfTI conventions) and SimpleITK images, and run SimpleITK reproducibly.

Two conventions differ and both matter:

* World axes. NIfTI (and `Volume.affine`) give world coordinates in RAS+ (x toward Right, y Anterior, z Superior);
  ITK uses LPS+ (x toward Left, y Posterior). The same physical point has x and y negated:
  ``lps = diag(-1, -1, 1) @ ras``.
* Array order. ``sitk.GetArrayFromImage`` returns [k, j, i] (z fastest-changing index first), the reverse of
  the [i, j, k] order of `Volume.data`.

An ITK image places voxel (i, j, k) at ``origin + direction @ diag(spacing) @ (i, j, k)`` in LPS, so the affine's
3x3 part, turned into LPS, splits into its column norms (spacing) and unit columns (direction).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import SimpleITK as sitk

from brainfm_lite.data.volume import Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def to_sitk(volume: Volume, dtype=np.float32) -> sitk.Image:
    """A SimpleITK image with the voxels of a 3D `volume` placed at the same physical points."""
    linear = RAS_TO_LPS @ volume.affine[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    image = sitk.GetImageFromArray(np.asarray(volume.data, dtype=dtype).transpose(2, 1, 0).copy())
    image.SetSpacing(spacing.tolist())
    image.SetDirection((linear / spacing).flatten().tolist())
    image.SetOrigin((RAS_TO_LPS @ volume.affine[:3, 3]).tolist())
    return image


def from_sitk(image: sitk.Image, like: Volume | None = None) -> Volume:
    """A Volume (float32 voxels, RAS affine) from a 3D SimpleITK image; path and meta are taken from `like`."""
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0).astype(np.float32)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = (RAS_TO_LPS @ direction) * np.array(image.GetSpacing())
    affine[:3, 3] = RAS_TO_LPS @ np.array(image.GetOrigin())
    if like is None:
        return Volume(data=np.ascontiguousarray(data), affine=affine)
    return like.with_data(np.ascontiguousarray(data), affine)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run SimpleITK filters on one thread inside the block, then restore the previous default.

    Multi-threaded ITK sums partial results in an order that depends on the thread split, so the last bits of
    a metric (and hence an optimiser's path) can change from run to run; one thread makes results repeatable.
    """
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)
