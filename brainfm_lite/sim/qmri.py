"""Quantitative MRI (PD, R1, R2, R2*, MT) of a synthetic subject, and the images sequences would give of it.

Chalcroft et al. pretrains on contrasts simulated from one subject's qMRI. Here it comes from tissue fractions (GM, WM,
CSF, and lesion): every tissue gets this subject's values (drawn inside the literature ranges of
:mod:`brainfm_lite.physics.tissues`), a smooth low-amplitude field plus a little white noise makes the tissue
non-uniform, as real maps are, and each tissue keeps its own maps: :class:`Compartments`.

Partial volume: two models
--------------------------
At 2-4 mm most voxels at a tissue border hold two tissues, e.g. half CSF and half white matter.

- **Compartments (slow exchange)**, used for synthetic subjects: tissues a millimetre apart barely exchange water
  during a scan, so each relaxes with its own parameters and the voxel's signal is the fraction-weighted sum of
  theirs, ``S = sum_t f_t S(PD_t, R1_t, R2_t, R2*_t, MT_t)``. FLAIR nulls the CSF half of a border voxel and
  keeps the WM half, as a scanner does.
- **Voxelwise maps (one compartment)**: one value of each map per voxel, as a qMRI scan measures them (e.g. hMRI
  maps a user loads). The signal equation runs once per voxel with the mixed values; a border voxel's T1 lies
  between its tissues', so FLAIR does not null it (a bright rim around the ventricles). Nothing better is
  possible without knowing the tissues inside the voxel.

Example:
    >>> compartments = qmri_compartments(subject)                  # doctest: +SKIP
    >>> flair = simulate_contrast(compartments, "flair")           # doctest: +SKIP  sum of tissue signals
    >>> maps = compartments.voxel_maps()                           # doctest: +SKIP  {"pd": ..., "r1": ...}
    >>> t1w = simulate_contrast(maps, "t1w")                       # doctest: +SKIP  one signal per voxel
    >>> images = subject_contrasts(subject)                        # doctest: +SKIP  {"t1w": Volume, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import PRESETS, Sequence
from brainfm_lite.physics.tissues import BACKGROUND, MAP_NAMES, tissues
from brainfm_lite.sim.random_fields import smooth_random_field
from brainfm_lite.sim.streams import Stream, seed_sequence

TISSUE_NAMES = ("gm", "wm", "csf")
SMOOTH_VARIATION = 0.03  # relative std of the smooth within-tissue fluctuation (a few %)
SMOOTH_FWHM_MM = 40.0    # its correlation width: regional trends (e.g. frontal vs occipital WM), not texture
WHITE_NOISE = 0.005      # relative std of the voxel-wise noise on the maps


@dataclass(frozen=True)
class Compartments:
    """The tissues of a grid, each with its volume fraction and its own qMRI maps (the slow-exchange model).

    Attributes:
        fractions (dict of str to array [X, Y, Z]): Volume fraction of each tissue ("gm", "wm", "csf", optionally
            "lesion") in [0, 1]; what a voxel's fractions leave is background.
        maps (dict of str to dict of str to array [X, Y, Z]): Per tissue, its maps ``pd`` (fraction), ``r1``, ``r2``,
            ``r2s`` (1/s) and ``mt`` (fraction): this subject's value of the tissue, varying smoothly over the grid.
            Defined in every voxel, also where the tissue's fraction is 0 (it then adds nothing).

    The arrays are numpy float32 from :func:`qmri_compartments`; torch tensors work as well in
    :func:`simulate_contrast` (e.g. on a GPU), but :meth:`voxel_maps` needs numpy.
    """

    fractions: dict
    maps: dict

    def voxel_maps(self) -> dict[str, np.ndarray]:
        """One value of each map per voxel: what a qMRI scan of this subject would measure.

        Mixed in the water (PD-weighted) domain: ``PD = sum_t f_t PD_t`` and every other map
        ``q = sum_t f_t PD_t q_t / PD``: the fast-exchange limit (Zimmerman-Brittin), where the voxel relaxes at
        the mean rate of its water, each tissue weighted by the water it brings. Rates, not times, are averaged,
        since rates add. Outside the head (no water) PD is 0 and the rates are ``tissues.BACKGROUND`` (finite
        and positive, so the signal equations accept them).

        Returns:
            dict of str to ndarray: ``pd``, ``r1``, ``r2``, ``r2s``, ``mt``; float32, shape [X, Y, Z].
        """
        water = {tissue: fraction * self.maps[tissue]["pd"] for tissue, fraction in self.fractions.items()}
        pd = sum(water.values())
        inside = pd > 0
        safe_pd = np.where(inside, pd, np.float32(1))
        maps = {"pd": pd.astype(np.float32)}
        for name in MAP_NAMES[1:]:
            mixed = sum(water[tissue] * self.maps[tissue][name] for tissue in water) / safe_pd
            maps[name] = np.where(inside, mixed, np.float32(BACKGROUND[name])).astype(np.float32)
        return maps


def qmri_compartments(subject_or_fractions, *, rng=None, spacing_mm: float | None = None,
                      field_strength: float = 3.0) -> Compartments:
    """Every tissue of one subject with its fraction and its own qMRI maps, on the grid of its tissue fractions.

    Variability, all drawn from ``rng``: per subject, each tissue's values uniformly inside its literature range;
    per voxel, a smooth multiplicative field (``SMOOTH_VARIATION`` = 3 % std, zero mean over the grid, FWHM
    ``SMOOTH_FWHM_MM`` = 40 mm), a "myelin" field shared by R1, MT and (inverted) PD and an "iron" field shared by
    R2 and R2*; and white noise (``WHITE_NOISE`` = 0.5 %) independent for every map. The fields are those of the
    voxel, so every tissue in it varies alike (a regional trend, not a property of one tissue).

    Args:
        subject_or_fractions (Subject or mapping of str to ndarray): A cohort subject (its ``tissue`` fractions), or
            volume fractions [X, Y, Z] in [0, 1] with keys "gm", "wm", "csf" and optionally "lesion", summing to at most
            1 (the rest is background). As in the cohort, a lesion's share is already taken out of the tissue it
            replaced.
        rng (numpy.random.Generator, int or None): Generator or seed. None: for a subject, a seed derived from its
            cohort seed and index (the same subject always gets the same maps); for bare fractions, 0.
        spacing_mm (float, optional): Voxel size of the grid, mm (sets the width of the smooth field); default the
            subject's, or 2 mm for bare fractions.
        field_strength (float, default 3.0): Tesla; only 3 T values are tabulated.

    Returns:
        Compartments: float32 arrays of shape [X, Y, Z]; one compartment per tissue of the fractions.

    Raises:
        InputError: Missing tissue, shapes that differ, fractions outside [0, 1], or an untabulated field strength.
    """
    table = tissues(field_strength)
    fractions = _fractions(subject_or_fractions)
    rng = np.random.default_rng(_default_seed(subject_or_fractions) if rng is None else rng)
    # This subject's value of every tissue, lesion included even when it has none: the same draws either way.
    values = {name: tissue.draw(rng) for name, tissue in table.items()}
    shape = next(iter(fractions.values())).shape
    spacing_mm = spacing_mm or _spacing_mm(subject_or_fractions)

    # Regional variation has two main biological sources: myelin raises R1 and MT and displaces water, iron raises
    # R2 and R2*. One smooth field for each keeps the maps consistent with each other (and costs two fields, not 5).
    myelin = smooth_random_field(shape, spacing_mm, fwhm_mm=SMOOTH_FWHM_MM, rng=rng)
    iron = smooth_random_field(shape, spacing_mm, fwhm_mm=SMOOTH_FWHM_MM, rng=rng)
    trend = {"pd": -myelin, "r1": myelin, "mt": myelin, "r2": iron, "r2s": iron}
    variation = {}
    for name in MAP_NAMES:
        noise = rng.standard_normal(shape, dtype=np.float32)
        variation[name] = 1 + SMOOTH_VARIATION * trend[name] + WHITE_NOISE * noise

    maps = {}
    for tissue in fractions:
        maps[tissue] = {name: np.float32(values[tissue][name]) * variation[name] for name in MAP_NAMES}
        maps[tissue]["pd"] = np.clip(maps[tissue]["pd"], 0, 1)
        maps[tissue]["mt"] = np.clip(maps[tissue]["mt"], 0, 0.99)
    return Compartments(fractions, maps)


def qmri_maps(subject_or_fractions, *, rng=None, spacing_mm: float | None = None,
              field_strength: float = 3.0) -> dict[str, np.ndarray]:
    """Voxelwise quantitative maps of one subject: ``qmri_compartments(...).voxel_maps()``.

    What a qMRI scan of the subject would measure, one value per voxel, for display and for tools that take maps.
    Parameters as :func:`qmri_compartments`; mixing as :meth:`Compartments.voxel_maps`.

    Returns:
        dict of str to ndarray: ``pd`` (fraction), ``r1``, ``r2``, ``r2s`` (1/s), ``mt`` (fraction in [0, 1)); float32,
            shape [X, Y, Z].
    """
    compartments = qmri_compartments(subject_or_fractions, rng=rng, spacing_mm=spacing_mm,
                                     field_strength=field_strength)
    return compartments.voxel_maps()


def simulate_contrast(maps: Compartments | Mapping, sequence: Sequence | str):
    """The image a sequence gives of a subject's qMRI (noise-free), on its grid.

    Which partial-volume model applies depends on what is given:

    - :class:`Compartments` (synthetic subjects, :func:`qmri_compartments`): every tissue relaxes with its own
      parameters and the voxel's readouts are the fraction-weighted sum of the tissues' readouts
      (``Sequence.readouts``); the image is formed from that sum (magnitude, or MP2RAGE's ratio of its two
      readouts), as a scanner forms it from the whole voxel's signal.
    - a mapping of voxelwise maps (``qmri_maps``, or maps from a real qMRI scan): one compartment per voxel, the
      signal equation once with the voxel's values (``Sequence.simulate``). Voxels holding several tissues are
      then only approximated (e.g. FLAIR does not null a voxel that is partly CSF).

    The values are the sequence's signal, except for MP2RAGE: its uniform image lies in [-0.5, 0.5], and scanners
    store it shifted to [0, 1] (times 4095); so do we, inside the head (PD > 0; the background stays 0), so that
    every contrast is a non-negative image and tissue ratios keep their meaning.

    Args:
        maps (Compartments or mapping of str to array [X, Y, Z]): Per-tissue compartments, or voxelwise maps ``pd``,
            ``r1`` and those the sequence needs (``r2s``, ``r2``, ``mt``).
        sequence (Sequence or str): A :class:`~brainfm_lite.physics.sequences.Sequence` (e.g. from ``sample_sequence``)
            or a preset name ("t1w", "t2w", "pdw", "flair").

    Returns:
        float32 ndarray [X, Y, Z], or a torch tensor when the arrays given are tensors.
    """
    sequence = preset(sequence) if isinstance(sequence, str) else sequence
    if isinstance(maps, Compartments):
        image, water = _sum_of_compartments(maps, sequence)
    else:
        known = {name: maps[name] for name in MAP_NAMES if name in maps}
        image, water = sequence.simulate(**known), maps["pd"]
    if sequence.kind == "mp2rage":
        image = image + 0.5 * (water > 0)  # the background is 0 before the shift and stays 0
    return image if isinstance(image, torch.Tensor) else np.asarray(image, dtype=np.float32)


def _sum_of_compartments(compartments: Compartments, sequence: Sequence):
    """The image formed from the fraction-weighted sum of every tissue's readouts, and the voxels' water."""
    fractions = compartments.fractions
    # A tissue absent from the grid adds nothing (e.g. the lesion of a subject without lesions): skip its equation.
    present = [tissue for tissue, fraction in fractions.items() if fraction.any()] or list(fractions)
    readouts, water = None, 0
    for tissue in present:
        maps = compartments.maps[tissue]
        weighted = [fractions[tissue] * readout for readout in sequence.readouts(**maps)]
        readouts = weighted if readouts is None else [total + part for total, part in zip(readouts, weighted)]
        water = water + fractions[tissue] * maps["pd"]
    return sequence.image_from_readouts(tuple(readouts)), water


def subject_contrasts(subject, kinds=("t1w", "t2w", "pdw", "flair"), *, maps=None, rng=None) -> dict[str, Volume]:
    """Clinical contrasts of one cohort subject, as Volumes on its grid.

    Args:
        subject (Subject): A cohort subject (its ``t1w`` Volume gives the affine).
        kinds (sequence of str or Sequence): Preset names, or Sequences (keyed by their kind then).
        maps (Compartments or mapping, optional): The subject's qMRI when already computed (see
            :func:`simulate_contrast` for the two models); default ``qmri_compartments(subject, rng=rng)``: the sum of
            the tissues' signals.

    Returns:
        dict of str to Volume; ``meta["sequence"]`` holds the kind and parameters (plain JSON values).
    """
    maps = qmri_compartments(subject, rng=rng) if maps is None else maps
    images = {}
    for kind in kinds:
        sequence = preset(kind) if isinstance(kind, str) else kind
        name = kind if isinstance(kind, str) else sequence.kind
        images[name] = subject.t1w.with_data(simulate_contrast(maps, sequence), image=name,
                                             sequence={"kind": sequence.kind, **sequence.params})
    return images


def preset(name: str) -> Sequence:
    """The clinical preset ``name`` ("t1w", "t2w", "pdw", "flair") of ``physics.sequences.PRESETS``."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; expected one of {tuple(PRESETS)}")
    return PRESETS[name]


def tissue_means(image: np.ndarray, labels: np.ndarray, names: Mapping[int, str] | None = None) -> dict[str, float]:
    """Mean intensity of an image in each labelled tissue.

    Args:
        image, labels (ndarray [X, Y, Z]): The image and its label map (cohort convention: 1 CSF, 2 GM, 3 WM, 4 lesion).
        names (mapping of int to str, optional): Label value -> tissue name; default the cohort convention. Absent
            labels are left out.
    """
    names = names or {1: "csf", 2: "gm", 3: "wm", 4: "lesion"}
    if np.shape(image) != np.shape(labels):
        raise InputError(f"image {np.shape(image)} and labels {np.shape(labels)} must have the same shape")
    return {name: float(image[labels == value].mean()) for value, name in names.items() if np.any(labels == value)}


def contrast_ratios(image: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Tissue contrast of an image: mean GM and mean CSF over mean WM (``{"gm_wm": ..., "csf_wm": ...}``).

    A T1-weighted image has GM/WM < 1 and CSF/WM near 0; a T2-weighted one GM/WM > 1 and CSF/WM > 1.
    Labels as in :func:`tissue_means`.
    """
    means = tissue_means(image, labels)
    missing = [name for name in ("gm", "wm", "csf") if name not in means]
    if missing:
        raise InputError(f"contrast ratios need GM, WM and CSF in the labels; missing {missing}")
    return {"gm_wm": means["gm"] / means["wm"], "csf_wm": means["csf"] / means["wm"]}


def core_labels(subject, min_fraction: float = 0.8) -> np.ndarray:
    """A subject's labels where the labelled tissue fills at least ``min_fraction`` of the voxel, else 0.

    Tissue means over these voxels measure the contrast between tissues, not the partial volume at their borders
    (which, at 4 mm, dominates the CSF label). Returns uint8 [X, Y, Z], labels as in :func:`tissue_means`.
    """
    largest = np.max(np.stack(list(subject.tissue.values())), axis=0)
    return np.where(largest >= min_fraction, subject.labels, 0).astype(np.uint8)


def _fractions(subject_or_fractions) -> dict[str, np.ndarray]:
    """Tissue fractions as float32 arrays of one 3D shape, checked."""
    given = subject_or_fractions if isinstance(subject_or_fractions, Mapping) else subject_or_fractions.tissue
    missing = [name for name in TISSUE_NAMES if name not in given]
    if missing:
        raise InputError(f"tissue fractions need the keys {TISSUE_NAMES}; missing {missing}")
    fractions = {name: np.asarray(given[name], dtype=np.float32) for name in (*TISSUE_NAMES, "lesion")
                 if name in given}
    shapes = {name: f.shape for name, f in fractions.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 3:
        raise InputError(f"tissue fractions must be 3D arrays of one shape; got {shapes}")
    for name, fraction in fractions.items():
        if not np.isfinite(fraction).all() or fraction.min() < 0 or fraction.max() > 1:
            raise InputError(f"{name} fraction must lie in [0, 1]; got {fraction.min():g} to {fraction.max():g}")
    total = sum(fractions.values())
    if total.max() > 1 + 1e-3:  # float32 rounding aside, a voxel cannot hold more than itself
        raise InputError(f"tissue fractions must sum to at most 1 in every voxel; got up to {total.max():g}")
    return fractions


def _default_seed(subject_or_fractions):
    """Entropy for a subject's maps: its cohort seed and index, so that the same subject always gets the same
    maps and subject k of another cohort seed does not; 0 for bare fractions."""
    meta = getattr(subject_or_fractions, "meta", {})
    if "seed" in meta and "index" in meta:
        return seed_sequence(meta["seed"], Stream.QMRI_MAPS, meta["index"])
    return 0


def _spacing_mm(subject_or_fractions) -> float:
    """Voxel size in mm of a subject's grid (the smallest axis); 2 mm for bare fractions."""
    t1w = getattr(subject_or_fractions, "t1w", None)
    return min(t1w.spacing_mm) if t1w is not None else 2.0
