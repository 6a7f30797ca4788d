"""The embedded synthetic cohort: subjects built from real anatomy, scanned at sites that differ.

Every subject starts from the MNI152 2009 anatomy that ships with nilearn (:mod:`brainfm_lite.sim.anatomy`):

1. **shape**: its own head size (sex-dependent), a small rotation and a smooth random deformation;
2. **age**: atrophy that grows with age: the lateral ventricles widen, and grey and white matter next to CSF turn
   into CSF, so that brain volume falls by :func:`atrophy_fraction` (about 0.2 %/year at 40, 0.5 %/year at 90);
3. **lesions** (with probability ``lesion_prob``): a few white-matter hyperintensity-like ellipsoids, or one
   cortical stroke-like lesion;
4. **site** (:mod:`brainfm_lite.sim.sites`): the T1-weighted image is acquired at the site's resolution, with
   its bias field, intensity scale and Rician noise.

The T1w image keeps the real template's texture: it is the deformed template, shifted where atrophy or lesions
changed a voxel's tissue by what that change does to T1 contrast. Tissue fractions (GM, WM, CSF, lesion) follow
exactly the same deformation, and labels are derived from them.

Subject k comes from random generators seeded by (seed, k): it is the same in a cohort of 5 or of 5000, at 4 mm
or at 2 mm (same person, same shape; only the voxel-level noise differs), whatever the lesion probability does
to other subjects. Cohorts are simulated when a subject is accessed, so a large one costs no memory.

Example:
    >>> cohort = make_cohort(12, seed=0, spacing_mm=4.0)               # doctest: +SKIP
    >>> subject = cohort[0]                                             # doctest: +SKIP
    >>> subject.t1w, subject.tissue["gm"].shape, subject.labels.max()  # doctest: +SKIP
    >>> older = make_subject(0, cohort.sites[0], age=85.0)              # doctest: +SKIP
    >>> cohort.table()[0]["brain_ml"]                                   # doctest: +SKIP
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial.transform import Rotation

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.physics._backend import as_float32, namespace, spatial_sum
from brainfm_lite.physics._ndimage import gaussian_filter, sample_linear
from brainfm_lite.sim.anatomy import Anatomy, load_anatomy
from brainfm_lite.sim.random_fields import FWHM_TO_SIGMA
from brainfm_lite.sim.sites import Site, apply_site, make_sites
from brainfm_lite.sim.streams import Stream, stream_rng

LABELS = {"background": 0, "csf": 1, "gm": 2, "wm": 3, "lesion": 4}
TISSUES = ("csf", "gm", "wm", "lesion")  # in label order: label = 1 + index

# Shape. Adult intracranial volume varies by about 10 % (SD), male brains are about 10 % larger than female ones.
HEAD_SCALE_MEAN = {"F": 0.983, "M": 1.017}  # linear scale relative to MNI152
HEAD_SCALE_SD = 0.03
HEAD_SCALE_LIMITS = (0.92, 1.08)
ROTATION_MAX_DEG = 5.0
DISPLACEMENT_SD_MM = 2.5  # smooth shape differences, per control point and axis
CONTROL_POINTS = 6        # per axis over the head (anatomy.CONTROL_SPAN_MM): one every 48 mm

# Ageing. Ventricles widen by VENTRICLE_SHIFT_MM_PER_LOSS x atrophy_fraction mm at their walls (3 mm at 90 years).
VENTRICLE_SHIFT_MM_PER_LOSS = 15.0
VENTRICLE_PULL_FWHM_MM = 10.0  # how far from the ventricle walls the widening reaches
ATROPHY_REACH_FWHM_MM = 6.0    # tissue within a few mm of CSF is what cortical atrophy takes

# Lesions: count, radii (mm) and T1 intensity as a position between CSF (0) and WM (1).
LESION_KINDS = ("wmh", "stroke")
LESION_KIND_PROBABILITY = (0.7, 0.3)
LESION_COUNT = {"wmh": (2, 8), "stroke": (1, 1)}
LESION_RADIUS_MM = {"wmh": (3.0, 7.0), "stroke": (8.0, 18.0)}
LESION_T1_CONTRAST = {"wmh": 0.6, "stroke": 0.15}  # WMH about as dark as GM on T1; a chronic infarct near CSF
STROKE_MIN_LATERAL_MM = 35.0  # strokes sit in the lateral cortex (middle cerebral artery territory)

WARPED_IMAGES = ("t1", "gm", "wm", "csf")  # the template images a subject's warp deforms



@dataclass
class Subject:
    """One synthetic subject; every array is on the cohort grid [X, Y, Z] with ``affine``.

    Attributes:
        subject_id: "sub-0001" for subject 0, and so on.
        site: the `Site` that acquired ``t1w``.
        age: years.
        sex: "F" or "M".
        affine: 4x4 voxel-to-world matrix (mm, RAS+).
        tissue: fractions "csf", "gm", "wm", "lesion" in [0, 1], float32; they sum to <= 1 (the rest is background)
            and a lesion's share is taken out of the tissue it replaced.
        labels: uint8, 0 background, 1 CSF, 2 GM, 3 WM, 4 lesion (`LABELS`): the largest fraction wherever the
            fractions sum to at least 0.5.
        lesion_mask: bool, ``labels == 4``.
        t1w: the acquired T1-weighted image (scanner units).
        meta: how the subject was made (head scale, rotation, atrophy, lesions, ...).
    """

    subject_id: str
    site: Site
    age: float
    sex: str
    affine: np.ndarray
    tissue: dict[str, np.ndarray]
    labels: np.ndarray
    lesion_mask: np.ndarray
    t1w: Volume
    meta: dict

    @property
    def spacing_mm(self) -> float:
        """Grid spacing, mm."""
        return self.t1w.spacing_mm[0]

    def __repr__(self) -> str:
        lesion = self.meta.get("lesion_kind", "none")
        return (f"Subject({self.subject_id}, {self.site.name}, age {self.age:.1f}, {self.sex}, lesion {lesion}, "
                f"grid {self.labels.shape} at {self.spacing_mm:g} mm)")

    def volume(self, name: str) -> Volume:
        """One image as a `Volume`: "t1w", a tissue ("csf", "gm", "wm", "lesion"), "labels" or "lesion_mask"."""
        if name == "t1w":
            return self.t1w
        images = {**self.tissue, "labels": self.labels, "lesion_mask": self.lesion_mask}
        if name not in images:
            raise InputError(f"{self.subject_id} has no image {name!r}; choose one of {('t1w', *images)}")
        return self.t1w.with_data(images[name].astype(np.float32), image=name)

    def summary(self) -> dict:
        """Demographics, site and tissue volumes (mL) of this subject: one row of `Cohort.table`."""
        voxel_ml = self.spacing_mm**3 / 1000.0
        ml = {name: float(self.tissue[name].sum(dtype=np.float64)) * voxel_ml for name in TISSUES}
        brain_ml = ml["gm"] + ml["wm"] + ml["lesion"]
        return {
            "subject_id": self.subject_id, "site": self.site.name, "age": round(self.age, 1), "sex": self.sex,
            "has_lesion": bool(self.lesion_mask.any()), "lesion_kind": self.meta["lesion_kind"],
            **{f"{name}_ml": round(value, 2) for name, value in ml.items()},
            "brain_ml": round(brain_ml, 2), "icv_ml": round(brain_ml + ml["csf"], 2),
        }


@dataclass(frozen=True)
class Cohort:
    """A deterministic cohort; subject k is simulated when accessed (``cohort[k]``), the same every time.

    Attributes:
        n: number of subjects.
        seed: random seed.
        spacing_mm: grid spacing, mm.
        sites: the sites; subject k is scanned at ``sites[k % len(sites)]``.
        lesion_prob: probability that a subject has lesions.
        age_range: (youngest, oldest) age, years.
    """

    n: int
    seed: int
    spacing_mm: float
    sites: tuple[Site, ...]
    lesion_prob: float = 0.3
    age_range: tuple[float, float] = (20.0, 90.0)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Subject:
        if not -self.n <= index < self.n:
            raise IndexError(f"subject {index} out of range for a cohort of {self.n}")
        index %= self.n
        return make_subject(index, self.sites[index % len(self.sites)], seed=self.seed, spacing_mm=self.spacing_mm,
                            lesion_prob=self.lesion_prob, age_range=self.age_range)

    def __iter__(self):
        return (self[k] for k in range(self.n))

    def table(self) -> list[dict]:
        """`Subject.summary` of every subject (simulates them all)."""
        return [subject.summary() for subject in self]


def make_cohort(n: int, *, seed: int = 0, spacing_mm: float = 4.0, n_sites: int = 3, lesion_prob: float = 0.3,
                age_range: tuple[float, float] = (20.0, 90.0)) -> Cohort:
    """A cohort of ``n`` synthetic subjects scanned at ``n_sites`` sites (simulated when accessed).

    Args:
        n: number of subjects.
        seed: same seed, same cohort (a non-negative int).
        spacing_mm: grid spacing, a whole number of mm (4 for the smoke profile, 2 for colab and full).
        n_sites: number of sites (`make_sites`); subjects are assigned to them in turn.
        lesion_prob: probability that a subject has lesions.
        age_range: ages are drawn uniformly in (youngest, oldest), years.

    Raises:
        InputError: an argument out of range.
    """
    if int(n) != n or n < 1:
        raise InputError(f"n must be a positive number of subjects; got {n!r}")
    _check_subject_args(seed, lesion_prob, age_range)
    load_anatomy(spacing_mm)  # fails now, not at the first subject, when the spacing is wrong
    return Cohort(int(n), int(seed), float(spacing_mm), tuple(make_sites(n_sites, seed=seed)), float(lesion_prob),
                  (float(age_range[0]), float(age_range[1])))


def make_subject(index: int, site: Site, *, seed: int = 0, spacing_mm: float = 4.0, lesion_prob: float = 0.3,
                 age_range: tuple[float, float] = (20.0, 90.0), age: float | None = None) -> Subject:
    """Simulate subject ``index`` of the cohort with this ``seed``, scanned at ``site``.

    Args:
        index: subject number (0-based); its random draws depend only on (seed, index).
        site: the site that acquires the T1w image (anatomy does not depend on it).
        seed, spacing_mm, lesion_prob, age_range: as in `make_cohort`.
        age: years; None draws it from ``age_range``. Giving an age keeps every other draw, so the same
            person can be shown at 30 and at 80.

    Returns:
        A `Subject`.
    """
    _check_subject_args(seed, lesion_prob, age_range)
    anatomy = load_anatomy(spacing_mm)
    # Separate streams, so that e.g. the lesion probability or the site never changes the anatomy.
    shape_rng, lesion_rng, scan_rng = stream_rng(seed, Stream.STRUCTURAL_SUBJECT, index).spawn(3)
    shape = draw_shape(shape_rng, age_range, age=age)
    warped, before, tissue = warp_anatomy(anatomy, shape.warp())
    lesion_kind, n_lesions = "none", 0
    if lesion_rng.random() < lesion_prob:
        lesion_kind, n_lesions = _add_lesions(tissue, lesion_rng, anatomy)
    for fraction in tissue.values():
        np.clip(fraction, 0.0, 1.0, out=fraction)  # float32 sums can overshoot 1 by 1e-7
    labels = _labels(tissue)

    t1 = _anatomical_t1(warped["t1"], before, tissue, anatomy.tissue_intensity, lesion_kind)
    subject_id = f"sub-{index + 1:04d}"
    t1w_data = apply_site(t1, site, scan_rng, anatomy, reference_intensity=anatomy.tissue_intensity["wm"])
    t1w = Volume(t1w_data, anatomy.affine,
                 meta={"subject_id": subject_id, "site": site.name, "image": "t1w"})
    meta = {"index": int(index), "seed": int(seed), "head_scale": shape.head_scale,
            "rotation_deg": [float(a) for a in shape.rotation_deg], "atrophy_fraction": shape.atrophy,
            "ventricle_shift_mm": VENTRICLE_SHIFT_MM_PER_LOSS * shape.atrophy, "lesion_kind": lesion_kind,
            "n_lesions": n_lesions}
    return Subject(subject_id=subject_id, site=site, age=float(shape.age), sex=shape.sex, affine=anatomy.affine.copy(),
                   tissue=tissue, labels=labels, lesion_mask=labels == LABELS["lesion"], t1w=t1w, meta=meta)


def atrophy_fraction(age: float) -> float:
    """Fraction of brain (GM + WM) volume lost between age 20 and ``age``.

    The annual loss rate rises linearly from 0.2 %/year at 40 to 0.5 %/year at 90 (the range longitudinal MRI
    studies report after 40, accelerating with age), and is 0.05 %/year at its lowest in young adults. This gives
    about 3 % lost by 40, 8 % by 60 and 20 % by 90.
    """
    years = np.linspace(20.0, max(float(age), 20.0), 256)
    rate = np.maximum(0.002 + 0.003 * (years - 40.0) / 50.0, 0.0005)
    return float(np.sum((rate[1:] + rate[:-1]) / 2 * np.diff(years)))


# ----------------------------------------------------------------------------------------------------------------
# Shape: where in the template each subject voxel comes from. The draws (numpy, from the subject's shape stream) are
# kept apart from the warp, which runs on one numpy subject or on a torch batch (brainfm_lite.sim.asl.batched).


@dataclass(frozen=True)
class ShapeDraw:
    """What a subject's shape stream draws: age, sex, head size, rotation and smooth displacement.

    Attributes:
        age: years.
        sex: "F" or "M".
        head_scale: linear head size relative to MNI152.
        rotation_deg: [3] rotation about x, y, z, degrees.
        displacement: [3, n, n, n] control values of the smooth displacement along each axis, mm.
    """

    age: float
    sex: str
    head_scale: float
    rotation_deg: np.ndarray
    displacement: np.ndarray

    @property
    def atrophy(self) -> float:
        """Fraction of brain volume lost with age (`atrophy_fraction`)."""
        return atrophy_fraction(self.age)

    def warp(self) -> Warp:
        """The numbers the warp needs, for `warp_anatomy`."""
        # A head `head_scale` times larger shows the template at positions `head_scale` times closer to the centre.
        matrix = Rotation.from_euler("xyz", self.rotation_deg, degrees=True).as_matrix() / self.head_scale
        return Warp(matrix, self.displacement, VENTRICLE_SHIFT_MM_PER_LOSS * self.atrophy, self.atrophy)


@dataclass(frozen=True)
class Warp:
    """Where a subject's voxels come from in the template, as numbers (python and numpy for one subject; torch
    tensors with a leading batch axis for a batch, made by ``brainfm_lite.sim.batching.collate``).

    Attributes:
        matrix: [3, 3] template-from-subject rotation and scale about the brain centre.
        displacement: [3, n, n, n] smooth displacement control values, mm.
        ventricle_shift_mm: how far the lateral ventricle walls move out with age, mm.
        atrophy: fraction of brain (GM + WM) volume lost with age.
    """

    matrix: np.ndarray
    displacement: np.ndarray
    ventricle_shift_mm: float
    atrophy: float

    float64_fields = ("matrix", "displacement", "atrophy")  # batched in double, as numpy computes them


def draw_shape(shape_rng: np.random.Generator, age_range=(20.0, 90.0), *, age: float | None = None) -> ShapeDraw:
    """A subject's shape from its shape stream (the first of the three its subject stream spawns).

    ``age`` (years) replaces the drawn age and keeps every other draw, so the same person can be shown at 30 and 80.
    """
    drawn_age = shape_rng.uniform(*age_range)
    age = drawn_age if age is None else float(age)
    sex = "F" if shape_rng.random() < 0.5 else "M"
    head_scale = float(np.clip(np.exp(shape_rng.normal(np.log(HEAD_SCALE_MEAN[sex]), HEAD_SCALE_SD)),
                               *HEAD_SCALE_LIMITS))
    rotation_deg = shape_rng.uniform(-ROTATION_MAX_DEG, ROTATION_MAX_DEG, 3)
    displacement = shape_rng.normal(0.0, DISPLACEMENT_SD_MM, (3,) + (CONTROL_POINTS,) * 3)
    return ShapeDraw(age, sex, head_scale, rotation_deg, displacement)


def subject_shape(index: int, seed: int, age_range=(20.0, 90.0)) -> ShapeDraw:
    """The shape of subject ``index`` of the cohort with this ``seed`` (no image is simulated)."""
    shape_rng, _, _ = stream_rng(seed, Stream.STRUCTURAL_SUBJECT, index).spawn(3)
    return draw_shape(shape_rng, age_range)


def warp_anatomy(anatomy: Anatomy, warp: Warp, *, images=WARPED_IMAGES) -> tuple[dict, dict, dict]:
    """The template anatomy deformed into one subject (numpy) or a batch of subjects (torch), with its atrophy.

    Args:
        anatomy: the template.
        warp: from `ShapeDraw.warp`, or a batch of them as tensors (the warp then runs on their device).
        images: the template images to deform ("t1", "gm", "wm", "csf").

    Returns:
        ``(warped, before, tissue)``: the deformed images; the tissue fractions before atrophy ("csf", "gm", "wm",
        and a zero "lesion"); the fractions after it (copies). Arrays [X, Y, Z] float32, or tensors [B, X, Y, Z].
    """
    arrays = _anatomy_arrays(anatomy, like=warp.matrix)
    # Where each subject voxel comes from in the template: without, then with the age-widened ventricles. Both the
    # ventricles' pull and the young brain's tissue are read where the young subject's voxels come from.
    young = _template_positions(anatomy, warp.matrix, warp.displacement)
    at_young = sample_linear({"gm+wm": arrays["gm+wm"], **{axis: arrays["pull"][axis] for axis in range(3)}},
                             _voxel_index(young, anatomy))
    aged = _widen_ventricles(young, warp.ventricle_shift_mm, [at_young[axis] for axis in range(3)])
    warped = sample_linear({name: arrays[name] for name in images}, _voxel_index(aged, anatomy))
    young_tissue_sum = spatial_sum(at_young["gm+wm"], float64=True)

    xp = namespace(warped["gm"])
    before = {"csf": warped["csf"], "gm": warped["gm"], "wm": warped["wm"], "lesion": xp.zeros_like(warped["gm"])}
    tissue = {name: fraction.clone() if xp is torch else fraction.copy() for name, fraction in before.items()}
    _thin_tissue(tissue, (1.0 - warp.atrophy) * young_tissue_sum, anatomy.spacing_mm)
    return warped, before, tissue


def _anatomy_arrays(anatomy: Anatomy, *, like) -> dict:
    """The template images the warp reads, as numpy arrays, or as tensors on the device of ``like`` (cached)."""
    if isinstance(like, torch.Tensor):
        return _anatomy_tensors(anatomy.spacing_mm, str(like.device))
    return {"t1": anatomy.t1, "gm": anatomy.gm, "wm": anatomy.wm, "csf": anatomy.csf,
            "gm+wm": anatomy.gm + anatomy.wm, "pull": _ventricle_pull(anatomy.spacing_mm)}


@functools.lru_cache(maxsize=4)
def _anatomy_tensors(spacing_mm: float, device: str) -> dict:
    arrays = _anatomy_arrays(load_anatomy(spacing_mm), like=None)
    return {name: torch.from_numpy(np.array(array)).to(device) for name, array in arrays.items()}


def _template_positions(anatomy: Anatomy, matrix, displacement):
    """Template world position (mm) of every subject voxel: scale and rotate about the brain centre (``matrix``),
    then add a smooth displacement. Returns [3, X, Y, Z] float32 ([B, 3, X, Y, Z] for a batch)."""
    centre = anatomy.brain_centre_mm
    open_grid = [_like(g, matrix) for g in np.ix_(*anatomy.axes_from_centre_mm())]  # [X,1,1], [1,Y,1], [1,1,Z]
    axes = []
    for axis in range(3):
        linear = sum(_per_item(matrix[..., axis, k]) * open_grid[k] for k in range(3))
        axes.append(float(centre[axis]) + linear + anatomy.smooth_field(displacement[..., axis, :, :, :]))
    return as_float32(_stack_axes(axes))


def _widen_ventricles(positions, shift_mm, pull: list):
    """Move sampling positions [..., 3, X, Y, Z] towards the lateral ventricles by up to ``shift_mm``, which widens
    them.

    ``pull`` holds the three components of `_ventricle_pull` read at the positions: the gradient of the smoothed
    ventricle map, scaled to 1 at its maximum, largest at the ventricle walls and fading over about
    `VENTRICLE_PULL_FWHM_MM`.
    """
    moves = bool((shift_mm > 0).any()) if isinstance(shift_mm, torch.Tensor) else shift_mm > 0
    if not moves:
        return positions
    return _stack_axes([positions[..., axis, :, :, :] + shift_mm * pull[axis] for axis in range(3)])


@functools.lru_cache(maxsize=4)
def _ventricle_pull(spacing_mm: float) -> np.ndarray:
    """Unit-maximum gradient of the smoothed lateral-ventricle map, [3, X, Y, Z] float32 (cached per grid)."""
    anatomy = load_anatomy(spacing_mm)
    smooth = ndimage.gaussian_filter(anatomy.ventricles, VENTRICLE_PULL_FWHM_MM * FWHM_TO_SIGMA / spacing_mm)
    gradient = np.stack(np.gradient(smooth, spacing_mm))
    pull = (gradient / np.linalg.norm(gradient, axis=0).max()).astype(np.float32)
    pull.setflags(write=False)
    return pull


def _voxel_index(positions_mm, anatomy: Anatomy):
    """Template voxel index (fractional) of world positions [..., 3, X, Y, Z] on the axis-aligned anatomy grid."""
    origin = _like(anatomy.affine[:3, 3].astype(np.float32)[:, None, None, None], positions_mm)
    return (positions_mm - origin) / np.float32(anatomy.spacing_mm)


def _like(array: np.ndarray, reference):
    """``array`` as a tensor on the device of ``reference`` when that is a tensor; else ``array`` itself."""
    return torch.from_numpy(np.asarray(array)).to(reference.device) if isinstance(reference, torch.Tensor) else array


def _per_item(value):
    """A number per item [B] as [B, 1, 1, 1], to broadcast against images [B, X, Y, Z]; numbers stay numbers."""
    return value.reshape(-1, 1, 1, 1) if isinstance(value, torch.Tensor) else value


def _stack_axes(arrays: list):
    """Three images [..., X, Y, Z] stacked into [..., 3, X, Y, Z]."""
    return torch.stack(arrays, dim=-4) if isinstance(arrays[0], torch.Tensor) else np.stack(arrays)


# ----------------------------------------------------------------------------------------------------------------
# Ageing and lesions: fractions move between tissues, always summing to the same total.


def _thin_tissue(tissue: dict, target_tissue_sum, spacing_mm: float) -> None:
    """Turn GM and WM that borders CSF (or the outside) into CSF until GM + WM sums to ``target_tissue_sum``.

    Each voxel loses the same share of its GM and WM, in proportion to how much non-tissue lies within about
    `ATROPHY_REACH_FWHM_MM`: cortex thins and sulci and ventricles widen, deep white matter is spared. For a batch
    (tensors [B, X, Y, Z]) ``target_tissue_sum`` holds one sum per item ([B, 1, 1, 1]).
    """
    tissue_now = tissue["gm"] + tissue["wm"]
    excess = spatial_sum(tissue_now, float64=True) - target_tissue_sum
    batched = isinstance(excess, torch.Tensor)
    if not (bool((excess > 0).any()) if batched else excess > 0):  # the widened ventricles took all the volume
        return
    exposure = gaussian_filter(1.0 - tissue_now, ATROPHY_REACH_FWHM_MM * FWHM_TO_SIGMA / spacing_mm)
    share = excess / spatial_sum(exposure * tissue_now, float64=True)
    if batched:
        lost_fraction = torch.clamp(torch.where(excess > 0, share, 0.0).float() * exposure, max=1.0)
    else:
        lost_fraction = np.minimum(np.float32(share) * exposure, 1.0)
    for name in ("gm", "wm"):
        lost = tissue[name] * lost_fraction
        tissue[name] -= lost
        tissue["csf"] += lost


def _add_lesions(tissue: dict, rng: np.random.Generator, anatomy: Anatomy) -> tuple[str, int]:
    """Put WMH-like ellipsoids in deep white matter, or one stroke-like ellipsoid in the lateral cortex.

    A lesion replaces the GM and WM inside it (never CSF): each ellipsoid takes its partial-volume share of
    them. Returns (kind, number of lesions).
    """
    kind = str(rng.choice(LESION_KINDS, p=LESION_KIND_PROBABILITY))
    if kind == "wmh":
        candidates = np.flatnonzero(tissue["wm"] > 0.9)
    else:
        lateral_mm = np.abs(anatomy.axes_from_centre_mm()[0])[:, None, None]
        candidates = np.flatnonzero((tissue["gm"] > 0.5) & (lateral_mm > STROKE_MIN_LATERAL_MM))
    if candidates.size == 0:  # only on grids too coarse to hold any pure white matter
        return "none", 0
    low, high = LESION_COUNT[kind]
    count = int(rng.integers(low, high + 1))
    for _ in range(count):
        centre = np.unravel_index(rng.choice(candidates), anatomy.shape)
        radii_mm = rng.uniform(*LESION_RADIUS_MM[kind], size=3)
        axes = Rotation.from_euler("xyz", rng.uniform(0.0, 180.0, 3), degrees=True).as_matrix()
        box, fraction = _ellipsoid(centre, radii_mm, axes, anatomy)
        replaced = fraction * (tissue["gm"][box] + tissue["wm"][box])
        tissue["gm"][box] *= 1.0 - fraction
        tissue["wm"][box] *= 1.0 - fraction
        tissue["lesion"][box] += replaced
    return kind, count


def _ellipsoid(centre, radii_mm, axes, anatomy: Anatomy) -> tuple[tuple[slice, ...], np.ndarray]:
    """Partial-volume fraction of an ellipsoid in a box around it: (box slices, [x, y, z] float32).

    The fraction falls from 1 to 0 across one voxel at the surface (signed distance approximated by the
    normalised radius times the mean radius).
    """
    spacing_mm = anatomy.spacing_mm
    half = int(np.ceil(radii_mm.max() / spacing_mm)) + 1
    box = tuple(slice(max(c - half, 0), min(c + half + 1, n)) for c, n in zip(centre, anatomy.shape))
    offsets = [(np.arange(s.start, s.stop) - c) * spacing_mm for s, c in zip(box, centre)]
    grid = np.stack(np.meshgrid(*offsets, indexing="ij"), axis=-1)  # [x, y, z, 3] mm from the centre
    along_axes = grid @ axes  # coordinates along the ellipsoid's own axes
    radius = np.sqrt(np.sum((along_axes / radii_mm) ** 2, axis=-1))  # 1 on the surface
    distance_mm = (radius - 1.0) * radii_mm.mean()
    return box, np.clip(0.5 - distance_mm / spacing_mm, 0.0, 1.0).astype(np.float32)


def _labels(tissue: dict) -> np.ndarray:
    """Label of the largest fraction (1 CSF, 2 GM, 3 WM, 4 lesion) where the fractions sum to >= 0.5, else 0."""
    fractions = np.stack([tissue[name] for name in TISSUES])
    largest = (fractions.argmax(axis=0) + 1).astype(np.uint8)
    return np.where(fractions.sum(axis=0) >= 0.5, largest, np.uint8(0))


# ----------------------------------------------------------------------------------------------------------------
# Images: anatomy in template T1 units, then what the site's scanner makes of it.


def _anatomical_t1(t1: np.ndarray, before: dict, after: dict, intensity: dict, lesion_kind: str) -> np.ndarray:
    """The deformed template T1, shifted by each tissue-fraction change times that tissue's T1 intensity."""
    intensity = dict(intensity)
    if lesion_kind != "none":
        contrast = LESION_T1_CONTRAST[lesion_kind]
        intensity["lesion"] = intensity["csf"] + contrast * (intensity["wm"] - intensity["csf"])
    change = sum(np.float32(intensity[name]) * (after[name] - before[name])
                 for name in TISSUES if name in intensity)
    return np.maximum(t1 + change, 0.0)


# ----------------------------------------------------------------------------------------------------------------
# Argument checks.


def _check_subject_args(seed, lesion_prob, age_range) -> None:
    if int(seed) != seed or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    if not 0.0 <= lesion_prob <= 1.0:
        raise InputError(f"lesion_prob must lie in [0, 1]; got {lesion_prob!r}")
    if len(age_range) != 2 or not 0.0 <= age_range[0] <= age_range[1]:
        raise InputError(f"age_range must be (youngest, oldest) with 0 <= youngest <= oldest; got {age_range!r}")
