"""Smooth Gaussian random fields: healthy regional variation, coil sensitivity, physiological noise.

A field is drawn in two steps, so that the batched simulators can draw with numpy and compute on a device:
`field_noise` draws the white noise (numpy, from the subject's stream) and `smooth_field_from_noise` makes the field
of it (numpy, or a torch batch [B, ...] of noises at once). `smooth_random_field` does both.
"""

from __future__ import annotations

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics._ndimage import gaussian_filter, zoom_linear_wrap

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def smooth_random_field(shape, spacing_mm: float, *, fwhm_mm: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance random field of ``shape`` whose spatial correlation has a width ``fwhm_mm``.

    White noise is drawn on a coarse grid (a third of the FWHM per voxel), smoothed there and interpolated up: the
    same field as smoothing fine white noise, for a fraction of the cost when the FWHM spans many voxels.

    Returns
    -------
    numpy.ndarray [X, Y, Z], float32
    """
    noise = field_noise(shape, spacing_mm, fwhm_mm=fwhm_mm, rng=rng)
    return smooth_field_from_noise(noise, shape, spacing_mm, fwhm_mm=fwhm_mm)


def field_noise(shape, spacing_mm: float, *, fwhm_mm: float, rng: np.random.Generator) -> np.ndarray:
    """The white noise a smooth field of ``shape`` is made from: standard normal, float64, on the coarse grid."""
    if fwhm_mm <= 0 or spacing_mm <= 0:
        raise InputError(f"fwhm_mm and spacing_mm must be positive; got {fwhm_mm} and {spacing_mm}")
    coarse_mm = max(spacing_mm, fwhm_mm / 3.0)
    return rng.standard_normal([max(2, int(np.ceil(n * spacing_mm / coarse_mm)) + 2) for n in shape])


def smooth_field_from_noise(noise, shape, spacing_mm: float, *, fwhm_mm: float):
    """The field `smooth_random_field` makes of `field_noise`'s ``noise``: smoothed on its coarse grid (periodic),
    interpolated up to ``shape`` and scaled to zero mean and unit variance.

    Args:
        noise (numpy.ndarray [x, y, z] or torch.Tensor [B, x, y, z]): From `field_noise` (stacked for a batch).
        shape (3 int), spacing_mm, fwhm_mm: As given to `field_noise`.

    Returns:
        float32 [X, Y, Z] (numpy), or [B, X, Y, Z] on the noise's device (torch: one field per item).
    """
    coarse_mm = max(spacing_mm, fwhm_mm / 3.0)
    coarse = gaussian_filter(noise, fwhm_mm * FWHM_TO_SIGMA / coarse_mm, mode="wrap")
    fine = zoom_linear_wrap(coarse, shape)
    if isinstance(fine, torch.Tensor):
        mean = fine.mean(dim=(-3, -2, -1), keepdim=True)
        std = fine.std(dim=(-3, -2, -1), keepdim=True, correction=0)
        return ((fine - mean) / std.clamp(min=1e-12)).float()
    fine = fine[tuple(slice(0, n) for n in shape)]
    return ((fine - fine.mean()) / max(fine.std(), 1e-12)).astype(np.float32)


def gaussian_blur_mm(image, fwhm_mm, spacing_mm: float):
    """Blur with a Gaussian of FWHM ``fwhm_mm`` (one value, or one per axis), in mm, on a grid of ``spacing_mm``.

    ``image`` is a numpy array [X, Y, Z], or a torch batch [B, X, Y, Z] for which ``fwhm_mm`` may also hold one value
    per item ([B, 1, 1, 1] or [B, 3]). Boundaries extend the edge voxels.
    """
    if isinstance(image, torch.Tensor):
        fwhm = fwhm_mm.detach().cpu().double().numpy() if isinstance(fwhm_mm, torch.Tensor) else fwhm_mm
        sigma = np.asarray(fwhm, dtype=np.float64) * FWHM_TO_SIGMA / spacing_mm
        if np.all(sigma <= 0):
            return image
        return gaussian_filter(image, np.maximum(sigma, 0.0), mode="nearest")
    sigma = np.broadcast_to(np.asarray(fwhm_mm, dtype=np.float64), (image.ndim,)) * FWHM_TO_SIGMA / spacing_mm
    if np.all(sigma <= 0):
        return image
    return gaussian_filter(image, np.maximum(sigma, 0.0), mode="nearest")
