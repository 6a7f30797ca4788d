"""The MNI152 template and its brain mask as `Volume` objects, from the copy that ships inside nilearn (no download).

nilearn ships the skull-stripped ICBM152 2009a asymmetric T1 template (intensities 0..1) and its brain mask at
1 mm, and resamples them to 2 mm. Loading takes about a second, so results are cached; callers get copies, so
changing a returned array never changes the cache.

Example:
    >>> mni = mni_template(2)                     # 99 x 117 x 95 voxels of 2 mm, RAS   # doctest: +SKIP
    >>> mni4 = mni_template(2, spacing_mm=4.0)    # the same field of view at 4 mm      # doctest: +SKIP
"""

from __future__ import annotations

import functools

import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.resample import resample

RESOLUTIONS = (1, 2)  # mm; the grids nilearn provides


def mni_template(resolution: int = 2, spacing_mm: float | None = None) -> Volume:
    """The MNI152 T1 template (skull-stripped, 0..1) on nilearn's `resolution` mm grid, or resampled to `spacing_mm`."""
    return _copy(_cached("template", resolution, _isotropic(spacing_mm)))


def mni_brain_mask(resolution: int = 2, spacing_mm: float | None = None) -> Volume:
    """The MNI152 brain mask (0 or 1) on the same grid as ``mni_template(resolution, spacing_mm)``."""
    return _copy(_cached("mask", resolution, _isotropic(spacing_mm)))


def mni_tissue(tissue: str, resolution: int = 2) -> Volume:
    """The MNI152 grey- ("gm") or white-matter ("wm") probability map (0..1) on nilearn's `resolution` mm grid."""
    if tissue not in ("gm", "wm"):
        raise InputError(f"MNI tissue must be 'gm' or 'wm'; got {tissue!r}")
    return _copy(_cached(tissue, resolution, None))


@functools.lru_cache(maxsize=16)
def _cached(kind: str, resolution: int, spacing_mm: float | None) -> Volume:
    if resolution not in RESOLUTIONS:
        raise InputError(f"MNI template resolution must be one of {RESOLUTIONS} mm; got {resolution!r}")
    from nilearn import datasets  # imported here: nilearn.datasets takes about 2 s to import

    loaders = {"template": datasets.load_mni152_template, "mask": datasets.load_mni152_brain_mask,
               "gm": datasets.load_mni152_gm_template, "wm": datasets.load_mni152_wm_template}
    image = loaders[kind](resolution=resolution)
    volume = Volume(data=image.get_fdata(dtype=np.float32), affine=image.affine,
                    meta={"template": f"MNI152 2009a {kind} (nilearn)", "template_resolution": resolution})
    if spacing_mm is None:
        return volume
    # Nearest neighbour keeps the mask binary; the mask and the template share the new grid either way.
    return resample(volume, spacing_mm, order=1 if kind == "template" else 0)


def _isotropic(spacing_mm) -> float | None:
    """`spacing_mm` as one float (the cache needs a hashable key, and 4 and 4.0 must be the same key)."""
    if spacing_mm is None:
        return None
    if np.ndim(spacing_mm) != 0 or not float(spacing_mm) > 0:
        raise InputError(f"MNI template spacing_mm must be one positive number; got {spacing_mm!r}")
    return float(spacing_mm)


def _copy(volume: Volume) -> Volume:
    return Volume(data=volume.data.copy(), affine=volume.affine.copy(), meta=dict(volume.meta))
