"""Figures for masked autoencoders: the training loss, masked reconstructions, and a 2D map of encoder features."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.viz.slices import mark_sides

# One marker per diagnosis, so colour stays free for the site.
DIAGNOSIS_MARKERS = {"healthy": "o", "alzheimers": "^", "vascular": "s", "ftd": "D", "several": "*"}


def plot_loss_curve(history: list[dict], *, key: str = "loss", ax=None):
    """Training loss against the optimizer step, from the Trainer's ``metrics.jsonl`` records.

    Args:
        history: one dict per logged step with ``step`` and `key` (what ``MetricsLog.read()`` returns).
        key: the metric to plot.
        ax: axes to draw on (default: a new figure).
    """
    if not history:
        raise InputError("plot_loss_curve needs at least one metrics record; the run logged none")
    steps = [record["step"] for record in history]
    values = [record[key] for record in history]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(steps, values, marker="o", markersize=3)
    ax.set(xlabel="optimizer step", ylabel=key, title=f"training {key}")
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure


def plot_mae_reconstructions(image: np.ndarray, results: list[tuple[float, np.ndarray, np.ndarray]], *,
                             patch_size: int, index: int | None = None, limits=(-2.5, 2.5),
                             unit: str = "SD units, z-scored", sides: bool = True):
    """One axial slice per masking ratio: the input, what the encoder sees, the reconstruction and the error.

    Args:
        image: the input volume [X, Y, Z] in RAS voxel order (as `datasets.cbf` gives it: z-scored CBF).
        results: ``(masking ratio, mask [X, Y, Z] with 1 in hidden patches, reconstruction [X, Y, Z])`` per row.
        patch_size: patch edge in voxels; the input panel shows the patch grid.
        index: axial slice (default: the middle one).
        limits: shared intensity range of the image panels, in `unit`.
        unit: the unit of the CBF values, for the colour bars: the default for z-scored maps (mean 0, SD 1 in the
            brain), "mL/100 g/min" for maps as quantified.
        sides: mark the subject's sides on each slice (`mark_sides`); the slice is drawn in RAS, right on the right.

    Returns:
        The figure (one row per ratio, four columns, 8.6 in wide): one colour bar for the image panels and one for
        the error panel, both in `unit`.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise InputError(f"plot_mae_reconstructions expects a 3D volume, got shape {image.shape}")
    index = image.shape[2] // 2 if index is None else index

    def axial(volume):
        return np.asarray(volume)[:, :, index].T  # rows = y, so origin="lower" puts anterior up

    fig, axes = plt.subplots(len(results), 4, figsize=(8.6, 2.3 * len(results) + 0.3), squeeze=False,
                             layout="constrained")
    shown = {}
    for row, (ratio, mask, recon) in zip(axes, results):
        hidden = axial(mask) > 0.5
        visible = np.ma.masked_where(hidden, axial(image))  # hidden patches drawn as background
        error = np.abs(axial(recon) - axial(image)) * hidden
        panels = [(axial(image), "input", "gray", limits),
                  (visible, f"visible\n{1 - ratio:.0%} of patches", "gray", limits),
                  (axial(recon), f"reconstruction\nmasking {ratio:.0%}", "gray", limits),
                  (error, "|error|\nin hidden patches", "magma", (0, limits[1]))]
        for ax, (plane, title, cmap, (low, high)) in zip(row, panels):
            ax.set_facecolor("navy")
            shown[cmap] = ax.imshow(plane, cmap=cmap, origin="lower", vmin=low, vmax=high)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if sides:
                mark_sides(ax, "axial")
        for edge in range(patch_size, image.shape[0], patch_size):
            row[0].axvline(edge - 0.5, color="yellow", lw=0.5)
        for edge in range(patch_size, image.shape[1], patch_size):
            row[0].axhline(edge - 0.5, color="yellow", lw=0.5)
    if results:
        fig.colorbar(shown["gray"], ax=axes[:, :3], shrink=0.9, label=f"CBF ({unit})")
        fig.colorbar(shown["magma"], ax=axes[:, 3], shrink=0.9, label=f"|error| ({unit})")
    return fig


def diagnosis_names(targets: dict[str, np.ndarray], diagnoses=("alzheimers", "vascular", "ftd")) -> np.ndarray:
    """Per subject "healthy", the one diagnosis it has, or "several": the marker key of `plot_embedding`."""
    labels = np.stack([np.asarray(targets[d]) > 0.5 for d in diagnoses], axis=1)  # [N, n_diagnoses]
    names = np.array(["healthy"] * labels.shape[0], dtype=object)
    for k, diagnosis in enumerate(diagnoses):
        names[labels[:, k] & (labels.sum(axis=1) == 1)] = diagnosis
    names[labels.sum(axis=1) > 1] = "several"
    return names


def plot_embedding(points: np.ndarray, sites, diagnoses, *, site_names=None, title: str = "", ax=None):
    """A 2D embedding of subjects: colour = site, marker = diagnosis (see `diagnosis_names`).

    Args:
        points: [N, 2] coordinates (e.g. the first two principal components of encoder features).
        sites: [N] site index of each subject.
        diagnoses: [N] keys of `DIAGNOSIS_MARKERS`.
        site_names: label of each site index (default "site00", ...).
    """
    points, sites, diagnoses = np.asarray(points), np.asarray(sites), np.asarray(diagnoses)
    if points.ndim != 2 or points.shape[1] != 2 or not len(points) == len(sites) == len(diagnoses):
        raise InputError(f"plot_embedding needs points [N, 2] and N sites and diagnoses; got {points.shape}, "
                         f"{sites.shape}, {diagnoses.shape}")
    unknown = sorted(set(diagnoses) - set(DIAGNOSIS_MARKERS))
    if unknown:
        raise InputError(f"unknown diagnosis names {unknown}; use {sorted(DIAGNOSIS_MARKERS)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.6))
    colours = plt.get_cmap("tab10")
    for site in np.unique(sites):
        name = site_names[site] if site_names is not None else f"site{site:02d}"
        ax.scatter([], [], color=colours(site % 10), label=name)  # legend entry per site
        for diagnosis, marker in DIAGNOSIS_MARKERS.items():
            here = (sites == site) & (diagnoses == diagnosis)
            if here.any():
                ax.scatter(points[here, 0], points[here, 1], color=colours(site % 10), marker=marker, s=28,
                           alpha=0.8, edgecolor="black" if diagnosis != "healthy" else "none", linewidth=0.5)
    for diagnosis, marker in DIAGNOSIS_MARKERS.items():
        if (diagnoses == diagnosis).any():
            ax.scatter([], [], color="0.6", marker=marker, label=diagnosis)
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set(title=title)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure
