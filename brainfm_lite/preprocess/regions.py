"""Regions of interest in MNI space, drawn from coordinates alone (no atlas download).

Two parcellations of the brain, each a set of disjoint labelled regions on any grid given its affine:

- ``LOBES``: lobes and a few named structures (posterior cingulate, precuneus, anterior cingulate, deep grey
  matter, cerebellum, brainstem), lateral ones split into left (``_l``) and right (``_r``);
- ``TERRITORIES``: the arterial territories of the anterior, middle and posterior cerebral arteries (ACA, MCA,
  PCA) per hemisphere, and the posterior fossa (vertebrobasilar).

**These are approximations.** Each region is a box or a half-space in MNI152 millimetres (RAS+: x to the right,
y to the front, z up), placed from textbook landmarks (central sulcus near y = -20 mm, parieto-occipital sulcus near
y = -72 mm, Sylvian fissure near z = 5 mm; territories after Tatu et al. 1998, Neurology 50:1699). Boundaries are
off by a centimetre or so from a real atlas, and every subject's anatomy differs from the template; they are good
enough to place a disease effect in roughly the right place and to average CBF over a region, as an atlas-based
pipeline would after registration to MNI. A voxel belongs to the first rule of its parcellation that contains it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter

from brainfm_lite.errors import InputError

# A rule takes world coordinates x, y, z (mm, arrays) and returns where the region is.
Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _box(x_abs=(0, np.inf), y=(-np.inf, np.inf), z=(-np.inf, np.inf)) -> Rule:
    """Both hemispheres' copies of a box: |x| in x_abs, y and z in their (low, high) ranges, mm."""
    def contains(x, yy, zz):
        return ((np.abs(x) >= x_abs[0]) & (np.abs(x) < x_abs[1]) & (yy >= y[0]) & (yy < y[1])
                & (zz >= z[0]) & (zz < z[1]))
    return contains


def _union(*rules: Rule) -> Rule:
    """Voxels in any of the rules."""
    def contains(x, y, z):
        return np.logical_or.reduce([rule(x, y, z) for rule in rules])
    return contains


def _everywhere(x, y, z):
    return np.ones(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=bool)


# (name, rule, split into hemispheres?) in order of precedence.
LOBES: list[tuple[str, Rule, bool]] = [
    ("cerebellum", _box(y=(-np.inf, -40), z=(-np.inf, -20)), True),
    ("brainstem", _box(x_abs=(0, 14), y=(-42, -10), z=(-np.inf, -8)), False),
    ("deep_grey", _box(x_abs=(0, 30), y=(-35, 25), z=(-12, 22)), True),  # basal ganglia and thalamus
    ("posterior_cingulate", _box(x_abs=(0, 12), y=(-60, -25), z=(8, 42)), False),
    ("precuneus", _box(x_abs=(0, 16), y=(-85, -45), z=(18, np.inf)), False),
    ("anterior_cingulate", _box(x_abs=(0, 12), y=(-5, 45), z=(-5, 40)), False),
    ("occipital", _box(y=(-np.inf, -72)), True),
    ("temporal", _union(_box(x_abs=(28, np.inf), y=(-72, 18), z=(-np.inf, 5)),   # lateral
                        _box(x_abs=(16, np.inf), y=(-45, 10), z=(-np.inf, -8))), True),  # medial
    ("parietal", _box(y=(-72, -20)), True),
    ("frontal", _everywhere, True),
]

TERRITORIES: list[tuple[str, Rule, bool]] = [
    ("posterior_fossa", _box(y=(-np.inf, -40), z=(-np.inf, -20)), False),
    ("pca", _union(_box(y=(-np.inf, -68)),                                    # occipital lobe
                   _box(x_abs=(16, np.inf), y=(-np.inf, -30), z=(-np.inf, -5)),  # inferior temporal
                   _box(x_abs=(0, 18), y=(-np.inf, -45), z=(-np.inf, 20)),    # splenium, isthmus
                   _box(x_abs=(0, 22), y=(-35, -10), z=(-8, 18)),             # thalamus
                   _box(x_abs=(0, 14), y=(-42, -10), z=(-np.inf, -8))), True),  # midbrain
    ("aca", _union(_box(x_abs=(0, 18), y=(-45, np.inf), z=(-5, np.inf)),      # medial frontal surface
                   _box(x_abs=(0, 18), y=(-70, -45), z=(20, np.inf)),         # medial parietal (precuneus)
                   _box(x_abs=(0, 30), y=(-45, 40), z=(55, np.inf))), True),  # over the vertex
    ("mca", _everywhere, True),
]

PARCELLATIONS = {"lobes": LOBES, "territories": TERRITORIES}


def world_coordinates(shape: tuple[int, int, int], affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, z (mm) of every voxel centre of a grid, each an array of ``shape``."""
    affine = np.asarray(affine, dtype=np.float64)
    if len(shape) != 3 or affine.shape != (4, 4):
        raise InputError(f"need a 3-D shape and a 4x4 affine; got shape {shape} and affine {affine.shape}")
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:]
    return tuple(axis.reshape(shape) for axis in xyz)


def region_masks(shape, affine, *, parcellation: str = "lobes",
                 within: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Disjoint boolean masks of one parcellation on a grid.

    Args:
        shape ((X, Y, Z)): Grid shape.
        affine (numpy.ndarray [4, 4]): Voxel-to-MNI-mm affine of the grid.
        parcellation ("lobes" or "territories"): Which set of regions (see the module docstring).
        within (numpy.ndarray [X, Y, Z] of bool, optional): Keep only these voxels (e.g. the brain mask, or grey
            matter).

    Returns:
        dict: Region name (``frontal_l``, ``posterior_cingulate``, ``mca_r``, ...) -> bool array [X, Y, Z]; every voxel
            (inside ``within``) belongs to exactly one region.
    """
    if parcellation not in PARCELLATIONS:
        raise InputError(f"unknown parcellation '{parcellation}'; choose one of {sorted(PARCELLATIONS)}")
    if within is not None and within.shape != tuple(shape):
        raise InputError(f"within has shape {within.shape} but the grid is {tuple(shape)}")
    x, y, z = world_coordinates(shape, affine)
    unassigned = np.ones(shape, dtype=bool) if within is None else within.astype(bool).copy()
    masks = {}
    for name, rule, split in PARCELLATIONS[parcellation]:
        region = rule(x, y, z) & unassigned
        unassigned &= ~region
        if split:
            masks[f"{name}_l"] = region & (x < 0)
            masks[f"{name}_r"] = region & (x >= 0)
        else:
            masks[name] = region
    return masks


def region_names(parcellation: str = "lobes") -> list[str]:
    """Names of the regions of a parcellation, in the order :func:`region_masks` returns them."""
    if parcellation not in PARCELLATIONS:
        raise InputError(f"unknown parcellation '{parcellation}'; choose one of {sorted(PARCELLATIONS)}")
    names = []
    for name, _, split in PARCELLATIONS[parcellation]:
        names += [f"{name}_l", f"{name}_r"] if split else [name]
    return names


def soft_region(masks: dict[str, np.ndarray], names: list[str], *, spacing_mm: float,
                fwhm_mm: float = 12.0) -> np.ndarray:
    """A weight map in [0, 1]: the union of some regions, blurred so that an effect placed with it fades smoothly.

    Real hypoperfusion has no box-shaped edges; a Gaussian of ``fwhm_mm`` softens the geometric boundaries.
    """
    unknown = [n for n in names if n not in masks]
    if unknown:
        raise InputError(f"unknown regions {unknown}; known: {sorted(masks)}")
    union = np.zeros(next(iter(masks.values())).shape, dtype=np.float32)
    for name in names:
        union[masks[name]] = 1.0
    sigma = fwhm_mm / (2 * np.sqrt(2 * np.log(2))) / spacing_mm
    return np.clip(gaussian_filter(union, sigma), 0.0, 1.0)


def regional_means(image: np.ndarray, masks: dict[str, np.ndarray], *,
                   weights: np.ndarray | None = None) -> dict[str, float]:
    """Mean of ``image`` over each region, optionally weighted (e.g. by grey-matter probability).

    Regions with no voxel (or zero total weight) give NaN, so that a caller notices instead of averaging zeros.
    """
    weights = np.ones(image.shape, dtype=np.float64) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights.shape != image.shape:
        raise InputError(f"weights have shape {weights.shape} but the image has shape {image.shape}")
    means = {}
    for name, mask in masks.items():
        total = weights[mask].sum()
        means[name] = float((image[mask] * weights[mask]).sum() / total) if total > 0 else float("nan")
    return means
