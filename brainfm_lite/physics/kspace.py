"""k-space: centered FFTs, Cartesian undersampling masks, coil sensitivities and the multi-coil forward model.

Conventions follow fastMRI:

- images are complex tensors [..., H, W]; multi-coil images and k-space are [..., C, H, W] (coils on axis -3);
- the FFT is centered (DC in the middle, at index H // 2, W // 2) and orthonormal, so it preserves energy;
- masks select phase-encode lines, which are the COLUMNS (the last axis, W); every row of a mask is the same.

The forward operator of a parallel-imaging acquisition with sensitivities S_c and sampling mask M is

    A x = M * F(S_c * x)            (one k-space per coil)
    A^H k = sum_c conj(S_c) * F^H(M * k_c)

Functions take torch tensors; the ones marked "numpy in, numpy out" also accept numpy arrays and then return
numpy arrays. Masks, sensitivities and phase maps are seeded: the same seed gives the same array.

Intensity scale: k-space from a scanner comes in arbitrary units, and a learned prior only knows the scale of its
training images. `acs_scale` measures a slice's scale from what every Cartesian acquisition samples, the central
(autocalibration) columns, so the same number can be computed for a training image, a simulated measurement and a
real undersampled scan, and all three are brought to one scale by dividing by it.

Example:
    >>> image = torch.rand(48, 48) * torch.exp(1j * background_phase((48, 48), seed=1))
    >>> sens = coil_sensitivities((48, 48), n_coils=4, seed=1)
    >>> mask = cartesian_mask((48, 48), acceleration=4, center_fraction=0.08, seed=1)
    >>> k = simulate_acquisition(image, sens, mask, noise_std=0.01)   # [4, 48, 48]
    >>> aliased = zero_filled(k, sens)                                 # complex [48, 48]
    >>> k_unit = k / acs_scale(k)                                      # about 1 in the brightest tissue
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from brainfm_lite.errors import InputError

MASK_KINDS = ("random", "equispaced")
# `acs_scale`: the central 8 % of the columns (the centre of every mask of the chapter 8 experiments, and about the
# stroke DPM paper's 26 autocalibration lines of a fastMRI brain k-space); the 99th percentile of the low-resolution
# image over the field of view, which lands in the brightest tissue as long as the head fills more than 1 % of it.
ACS_SCALE_FRACTION = 0.08
ACS_SCALE_PERCENTILE = 99.0


def _numpy_in_numpy_out(function):
    """Let a torch function take numpy arrays: convert them to tensors, and the result back if any was numpy."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        given_numpy = any(isinstance(a, np.ndarray) for a in (*args, *kwargs.values()))
        args = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
        kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        result = function(*args, **kwargs)
        return result.cpu().numpy() if given_numpy else result

    return wrapper


def _as_complex(x: torch.Tensor) -> torch.Tensor:
    return x if x.is_complex() else x.to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)


def _check_image_2d(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise InputError(f"{name} must be an array with at least 2 axes [..., H, W]; got {getattr(x, 'shape', x)}")


@_numpy_in_numpy_out
def fft2c(x):
    """Centered, orthonormal 2D Fourier transform over the last two axes (numpy in, numpy out).

    ifftshift -> fft2(norm="ortho") -> fftshift, so DC lands at index [H // 2, W // 2] and
    ``sum |x|^2 == sum |fft2c(x)|^2`` (Parseval).

    Args:
        x: image [..., H, W], real or complex.

    Returns:
        k-space [..., H, W], complex.
    """
    _check_image_2d(x, "x")
    x = torch.fft.ifftshift(_as_complex(x), dim=(-2, -1))
    k = torch.fft.fft2(x, dim=(-2, -1), norm="ortho")
    return torch.fft.fftshift(k, dim=(-2, -1))


@_numpy_in_numpy_out
def ifft2c(k):
    """Inverse of `fft2c`: centered, orthonormal 2D inverse FFT over the last two axes (numpy in, numpy out).

    Args:
        k: k-space [..., H, W], complex (DC at the centre).

    Returns:
        image [..., H, W], complex.
    """
    _check_image_2d(k, "k")
    k = torch.fft.ifftshift(_as_complex(k), dim=(-2, -1))
    x = torch.fft.ifft2(k, dim=(-2, -1), norm="ortho")
    return torch.fft.fftshift(x, dim=(-2, -1))


def cartesian_mask(shape, acceleration: float, center_fraction: float, *, kind: str = "random",
                   seed: int = 0) -> torch.Tensor:
    """A fastMRI-style Cartesian undersampling mask that keeps whole phase-encode columns.

    - ``random``: the central ``round(W * center_fraction)`` columns always, each other column independently with
      probability ``(W / R - n_center) / (W - n_center)``, so about W / R columns on average.
    - ``equispaced``: the same centre, plus every ``R'``-th column from a random offset, where ``R'`` is the
      spacing that brings the total to about W / R once the centre is counted.

    Args:
        shape: (H, W) of the k-space; or (W,) for the column pattern alone.
        acceleration: R >= 1, the undersampling factor (W / number of sampled columns).
        center_fraction: fraction of the columns, in (0, 1], always sampled around DC (the autocalibration
            region); ``round(W * center_fraction)`` must be at least 1 and at most W / R.
        kind: "random" or "equispaced".
        seed: seed of the random choices; the same seed gives the same mask.

    Returns:
        bool tensor of ``shape``: [H, W] with every row the same (broadcasts against k-space [..., C, H, W]),
        or [W].
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (1, 2) or min(shape) < 1:
        raise InputError(f"mask shape must be (H, W) or (W,) with positive sizes; got {shape}")
    if kind not in MASK_KINDS:
        raise InputError(f"mask kind must be one of {MASK_KINDS}; got {kind!r}")
    if not acceleration >= 1:
        raise InputError(f"acceleration must be >= 1; got {acceleration}")
    if not 0 < center_fraction <= 1:
        raise InputError(f"center_fraction must lie in (0, 1]; got {center_fraction}")
    n_columns = shape[-1]
    n_center = round(n_columns * center_fraction)
    if n_center < 1 or n_center > n_columns / acceleration + 1e-9:
        raise InputError(
            f"center_fraction {center_fraction} gives {n_center} centre columns of {n_columns}; need between 1 and "
            f"W / R = {n_columns / acceleration:g} (lower center_fraction or acceleration)"
        )
    rng = np.random.default_rng(seed)
    if kind == "random":
        columns = _random_columns(rng, n_columns, acceleration, n_center)
    else:
        columns = _equispaced_columns(rng, n_columns, acceleration, n_center)
    columns[_center_columns(n_columns, n_center)] = True
    mask = torch.from_numpy(columns)
    return mask.expand(shape[0], n_columns).clone() if len(shape) == 2 else mask


def _center_columns(n_columns: int, n_center: int) -> slice:
    """The block of `n_center` columns around DC at ``W // 2``, placed as fastMRI places its fully sampled centre."""
    first = (n_columns - n_center + 1) // 2
    return slice(first, first + n_center)


def _random_columns(rng: np.random.Generator, n_columns: int, acceleration: float, n_center: int) -> np.ndarray:
    n_outer = n_columns - n_center
    if n_outer == 0:
        return np.ones(n_columns, dtype=bool)
    probability = (n_columns / acceleration - n_center) / n_outer
    return rng.uniform(size=n_columns) < probability


def _equispaced_columns(rng: np.random.Generator, n_columns: int, acceleration: float, n_center: int) -> np.ndarray:
    columns = np.zeros(n_columns, dtype=bool)
    wanted_outer = n_columns / acceleration - n_center
    if wanted_outer < 0.5:  # the centre alone already gives W / R columns
        return columns
    # fastMRI's EquispacedMaskFractionFunc: spacing chosen so centre + equispaced lines total about W / R.
    spacing = acceleration * (n_center - n_columns) / (n_center * acceleration - n_columns)
    offset = int(rng.integers(0, max(1, round(spacing))))
    columns[np.around(np.arange(offset, n_columns - 1, spacing)).astype(int)] = True
    return columns


def coil_sensitivities(shape, n_coils: int, *, seed: int = 0, width: float = 1.0) -> torch.Tensor:
    """Smooth, complex receive-coil sensitivities of a ring of coils around the head.

    Coil c sits on a circle around the field of view (at angle 2 pi c / C, jittered), with a Gaussian magnitude
    profile of standard deviation ``width`` (in units of the half field of view) and a smooth, slowly varying
    phase (a random offset plus a gentle linear ramp). The set is normalised so that ``sum_c |S_c|^2 = 1`` at
    every pixel (the whole field of view, so in particular wherever the image lives): then
    ``sense_combine`` and the adjoint return the image itself on fully sampled, noise-free data.

    Args:
        shape: (H, W) of the image.
        n_coils: number of coils C >= 1 (one coil: a unit-magnitude smooth phase map).
        seed: seed of the positions and phases.
        width: spread of each coil's profile, as a fraction of the half field of view (> 0).

    Returns:
        complex64 tensor [C, H, W].
    """
    height, width_px = _shape_2d(shape)
    if int(n_coils) != n_coils or n_coils < 1:
        raise InputError(f"n_coils must be a positive integer; got {n_coils}")
    if not width > 0:
        raise InputError(f"width must be > 0; got {width}")
    rng = np.random.default_rng(seed)
    y, x = _unit_grid(height, width_px)
    angles = 2 * np.pi * np.arange(n_coils) / n_coils + rng.uniform(-0.2, 0.2, size=n_coils)
    radius = 1.2  # just outside the field of view, as surface coils are
    sens = []
    for angle in angles:
        distance2 = (x - radius * np.cos(angle)) ** 2 + (y - radius * np.sin(angle)) ** 2
        magnitude = np.exp(-distance2 / (2 * width**2))
        ramp_x, ramp_y = rng.uniform(-1.0, 1.0, size=2)
        phase = rng.uniform(-np.pi, np.pi) + ramp_x * x + ramp_y * y
        sens.append(magnitude * np.exp(1j * phase))
    sens = np.stack(sens)
    sens /= np.sqrt(np.sum(np.abs(sens) ** 2, axis=0, keepdims=True))
    return torch.from_numpy(sens.astype(np.complex64))


def background_phase(shape, *, seed: int = 0, amplitude: float = math.pi) -> torch.Tensor:
    """A smooth random phase map, to make a magnitude image complex as real acquisitions are.

    A random quadratic surface in the pixel coordinates (offset, linear ramps, curvature), scaled so that it
    spans at most ``amplitude`` radians either side of zero. Use it as ``image * torch.exp(1j * phase)``.

    Args:
        shape: (H, W) of the image.
        seed: seed of the coefficients.
        amplitude: largest absolute phase, in radians.

    Returns:
        float32 tensor [H, W], radians.
    """
    height, width_px = _shape_2d(shape)
    rng = np.random.default_rng(seed)
    y, x = _unit_grid(height, width_px)
    c = rng.uniform(-1.0, 1.0, size=6)
    surface = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * y * y + c[5] * x * y
    surface *= amplitude / max(np.abs(surface).max(), 1e-12)
    return torch.from_numpy(surface.astype(np.float32))


def _shape_2d(shape) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"shape must be (H, W) with positive sizes; got {shape}")
    return shape


def _unit_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1] along each axis, as [H, W] arrays (y down the rows, x along columns)."""
    return np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")


def _apply_mask(k: torch.Tensor, mask) -> torch.Tensor:
    return k if mask is None else k * mask.to(k.device)


@_numpy_in_numpy_out
def forward_op(x, sens, mask=None):
    """The acquisition operator ``A x = mask * fft2c(sens * x)`` (numpy in, numpy out).

    Args:
        x: image [..., H, W], complex (real is promoted).
        sens: coil sensitivities [C, H, W] or [..., C, H, W].
        mask: sampling mask broadcastable to [..., C, H, W] ([H, W] or [W] bool); None samples everything.

    Returns:
        multi-coil k-space [..., C, H, W], complex, zero where the mask is False.
    """
    _check_image_2d(x, "x")
    _check_sens(sens, x.shape[-2:])
    return _apply_mask(fft2c(sens * _as_complex(x).unsqueeze(-3)), mask)


@_numpy_in_numpy_out
def adjoint_op(k, sens, mask=None):
    """The adjoint ``A^H k = sum_c conj(sens_c) * ifft2c(mask * k_c)`` (numpy in, numpy out).

    Args:
        k: multi-coil k-space [..., C, H, W], complex.
        sens: coil sensitivities [C, H, W] or [..., C, H, W].
        mask: sampling mask broadcastable to k; None for all of it.

    Returns:
        image [..., H, W], complex.
    """
    _check_image_2d(k, "k")
    _check_sens(sens, k.shape[-2:])
    return torch.sum(sens.conj() * ifft2c(_apply_mask(_as_complex(k), mask)), dim=-3)


def _check_sens(sens, image_shape) -> None:
    if not isinstance(sens, torch.Tensor) or sens.ndim < 3 or tuple(sens.shape[-2:]) != tuple(image_shape):
        raise InputError(
            f"sens must be [C, H, W] with H, W = {tuple(image_shape)}; got {tuple(getattr(sens, 'shape', ()))}"
        )


@_numpy_in_numpy_out
def simulate_acquisition(image, sens, mask, *, noise_std: float = 0.0, seed: int = 0):
    """Undersampled multi-coil k-space of an image, with complex Gaussian noise on the sampled points.

    ``k = mask * (fft2c(sens * image) + noise)``, where the real and imaginary parts of the noise are each
    Gaussian with standard deviation ``noise_std`` (in the image's units: the FFT is orthonormal, so this is also
    the noise per part in each coil image).

    Args:
        image: complex image [..., H, W].
        sens: coil sensitivities [C, H, W] or [..., C, H, W].
        mask: sampling mask broadcastable to [..., C, H, W]; None samples everything.
        noise_std: noise standard deviation per real/imaginary part (>= 0).
        seed: seed of the noise.

    Returns:
        k-space [..., C, H, W], complex, zero off the mask.
    """
    if not noise_std >= 0:
        raise InputError(f"noise_std must be >= 0; got {noise_std}")
    k = forward_op(image, sens, None)
    if noise_std > 0:
        generator = torch.Generator().manual_seed(seed)
        real_dtype = k.real.dtype
        noise = torch.complex(torch.randn(k.shape, generator=generator, dtype=real_dtype),
                              torch.randn(k.shape, generator=generator, dtype=real_dtype))
        k = k + noise_std * noise.to(k.device)
    return _apply_mask(k, mask)


@_numpy_in_numpy_out
def rss(coil_images, dim: int = -3):
    """Root-sum-of-squares coil combination ``sqrt(sum_c |x_c|^2)`` (numpy in, numpy out).

    Args:
        coil_images: coil images [..., C, H, W], complex or real.
        dim: the coil axis.

    Returns:
        magnitude image [..., H, W], real.
    """
    return torch.sqrt(torch.sum(torch.abs(coil_images) ** 2, dim=dim))


@_numpy_in_numpy_out
def sense_combine(coil_images, sens):
    """Sensitivity-weighted coil combination ``sum_c conj(S_c) x_c / sum_c |S_c|^2`` (numpy in, numpy out).

    Unlike `rss` it keeps the phase, and it returns the image itself where the coil images are exactly
    ``S_c * image``. Pixels where every sensitivity is zero give 0.

    Args:
        coil_images: coil images [..., C, H, W], complex.
        sens: coil sensitivities [C, H, W] or [..., C, H, W].

    Returns:
        complex image [..., H, W].
    """
    _check_sens(sens, coil_images.shape[-2:])
    weight = torch.sum(torch.abs(sens) ** 2, dim=-3)
    combined = torch.sum(sens.conj() * _as_complex(coil_images), dim=-3)
    return combined / torch.clamp(weight, min=torch.finfo(weight.dtype).tiny)


@_numpy_in_numpy_out
def zero_filled(k, sens=None, mask=None):
    """Zero-filled reconstruction: the inverse FFT of the measured k-space, unsampled points left at zero.

    Args:
        k: multi-coil k-space [..., C, H, W] (single-coil data: add a coil axis of size 1).
        sens: coil sensitivities [C, H, W] or [..., C, H, W]; when given, coils are combined with
            `sense_combine` (complex result), otherwise with `rss` (magnitude).
        mask: optional mask applied first (for k-space not yet zeroed off the samples).

    Returns:
        image [..., H, W]: complex with ``sens``, real magnitude without.
    """
    if not isinstance(k, torch.Tensor) or k.ndim < 3:
        raise InputError(f"k must be multi-coil [..., C, H, W]; got shape {tuple(getattr(k, 'shape', ()))}")
    coil_images = ifft2c(_apply_mask(_as_complex(k), mask))
    return rss(coil_images) if sens is None else sense_combine(coil_images, sens)


@_numpy_in_numpy_out
def acs_scale(k, *, center_fraction: float = ACS_SCALE_FRACTION, percentile: float = ACS_SCALE_PERCENTILE):
    """The intensity scale of each slice, from its autocalibration (ACS) lines alone (numpy in, numpy out).

    Keep only the central ``round(W * center_fraction)`` columns of the k-space (the fully sampled centre that
    `cartesian_mask` always includes), transform back, combine the coils by `rss` (no sensitivities needed) and take
    the `percentile` of that low-resolution magnitude image over the whole field of view. It uses nothing but
    measured data, so it is the same number for a fully sampled training image, a simulated undersampled
    acquisition and a real scan (`~brainfm_lite.datasets.recon_slices.load_fastmri_kspace`), whatever R is; dividing
    by it puts all of them on one scale (about 1 in the brightest tissue). It is proportional to the data:
    ``acs_scale(c * k) == c * acs_scale(k)``.

    Args:
        k: multi-coil k-space [..., C, H, W], complex (single-coil data: a coil axis of size 1); the central columns
            must have been sampled (the rest may be zero).
        center_fraction: fraction of the columns used, in (0, 1]; at most the fully sampled centre of the mask.
        percentile: in (0, 100].

    Returns:
        positive scale per slice [...] (float, the k-space's real dtype).

    Raises:
        InputError: not multi-coil k-space, a bad fraction or percentile, or an empty centre (scale 0).
    """
    if not isinstance(k, torch.Tensor) or k.ndim < 3:
        raise InputError(f"k must be multi-coil k-space [..., C, H, W]; got shape {tuple(getattr(k, 'shape', ()))}")
    if not 0 < center_fraction <= 1:
        raise InputError(f"center_fraction must lie in (0, 1]; got {center_fraction}")
    if not 0 < percentile <= 100:
        raise InputError(f"percentile must lie in (0, 100]; got {percentile}")
    n_columns = k.shape[-1]
    n_center = max(1, round(n_columns * center_fraction))
    centre = torch.zeros(n_columns, dtype=torch.bool, device=k.device)
    centre[_center_columns(n_columns, n_center)] = True
    low_resolution = rss(ifft2c(_as_complex(k) * centre))  # [..., H, W]
    # numpy's linear percentile from a sort: torch.quantile refuses inputs of more than 2^24 values (a full stack)
    ordered = low_resolution.flatten(-2).to(torch.float64).sort(dim=-1).values
    position = (ordered.shape[-1] - 1) * percentile / 100
    below, fraction = math.floor(position), position - math.floor(position)
    above = min(below + 1, ordered.shape[-1] - 1)
    scale = ordered[..., below] + fraction * (ordered[..., above] - ordered[..., below])
    scale = scale.to(low_resolution.dtype)
    if not bool((scale > 0).all()):
        raise InputError("the centre of the k-space is empty (zero), so its intensity scale is undefined; "
                         "were the central columns sampled?")
    return scale


def acs_columns(n_columns: int, center_fraction: float = ACS_SCALE_FRACTION) -> torch.Tensor:
    """Bool [W]: the columns `acs_scale` reads, so a caller can check that a mask samples them all."""
    columns = torch.zeros(int(n_columns), dtype=torch.bool)
    columns[_center_columns(int(n_columns), max(1, round(n_columns * center_fraction)))] = True
    return columns


def to_channels(images: torch.Tensor) -> torch.Tensor:
    """Complex images [..., H, W] as two real channels [..., 2, H, W] (real, imaginary), float32."""
    return torch.view_as_real(images.to(torch.complex64)).movedim(-1, -3).contiguous()


def to_complex(channels: torch.Tensor) -> torch.Tensor:
    """Inverse of `to_channels`: [..., 2, H, W] real channels to complex64 [..., H, W]."""
    if channels.ndim < 3 or channels.shape[-3] != 2:
        raise InputError(f"expected channels [..., 2, H, W] (real, imaginary); got {tuple(channels.shape)}")
    return torch.complex(channels[..., 0, :, :].float(), channels[..., 1, :, :].float())
