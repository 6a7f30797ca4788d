"""True perfusion of a synthetic subject: CBF and arterial transit time (ATT) maps, healthy and with a diagnosis.

Healthy CBF (mL/100 g/min) is grey matter 60 and white matter 22, weighted by the subject's tissue fractions
(CSF carries none), then scaled by

- age: -0.45 % a year around 45 years, a little faster in the frontal lobes (the strongest age effect in ASL);
- sex: women about 10 % higher;
- a subject factor with a coefficient of variation of 15 % (haematocrit, caffeine, CO2, time of day): so no
  diagnosis can be read from the global mean alone;
- a smooth regional pattern with a CV of about 10 %: healthy people differ region by region too.

ATT (s), from the pCASL labelling plane: about 1.15 s in grey matter near the circle of Willis, longer with the
distance from it (+6 ms a mm), in the posterior circulation, in white matter (+0.35 s) and with age (+6 ms a
year): about 1.5 s in the posterior watershed of a 75-year-old, where a PLD of 1.5 s is already too short.

Diagnoses, at a severity s in [0, 1] (the cohort draws 0.2 to 1 per patient); the numbers below are at s = 1 and
scale with s. Regions come from :mod:`brainfm_lite.preprocess.regions`, blurred so that effects fade smoothly:

- ``alzheimers``: posterior cingulate, precuneus and lateral parietal CBF down 22 %, temporal half as much, and 5 %
  globally (Alsop et al. 2010; the white paper's 15 to 25 %), with a transit time 0.1 s longer there (reported in
  posterior regions in Alzheimer's disease);
- ``vascular``: one middle cerebral artery territory. Either a stenosis (whole territory, CBF down 35 %, ATT up
  0.9 s: collateral flow arrives late) or an infarct (a core of 15 to 30 mm radius inside the territory, CBF down
  90 % at s = 1 and 58 % at s = 0.2, so below 20 mL/100 g/min, with a milder deficit and delay around it);
- ``ftd`` (behavioural-variant frontotemporal dementia): prefrontal, anterior cingulate and anterior temporal CBF
  down 22 %, often asymmetric (Du et al. 2006, Neurology 67:1215). It is the third task because it is the clinical
  differential of Alzheimer's disease that ASL is used for, and because it is not trivially separable: its frontal
  pattern overlaps with normal ageing (frontal CBF falls fastest with age) and with the ACA territory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.regions import region_masks, soft_region, world_coordinates
from brainfm_lite.sim.random_fields import smooth_random_field

GM_CBF = 60.0           # mL/100 g/min at age 45, men
WM_CBF = 22.0
AGE_SLOPE = 0.0045      # fraction of CBF lost per year
FRONTAL_AGE_SLOPE = 0.002  # extra loss per year in the frontal lobes
FEMALE_FACTOR = 1.10
GLOBAL_CV = 0.15
REGIONAL_CV = 0.10
CIRCLE_OF_WILLIS_MM = (0.0, -18.0, -20.0)  # MNI position the arterial paths start from (approximately)


@dataclass(frozen=True)
class PerfusionGrid:
    """Everything about a grid that the perfusion model needs and that does not change between subjects."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    spacing_mm: float
    lobes: dict            # region name -> bool mask [X, Y, Z]
    territories: dict      # region name -> bool mask [X, Y, Z]
    weights: dict          # effect name -> soft weight map in [0, 1]
    arterial_distance_mm: np.ndarray  # distance from the circle of Willis, mm
    positions_mm: tuple    # x, y, z world coordinates of every voxel, mm


@functools.lru_cache(maxsize=4)
def _cached_grid(shape, affine_bytes, spacing_mm):
    affine = np.frombuffer(affine_bytes).reshape(4, 4)
    lobes = region_masks(shape, affine, parcellation="lobes")
    territories = region_masks(shape, affine, parcellation="territories")
    x, y, z = world_coordinates(shape, affine)
    masks = {**lobes, **territories,
             "prefrontal_l": lobes["frontal_l"] & (y > 5), "prefrontal_r": lobes["frontal_r"] & (y > 5),
             "anterior_temporal_l": lobes["temporal_l"] & (y > -25),
             "anterior_temporal_r": lobes["temporal_r"] & (y > -25),
             # inferior and superior parietal lobules, behind the sensorimotor strip
             "lateral_parietal_l": lobes["parietal_l"] & (x < -20) & (y < -35),
             "lateral_parietal_r": lobes["parietal_r"] & (x > 20) & (y < -35)}

    def soft(names, fwhm_mm=12.0):
        return soft_region(masks, names, spacing_mm=spacing_mm, fwhm_mm=fwhm_mm)

    weights = {
        "alzheimers_core": soft(["posterior_cingulate", "precuneus", "lateral_parietal_l", "lateral_parietal_r"],
                                fwhm_mm=16.0),
        "alzheimers_temporal": soft(["temporal_l", "temporal_r"]),
        "ftd_l": soft(["prefrontal_l", "anterior_temporal_l"], fwhm_mm=16.0),
        "ftd_r": soft(["prefrontal_r", "anterior_temporal_r"], fwhm_mm=16.0),
        "ftd_midline": soft(["anterior_cingulate"]),
        "frontal": soft(["frontal_l", "frontal_r"], fwhm_mm=20.0),
        "mca_l": soft(["mca_l"], fwhm_mm=16.0), "mca_r": soft(["mca_r"], fwhm_mm=16.0),
        "carotid_l": soft(["mca_l", "aca_l"], fwhm_mm=16.0), "carotid_r": soft(["mca_r", "aca_r"], fwhm_mm=16.0),
        "posterior": soft(["pca_l", "pca_r", "posterior_fossa"], fwhm_mm=16.0),
    }
    distance = np.sqrt((x - CIRCLE_OF_WILLIS_MM[0]) ** 2 + (y - CIRCLE_OF_WILLIS_MM[1]) ** 2
                       + (z - CIRCLE_OF_WILLIS_MM[2]) ** 2)
    positions = tuple(axis.astype(np.float32) for axis in (x, y, z))
    distance = distance.astype(np.float32)
    for array in (*lobes.values(), *territories.values(), *weights.values(), distance, *positions):
        array.flags.writeable = False  # shared by every subject: nobody may change it in place
    return PerfusionGrid(shape, affine, spacing_mm, lobes, territories, weights, distance, positions)


def perfusion_grid(shape, affine) -> PerfusionGrid:
    """The (cached) regions, effect weights and arterial distances of an isotropic grid in MNI space."""
    affine = np.ascontiguousarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    if not np.allclose(spacing, spacing[0]):
        raise InputError(f"the perfusion model needs an isotropic grid; got spacing {spacing.tolist()} mm")
    return _cached_grid(tuple(int(s) for s in shape), affine.tobytes(), float(spacing[0]))


def healthy_perfusion(gm, wm, grid: PerfusionGrid, *, age: float, sex: str, rng: np.random.Generator):
    """True CBF (mL/100 g/min) and ATT (s) maps [X, Y, Z] of a healthy subject.

    Args:
        gm, wm (numpy.ndarray [X, Y, Z]): Tissue fractions in [0, 1] of this subject.
        grid (PerfusionGrid): From :func:`perfusion_grid` for the same grid.
        age (float): Years.
        sex ("F" or "M"):
        rng (numpy.random.Generator): The subject's own random stream.
    """
    if sex not in ("F", "M"):
        raise InputError(f"sex must be 'F' or 'M'; got {sex!r}")
    years = age - 45.0
    global_factor = rng.lognormal(0.0, GLOBAL_CV) * (FEMALE_FACTOR if sex == "F" else 1.0)
    ageing = (1 - AGE_SLOPE * years) * (1 - FRONTAL_AGE_SLOPE * max(years, 0.0) * grid.weights["frontal"])
    regional = 1 + REGIONAL_CV * smooth_random_field(grid.shape, grid.spacing_mm, fwhm_mm=40.0, rng=rng)
    cbf = (GM_CBF * gm + WM_CBF * wm) * global_factor * ageing * regional

    base_att = rng.normal(1.15, 0.08)
    att = (base_att + 0.006 * (grid.arterial_distance_mm - 60.0) + 0.15 * grid.weights["posterior"]
           + 0.35 * wm / np.maximum(gm + wm, 1e-3) + 0.006 * years
           + 0.05 * smooth_random_field(grid.shape, grid.spacing_mm, fwhm_mm=30.0, rng=rng))
    return cbf.astype(np.float32), np.clip(att, 0.3, None).astype(np.float32)


def apply_diagnosis(name: str, severity: float, cbf, att, grid: PerfusionGrid, *, gm, rng: np.random.Generator) -> dict:
    """Change ``cbf`` and ``att`` in place as diagnosis ``name`` does at ``severity`` (0..1); returns its details.

    The details say where the effect went (e.g. ``{"side": "l", "kind": "infarct"}``) so that a figure or a test
    can find it.
    """
    if not 0.0 <= severity <= 1.0:
        raise InputError(f"severity must lie in [0, 1]; got {severity}")
    w = grid.weights
    if name == "alzheimers":
        cbf *= (1 - severity * (0.22 * w["alzheimers_core"] + 0.11 * w["alzheimers_temporal"])) * (1 - 0.05 * severity)
        att += 0.1 * severity * w["alzheimers_core"]
        return {}
    if name == "ftd":
        weaker = rng.uniform(0.5, 1.0)
        left, right = (1.0, weaker) if rng.random() < 0.5 else (weaker, 1.0)
        pattern = np.maximum(np.maximum(left * w["ftd_l"], right * w["ftd_r"]), w["ftd_midline"])
        cbf *= 1 - 0.22 * severity * pattern
        return {"left": float(left), "right": float(right)}
    if name == "vascular":
        side = "l" if rng.random() < 0.5 else "r"
        territory = w[f"mca_{side}"]
        if rng.random() < 0.6:
            cbf *= 1 - 0.35 * severity * territory
            att += 0.9 * severity * territory
            return {"side": side, "kind": "stenosis"}
        core = _infarct_core(grid, side, gm, rng, radius_mm=rng.uniform(15.0, 30.0))
        cbf *= (1 - (0.5 + 0.4 * severity) * core) * (1 - 0.1 * severity * territory)
        att += 0.3 * severity * territory
        return {"side": side, "kind": "infarct"}
    raise InputError(f"unknown diagnosis '{name}'; known: alzheimers, vascular, ftd")


def _infarct_core(grid: PerfusionGrid, side: str, gm, rng, *, radius_mm: float) -> np.ndarray:
    """Soft sphere around a random grey-matter voxel of one MCA territory, cut to that territory."""
    candidates = np.argwhere(grid.territories[f"mca_{side}"] & (gm > 0.5))
    centre = candidates[rng.integers(len(candidates))]
    ijk = np.indices(grid.shape, dtype=np.float32)
    distance_mm = np.sqrt(sum((ijk[a] - centre[a]) ** 2 for a in range(3))) * grid.spacing_mm
    sphere = (distance_mm < radius_mm) & grid.territories[f"mca_{side}"]
    return soft_region({"core": sphere}, ["core"], spacing_mm=grid.spacing_mm, fwhm_mm=8.0)
