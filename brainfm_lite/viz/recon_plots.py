"""Figures for chapter 8: k-space and aliasing, masks, the sampling trajectory, reconstructions with error maps,
and the fine-tuning sweep. Each takes arrays (magnitudes [H, W], masks [H, W]) and returns the figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.errors import InputError


def _show(ax, image, title="", vmax=None, cmap="gray"):
    ax.imshow(image, cmap=cmap, vmin=0, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def plot_kspace_and_aliasing(image: np.ndarray, kspace: np.ndarray, masks: dict, zero_filled: dict):
    """Top row: the image and its log k-space magnitude; then, per mask, the mask and the zero-filled image.

    Args:
        image: fully sampled magnitude [H, W].
        kspace: its (coil-combined or single-coil) k-space [H, W], complex.
        masks: {R: bool mask [H, W]}.
        zero_filled: {R: zero-filled magnitude [H, W]}, the same keys.
    """
    columns = 1 + len(masks)
    fig, axes = plt.subplots(2, columns, figsize=(2.4 * columns, 5))
    vmax = float(np.percentile(image, 99.5))
    _show(axes[0, 0], image, "fully sampled", vmax)
    _show(axes[1, 0], np.log1p(np.abs(kspace) / np.abs(kspace).max() * 1e3), "log |k-space|", cmap="magma")
    for col, (acceleration, mask) in enumerate(masks.items(), start=1):
        _show(axes[0, col], mask.astype(float), f"mask R={acceleration:g} ({mask[0].mean():.0%} of columns)")
        _show(axes[1, col], zero_filled[acceleration], f"zero-filled R={acceleration:g}", vmax)
    fig.tight_layout()
    return fig


def plot_trajectory(steps, images: np.ndarray, truth: np.ndarray):
    """The estimate x0_hat along the reverse process, noise to image, beside the truth.

    Args:
        steps: diffusion step t of every snapshot.
        images: ``|x0_hat|`` [N, H, W] (one slice).
        truth: fully sampled magnitude [H, W].
    """
    if len(steps) != len(images):
        raise InputError(f"{len(steps)} steps for {len(images)} snapshots")
    fig, axes = plt.subplots(1, len(images) + 1, figsize=(2.2 * (len(images) + 1), 2.6))
    vmax = float(np.percentile(truth, 99.5))
    for ax, t, image in zip(axes, steps, images):
        _show(ax, image, f"x0_hat at t={int(t)}", vmax)
    _show(axes[-1], truth, "truth", vmax)
    fig.tight_layout()
    return fig


def plot_recon_grid(truth: np.ndarray, recons: dict, *, error_scale: float = 0.3, truth_label: str | None = None):
    """Rows: methods; columns: one per acceleration, each a reconstruction and its absolute error map.

    Args:
        truth: fully sampled magnitude [H, W].
        recons: {method label: {R: magnitude [H, W]}}.
        error_scale: top of the error colour scale, as a fraction of the truth's 99.5th percentile.
        truth_label: when given, a first row shows the truth itself under this label (e.g. "reference").
    """
    accelerations = list(next(iter(recons.values())))
    first = 1 if truth_label else 0
    rows, columns = first + len(recons), 2 * len(accelerations)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.7 * rows), squeeze=False)
    vmax = float(np.percentile(truth, 99.5))
    if truth_label:
        _show(axes[0, 0], truth, "fully sampled", vmax)
        for ax in axes[0, 1:]:
            ax.axis("off")
    for row, by_r in enumerate(recons.values(), start=first):
        for i, acceleration in enumerate(accelerations):
            _show(axes[row, 2 * i], by_r[acceleration], f"R={acceleration:g}", vmax)
            _show(axes[row, 2 * i + 1], np.abs(by_r[acceleration] - truth), "|error|", error_scale * vmax, "inferno")
    for row, label in enumerate([truth_label] * first + list(recons)):
        axes[row, 0].text(-0.1, 0.5, label, transform=axes[row, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_sweep(lrs, steps, psnr: np.ndarray, *, acceleration: float = 4):
    """Heat map of PSNR (dB) over fine-tuning learning rate (rows) x duration in steps (columns)."""
    psnr = np.asarray(psnr)
    if psnr.shape != (len(lrs), len(steps)):
        raise InputError(f"psnr grid {psnr.shape} does not match {len(lrs)} rates x {len(steps)} durations")
    fig, ax = plt.subplots(figsize=(1.2 * len(steps) + 2.5, 0.7 * len(lrs) + 1.8))
    shown = ax.imshow(psnr, cmap="viridis")
    ax.set(xticks=range(len(steps)), xticklabels=[str(s) for s in steps], yticks=range(len(lrs)),
           yticklabels=[f"{lr:.0e}" for lr in lrs], xlabel="fine-tuning steps", ylabel="learning rate",
           title=f"PSNR (dB) at R={acceleration:g}")
    for i in range(len(lrs)):
        for j in range(len(steps)):
            ax.text(j, i, f"{psnr[i, j]:.1f}", ha="center", va="center", color="w", fontsize=9)
    fig.colorbar(shown, ax=ax)
    fig.tight_layout()
    return fig
