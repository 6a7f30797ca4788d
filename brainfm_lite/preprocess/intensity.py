"""Intensity steps: brain mask (simple skull strip), percentile clipping, z-scoring and N4 bias-field correction.

All functions take and return `Volume` objects of one 3D image [X, Y, Z]; masks are bool arrays on the same grid.
Each step records its parameters in the returned volume's meta (JSON-serialisable values only).

Example:
    >>> mask = brain_mask(t1)                                   # doctest: +SKIP
    >>> t1 = bias_field_correct(t1, mask)                        # doctest: +SKIP
    >>> t1 = zscore(clip_percentiles(t1, mask=mask), mask)       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from skimage.filters import threshold_otsu

from brainfm_lite.data.checks import as_mask, describe, require_3d
from brainfm_lite.data.sitk_bridge import from_sitk, single_threaded, to_sitk
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.resample import resample_like
from brainfm_lite.preprocess.templates import mni_brain_mask

MASK_METHODS = ("otsu", "mni")


def brain_mask(volume: Volume, *, method: str = "otsu", erosion_mm: float = 3.0, closing_mm: float = 6.0) -> np.ndarray:
    """A bool brain mask [X, Y, Z] for a T1-weighted volume.

    ``method="otsu"`` is an honest, simple skull strip (expect a mask that is roughly right, not FreeSurfer):

    1. voxels brighter than Otsu's threshold (separates dark background and CSF from tissue);
    2. erosion by `erosion_mm`, which cuts the thin bridges between brain and scalp;
    3. the largest connected component (the brain), dilated back by `erosion_mm` within the step-1 voxels;
    4. morphological closing by `closing_mm` (fills sulci) and hole filling (ventricles).

    ``method="mni"`` is for a volume already registered to MNI (e.g. by `register_to_mni`): the template's brain
    mask, mapped onto the volume's grid, restricted to voxels the scan covered (nonzero).

    Args:
        volume: 3D T1-weighted image.
        method: "otsu" or "mni".
        erosion_mm, closing_mm: radii (mm) of the ball-shaped structuring elements ("otsu" only).
    """
    require_3d(volume, "brain_mask")
    if method == "mni":
        resolution = 1 if min(volume.spacing_mm) < 2.0 else 2
        template_mask = resample_like(mni_brain_mask(resolution), volume, order=0).data > 0.5
        return template_mask & (volume.data != 0)
    if method != "otsu":
        raise InputError(f"brain_mask method must be one of {MASK_METHODS}; got {method!r} for {describe(volume)}")
    if not (erosion_mm >= 0 and closing_mm >= 0):
        raise InputError(f"brain_mask radii must be >= 0 mm; got erosion_mm={erosion_mm}, closing_mm={closing_mm}")

    foreground = volume.data > threshold_otsu(volume.data)
    erosion = _ball(erosion_mm, volume.spacing_mm)
    core = ndimage.binary_erosion(foreground, erosion)
    if not core.any():
        raise InputError(f"brain_mask found no tissue in {describe(volume)} (empty after thresholding)")
    components, _ = ndimage.label(core)
    largest = components == np.argmax(np.bincount(components.ravel())[1:]) + 1
    brain = ndimage.binary_dilation(largest, erosion) & foreground
    brain = _closing(brain, _ball(closing_mm, volume.spacing_mm))
    return ndimage.binary_fill_holes(brain)


def apply_mask(volume: Volume, mask) -> Volume:
    """Set every voxel outside `mask` to 0 (skull stripping once a brain mask is known)."""
    brain = as_mask(mask, volume)
    return volume.with_data(np.where(brain, volume.data, np.float32(0)))


def clip_percentiles(volume: Volume, low: float = 0.5, high: float = 99.5, mask=None) -> Volume:
    """Clip intensities to their `low`-th and `high`-th percentiles (limits bright vessels and outliers).

    Args:
        volume: 3D image.
        low, high: percentiles in [0, 100], low < high.
        mask: when given, percentiles are taken inside the mask and only voxels inside are clipped (the 0s of a
            skull-stripped background stay 0); otherwise over every voxel.

    Returns:
        A new Volume; ``meta["clip_percentiles"]`` holds the percentiles and the intensity limits used.
    """
    if not 0.0 <= low < high <= 100.0:
        raise InputError(f"clip_percentiles needs 0 <= low < high <= 100; got low={low}, high={high}")
    inside = np.ones(volume.shape, dtype=bool) if mask is None else as_mask(mask, volume)
    if not inside.any():
        raise InputError(f"clip_percentiles got an empty mask for {describe(volume)}")
    lo, hi = np.percentile(volume.data[inside], [low, high])
    data = np.where(inside, np.clip(volume.data, lo, hi), volume.data)
    record = {"low": low, "high": high, "low_value": float(lo), "high_value": float(hi)}
    return volume.with_data(data, clip_percentiles=record)


def zscore(volume: Volume, mask=None) -> Volume:
    """Shift and scale so that voxels inside `mask` have mean 0 and standard deviation 1; voxels outside become 0.

    Args:
        volume: 3D image.
        mask: bool array on the volume's grid (None: every voxel).

    Returns:
        A new Volume; ``meta["zscore"]`` holds the mean and standard deviation removed.
    """
    inside = np.ones(volume.shape, dtype=bool) if mask is None else as_mask(mask, volume)
    values = volume.data[inside].astype(np.float64)
    if values.size < 2 or values.std() == 0:
        raise InputError(f"zscore needs at least two different values inside the mask of {describe(volume)}")
    mean, std = values.mean(), values.std()
    data = np.where(inside, (volume.data - mean) / std, 0.0).astype(np.float32)
    return volume.with_data(data, zscore={"mean": float(mean), "std": float(std)})


def bias_field_correct(volume: Volume, mask=None, shrink: int = 4, iterations=(50, 50, 30)) -> Volume:
    """Remove a smooth multiplicative intensity bias with N4 (Tustison et al. 2010, SimpleITK).

    N4 fits the log bias field as a B-spline on an image shrunk by `shrink` along each axis (the field is smooth,
    so coarse voxels suffice and the fit is many times faster); the fitted field is then evaluated on the full
    grid (``GetLogBiasFieldAsImage``) and divided out: ``corrected = image / exp(log_bias)``.

    Args:
        volume: 3D image with positive tissue intensities (N4 works on the log of the signal).
        mask: voxels used for the fit (bool array); None: Otsu foreground. Voxels <= 0 are never used.
        shrink: integer shrink factor per axis for the fit (>= 1).
        iterations: maximum iterations per fitting level; its length is the number of levels.

    Returns:
        A new Volume (the whole image is corrected); ``meta["bias_field"]`` records the parameters.
    """
    require_3d(volume, "bias_field_correct")
    if int(shrink) != shrink or shrink < 1 or len(iterations) < 1 or min(iterations) < 1:
        raise InputError(f"bias_field_correct needs an integer shrink >= 1 and positive iterations; got "
                         f"shrink={shrink!r}, iterations={iterations!r} for {describe(volume)}")
    fit_mask = (volume.data > threshold_otsu(volume.data)) if mask is None else as_mask(mask, volume)
    fit_mask = fit_mask & (volume.data > 0)
    if not fit_mask.any():
        raise InputError(f"bias_field_correct found no positive voxels to fit in {describe(volume)}")

    image = to_sitk(volume)
    mask_image = to_sitk(volume.with_data(fit_mask.astype(np.float32)), dtype=np.uint8)
    factors = [min(int(shrink), n) for n in volume.shape]  # never shrink an axis below one voxel
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(n) for n in iterations])
    with single_threaded():  # repeatable results (see sitk_bridge.single_threaded)
        corrector.Execute(sitk.Shrink(image, factors), sitk.Shrink(mask_image, factors))
        log_bias = from_sitk(corrector.GetLogBiasFieldAsImage(image)).data
    record = {"method": "N4 (SimpleITK)", "shrink": int(shrink), "iterations": [int(n) for n in iterations],
              "mask": "otsu" if mask is None else "given"}
    return volume.with_data(volume.data / np.exp(log_bias), bias_field=record)


def _ball(radius_mm: float, spacing_mm) -> np.ndarray:
    """Bool structuring element: the voxels within `radius_mm` of the centre on a grid of `spacing_mm`."""
    half_widths = [int(radius_mm // s) for s in spacing_mm]
    offsets = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half_widths, spacing_mm)], indexing="ij")
    return sum(o**2 for o in offsets) <= radius_mm**2


def _closing(mask: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Dilate then erode; the erosion treats outside the image as brain so masks touching the edge are not eaten."""
    return ndimage.binary_erosion(ndimage.binary_dilation(mask, structure), structure, border_value=1)
