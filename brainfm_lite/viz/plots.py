"""Line plots and map panels for the physics chapter: how tissue signal depends on a sequence parameter.

Example:
    >>> fig = plot_signal_curves("flair", "ti")   # GM, WM, CSF signal as the inversion time sweeps   # doctest: +SKIP
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import PRESETS, Sequence
from brainfm_lite.physics.tissues import MAP_NAMES, TISSUES_3T
from brainfm_lite.viz.slices import display_slice, mark_sides

TISSUE_COLOURS = {"gm": "tab:gray", "wm": "tab:orange", "csf": "tab:blue", "lesion": "tab:red"}

# Which parameters each kind takes (as swept here), and how the x axis shows them: (label, unit, scale).
SWEEPABLE = {
    "mprage": ("tr", "te", "ti", "flip_deg"),
    "gre": ("tr", "te", "flip_deg"),
    "spgr": ("tr", "te", "flip_deg"),
    "fse": ("tr", "te"),
    "flair": ("tr", "te", "ti"),
}
_AXIS = {"tr": ("TR", "s", 1.0), "te": ("TE", "ms", 1e3), "ti": ("TI", "s", 1.0),
         "flip_deg": ("flip angle", "deg", 1.0)}

MAP_LABELS = {"pd": "PD (fraction)", "r1": "R1 (1/s)", "r2": "R2 (1/s)", "r2s": "R2* (1/s)", "mt": "MT (%)"}
_MAP_TITLES = {"pd": "proton density", "r1": "R1 = 1/T1", "r2": "R2 = 1/T2", "r2s": "R2* = 1/T2*",
               "mt": "magnetisation transfer"}
_MAP_DISPLAY_SCALE = {"mt": 100.0}  # MT is stored as a fraction, shown in percent as in the hMRI toolbox


def plot_signal_curves(sequence: Sequence | str = "t1w", parameter: str = "ti", values=None, *,
                       tissue_names=("gm", "wm", "csf"), ax=None):
    """Signal of each tissue (3 T midpoints) as one parameter of a sequence sweeps, the others held fixed.

    Args:
        sequence (Sequence or str): The sequence whose other parameters stay fixed, or a preset name ("t1w", "t2w",
            "pdw", "flair").
        parameter (str): "tr", "te", "ti" (s) or "flip_deg" (degrees); must be one the kind takes (see ``SWEEPABLE``).
        values (array_like, optional): Values to sweep, in s or degrees; default a range valid for the sequence (e.g. TI
            up to TR for FLAIR).
        tissue_names (sequence of str): Keys of ``physics.tissues.TISSUES_3T``; one curve each.
        ax (matplotlib Axes, optional): Where to draw; default a new figure.

    Returns:
        matplotlib Figure. A dashed vertical line marks the sequence's own value of the parameter.
    """
    sequence = PRESETS[sequence] if isinstance(sequence, str) and sequence in PRESETS else sequence
    if not isinstance(sequence, Sequence):
        raise InputError(f"sequence must be a Sequence or one of the presets {tuple(PRESETS)}; got {sequence!r}")
    if parameter not in SWEEPABLE.get(sequence.kind, ()):
        raise InputError(f"a {sequence.kind} sequence has no sweepable parameter {parameter!r}; "
                         f"choose from {SWEEPABLE.get(sequence.kind, ())}")
    values = _default_values(sequence, parameter) if values is None else np.asarray(values, dtype=float)

    # Tissues down the rows, parameter values along the columns: one simulate call draws every curve.
    maps = {name: np.array([[TISSUES_3T[t].midpoint(name)] for t in tissue_names]) for name in MAP_NAMES}
    swept = Sequence(sequence.kind, {**sequence.params, parameter: values[None, :]})
    signals = np.broadcast_to(swept.simulate(**maps), (len(tissue_names), values.size))

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    label, unit, scale = _AXIS[parameter]
    for tissue, curve in zip(tissue_names, signals):
        ax.plot(values * scale, curve, label=tissue.upper(), color=TISSUE_COLOURS.get(tissue))
    if parameter in sequence.params:
        ax.axvline(sequence.params[parameter] * scale, color="k", linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"{label} ({unit})")
    ax.set_ylabel("signal (PD units)")
    ax.set_title(f"{sequence.kind}: signal against {label}", fontsize=10)
    ax.legend(fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def plot_qmri_maps(maps: dict[str, np.ndarray], affine: np.ndarray, *, names=("pd", "r1", "r2s", "mt"),
                   axis: str = "axial", cmap: str = "magma", ncols: int = 2, sides: bool = True):
    """One slice of each quantitative map, `ncols` a row (8.4 in wide at 2), each with a colour bar labelled
    with the map and its unit (`MAP_LABELS`: PD as a fraction, rates in 1/s, MT in %).

    Args:
        maps (dict of str to ndarray [X, Y, Z]): For example :func:`brainfm_lite.sim.qmri.qmri_maps`.
        affine (ndarray (4, 4)): Voxel-to-world matrix of the maps' grid (orientation and aspect of the display).
        names (sequence of str): Which maps, in order.
        axis (str): "axial", "coronal" or "sagittal" (the middle slice).
        ncols (int): Panels a row.
        sides (bool): Mark the subject's sides on each slice (`slices.mark_sides`).
    """
    ncols = min(ncols, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    # Outside the head the rates hold placeholder values; show them as 0 where there are no protons.
    head = maps["pd"] > 0 if "pd" in maps else np.ones(np.shape(maps[names[0]]), dtype=bool)
    for ax, name in zip(axes.ravel(), names):
        shown_values = np.where(head, maps[name], 0) * _MAP_DISPLAY_SCALE.get(name, 1.0)
        plane, aspect = display_slice(Volume(shown_values, affine), axis)
        inside = plane[plane > 0]
        high = float(np.percentile(inside, 99.5)) if inside.size else 1.0
        shown = ax.imshow(plane, cmap=cmap, origin="lower", aspect=aspect, vmin=0, vmax=high)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label=MAP_LABELS[name])
        ax.set_title(f"{_MAP_TITLES[name]}, {axis}", fontsize=10)
        ax.axis("off")
        if sides:
            mark_sides(ax, axis)
    fig.tight_layout()
    return fig


def sequence_label(sequence: Sequence) -> str:
    """A short two-line title: the kind, then TR, TE, TI (ms below 1 s) and the flip angle, e.g. for a montage."""
    parts = []
    for name in ("tr", "te", "ti", "ti1", "flip_deg", "flip1_deg"):
        if name not in sequence.params:
            continue
        value = sequence.params[name]
        if name.startswith("flip"):
            parts.append(f"{value:.0f}°")
        else:
            text = f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"
            parts.append(f"{name.upper()} {text}")
    return f"{sequence.kind}\n" + " ".join(parts)


def _default_values(sequence: Sequence, parameter: str) -> np.ndarray:
    """A sweep that every value of which is a valid sequence (TI within TR, the MPRAGE block fits)."""
    params = sequence.params
    half_block = 0.0
    if sequence.kind == "mprage":  # the readout block is centred on TI and must fit inside the TR
        half_block = params.get("n_excitations", 160) * params.get("echo_spacing", 6e-3) / 2
    if parameter == "tr":
        return np.linspace(params.get("ti", 0.0) + half_block + 0.01, 10.0, 300)
    if parameter == "te":
        return np.linspace(0.0, 0.3 if sequence.kind in ("fse", "flair") else 0.08, 300)
    if parameter == "ti":
        return np.linspace(half_block + 1e-3, params["tr"] - half_block, 300)
    return np.linspace(1.0, 90.0, 300)
