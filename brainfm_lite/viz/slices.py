"""Static views of volumes: three orthogonal slices, montages, before/after pairs (matplotlib).

Volumes are shown in neurological convention after RAS conversion: the subject's right on the right of an axial or
coronal slice, anterior up in axial slices, superior up in sagittal and coronal ones, voxel aspect from the spacing.
`plot_orthogonal` names each plane and marks the sides (L and R; P and A on the sagittal slice), so a reader never
has to guess the convention.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.preprocess.orientation import to_ras

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}
# The subject's side at the left and right edge of each displayed plane (RAS, columns increasing to the right).
SIDES = {"sagittal": ("P", "A"), "coronal": ("L", "R"), "axial": ("L", "R")}
PAGE_WIDTH_IN = 9.0  # the widest figure (inches) the book's column shows without shrinking its text


def display_slice(volume: Volume, axis: str, index: int | None = None) -> tuple[np.ndarray, float]:
    """One 2D slice ready for ``imshow(..., origin="lower")`` and its aspect ratio (height/width of a pixel).

    Args:
        volume: any orientation; converted to RAS first.
        axis: "sagittal", "coronal" or "axial".
        index: slice index along that axis in RAS voxel order (default: the middle).
    """
    ras = to_ras(volume)
    k = AXES[axis]
    index = ras.shape[k] // 2 if index is None else int(np.clip(index, 0, ras.shape[k] - 1))
    plane = np.take(ras.data, index, axis=k)
    # rows of the displayed image must be the second remaining axis (A or S), columns the first (R or A)
    spacing_mm = [s for i, s in enumerate(ras.spacing_mm) if i != k]
    return plane.T, spacing_mm[1] / spacing_mm[0]


def intensity_limits(data: np.ndarray, low: float = 1.0, high: float = 99.5) -> tuple[float, float]:
    """Display window from percentiles of the non-zero voxels (robust to a few very bright voxels)."""
    values = data[np.nonzero(data)] if np.any(data) else data.ravel()
    lo, hi = np.percentile(values, [low, high])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def plot_orthogonal(volume: Volume, *, title: str | None = None, cmap: str = "gray", limits=None,
                    axes=None, overlay: Volume | None = None, overlay_cmap: str = "autumn", sides: bool = True):
    """Sagittal, coronal and axial middle slices side by side; returns the figure.

    Args:
        overlay: optional label or mask volume on the same grid, drawn semi-transparent where non-zero.
        sides: mark the subject's sides at the edges of each plane (`SIDES`).
    """
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    else:
        fig = axes[0].figure
    limits = limits or intensity_limits(volume.data)
    for ax, name in zip(axes, AXES):
        plane, aspect = display_slice(volume, name)
        ax.imshow(plane, cmap=cmap, origin="lower", aspect=aspect, vmin=limits[0], vmax=limits[1])
        if overlay is not None:
            mask, _ = display_slice(overlay, name)
            ax.imshow(np.ma.masked_equal(mask, 0), cmap=overlay_cmap, origin="lower", aspect=aspect, alpha=0.5,
                      interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
        if sides:
            mark_sides(ax, name)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def mark_sides(ax, axis: str) -> None:
    """Mark the subject's side at the left and right edge of a slice drawn by `display_slice` (`SIDES`): yellow
    9 pt letters outlined in black, legible on dark and light colour maps alike at the page's width."""
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2, foreground="black")]
    for x, side, align in ((0.02, SIDES[axis][0], "left"), (0.98, SIDES[axis][1], "right")):
        ax.text(x, 0.03, side, color="yellow", fontsize=9, ha=align, transform=ax.transAxes, path_effects=outline)


def plot_montage(volumes: list[Volume], titles: list[str], *, axis: str = "axial", cmap: str = "gray",
                 shared_limits: bool = False, ncols: int | None = None, sides: bool = True):
    """The middle slice of several volumes in a grid (e.g. subjects of a cohort, or steps of a pipeline); `sides`
    marks the subject's sides on each slice (`mark_sides`).

    Args:
        ncols: slices a row (default: all in one row); panels are 2.2 in wide, narrower when `ncols` of them would
            exceed `PAGE_WIDTH_IN`.
    """
    ncols = ncols or len(volumes)
    nrows = int(np.ceil(len(volumes) / ncols))
    panel_in = min(2.2, PAGE_WIDTH_IN / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_in * ncols, (panel_in + 0.2) * nrows), squeeze=False)
    limits = intensity_limits(np.concatenate([v.data.ravel() for v in volumes])) if shared_limits else None
    for ax in axes.ravel():
        ax.axis("off")
    for ax, volume, title in zip(axes.ravel(), volumes, titles):
        plane, aspect = display_slice(volume, axis)
        lo, hi = limits or intensity_limits(volume.data)
        ax.imshow(plane, cmap=cmap, origin="lower", aspect=aspect, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=8)
        if sides:
            mark_sides(ax, axis)
    fig.tight_layout()
    return fig


def plot_before_after(before: Volume, after: Volume, *, titles=("before", "after"), suptitle: str | None = None):
    """Two rows of orthogonal slices: the input of a step and its output."""
    fig, axes = plt.subplots(2, 3, figsize=(9, 6))
    for row, volume, title in zip(axes, (before, after), titles):
        plot_orthogonal(volume, axes=row)
        row[0].text(-0.08, 0.5, f"{title}\n{volume.shape}\n{_spacing(volume)} mm", transform=row[0].transAxes,
                    ha="right", va="center", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def _spacing(volume: Volume) -> str:
    return " x ".join(f"{s:.2g}" for s in volume.spacing_mm)
