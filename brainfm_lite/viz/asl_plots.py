"""Figures for ASL: kinetic curves, CBF slices on a fixed scale, cohort values by site and group, QEI sweeps,
and downstream metrics against the fraction of labels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.eval.results_table import headline_metric
from brainfm_lite.physics.asl import asl_signal_pasl, asl_signal_pcasl
from brainfm_lite.viz.slices import PAGE_WIDTH_IN, display_slice, mark_sides


def plot_kinetic_curves(atts=(0.8, 1.2, 1.6, 2.0), *, cbf: float = 60.0, tau: float = 1.8, ti1: float = 0.8):
    """Difference signal (% of M0) against the delay, for a few arterial transit times (s): pCASL and PASL."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    delays = np.linspace(0.0, 4.0, 401)
    for att in atts:
        pcasl = asl_signal_pcasl(cbf, 1.0, att=att, pld=delays, tau=tau)
        pasl = asl_signal_pasl(cbf, 1.0, att=att, ti=np.maximum(delays, ti1), ti1=ti1)
        axes[0].plot(delays, 100 * pcasl, label=f"ATT {att:.1f} s")
        axes[1].plot(delays, 100 * pasl, label=f"ATT {att:.1f} s")
    axes[0].set(xlabel="post-labelling delay PLD (s)", ylabel="ΔM / M0 (%)",
                title=f"pCASL, τ = {tau} s, CBF {cbf:g} mL/100 g/min")
    axes[1].set(xlabel="inversion time TI (s)", title=f"PASL (QUIPSS II), TI1 = {ti1} s")
    axes[0].axvspan(1.5, 2.0, color="0.9", zorder=0, label="PLDs in use")
    for ax in axes:
        ax.legend(fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cbf_row(volumes: list[Volume], titles: list[str], *, limits=(0.0, 100.0), axis: str = "axial",
                 index: int | None = None, cmap: str = "magma", unit: str = "mL/100 g/min", axes=None,
                 sides: bool = True, ncols: int = 4):
    """One slice of each map on a shared, fixed colour scale (CBF maps are compared by value, not by contrast);
    `sides` marks the subject's sides on each slice (`mark_sides`).

    Without `axes`, the maps fill rows of at most `ncols` panels, 2.3 in wide or narrower, so that a row and its
    0.8 in colour bar fit `PAGE_WIDTH_IN` (9 in: four 2.05 in panels); one colour bar serves every row.
    """
    if axes is None:
        ncols = min(ncols, len(volumes))
        nrows = -(-len(volumes) // ncols)
        panel_in = min(2.3, (PAGE_WIDTH_IN - 0.8) / ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(panel_in * ncols + 0.8, (panel_in + 0.5) * nrows),
                                 squeeze=False)
        for ax in grid.ravel()[len(volumes):]:
            ax.axis("off")
        axes = grid.ravel()[:len(volumes)]
    fig = axes[0].figure
    image = None
    for ax, volume, title in zip(axes, volumes, titles):
        plane, aspect = display_slice(volume, axis, index)
        image = ax.imshow(plane, cmap=cmap, origin="lower", aspect=aspect, vmin=limits[0], vmax=limits[1])
        ax.set_title(title, fontsize=8)
        ax.axis("off")
        if sides:
            mark_sides(ax, axis)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label=unit)
    return fig


def plot_by_site(values, sites, *, groups=None, group_names=("no", "yes"), ylabel: str = "", title: str = "",
                 ax=None):
    """Box plots of one value per subject, by site; with ``groups`` (0/1), two boxes per site side by side. Its own
    figure is 0.7 in a site + 2 in wide, at least 5 in and at most `PAGE_WIDTH_IN`."""
    values, sites = np.asarray(values, dtype=float), np.asarray(sites)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(PAGE_WIDTH_IN, max(5.0, 0.7 * np.unique(sites).size + 2)), 3.4))
    site_ids = np.unique(sites)
    if groups is None:
        ax.boxplot([values[sites == s] for s in site_ids], positions=np.arange(site_ids.size), widths=0.6)
    else:
        groups = np.asarray(groups)
        for g, (offset, colour) in enumerate(((-0.18, "tab:blue"), (0.18, "tab:red"))):
            data = [values[(sites == s) & (groups == g)] for s in site_ids]
            keep = [i for i, d in enumerate(data) if d.size]
            parts = ax.boxplot([data[i] for i in keep], positions=np.arange(site_ids.size)[keep] + offset,
                               widths=0.3, patch_artist=True)
            for box in parts["boxes"]:
                box.set_facecolor(colour)
                box.set_alpha(0.5)
            ax.plot([], [], color=colour, lw=6, alpha=0.5, label=group_names[g])
        ax.legend(fontsize=9)
    ax.set_xticks(np.arange(site_ids.size), [f"site{s:02d}" for s in site_ids], rotation=45, fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure


def plot_qei_sweeps(sweeps: dict, *, ncols: int = 2, axes=None):
    """QEI against the known amount of each artefact, ``{name: (amounts, qei values, unit)}``: one panel per
    artefact, `ncols` a row (8.4 in wide at 2, so that the axis labels stay legible at the page's width), or on
    the given `axes` (one per artefact)."""
    if axes is None:
        ncols = min(ncols, len(sweeps))
        nrows = -(-len(sweeps) // ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
        for ax in grid.ravel()[len(sweeps):]:
            ax.axis("off")
        axes = grid.ravel()
    for ax, (name, (amounts, qeis, unit)) in zip(axes, sweeps.items()):
        ax.plot(amounts, qeis, "o-")
        ax.set(xlabel=f"{name} ({unit})" if unit else name, ylabel="QEI", ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_metric_vs_fraction(table: list[dict], *, encoders=("pretrained", "random_init")):
    """Headline metric against the fraction of training labels, one panel per task, two a row (chapter 5).

    Linear probes of each encoder as lines (in-site solid, unseen-site dashed), fine-tuned runs as crosses, the
    regional-CBF baseline as grey squares (filled in-site, open unseen-site), chance as a dotted line.

    Args:
        table: rows of ``evaluate_asl(...)["table"]`` (:mod:`brainfm_lite.eval.results_table` schema).
        encoders: the encoder names to draw, in colour order.

    Returns:
        The matplotlib figure.
    """
    colours = dict(zip(encoders, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    styles = {"in_site": "-", "unseen_site": "--"}
    tasks = list(dict.fromkeys(row["task"] for row in table))
    # at most two panels a row, so that the figure keeps legible text at the page's width
    ncols = min(2, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), sharex=True, squeeze=False)
    for ax in axes.ravel()[len(tasks):]:
        ax.axis("off")
    for ax, task in zip(axes.ravel(), tasks):
        rows = [row for row in table if row["task"] == task]
        metric = headline_metric(rows[0])
        for encoder in encoders:
            for test, style in styles.items():
                mine = [row for row in rows if row["encoder"] == encoder and row["test"] == test]
                probe = sorted((row["fraction"], row[f"{metric}_mean"]) for row in mine if row["mode"] == "probe")
                if probe:
                    ax.plot(*zip(*probe), style, marker="o", color=colours[encoder],
                            label=f"{encoder} probe, {test.replace('_', '-')}")
                tuned = [(row["fraction"], row[f"{metric}_mean"]) for row in mine if row["mode"] == "finetune"]
                if tuned:
                    ax.plot(*zip(*tuned), "x", markersize=9, color=colours[encoder],
                            label=f"{encoder} fine-tuned, {test.replace('_', '-')}")
        for row in rows:
            if row["encoder"] == "regional_cbf":
                ax.plot(row["fraction"], row[f"{metric}_mean"], "s", color="tab:gray",
                        fillstyle="full" if row["test"] == "in_site" else "none",
                        label=f"regional CBF, {row['test'].replace('_', '-')}")
        ax.axhline(0.5 if metric == "auc" else 0.0, color="k", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xticks([0.05, 0.2, 1.0], ["5 %", "20 %", "100 %"])
        ax.set_xlabel("fraction of training labels")
        ax.set_ylabel("AUC" if metric == "auc" else "Pearson r")
        ax.set_title(task)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=3 if ncols > 1 else 1, fontsize=9,
               bbox_to_anchor=(0.5, 0.0))
    return fig
