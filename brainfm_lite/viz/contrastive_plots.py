"""Figures for contrastive learning (chapters 6-7): views, the NT-Xent similarity matrix, embeddings coloured by
site and age, and structural-task scores in and out of distribution."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.viz.slices import PAGE_WIDTH_IN, mark_sides

TEST_STYLES = {"in_site": ("in-distribution (seen sites)", "tab:blue"),
               "unseen_site": ("out-of-distribution (unseen sites)", "tab:orange")}


def plot_views(images: list[np.ndarray | None], titles: list[str], *, suptitle: str | None = None,
               ncols: int | None = None):
    """The middle axial slice of each volume [X, Y, Z] (or [1, X, Y, Z], RAS voxel axes) in rows of `ncols` (default:
    one row), each with its own grey scale; panels are 2.2 in wide, narrower when a row would exceed `PAGE_WIDTH_IN`.
    The subject's sides are marked on the first image only: a view may be flipped left-right.

    Args:
        images: the original first, then its views; None leaves its panel empty (to keep pairs of views in one row).
        titles: one per image.
    """
    if not images or len(images) != len(titles):
        raise InputError(f"plot_views needs one title per image; got {len(images)} images, {len(titles)} titles")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    panel_in = min(2.2, PAGE_WIDTH_IN / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_in * ncols, (panel_in + 0.4) * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        if image is None:
            continue
        volume = np.asarray(image).reshape(np.shape(image)[-3:])
        ax.imshow(volume[:, :, volume.shape[2] // 2].T, cmap="gray", origin="lower")
        ax.set_title(title, fontsize=8)
    mark_sides(axes.ravel()[0], "axial")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_similarity_matrix(similarity: np.ndarray, labels: list[str], *, title: str = "cosine similarity", ax=None):
    """A [2B, 2B] similarity matrix with its values written in the cells; the diagonal (a view with itself, left
    out of the loss) is left uncoloured and marked with a dash."""
    similarity = np.asarray(similarity, dtype=float)
    n = similarity.shape[0]
    if similarity.shape != (n, n) or len(labels) != n:
        raise InputError(f"need a square matrix and one label per row; got {similarity.shape}, {len(labels)} labels")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.75 * n + 1.5, 0.75 * n + 0.8))
    shown = np.ma.masked_where(np.eye(n, dtype=bool), similarity)
    image = ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, "-" if i == j else f"{similarity[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n), labels, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    ax.figure.tight_layout()
    return ax.figure


def plot_embedding_by_site_and_age(points: np.ndarray, sites, ages, *, title: str = ""):
    """Two panels of the same 2D embedding [N, 2]: coloured by site (left) and by age in years (right)."""
    points, sites, ages = np.asarray(points), np.asarray(sites), np.asarray(ages, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or not len(points) == len(sites) == len(ages):
        raise InputError(f"need points [N, 2] with N sites and ages; got {points.shape}, {sites.shape}, {ages.shape}")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    colours = plt.get_cmap("tab10")
    for site in np.unique(sites):
        here = sites == site
        left.scatter(points[here, 0], points[here, 1], color=colours(int(site) % 10), label=f"site{int(site):02d}",
                     s=30, alpha=0.85)
    left.legend(fontsize=9)
    left.set(title="by site", xlabel="PC 1", ylabel="PC 2")
    scatter = right.scatter(points[:, 0], points[:, 1], c=ages, cmap="viridis", s=30)
    fig.colorbar(scatter, ax=right, label="age (years)")
    right.set(title="by age", xlabel="PC 1")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_nearest_neighbours(images, neighbours, ages, sites, *, queries=(0, 1, 2, 3), title: str = ""):
    """One row per query subject: its middle axial slice, then those of its nearest neighbours, each titled with
    age and site; the patient's left is on the image's left (the book's neurological convention), as marked.
    Panels are 1.9 in wide, narrower when the k + 1 of a row would exceed `PAGE_WIDTH_IN`.

    Args:
        images: [N, 1, X, Y, Z] or [N, X, Y, Z] volumes (RAS voxel order).
        neighbours: [N, k] row indices of each subject's neighbours, nearest first (`eval.nearest_neighbours`).
        ages: [N] years; sites: [N].
        queries: the subjects shown, one per row.
    """
    images = np.asarray(images)
    neighbours = np.asarray(neighbours)
    if images.ndim not in (4, 5) or neighbours.ndim != 2 or not len(images) == len(neighbours) == len(ages):
        raise InputError(f"need images [N, (1,) X, Y, Z], neighbours [N, k] and N ages; got {images.shape}, "
                         f"{neighbours.shape}, {len(ages)} ages")
    volumes = images.reshape(len(images), *images.shape[-3:])
    k = neighbours.shape[1]
    panel_in = min(1.9, PAGE_WIDTH_IN / (k + 1))
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(panel_in * (k + 1), (panel_in + 0.1) * len(queries)),
                             squeeze=False)
    for row, query in enumerate(queries):
        for column, subject in enumerate([query, *neighbours[query]]):
            ax = axes[row, column]
            volume = volumes[subject]
            ax.imshow(volume[:, :, volume.shape[2] // 2].T, cmap="gray", origin="lower")  # x to the right: R
            role = "subject" if column == 0 else f"neighbour {column}"
            ax.set_title(f"{role}\n{ages[subject]:.0f} y, site{int(sites[subject]):02d}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0 and column == 0:
                mark_sides(ax, "axial")
    fig.suptitle(title or "nearest neighbours in feature space (middle axial slice)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_structural_scores(table: list[dict], *, task: str, mode: str, metric: str = "auc", encoders=None,
                           ax=None):
    """Bars of `metric` (mean, whiskers: spread over seeds) per encoder and label fraction, in- and
    out-of-distribution side by side, from a `probe.summarise` table."""
    rows = [r for r in table if r["task"] == task and r["mode"] == mode]
    if not rows:
        raise InputError(f"no rows for task {task!r} in mode {mode!r}")
    encoders = list(encoders or dict.fromkeys(r["encoder"] for r in rows))
    fractions = sorted({r["fraction"] for r in rows}, reverse=True)
    groups = [(e, f) for e in encoders for f in fractions]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(groups) + 2, 3.4))
    width = 0.38
    for k, (test, (label, colour)) in enumerate(TEST_STYLES.items()):
        means, spreads = [], []
        for encoder, fraction in groups:
            match = [r for r in rows if r["encoder"] == encoder and r["fraction"] == fraction and r["test"] == test]
            means.append(match[0][f"{metric}_mean"] if match else np.nan)
            spreads.append(match[0][f"{metric}_std"] if match else np.nan)
        ax.bar(np.arange(len(groups)) + (k - 0.5) * width, means, width, yerr=spreads, color=colour, label=label,
               capsize=3)
    if metric == "auc":
        ax.axhline(0.5, color="0.4", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(groups)), [f"{e}\n{f:.0%} labels" for e, f in groups], fontsize=8)
    ax.set(ylabel=metric, title=f"{task}: {mode}")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.figure.tight_layout()
    return ax.figure
