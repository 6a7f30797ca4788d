"""Figures of the method comparison (chapter 7): dense-task scores against label fraction, same-subject vs
same-contrast feature distances, and a tissue segmentation beside its truth."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from brainfm_lite.errors import InputError
from brainfm_lite.viz.slices import mark_sides

TISSUE_CLASSES = {1: ("CSF", "tab:blue"), 2: ("GM", "tab:gray"), 3: ("WM", "tab:orange")}  # task class -> name, colour
TEST_TITLES = {"in_site": "training site (held-out subjects)", "unseen_site": "unseen sites"}


def plot_dense_scores(table: list[dict], *, task: str, metric: str = "dice", encoders=None):
    """`metric` (mean, whiskers: spread over seeds) against the share of training subjects, one line per encoder,
    one panel per test set, from a `summarise_dense` table."""
    rows = [r for r in table if r["task"] == task]
    if not rows:
        raise InputError(f"no rows for dense task {task!r}")
    encoders = list(encoders or dict.fromkeys(r["encoder"] for r in rows))
    tests = [t for t in TEST_TITLES if any(r["test"] == t for r in rows)]
    fig, axes = plt.subplots(1, len(tests), figsize=(4.2 * len(tests), 3.3), sharey=True, squeeze=False)
    for ax, test in zip(axes[0], tests):
        for encoder in encoders:
            points = sorted((r["fraction"], r[f"{metric}_mean"], r[f"{metric}_std"]) for r in rows
                            if r["encoder"] == encoder and r["test"] == test)
            if points:
                fraction, mean, spread = np.array(points).T
                ax.errorbar(fraction * 100, mean, yerr=spread, marker="o", capsize=3, label=encoder)
        ax.set_xscale("log")
        ax.set(xlabel="training subjects with labels (%)", title=TEST_TITLES[test])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{task}: {metric}")
    axes[0][-1].legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_feature_distances(distances: dict[str, dict], *, ax=None):
    """Bars of the same-subject (two contrasts) and same-contrast (two subjects) feature distances per encoder,
    from ``{encoder: contrast_subject_distances(...)}``."""
    names = list(distances)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.2))
    x, width = np.arange(len(names)), 0.38
    ax.bar(x - width / 2, [distances[n]["same_subject"] for n in names], width,
           label="same subject, two contrasts", color="tab:green")
    ax.bar(x + width / 2, [distances[n]["same_contrast"] for n in names], width,
           label="same contrast, two subjects", color="tab:purple")
    ax.set_xticks(x, names)
    ax.set(ylabel="cosine distance of features", title="What do the features follow: anatomy or contrast?")
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.figure.tight_layout()
    return ax.figure



def plot_tissue_segmentation(image: np.ndarray, predicted: np.ndarray, truth: np.ndarray, *, title: str = ""):
    """The middle axial slice of a T1 image [X, Y, Z], a predicted tissue map and its truth (classes 0 background,
    1 CSF, 2 GM, 3 WM, as `eval.segmentation.TISSUE_LABEL_MAP` maps them), with a legend of the classes; the
    patient's left on the image's left."""
    image, predicted, truth = (np.asarray(a).reshape(np.shape(a)[-3:]) for a in (image, predicted, truth))
    if not image.shape == predicted.shape == truth.shape:
        raise InputError(f"image, prediction and truth must share one shape; got {image.shape}, {predicted.shape}, "
                         f"{truth.shape}")
    z = image.shape[2] // 2
    colours = ListedColormap(["black"] + [colour for _, colour in TISSUE_CLASSES.values()])
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.2))
    axes[0].imshow(image[:, :, z].T, cmap="gray", origin="lower")
    for ax, labels in zip(axes[1:], (predicted, truth)):
        ax.imshow(labels[:, :, z].T, cmap=colours, vmin=0, vmax=len(TISSUE_CLASSES), origin="lower",
                  interpolation="nearest")
    for ax, name in zip(axes, ("T1 (z-scored)", "predicted", "truth")):
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    mark_sides(axes[0], "axial")
    fig.legend(handles=[Patch(color=colour, label=name) for name, colour in TISSUE_CLASSES.values()],
               loc="lower center", ncol=len(TISSUE_CLASSES), fontsize=9, frameon=False)
    fig.suptitle(title or "tissue segmentation (middle axial slice)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig
