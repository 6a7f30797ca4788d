"""The synthetic multi-site ASL cohort: CBF maps made the way real ones are, with diagnoses and known artefacts.

Subject k is subject k of the structural cohort (:func:`brainfm_lite.sim.cohort.make_cohort` with the same seed:
tissue fractions, age, sex), now given a true perfusion
(:mod:`brainfm_lite.sim.asl.perfusion`), possibly one or more diagnoses, and is scanned at one of the studies of
:mod:`brainfm_lite.sim.asl.sites`, artefacts included (:mod:`brainfm_lite.sim.asl.acquisition`). The map a
model sees is the quantified CBF; the truth behind it stays with the subject.

    >>> cohort = make_asl_cohort(200, n_sites=4, seed=0)       # nothing simulated yet
    >>> subject = cohort[3]                                     # simulated now, the same every time
    >>> subject.labels, subject.artifacts["motion"], subject.quality["qei"]

Subject k depends only on (seed, k, n_sites, spacing_mm), never on how many subjects the cohort has, so a small
cohort is the start of a large one. Subjects are simulated on demand (a full-scale cohort does not fit in memory);
:meth:`AslCohort.records` runs through all of them, in parallel if asked, and keeps what a table needs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.parallel import run_in_processes
from brainfm_lite.physics.asl import qei
from brainfm_lite.preprocess.regions import region_masks, regional_means
from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.asl.acquisition import (
    ArtifactDraw,
    ScanNoise,
    acquire,
    acquire_from_noise,
    draw_artifacts,
    draw_scan_noise,
)
from brainfm_lite.sim.asl.perfusion import (
    PerfusionDraw,
    apply_diagnosis_draw,
    draw_diagnosis,
    draw_perfusion,
    perfusion_from_draw,
    perfusion_grid,
)
from brainfm_lite.sim.asl.sites import DIAGNOSES, AslSite, make_asl_sites
from brainfm_lite.sim.cohort import make_sites, make_subject
from brainfm_lite.sim.streams import Stream, stream_rng

_T1W_SITE = make_sites(1)[0]  # make_subject needs a T1w site; the anatomy does not depend on it


@dataclass
class AslSubject:
    """One simulated ASL scan with its truth.

    Attributes:
        index: subject number in the cohort.
        site: site number (``cohort.sites[site]`` describes the study).
        age: years.
        sex: "F" or "M".
        labels: diagnosis -> 0/1 ("alzheimers", "vascular", "ftd").
        severity: diagnosis -> severity in [0, 1] (0 when absent).
        effects: diagnosis -> where its effect went (e.g. ``{"side": "l", "kind": "infarct"}``).
        tissue: "gm", "wm", "csf" fraction arrays [X, Y, Z] of this subject.
        true_cbf: true CBF, mL/100 g/min.
        att: true arterial transit time (from a pCASL labelling plane), s.
        delta_m: mean control - label difference as acquired, scanner units.
        m0: M0 image as acquired (before short-TR correction).
        cbf: quantified CBF, mL/100 g/min: what a model is given.
        artifacts: known amount of each artefact: "motion" (mm), "labelling_failure" (fraction of efficiency lost),
            "noise" (noise SD over true mean grey-matter CBF), "transit" (fraction of label not yet in tissue).
        quality: {"qei": QEI of ``cbf``}.
    """

    index: int
    site: int
    age: float
    sex: str
    labels: dict
    severity: dict
    effects: dict
    tissue: dict
    true_cbf: Volume
    att: Volume
    delta_m: Volume
    m0: Volume
    cbf: Volume
    artifacts: dict
    quality: dict


@dataclass
class AslCohort:
    """A deterministic, lazily simulated ASL cohort (see the module docstring).

    Attributes:
        n: number of subjects.
        seed: random seed.
        spacing_mm: grid spacing, mm.
        sites: the studies (``make_asl_sites(n_sites, seed)``).
        prevalence_scale: multiplies every site's prevalence of every diagnosis.
    """

    n: int
    seed: int
    spacing_mm: float
    sites: list[AslSite]
    prevalence_scale: float = 1.0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> AslSubject:
        if not -self.n <= index < self.n:
            raise IndexError(f"subject {index} out of range for a cohort of {self.n}")
        return simulate_subject(index % self.n, self)

    def __iter__(self):
        return (self[k] for k in range(self.n))

    def site_of(self, index: int) -> int:
        """Site of subject ``index`` without simulating it."""
        return _pick_site_index(stream_rng(self.seed, Stream.ASL_SUBJECT, index), self.sites)

    def records(self, *, n_jobs: int = 1) -> list[dict]:
        """Per-subject summary (no images): site, age, sex, labels, severity, artifacts, quality, regional CBF.

        ``regional_cbf`` holds the grey-matter-weighted mean of the quantified CBF over every region of the
        lobes and territories parcellations (:mod:`brainfm_lite.preprocess.regions`) on the template: what an
        atlas-based analysis of MNI-registered maps measures. ``n_jobs`` > 1 simulates in worker processes
        (-1: one per CPU core); the result is the same.
        """
        return run_in_processes(functools.partial(_record_of, self), range(self.n), n_jobs=n_jobs)


def make_asl_cohort(n: int, n_sites: int, *, seed: int = 0, spacing_mm: float = 4.0,
                    prevalence_scale: float = 1.0) -> AslCohort:
    """A cohort of ``n`` ASL subjects from ``n_sites`` studies (simulated when accessed).

    Args:
        n (int): Number of subjects.
        n_sites (int): Number of studies; subjects are spread over them by the sites' weights.
        seed (int): Same seed, same cohort.
        spacing_mm (float): Grid spacing, a whole number of mm (4 for the smoke profile, 2 for colab and full).
        prevalence_scale (float): Multiplies every site's prevalence of every diagnosis (1 = as drawn; each stays below
            0.95).
    """
    if n < 1:
        raise InputError(f"n must be at least 1; got {n}")
    if prevalence_scale < 0:
        raise InputError(f"prevalence_scale must be >= 0; got {prevalence_scale}")
    load_anatomy(spacing_mm)  # fails now, not at the first subject, when the spacing is not a whole number of mm
    return AslCohort(n, seed, float(spacing_mm), make_asl_sites(n_sites, seed), prevalence_scale)


def simulate_subject(index: int, cohort: AslCohort) -> AslSubject:
    """Simulate subject ``index`` of ``cohort`` from its own random stream (see :class:`AslSubject`).

    :func:`brainfm_lite.sim.asl.batched.simulate_asl_batch` simulates many subjects at once on a torch device, from
    the same draws and with the same code.
    """
    rng = stream_rng(cohort.seed, Stream.ASL_SUBJECT, index)
    site = cohort.sites[_pick_site_index(rng, cohort.sites)]
    person = _structural_subject(index, cohort.seed, cohort.spacing_mm)
    tissue = {name: person.tissue[name] for name in ("gm", "wm", "csf")}
    grid = perfusion_grid(tissue["gm"].shape, person.affine)
    draw = draw_scan(rng, site, grid, age=person.age, sex=person.sex, prevalence_scale=cohort.prevalence_scale,
                     gm=tissue["gm"])

    true_cbf, att = perfusion_from_draw(tissue["gm"], tissue["wm"], grid, age=person.age, draw=draw.perfusion)
    for diagnosis in draw.diagnoses.values():
        apply_diagnosis_draw(diagnosis, true_cbf, att, grid)
    scan = acquire_from_noise(true_cbf, att, tissue, site, draw.artifacts, grid, draw.noise)
    quality = {"qei": qei(scan.cbf, tissue["gm"], tissue["wm"], tissue["csf"], voxel_size_mm=(cohort.spacing_mm,) * 3)}
    return asl_subject(index, site, person.age, person.sex, person.affine, tissue, draw, true_cbf, att, scan, quality)


@dataclass(frozen=True)
class ScanDraw:
    """Every random draw of one ASL subject after its site, in the order `simulate_subject` makes them.

    Attributes:
        labels: diagnosis -> 0/1.
        severity: diagnosis -> severity in [0, 1] (0 when absent).
        perfusion: the healthy perfusion's draws.
        diagnoses: diagnosis -> its draws, for the diagnoses the subject has (in `DIAGNOSES` order).
        artifacts: the scan's artefacts.
        noise: the scan's random parts.
    """

    labels: dict
    severity: dict
    perfusion: PerfusionDraw
    diagnoses: dict
    artifacts: ArtifactDraw
    noise: ScanNoise


def draw_scan(rng: np.random.Generator, site: AslSite, grid, *, age: float, sex: str, prevalence_scale: float,
              gm) -> ScanDraw:
    """Draw a subject's diagnoses, perfusion, artefacts and scan noise from its stream, after its site.

    ``gm`` (numpy [X, Y, Z], the subject's grey matter) places an infarct's core.
    """
    labels, severity = _draw_diagnoses(rng, site, age, prevalence_scale)
    perfusion = draw_perfusion(rng, grid, sex=sex)
    diagnoses = {name: draw_diagnosis(name, severity[name], rng, grid, gm=gm) for name in DIAGNOSES if labels[name]}
    artifacts = draw_artifacts(site, rng, patient=any(labels.values()))
    return ScanDraw(labels, severity, perfusion, diagnoses, artifacts, draw_scan_noise(rng, grid))


def asl_subject(index: int, site: AslSite, age: float, sex: str, affine, tissue: dict, draw: ScanDraw, true_cbf, att,
                scan, quality: dict) -> AslSubject:
    """An :class:`AslSubject` of one subject's numpy results."""

    def volume(data, **meta):
        return Volume(data, affine, meta={"subject": index, "site": site.index, **meta})

    return AslSubject(
        index=index, site=site.index, age=float(age), sex=sex, labels=draw.labels, severity=draw.severity,
        effects={name: diagnosis.effects() for name, diagnosis in draw.diagnoses.items()},
        tissue=tissue, true_cbf=volume(true_cbf, kind="true CBF", unit="mL/100 g/min"),
        att=volume(att, kind="ATT", unit="s"), delta_m=volume(scan.delta_m, kind="delta M"),
        m0=volume(scan.m0, kind="M0"), cbf=volume(scan.cbf, kind="CBF", unit="mL/100 g/min"),
        artifacts=scan.amounts.to_dict(), quality=quality,
    )


def rescan(subject: AslSubject, site: AslSite, artifacts: ArtifactDraw, *, seed: int = 0) -> AslSubject:
    """The same person (anatomy, true CBF and ATT, diagnoses) scanned again at ``site`` with ``artifacts``.

    Use it to add one problem at a time to a clean scan (e.g. ``white_paper_site()`` with no artefacts), or to see
    one person through every site's protocol. ``seed`` sets the noise and the other random parts of the scan.
    """
    tissue = subject.tissue
    grid = perfusion_grid(tissue["gm"].shape, subject.cbf.affine)
    rng = stream_rng(seed, Stream.ASL_RESCAN, subject.index)
    scan = acquire(subject.true_cbf.data, subject.att.data, tissue, site, artifacts, grid, rng)
    quality = {"qei": qei(scan.cbf, tissue["gm"], tissue["wm"], tissue["csf"], voxel_size_mm=subject.cbf.spacing_mm)}
    return replace(
        subject, site=site.index, artifacts=scan.amounts.to_dict(), quality=quality,
        delta_m=subject.delta_m.with_data(scan.delta_m, site=site.index),
        m0=subject.m0.with_data(scan.m0, site=site.index), cbf=subject.cbf.with_data(scan.cbf, site=site.index),
    )


def subject_record(subject: AslSubject) -> dict:
    """The JSON-able summary of a subject that :meth:`AslCohort.records` keeps."""
    masks, weights = _feature_regions(subject.cbf.shape, subject.cbf.affine.tobytes())
    return {
        "index": subject.index, "site": subject.site, "age": subject.age, "sex": subject.sex,
        "labels": dict(subject.labels), "severity": dict(subject.severity),
        "artifacts": dict(subject.artifacts), "quality": dict(subject.quality),
        "regional_cbf": regional_means(subject.cbf.data, masks, weights=weights),
    }


def _structural_subject(index: int, seed: int, spacing_mm: float):
    """Subject ``index`` of the structural cohort with the same seed: the same person, here scanned with ASL.

    Structural lesions are left out (``lesion_prob=0``): the only infarcts in the ASL cohort are those of its
    vascular diagnosis, so that the labels stay true. The T1w site does not change the anatomy.
    """
    return make_subject(index, _T1W_SITE, seed=seed, spacing_mm=spacing_mm, lesion_prob=0.0)


def _record_of(cohort: AslCohort, index: int) -> dict:
    return subject_record(cohort[index])


@functools.lru_cache(maxsize=2)
def _feature_regions(shape, affine_bytes):
    """Regions of both parcellations inside the template brain, weighted by the template's grey matter."""
    affine = np.frombuffer(affine_bytes).reshape(4, 4)
    template = load_anatomy(float(np.linalg.norm(affine[:3, 0])))
    if template.shape != tuple(shape) or not np.allclose(template.affine, affine):
        raise InputError(f"CBF maps on grid {tuple(shape)} do not lie on the template grid {template.shape}")
    brain = (template.gm + template.wm + template.csf) > 0.5
    masks = {**region_masks(shape, affine, parcellation="lobes", within=brain),
             **region_masks(shape, affine, parcellation="territories", within=brain)}
    return masks, template.gm


def _pick_site_index(rng: np.random.Generator, sites: list[AslSite]) -> int:
    return int(rng.choice(len(sites), p=[s.weight for s in sites]))


def _draw_diagnoses(rng, site: AslSite, age: float, scale: float) -> tuple[dict, dict]:
    """Labels and severities: each diagnosis independently, more likely at the ages it strikes."""
    age_weight = {
        "alzheimers": 2.0 / (1.0 + np.exp(-(age - 68.0) / 6.0)),  # rare before 60, common after 75
        "vascular": 2.0 / (1.0 + np.exp(-(age - 60.0) / 10.0)),
        "ftd": 1.0 if 45.0 <= age <= 80.0 else 0.3,                # onset typically 45 to 65
    }
    labels, severity = {}, {}
    for name in DIAGNOSES:
        probability = min(0.95, scale * site.prevalence[name] * age_weight[name])
        labels[name] = int(rng.random() < probability)
        severity[name] = float(rng.uniform(0.2, 1.0)) if labels[name] else 0.0
    return labels, severity

