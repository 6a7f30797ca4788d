"""Rigid or affine registration of a T1-weighted volume to the MNI152 template, with SimpleITK.

Why SimpleITK: it installs as a plain pip wheel (no compiler, no toolchain), works offline, and exposes ITK's
registration framework (metrics, optimisers, multi-resolution pyramids) and N4 bias correction from one
dependency. ANTsPy offers the same kind of registration (and non-linear SyN) but is a much heavier dependency;
the FSL and ANTs command-line tools cannot be installed with pip at all.

Method (the classic ITK v4 recipe):

* fixed image: the MNI152 template from nilearn (`mni_template`), on its `resolution` grid or resampled to
  `spacing_mm` (coarser is faster); moving image: the volume;
* start: centres of mass aligned (``CenteredTransformInitializer`` in MOMENTS mode);
* metric: Mattes mutual information (works across contrasts and intensity scales), on about 20,000 voxels
  drawn at random with a fixed seed at each level;
* optimiser: regular-step gradient descent with parameter scales from physical shift, over a pyramid of
  shrink factors 4, 2, 1 (levels coarser than 8 mm voxels are skipped);
* rigid = Euler3D (3 rotations, 3 translations); affine = the rigid result refined by a 12-parameter affine.

Reproducibility: the sampling seed is fixed and ITK runs on one thread (`single_threaded`), so identical inputs
give identical outputs, bit for bit.

The transform follows ITK conventions: it maps points of the fixed (MNI) space to the moving (volume) space, in
LPS millimetres. ``meta["registration"]`` stores it so that `apply_registration` can carry masks or label maps of
the same scan to MNI with exactly the same mapping.

Example:
    >>> t1_mni = register_to_mni(t1, transform="rigid", spacing_mm=2.0)       # doctest: +SKIP
    >>> labels_mni = apply_registration(labels, t1_mni.meta["registration"], order=0)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from brainfm_lite.data.checks import describe, require_3d
from brainfm_lite.data.sitk_bridge import from_sitk, single_threaded, to_sitk
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.templates import mni_template

__all__ = ["register_to_mni", "apply_registration", "mni_template", "TRANSFORMS"]

TRANSFORMS = ("rigid", "affine")
METRIC_SAMPLES = 20_000  # random voxels per metric evaluation: plenty for a 32-bin joint histogram
SAMPLING_SEED = 1  # any fixed value but 0: SimpleITK reads a seed of 0 as "seed from the wall clock"
COARSEST_LEVEL_MM = 8.0
INTERPOLATORS = {0: sitk.sitkNearestNeighbor, 1: sitk.sitkLinear, 3: sitk.sitkBSpline}


def register_to_mni(volume: Volume, *, transform: str = "rigid", resolution: int = 2,
                    spacing_mm: float | None = None) -> Volume:
    """Register a 3D volume to the MNI152 template and resample it onto the template grid.

    Args:
        volume: 3D image [X, Y, Z], any orientation (world coordinates are what count).
        transform: "rigid" (6 parameters) or "affine" (12; rigid first, then affine).
        resolution: nilearn template grid, 1 or 2 mm.
        spacing_mm: output voxel size (mm) on the template's field of view; None keeps `resolution`.

    Returns:
        The volume on the MNI grid (linear interpolation, 0 outside the scan). ``meta["registration"]`` holds the
        transform type, final metric value (Mattes MI, lower is better), ITK parameters and fixed parameters (as
        lists), iterations per stage, and the template grid.
    """
    require_3d(volume, "register_to_mni")
    if transform not in TRANSFORMS:
        raise InputError(f"transform must be one of {TRANSFORMS}; got {transform!r} for {describe(volume)}")
    template = mni_template(resolution, spacing_mm)
    fixed, moving = to_sitk(template), to_sitk(volume)

    with single_threaded():
        initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                                    sitk.CenteredTransformInitializerFilter.MOMENTS)
        result, stages = initial, []
        for stage in ("rigid", "affine")[: TRANSFORMS.index(transform) + 1]:
            start = result if stage == "rigid" else _affine_from_rigid(result)
            result, summary = _optimise(fixed, moving, start, min(template.spacing_mm))
            stages.append({"transform": stage, **summary})

    record = {
        "transform": transform,
        "template": template.meta["template"],
        "template_resolution": resolution,
        "spacing_mm": spacing_mm,
        "final_metric": stages[-1]["final_metric"],
        "iterations": sum(s["iterations"] for s in stages),
        "parameters": list(result.GetParameters()),
        "fixed_parameters": list(result.GetFixedParameters()),
        "stages": stages,
    }
    registered = apply_registration(volume, record, order=1)
    return registered.with_data(registered.data, registration=record)


def apply_registration(volume: Volume, registration: dict, order: int = 1) -> Volume:
    """Resample `volume` (same scan space as the registered one) onto the MNI grid with a stored transform.

    Args:
        volume: 3D image or label map/mask in the space of the volume that was registered.
        registration: ``meta["registration"]`` of a `register_to_mni` result.
        order: 0 nearest (labels, masks), 1 linear, 3 cubic B-spline.

    Returns:
        A new Volume on the template grid (0 outside the scan).
    """
    require_3d(volume, "apply_registration")
    if order not in INTERPOLATORS:
        raise InputError(f"order must be one of {tuple(INTERPOLATORS)}; got {order!r} for {describe(volume)}")
    mapping = sitk.Euler3DTransform() if registration["transform"] == "rigid" else sitk.AffineTransform(3)
    mapping.SetFixedParameters(registration["fixed_parameters"])
    mapping.SetParameters(registration["parameters"])
    template = mni_template(registration["template_resolution"], registration["spacing_mm"])
    with single_threaded():
        moved = sitk.Resample(to_sitk(volume), to_sitk(template), mapping, INTERPOLATORS[order], 0.0,
                              sitk.sitkFloat32)
    return from_sitk(moved, like=volume)


def _affine_from_rigid(rigid: sitk.Transform) -> sitk.AffineTransform:
    """An affine transform equal to `rigid` (same matrix, translation and centre), to refine further."""
    rigid = sitk.Euler3DTransform(rigid)
    affine = sitk.AffineTransform(3)
    affine.SetMatrix(rigid.GetMatrix())
    affine.SetTranslation(rigid.GetTranslation())
    affine.SetCenter(rigid.GetCenter())
    return affine


def _optimise(fixed: sitk.Image, moving: sitk.Image, start: sitk.Transform,
              fixed_spacing_mm: float) -> tuple[sitk.Transform, dict]:
    """One multi-resolution registration, optimising `start` in place; returns it and a summary."""
    shrink_factors = [f for f in (4, 2, 1) if f == 1 or f * fixed_spacing_mm <= COARSEST_LEVEL_MM]
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    # The same number of samples at every level: a fixed percentage would waste time on the finest level.
    level_voxels = [np.prod(np.ceil(np.array(fixed.GetSize()) / f)) for f in shrink_factors]
    method.SetMetricSamplingPercentagePerLevel([min(1.0, METRIC_SAMPLES / n) for n in level_voxels], SAMPLING_SEED)
    method.SetInterpolator(sitk.sitkLinear)
    # Image gradients only at the sampled points, not as whole gradient images at every level (much faster).
    method.MetricUseFixedImageGradientFilterOff()
    method.MetricUseMovingImageGradientFilterOff()
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=200,
                                                    relaxationFactor=0.5, gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink_factors)
    method.SetSmoothingSigmasPerLevel([f / 2 if f > 1 else 0.0 for f in shrink_factors])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()  # sigmas above are in voxels of each level
    method.SetInitialTransform(start, inPlace=True)  # so `start` keeps its own type (not a composite)

    metric_history = []  # one entry per optimiser iteration, over all levels
    method.AddCommand(sitk.sitkIterationEvent, lambda: metric_history.append(method.GetMetricValue()))
    method.Execute(fixed, moving)
    summary = {"final_metric": float(method.GetMetricValue()), "iterations": len(metric_history),
               "shrink_factors": shrink_factors, "stop": method.GetOptimizerStopConditionDescription()}
    return start, summary
