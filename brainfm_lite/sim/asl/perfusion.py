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

Each random part is drawn first (`draw_perfusion`, `draw_diagnosis`: numpy, from the subject's stream) and then
applied (`perfusion_from_draw`, `apply_diagnosis_draw`), on one numpy subject or on a torch batch of subjects
(:mod:`brainfm_lite.sim.asl.batched`); `healthy_perfusion` and `apply_diagnosis` do both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics._backend import as_float32, clip, maximum, namespace
from brainfm_lite.physics._ndimage import gaussian_filter
from brainfm_lite.preprocess.regions import region_masks, soft_region, world_coordinates
from brainfm_lite.sim.asl.sites import DIAGNOSES
from brainfm_lite.sim.batching import shared
from brainfm_lite.sim.random_fields import field_noise, smooth_field_from_noise

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
    return perfusion_from_draw(gm, wm, grid, age=age, draw=draw_perfusion(rng, grid, sex=sex))


@dataclass(frozen=True)
class PerfusionDraw:
    """The random part of a subject's healthy perfusion (`draw_perfusion`).

    Attributes:
        global_factor: the subject's global CBF factor (sex included).
        regional_noise: white noise of the regional CBF pattern (`~brainfm_lite.sim.random_fields.field_noise`).
        base_att: the subject's transit time near the circle of Willis, s.
        att_noise: white noise of the regional ATT pattern.
    """

    global_factor: float
    regional_noise: np.ndarray
    base_att: float
    att_noise: np.ndarray

    float64_fields = ("regional_noise", "att_noise")


def draw_perfusion(rng: np.random.Generator, grid: PerfusionGrid, *, sex: str) -> PerfusionDraw:
    """Draw a subject's healthy perfusion from its stream (what `healthy_perfusion` draws, in the same order)."""
    if sex not in ("F", "M"):
        raise InputError(f"sex must be 'F' or 'M'; got {sex!r}")
    global_factor = rng.lognormal(0.0, GLOBAL_CV) * (FEMALE_FACTOR if sex == "F" else 1.0)
    regional = field_noise(grid.shape, grid.spacing_mm, fwhm_mm=40.0, rng=rng)
    base_att = rng.normal(1.15, 0.08)
    att_noise = field_noise(grid.shape, grid.spacing_mm, fwhm_mm=30.0, rng=rng)
    return PerfusionDraw(global_factor, regional, base_att, att_noise)


def perfusion_from_draw(gm, wm, grid: PerfusionGrid, *, age, draw: PerfusionDraw):
    """True CBF (mL/100 g/min) and ATT (s) of a healthy subject from its draw: float32 [X, Y, Z].

    For a batch, ``gm``, ``wm`` are tensors [B, X, Y, Z], ``age`` [B, 1, 1, 1], ``draw`` collated (one item each) and
    ``grid`` on their device (`grid_on`); the maps are then [B, X, Y, Z].
    """
    xp = namespace(gm)
    years = age - 45.0
    ageing = (1 - AGE_SLOPE * years) * (1 - FRONTAL_AGE_SLOPE * maximum(years, 0.0) * grid.weights["frontal"])
    regional = 1 + REGIONAL_CV * smooth_field_from_noise(draw.regional_noise, grid.shape, grid.spacing_mm,
                                                          fwhm_mm=40.0)
    cbf = (GM_CBF * gm + WM_CBF * wm) * draw.global_factor * ageing * regional

    att = (draw.base_att + 0.006 * (grid.arterial_distance_mm - 60.0) + 0.15 * grid.weights["posterior"]
           + 0.35 * wm / maximum(gm + wm, 1e-3) + 0.006 * years
           + 0.05 * smooth_field_from_noise(draw.att_noise, grid.shape, grid.spacing_mm, fwhm_mm=30.0))
    return as_float32(cbf), as_float32(clip(xp, att, 0.3))


def apply_diagnosis(name: str, severity: float, cbf, att, grid: PerfusionGrid, *, gm, rng: np.random.Generator) -> dict:
    """Change ``cbf`` and ``att`` in place as diagnosis ``name`` does at ``severity`` (0..1); returns its details.

    The details say where the effect went (e.g. ``{"side": "l", "kind": "infarct"}``) so that a figure or a test
    can find it.
    """
    draw = draw_diagnosis(name, severity, rng, grid, gm=gm)
    apply_diagnosis_draw(draw, cbf, att, grid)
    return draw.effects()


@dataclass(frozen=True)
class DiagnosisDraw:
    """One diagnosis of one subject and the random choices it made (`draw_diagnosis`).

    Attributes:
        name: "alzheimers", "vascular" or "ftd".
        severity: in [0, 1].
        left, right: ftd: how strongly each side is hit (the weaker side in [0.5, 1)).
        side: vascular: "l" or "r", the middle cerebral artery territory hit.
        kind: vascular: "stenosis" or "infarct".
        centre: infarct: voxel index [3] of its core's centre.
        radius_mm: infarct: its core's radius, mm.
    """

    name: str
    severity: float
    left: float = 1.0
    right: float = 1.0
    side: str = "l"
    kind: str = ""
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    radius_mm: float = 0.0

    float64_fields = ("centre", "radius_mm")  # the core's edge is decided in double, as numpy does

    def effects(self) -> dict:
        """Where the effect went: what `apply_diagnosis` returns."""
        if self.name == "ftd":
            return {"left": float(self.left), "right": float(self.right)}
        if self.name == "vascular":
            return {"side": self.side, "kind": self.kind}
        return {}


def draw_diagnosis(name: str, severity: float, rng: np.random.Generator, grid: PerfusionGrid, *, gm) -> DiagnosisDraw:
    """Draw diagnosis ``name``'s random choices from the subject's stream (in `apply_diagnosis`'s order).

    ``gm`` (numpy [X, Y, Z]) is read only for an infarct: its core centres on a grey-matter voxel of the territory.
    """
    if name not in DIAGNOSES:
        raise InputError(f"unknown diagnosis '{name}'; known: alzheimers, vascular, ftd")
    if not 0.0 <= severity <= 1.0:
        raise InputError(f"severity must lie in [0, 1]; got {severity}")
    if name == "ftd":
        weaker = rng.uniform(0.5, 1.0)
        left, right = (1.0, weaker) if rng.random() < 0.5 else (weaker, 1.0)
        return DiagnosisDraw(name, severity, left=left, right=right)
    if name == "vascular":
        side = "l" if rng.random() < 0.5 else "r"
        if rng.random() < 0.6:
            return DiagnosisDraw(name, severity, side=side, kind="stenosis")
        radius_mm = rng.uniform(15.0, 30.0)
        candidates = np.argwhere(grid.territories[f"mca_{side}"] & (np.asarray(gm) > 0.5))
        centre = candidates[rng.integers(len(candidates))]
        return DiagnosisDraw(name, severity, side=side, kind="infarct", centre=centre, radius_mm=radius_mm)
    return DiagnosisDraw(name, severity)


def apply_diagnosis_draw(draw: DiagnosisDraw, cbf, att, grid: PerfusionGrid) -> None:
    """Change ``cbf`` and ``att`` in place as the drawn diagnosis does.

    For a batch (tensors [B, X, Y, Z]) ``draw`` is collated from B draws of one diagnosis (and, for "vascular", one
    kind), ``grid`` is on their device (`grid_on`).
    """
    w = grid.weights
    severity, name = draw.severity, shared(draw.name)
    if name == "alzheimers":
        cbf *= (1 - severity * (0.22 * w["alzheimers_core"] + 0.11 * w["alzheimers_temporal"])) * (1 - 0.05 * severity)
        att += 0.1 * severity * w["alzheimers_core"]
    elif name == "ftd":
        pattern = maximum(maximum(draw.left * w["ftd_l"], draw.right * w["ftd_r"]), w["ftd_midline"])
        cbf *= 1 - 0.22 * severity * pattern
    elif shared(draw.kind) == "stenosis":
        territory = grid_weight(grid, _names("mca_", draw.side))
        cbf *= 1 - 0.35 * severity * territory
        att += 0.9 * severity * territory
    else:
        territory = grid_weight(grid, _names("mca_", draw.side))
        core = _infarct_core(grid, draw.side, draw.centre, draw.radius_mm)
        cbf *= (1 - (0.5 + 0.4 * severity) * core) * (1 - 0.1 * severity * territory)
        att += 0.3 * severity * territory


def grid_weight(grid: PerfusionGrid, name):
    """A weight map of the grid by name: a region weight (``grid.weights``), or "none" (zeros) or "global" (ones).

    ``name`` is one name (numpy grid: an array [X, Y, Z]), or a list of names, one per item of a batch (grid on a
    device: a tensor [B, X, Y, Z]).
    """
    if isinstance(name, str):
        if name in ("none", "global"):
            return (np.zeros if name == "none" else np.ones)(grid.shape, dtype=np.float32)
        return grid.weights[name]
    any_weight = next(iter(grid.weights.values()))
    constant = {"none": torch.zeros_like(any_weight), "global": torch.ones_like(any_weight)}
    return torch.stack([constant[n] if n in constant else grid.weights[n] for n in name])


def grid_on(grid: PerfusionGrid, device) -> PerfusionGrid:
    """The grid with its maps as torch tensors on ``device`` (cached), for the batched simulation."""
    return _grid_on(grid.shape, grid.affine.tobytes(), grid.spacing_mm, str(torch.device(device)))


@functools.lru_cache(maxsize=4)
def _grid_on(shape, affine_bytes, spacing_mm, device: str) -> PerfusionGrid:
    grid = _cached_grid(shape, affine_bytes, spacing_mm)

    def move(maps):
        return {name: torch.from_numpy(np.array(values)).to(device) for name, values in maps.items()}

    return replace(grid, lobes=move(grid.lobes), territories=move(grid.territories), weights=move(grid.weights),
                   arterial_distance_mm=move({"d": grid.arterial_distance_mm})["d"],
                   positions_mm=tuple(move(dict(enumerate(grid.positions_mm))).values()))


def _names(prefix: str, suffix):
    """``prefix + suffix`` for one suffix, or for each of a batch's list of suffixes."""
    return prefix + suffix if isinstance(suffix, str) else [prefix + s for s in suffix]


def _infarct_core(grid: PerfusionGrid, side, centre, radius_mm):
    """Soft sphere of ``radius_mm`` around voxel ``centre`` of one MCA territory, cut to that territory.

    Batched: ``side`` a list of B sides, ``centre`` [B, 1, 1, 3] and ``radius_mm`` [B, 1, 1, 1] (float64 tensors).
    """
    if isinstance(radius_mm, torch.Tensor):
        territory = torch.stack([grid.territories[f"mca_{s}"] for s in side])
        ijk = torch.from_numpy(np.indices(grid.shape, dtype=np.float32)).to(radius_mm.device)
        offsets = [ijk[a] - centre[..., a:a + 1] for a in range(3)]
    else:
        territory = grid.territories[f"mca_{side}"]
        ijk = np.indices(grid.shape, dtype=np.float32)
        offsets = [ijk[a] - centre[a] for a in range(3)]
    xp = namespace(territory)
    distance_mm = xp.sqrt(sum(offset ** 2 for offset in offsets)) * grid.spacing_mm
    sphere = (distance_mm < radius_mm) & territory
    # What `soft_region` makes of it: the sphere as 0/1 float32, blurred (FWHM 8 mm), clipped to [0, 1].
    sigma = 8.0 / (2 * np.sqrt(2 * np.log(2))) / grid.spacing_mm
    return clip(xp, gaussian_filter(as_float32(sphere), sigma), 0.0, 1.0)
