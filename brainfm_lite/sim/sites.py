"""Sites of the structural cohort: scanners and protocols, and what they do to an image.

A site acquires at its own resolution (a clinical 2D protocol has thick slices), with a smooth multiplicative bias
field (receive and transmit inhomogeneity, stronger at 3 T), its own intensity scale (scanners store arbitrary
units) and Rician noise (the magnitude of complex Gaussian noise; lower at 3 T). These are the differences that
make a model trained at one site stumble at another. The ASL studies are in :mod:`brainfm_lite.sim.asl.sites`.

Example:
    >>> sites = make_sites(3, seed=0)                                          # doctest: +SKIP
    >>> image = apply_site(t1, sites[0], rng, anatomy, reference_intensity=0.88)   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from brainfm_lite.errors import InputError
from brainfm_lite.sim.anatomy import Anatomy
from brainfm_lite.sim.random_fields import FWHM_TO_SIGMA
from brainfm_lite.sim.streams import Stream, stream_rng

BIAS_CONTROL_POINTS = 4  # per axis over the head: a field smoother than any anatomy


@dataclass(frozen=True)
class Site:
    """One scanner and protocol.

    Attributes:
        name: site label, e.g. "site01".
        field_t: field strength, T (1.5 or 3.0).
        spacing_mm: acquired voxel size (x, y, z), mm; thick slices (e.g. 4 mm in z) for clinical 2D protocols.
        noise_sigma: Rician noise SD as a fraction of the white-matter intensity.
        bias_strength: SD of the log bias field at its control points (0.1: about +-10 % across the brain).
        intensity_scale: scanner units per template unit.
    """

    name: str
    field_t: float
    spacing_mm: tuple[float, float, float]
    noise_sigma: float
    bias_strength: float
    intensity_scale: float


def make_sites(n_sites: int, seed: int = 0) -> list[Site]:
    """``n_sites`` sites with a realistic spread of field strength, resolution, noise, bias and scale.

    Field strength alternates 3 T, 1.5 T, ... and every third site uses a clinical 2D protocol (slices 3-5 mm
    thick along z), the others a near-isotropic 3D protocol (0.9-1.3 mm), so that even three sites differ in
    both. Noise is 1-3 % of WM at 3 T and 2-5 % at 1.5 T (SNR grows with field); the bias field is stronger at
    3 T (B1 inhomogeneity grows with field); the intensity scale is log-uniform in 100-4000. Site j depends only
    on (seed, j).

    Raises:
        InputError: ``n_sites`` < 1 or a negative seed.
    """
    if int(n_sites) != n_sites or n_sites < 1:
        raise InputError(f"n_sites must be a positive number of sites; got {n_sites!r}")
    if int(seed) != seed or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    sites = []
    for j in range(int(n_sites)):
        rng = stream_rng(seed, Stream.STRUCTURAL_SITE, j)
        sites.append(_random_site(rng, f"site{j + 1:02d}", field_t=(3.0, 1.5)[j % 2], thick_slices=j % 3 == 2))
    return sites


def apply_site(image: np.ndarray, site: Site, rng: np.random.Generator, anatomy: Anatomy, *,
            reference_intensity: float) -> np.ndarray:
    """What ``site`` makes of a noise-free image on the ``anatomy`` grid: blur, bias field, scale, Rician noise.

    The blur is a Gaussian with the FWHM of the acquired voxel, less what the grid's own voxel already averages
    (nothing is added along axes acquired finer than the grid). The bias field is ``exp`` of a smooth field whose
    control values have SD ``site.bias_strength``.

    Args:
        image: [X, Y, Z] float32, in template units (0 outside the head).
        site: the scanner and protocol.
        rng: draws the bias field, then the noise.
        anatomy: the grid (spacing, and where smooth fields are anchored).
        reference_intensity: the intensity that ``site.noise_sigma`` is a fraction of (white matter).

    Returns:
        [X, Y, Z] float32 magnitude image in scanner units.
    """
    grid_mm = anatomy.spacing_mm
    extra_fwhm_mm = np.sqrt(np.maximum(np.square(site.spacing_mm) - grid_mm**2, 0.0))
    if extra_fwhm_mm.any():
        image = ndimage.gaussian_filter(image, extra_fwhm_mm * FWHM_TO_SIGMA / grid_mm)

    bias_control = rng.normal(0.0, site.bias_strength, (BIAS_CONTROL_POINTS,) * 3)
    image = image * np.exp(anatomy.smooth_field(bias_control)) * np.float32(site.intensity_scale)

    sigma = np.float32(site.noise_sigma * site.intensity_scale * reference_intensity)
    real = image + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(image.shape, dtype=np.float32)
    return np.hypot(real, imaginary)  # the magnitude of complex Gaussian noise is Rician


def _random_site(rng: np.random.Generator, name: str, field_t: float, thick_slices: bool) -> Site:
    if thick_slices:  # clinical 2D protocol: fine in-plane, thick axial slices
        in_plane = round(float(rng.uniform(0.8, 1.0)), 2)
        spacing_mm = (in_plane, in_plane, round(float(rng.uniform(3.0, 5.0)), 1))
    else:  # research 3D protocol, near-isotropic
        spacing_mm = tuple(round(float(s), 2) for s in rng.uniform(0.9, 1.3, 3))
    noise_range, bias_range = ((0.01, 0.03), (0.08, 0.2)) if field_t == 3.0 else ((0.02, 0.05), (0.03, 0.1))
    return Site(name=name, field_t=field_t, spacing_mm=spacing_mm, noise_sigma=float(rng.uniform(*noise_range)),
                bias_strength=float(rng.uniform(*bias_range)),
                intensity_scale=float(np.exp(rng.uniform(np.log(100.0), np.log(4000.0)))))
