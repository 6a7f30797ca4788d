"""scipy.ndimage's resampling and smoothing, on numpy arrays (scipy itself) or on batched torch tensors.

The simulators (`brainfm_lite.sim`) and the QEI (`brainfm_lite.physics.asl.qei`) call these instead of scipy, so that
one implementation of each runs on one numpy image or on a batch of images on a device (as `_backend` does for the
signal equations).

Each function takes a numpy array and calls the ``scipy.ndimage`` function the simulators always called, with the same
arguments (so the numpy path gives the same bits as before), or takes a torch tensor whose last three axes are
space, with any leading (batch) axes, on any device, and computes the same thing there:

========================  ====================================================================================
function                  scipy.ndimage equivalent
========================  ====================================================================================
:func:`gaussian_filter`   ``gaussian_filter(image, sigma, mode=mode)`` (truncate 4; modes reflect, nearest, wrap,
                          mirror); the torch form also takes one sigma per item of the batch
:func:`shift_linear`      ``shift(image, shift, order=1, mode="nearest")``; one shift per item
:func:`sample_linear`     ``map_coordinates(image, index, order=1, mode="constant", cval=0, output=float32)``
:func:`zoom_linear_wrap`  ``zoom(image, out / in, order=1, grid_mode=True, mode="grid-wrap")``
========================  ====================================================================================

The torch forms follow scipy's arithmetic, in double as scipy computes. The filter, the shift and the zoom are linear
and separable along the axes, so each is one small matrix per axis (built in float64 with numpy, the boundary mode
folded into it) applied with a matrix product; like scipy, the Gaussian filter rounds to the image's dtype after each
axis, the others once at the end. The sampling is torch's trilinear ``grid_sample`` in float64, with scipy's rule at
the edges. Results agree with scipy to float32 rounding (tested).

    >>> images = torch.rand(8, 40, 48, 40)                                          # doctest: +SKIP
    >>> blurred = gaussian_filter(images, sigma=torch.rand(8, 1) + 0.5, mode="nearest")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from scipy import ndimage

from brainfm_lite.errors import InputError

FILTER_MODES = {"reflect": "symmetric", "nearest": "edge", "wrap": "wrap", "mirror": "reflect"}  # scipy -> np.pad
GAUSSIAN_TRUNCATE = 4.0  # scipy's default: the kernel reaches 4 sigma
SKIPPED_SIGMA = 1e-15    # scipy leaves an axis alone when its sigma is not above this


def gaussian_filter(image, sigma, *, mode: str = "reflect"):
    """Gaussian smoothing of the last three axes, with the kernel scipy uses (truncated at 4 sigma, normalised).

    Args:
        image (numpy.ndarray [X, Y, Z] or torch.Tensor [..., X, Y, Z]): The image(s); torch tensors are floating point.
        sigma: Standard deviation in voxels: one value or one per axis ([3]); for a tensor also one per item
            ([B, 1], [B, 3] or [B, 1, 1, 1], B the product of the leading axes), as a sequence, array or tensor.
        mode: Boundary mode, as scipy names it: "reflect", "nearest", "wrap" or "mirror".

    Returns:
        The smoothed image(s), same shape and dtype (and kind) as ``image``.
    """
    if mode not in FILTER_MODES:
        raise InputError(f"mode must be one of {tuple(FILTER_MODES)}; got {mode!r}")
    if not isinstance(image, torch.Tensor):
        return ndimage.gaussian_filter(image, sigma, mode=mode)
    sigmas = _per_item_and_axis(sigma, image, "sigma")
    out = image
    for axis in range(3):
        column = sigmas[:, axis]
        if np.all(column <= SKIPPED_SIGMA):
            continue
        n = image.shape[image.ndim - 3 + axis]
        matrices = [_gaussian_matrix(n, float(s), mode) for s in column]
        # scipy writes each axis' result into an array of the image's dtype before the next axis.
        out = _apply_along(out, axis, _stack(matrices, image.device)).to(image.dtype)
    return out


def shift_linear(image, shift):
    """Shift by ``shift`` voxels with linear interpolation, edges extended (``output[i] = input[i - shift]``).

    Args:
        image (numpy.ndarray [X, Y, Z] or torch.Tensor [..., X, Y, Z]): The image(s).
        shift: Voxels along each axis ([3]); for a tensor also one shift per item ([B, 3]).

    Returns:
        The shifted image(s), same shape and dtype as ``image``.
    """
    if not isinstance(image, torch.Tensor):
        return ndimage.shift(image, shift, order=1, mode="nearest")
    shifts = _per_item_and_axis(shift, image, "shift")
    out = image.double()
    for axis in range(3):
        n = image.shape[image.ndim - 3 + axis]
        out = _apply_along(out, axis, _stack([_shift_matrix(n, float(s)) for s in shifts[:, axis]], image.device))
    return out.to(image.dtype)


def sample_linear(images: dict, index) -> dict:
    """Linear interpolation of images at fractional voxel indices; 0 where an index falls outside the grid.

    A point is inside when every index lies in [0, n - 1] (scipy's "constant" mode: no interpolation with the
    constant beyond the edge).

    Args:
        images (dict of str to array [X, Y, Z]): The images to sample, all on one grid (numpy arrays, or tensors).
        index (numpy.ndarray [3, ...] or torch.Tensor [..., 3, X', Y', Z']): Fractional voxel index of every output
            point, along each axis of the images' grid.

    Returns:
        dict of str to float32 arrays of the points' shape (``index`` without its axis of 3).
    """
    if not isinstance(index, torch.Tensor):
        return {name: ndimage.map_coordinates(image, index, order=1, mode="constant", cval=0.0, output=np.float32)
                for name, image in images.items()}
    names = list(images)
    volume = torch.stack([_tensor(images[name], index.device) for name in names])[None].double()  # [1, C, X, Y, Z]
    sizes = torch.tensor(volume.shape[2:], dtype=torch.float64, device=index.device)
    points = index.movedim(-4, -1).reshape(1, -1, *index.shape[-2:], 3)  # [1, B * X', Y', Z', 3]
    inside = ((points >= 0) & (points <= sizes - 1)).all(dim=-1)
    # grid_sample takes positions ordered (z, y, x) scaled to [-1, 1] (align_corners: -1 and 1 are the end voxels).
    reverse = torch.tensor([2, 1, 0], device=index.device)
    normalised = points.index_select(-1, reverse).double().mul_(2 / (sizes.flip(0) - 1).clamp(min=1)).sub_(1)
    values = torch.nn.functional.grid_sample(volume, normalised, mode="bilinear", padding_mode="zeros",
                                             align_corners=True)[0]  # [C, B * X', Y', Z']
    values = torch.where(inside, values, 0.0).float()  # scipy's "constant": nothing beyond the edge voxels
    out_shape = index.shape[:-4] + index.shape[-3:]
    return {name: values[k].reshape(out_shape) for k, name in enumerate(names)}


def zoom_linear_wrap(image, shape):
    """Linear zoom of the last three axes to ``shape`` on a periodic grid, pixel edges aligned (``grid_mode``).

    Args:
        image (numpy.ndarray [x, y, z] or torch.Tensor [..., x, y, z]): The coarse image(s).
        shape (3 int): The output's spatial shape.

    Returns:
        Image(s) of the spatial ``shape``; numpy: scipy's zoom (dtype kept); torch: float64.
    """
    shape = tuple(int(n) for n in shape)
    if not isinstance(image, torch.Tensor):
        return ndimage.zoom(image, [n / c for n, c in zip(shape, image.shape)], order=1, grid_mode=True,
                            mode="grid-wrap")
    out = image.double()
    for axis, n_out in enumerate(shape):
        n_in = image.shape[image.ndim - 3 + axis]
        out = _apply_along(out, axis, torch.from_numpy(_zoom_wrap_matrix(n_in, n_out)).to(image.device))
    return out


# ----------------------------------------------------------------------------------------------------------------
# One matrix per axis: [n_out, n_in], float64, the boundary mode folded in.


@functools.lru_cache(maxsize=256)
def _gaussian_matrix(n: int, sigma: float, mode: str) -> np.ndarray:
    """scipy's ``gaussian_filter1d`` as a matrix: weights ``exp(-x^2 / 2 sigma^2)`` normalised, x within
    ``int(4 sigma + 0.5)`` voxels, taps beyond the edge folded back by the boundary mode."""
    if sigma <= SKIPPED_SIGMA:
        return np.eye(n)
    radius = int(GAUSSIAN_TRUNCATE * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (sigma * sigma) * x**2)
    weights = weights / weights.sum()
    source = np.pad(np.arange(n), radius, mode=FILTER_MODES[mode])  # input voxel of each padded position
    matrix = np.zeros((n, n))
    rows = np.repeat(np.arange(n), x.size)
    columns = source[np.arange(n)[:, None] + np.arange(x.size)[None, :]].ravel()
    np.add.at(matrix, (rows, columns), np.tile(weights, n))
    return matrix


@functools.lru_cache(maxsize=256)
def _shift_matrix(n: int, shift: float) -> np.ndarray:
    """Linear interpolation at ``i - shift``, positions clamped to the grid (scipy's "nearest" mode)."""
    return _linear_matrix(np.clip(np.arange(n) - shift, 0, n - 1), n, wrap=False)


@functools.lru_cache(maxsize=64)
def _zoom_wrap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Linear interpolation at ``(i + 0.5) * n_in / n_out - 0.5`` on a periodic grid (zoom, grid_mode, grid-wrap)."""
    return _linear_matrix((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, n_in, wrap=True)


def _linear_matrix(positions: np.ndarray, n: int, *, wrap: bool) -> np.ndarray:
    below = np.floor(positions)
    weight_above = positions - below
    below = below.astype(int)
    above = below + 1
    if wrap:
        below, above = below % n, above % n
    else:
        above = np.minimum(above, n - 1)
    matrix = np.zeros((positions.size, n))
    rows = np.arange(positions.size)
    np.add.at(matrix, (rows, below), 1.0 - weight_above)
    np.add.at(matrix, (rows, above), weight_above)
    return matrix


def _stack(matrices: list[np.ndarray], device) -> torch.Tensor:
    """One [n_out, n_in] matrix when every item uses the same, else [B, n_out, n_in]."""
    if all(m is matrices[0] for m in matrices):
        return torch.from_numpy(matrices[0]).to(device)
    return torch.from_numpy(np.stack(matrices)).to(device)


def _apply_along(x: torch.Tensor, axis: int, matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` applied along spatial ``axis`` (0, 1, 2 of the last three) of ``x`` [..., X, Y, Z], in float64.

    ``matrix`` is [n_out, n_in] for every item, or [B, n_out, n_in] (B = product of the leading axes of ``x``). The
    axis is reached by reshaping (no copy of ``x``): one large matrix product, or a batch of them.
    """
    x = x.double()
    spatial, lead = x.shape[-3:], x.shape[:-3]
    items, n_in = math.prod(lead), spatial[axis]
    before, after = math.prod(spatial[:axis]), math.prod(spatial[axis + 1:])
    shared = matrix.ndim == 2
    if axis == 2:  # the last axis: rows of the image times the matrix's transpose
        out = x.reshape(-1, n_in) @ matrix.T if shared else x.reshape(items, -1, n_in) @ matrix.transpose(1, 2)
    elif shared:
        out = matrix @ x.reshape(items * before, n_in, after)
    else:
        out = matrix[:, None] @ x.reshape(items, before, n_in, after)
    return out.reshape(*lead, *spatial[:axis], matrix.shape[-2], *spatial[axis + 1:])


def _per_item_and_axis(value, image: torch.Tensor, name: str) -> np.ndarray:
    """``value`` as a float64 numpy array [B, 3], B the number of items of ``image`` [..., X, Y, Z].

    One number, or a 1-D [3] (one per axis), is the same for every item; per-item values have two axes or more:
    [B, 1], [B, 3], or [B, 1, 1, 1] as the batched simulators hold a number per subject.
    """
    if image.ndim < 3:
        raise InputError(f"a tensor image needs three spatial axes (last); got shape {tuple(image.shape)}")
    items = math.prod(image.shape[:-3])
    array = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, float)
    if array.size == 1 or (array.ndim == 1 and array.size == 3):
        return np.broadcast_to(array.reshape(1, -1), (items, 3))
    if array.ndim >= 2 and array.size in (items, 3 * items):
        return np.broadcast_to(array.reshape(items, -1), (items, 3))
    raise InputError(f"{name} must be one value, [3], [{items}, 1] or [{items}, 3]; got shape {tuple(array.shape)}")


def _tensor(array, device) -> torch.Tensor:
    return array.to(device) if isinstance(array, torch.Tensor) else torch.tensor(np.asarray(array), device=device)
