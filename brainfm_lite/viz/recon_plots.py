"""Figures for chapter 8: k-space and aliasing, masks, the sampling trajectory, reconstructions with error maps,
and the fine-tuning sweep. Each takes arrays (magnitudes [H, W], masks [H, W]) and returns the figure, at most 9 in
wide (the page's column), with a colour bar that says what the values are.

Magnitudes are in arbitrary units (the chapter's slices are scaled to about 1 in the brain). Images are drawn as
stored, row 0 at the top. With ``sides=True`` they are taken to be axial slices as `datasets.recon_slices` and
`fastmri.demo` make them (anterior up, the subject's left on the left) and their sides are marked; otherwise, as for
a fastMRI file, whose orientation the package does not read, the figure names the image axes by their k-space
direction instead (columns: phase encoding, the undersampled direction; rows: readout).
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from brainfm_lite.errors import InputError
from brainfm_lite.viz.slices import PAGE_WIDTH_IN, mark_sides

_MAGNITUDE_LABEL = "magnitude (a.u.)"
_ERROR_LABEL = "|recon - truth| (a.u.)"
_KSPACE_LABEL = "log(1 + 1000 |k| / max |k|)"
_UNKNOWN_SIDES_NOTE = "columns: phase encoding (undersampled), rows: readout; the subject's sides are not known"


def _show(ax, image, title="", vmax=None, cmap="gray", sides=False):
    """One image panel without ticks; `sides` marks the subject's sides (an axial slice, left on the left)."""
    shown = ax.imshow(image, cmap=cmap, vmin=0, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if sides:
        mark_sides(ax, "axial")
    return shown


def _colour_bar(fig, shown, ax, label, **options):
    """A labelled colour bar whose ticks stay legible whatever the scale (a fastMRI file's magnitudes are ~1e-4:
    an exponent beside the bar instead of long tick labels that run into each other)."""
    bar = fig.colorbar(shown, ax=ax, label=label, **options)
    bar.locator = MaxNLocator(nbins=5)
    bar.formatter = ScalarFormatter(useMathText=True)
    bar.formatter.set_powerlimits((-2, 3))
    bar.update_ticks()
    return bar


def _name_axes(fig, sides: bool) -> None:
    """Where the sides are not marked, say what the image axes are instead of leaving them unexplained."""
    if not sides:
        fig.supxlabel(textwrap.fill(_UNKNOWN_SIDES_NOTE, int(11 * fig.get_figwidth())), fontsize=9)  # ~11 chars/in


def plot_kspace_and_aliasing(image: np.ndarray, kspace: np.ndarray, masks: dict, zero_filled: dict, *,
                             sides: bool = False):
    """Top row: the image and the masks; bottom row: its log k-space magnitude and, under each mask, the
    zero-filled image. One colour bar for the magnitudes, one for k-space, one for the masks.

    Args:
        image: fully sampled magnitude [H, W].
        kspace: its (coil-combined or single-coil) k-space [H, W], complex.
        masks: {R: bool mask [H, W]}.
        zero_filled: {R: zero-filled magnitude [H, W]}, the same keys.
        sides: the images are axial slices, anterior up and the subject's left on the left: mark the sides.
    """
    columns = 1 + len(masks)
    fig, axes = plt.subplots(2, columns, figsize=(min(PAGE_WIDTH_IN, 1.9 * columns + 1.6), 4.6),
                             layout="constrained", squeeze=False)
    vmax = float(np.percentile(image, 99.5))
    magnitude = _show(axes[0, 0], image, "fully sampled", vmax, sides=sides)
    log_k = _show(axes[1, 0], np.log1p(np.abs(kspace) / np.abs(kspace).max() * 1e3), "k-space", cmap="magma")
    for col, (acceleration, mask) in enumerate(masks.items(), start=1):
        sampled = _show(axes[0, col], mask.astype(float), f"mask R={acceleration:g}\n{mask[0].mean():.0%} of columns",
                        1.0)
        _show(axes[1, col], zero_filled[acceleration], f"zero-filled R={acceleration:g}", vmax, sides=sides)
    # each bar beside the panels it describes: the images' grey scale left of the slice and right of the zero-filled
    _colour_bar(fig, magnitude, axes[0, 0], location="left", shrink=0.8, label=_MAGNITUDE_LABEL)
    _colour_bar(fig, log_k, axes[1, 0], location="left", shrink=0.8, label=_KSPACE_LABEL)
    if masks:
        _colour_bar(fig, magnitude, axes[1, 1:], shrink=0.8, label=_MAGNITUDE_LABEL)
        bar = fig.colorbar(sampled, ax=axes[0, 1:], shrink=0.8, ticks=[0, 1], label="k-space column")
        bar.ax.set_yticklabels(["skipped", "sampled"])
    _name_axes(fig, sides)
    return fig


def plot_trajectory(steps, images: np.ndarray, truth: np.ndarray, *, ncols: int = 3, sides: bool = False):
    """The estimate x0_hat along the reverse process, noise to image, then the truth; `ncols` panels a row.

    Args:
        steps: diffusion step t of every snapshot.
        images: ``|x0_hat|`` [N, H, W] (one slice).
        truth: fully sampled magnitude [H, W].
        sides: the images are axial slices, anterior up and the subject's left on the left: mark the sides.
    """
    if len(steps) != len(images):
        raise InputError(f"{len(steps)} steps for {len(images)} snapshots")
    panels = len(images) + 1
    ncols = min(ncols, panels)
    nrows = -(-panels // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(PAGE_WIDTH_IN, 2.4 * ncols + 1.0), 2.5 * nrows + 0.3),
                             layout="constrained", squeeze=False)
    for ax in axes.ravel()[panels:]:
        ax.axis("off")
    vmax = float(np.percentile(truth, 99.5))
    for ax, t, image in zip(axes.ravel(), steps, images):
        _show(ax, image, f"x0_hat at t={int(t)}", vmax, sides=sides)
    shown = _show(axes.ravel()[panels - 1], truth, "truth", vmax, sides=sides)
    _colour_bar(fig, shown, axes, shrink=0.6, label=_MAGNITUDE_LABEL)
    _name_axes(fig, sides)
    return fig


def plot_recon_grid(truth: np.ndarray, recons: dict, *, error_scale: float = 0.3, truth_label: str | None = None,
                    sides: bool = False):
    """Rows: methods; columns: one pair per acceleration, a reconstruction and its absolute error map. Colour bars
    below: the magnitude, and the error on its own, finer scale.

    Args:
        truth: fully sampled magnitude [H, W].
        recons: {method label: {R: magnitude [H, W]}}.
        error_scale: top of the error colour scale, as a fraction of the truth's 99.5th percentile.
        truth_label: when given, a first row shows the truth itself under this label (e.g. "reference").
        sides: the images are axial slices, anterior up and the subject's left on the left: mark the sides.
    """
    accelerations = list(next(iter(recons.values())))
    first = 1 if truth_label else 0
    rows, columns = first + len(recons), 2 * len(accelerations)
    panel_in = min(1.6, (PAGE_WIDTH_IN - 1.4) / columns)  # 1.4 in for the method names
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 + panel_in * columns, panel_in * rows + 1.4),
                             layout="constrained", squeeze=False)
    vmax = float(np.percentile(truth, 99.5))
    if truth_label:
        magnitude = _show(axes[0, 0], truth, "fully sampled", vmax, sides=sides)
        for ax in axes[0, 1:]:
            ax.axis("off")
    for row, by_r in enumerate(recons.values(), start=first):
        for i, acceleration in enumerate(accelerations):
            magnitude = _show(axes[row, 2 * i], by_r[acceleration], f"R={acceleration:g}", vmax, sides=sides)
            error = _show(axes[row, 2 * i + 1], np.abs(by_r[acceleration] - truth), "|error|", error_scale * vmax,
                          "inferno", sides=sides)
    for row, label in enumerate([truth_label] * first + list(recons)):
        axes[row, 0].set_ylabel(textwrap.fill(label, 22), fontsize=8, rotation=0, ha="right", va="center")
    for shown, label in ((magnitude, _MAGNITUDE_LABEL), (error, _ERROR_LABEL)):  # stacked under the grid
        _colour_bar(fig, shown, axes, location="bottom", shrink=0.6, aspect=40, label=label)
    _name_axes(fig, sides)
    return fig


def plot_sweep(lrs, steps, psnr: np.ndarray, *, acceleration: float = 4):
    """Heat map of PSNR (dB) over fine-tuning learning rate (rows) x duration in steps (columns)."""
    psnr = np.asarray(psnr)
    if psnr.shape != (len(lrs), len(steps)):
        raise InputError(f"psnr grid {psnr.shape} does not match {len(lrs)} rates x {len(steps)} durations")
    fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, 1.2 * len(steps) + 2.5), 0.7 * len(lrs) + 1.8))
    shown = ax.imshow(psnr, cmap="viridis")
    ax.set(xticks=range(len(steps)), xticklabels=[str(s) for s in steps], yticks=range(len(lrs)),
           yticklabels=[f"{lr:.0e}" for lr in lrs], xlabel="fine-tuning steps", ylabel="learning rate",
           title=f"PSNR (dB) at R={acceleration:g}")
    for i in range(len(lrs)):
        for j in range(len(steps)):
            ax.text(j, i, f"{psnr[i, j]:.1f}", ha="center", va="center", color="w", fontsize=9)
    _colour_bar(fig, shown, ax, label="PSNR (dB)")
    fig.tight_layout()
    return fig
