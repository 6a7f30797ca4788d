"""Figures for ASL: kinetic curves, CBF slices on a fixed scale, cohort values by site and group, QEI sweeps."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.physics.asl import asl_signal_pasl, asl_signal_pcasl
from brainfm_lite.viz.slices import display_slice


def plot_kinetic_curves(atts=(0.8, 1.2, 1.6, 2.0), *, cbf: float = 60.0, tau: float = 1.8, ti1: float = 0.8):
    """Difference signal (% of M0) against the delay, for a few arterial transit times (s): pCASL and PASL."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
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
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_cbf_row(volumes: list[Volume], titles: list[str], *, limits=(0.0, 100.0), axis: str = "axial",
                 index: int | None = None, cmap: str = "magma", unit: str = "mL/100 g/min", axes=None):
    """One slice of each map on a shared, fixed colour scale (CBF maps are compared by value, not by contrast)."""
    if axes is None:
        fig, axes = plt.subplots(1, len(volumes), figsize=(2.3 * len(volumes) + 0.8, 2.8), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    image = None
    for ax, volume, title in zip(axes, volumes, titles):
        plane, aspect = display_slice(volume, axis, index)
        image = ax.imshow(plane, cmap=cmap, origin="lower", aspect=aspect, vmin=limits[0], vmax=limits[1])
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label=unit)
    return fig


def plot_by_site(values, sites, *, groups=None, group_names=("no", "yes"), ylabel: str = "", title: str = "",
                 ax=None):
    """Box plots of one value per subject, by site; with ``groups`` (0/1), two boxes per site side by side."""
    values, sites = np.asarray(values, dtype=float), np.asarray(sites)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.0, 0.7 * np.unique(sites).size + 2), 3.4))
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
        ax.legend(fontsize=8)
    ax.set_xticks(np.arange(site_ids.size), [f"site{s:02d}" for s in site_ids], rotation=45, fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.figure.tight_layout()
    return ax.figure


def plot_qei_sweeps(sweeps: dict, *, ax=None):
    """QEI against the known amount of each artefact: ``{name: (amounts, qei values, unit)}``."""
    if ax is None:
        _, axes = plt.subplots(1, len(sweeps), figsize=(3.0 * len(sweeps), 3.0), sharey=True, squeeze=False)
        axes = axes[0]
    for ax, (name, (amounts, qeis, unit)) in zip(axes, sweeps.items()):
        ax.plot(amounts, qeis, "o-")
        ax.set(xlabel=f"{name} ({unit})" if unit else name, ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("QEI")
    axes[0].figure.tight_layout()
    return axes[0].figure
