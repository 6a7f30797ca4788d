"""ASL studies ("sites") that differ the way real multi-study ASL data do.

Each site is one study on one scanner with one protocol. What changes between them, and why it matters:

- **labelling**: pCASL (white-paper recommended) or PASL (older studies, QUIPSS II), with its timing: PLD and
  labelling duration tau (pCASL) or TI and bolus duration TI1 (PASL). A short PLD leaves label in the arteries of
  regions with a long transit time (the transit artefact).
- **labelling efficiency**: the efficiency actually achieved (off-resonance, vessel geometry, velocity) differs
  from the white-paper alpha assumed in quantification, so every map of a site is scaled by their ratio.
- **field strength**: blood T1 (1.35 s at 1.5 T, 1.65 s at 3 T) and a lower SNR at 1.5 T.
- **readout**: 2D multi-slice EPI (slices acquired one after another, so the delay grows with the slice, and
  sharp through-plane) or 3D GRASE / stack of spirals (one delay, higher SNR, blurred through-plane by T2 decay).
- **resolution**: acquired in-plane voxel 3 to 4.5 mm, slices 4 to 6 mm.
- **noise** and **number of averages**; **background suppression** (BS) nulls the static tissue signal and with it
  most physiological noise and motion subtraction errors.
- **M0**: repetition time of the M0 scan (a short TR needs :func:`~brainfm_lite.physics.asl.m0_correction`,
  which assumes grey-matter T1 and so mis-corrects white matter), a receiver-gain mismatch between the ASL and M0
  series that scales CBF globally, and whether M0 divides voxel by voxel or as one reference value (the white paper
  allows both): a single value leaves the head coil's sensitivity profile in the CBF map.
- **head coil**: receive sensitivity is higher near the coil elements, at the periphery of the brain and at the
  back of the head where it rests; how much depends on the coil (8 or 32 channels).
- **population**: each study recruits its own mix of patients (a memory clinic, a stroke unit, a population study),
  so the prevalence of each diagnosis and the amount of motion differ by site.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.physics.asl import T1_BLOOD
from brainfm_lite.sim.streams import Stream, stream_rng

DIAGNOSES = ("alzheimers", "vascular", "ftd")

@dataclass(frozen=True)
class AslSite:
    """One ASL study: scanner, protocol, quantification choices and population.

    Attributes:
        index: site number (0-based).
        labelling: "pcasl" or "pasl".
        field_t: field strength, T (1.5 or 3.0).
        pld: pCASL post-labelling delay, s (first slice for a 2D readout).
        tau: pCASL labelling duration, s.
        ti: PASL inversion time, s (first slice for a 2D readout).
        ti1: PASL bolus duration (QUIPSS II saturation time), s.
        alpha_achieved: labelling efficiency the scanner really achieves.
        alpha_assumed: labelling efficiency used in quantification (white paper: 0.85 pCASL, 0.98 PASL).
        readout: "2d" (multi-slice EPI) or "3d" (GRASE / stack of spirals).
        slice_time: extra delay per 2D slice, s (0 for 3D).
        voxel_mm: acquired in-plane voxel size, mm.
        slice_mm: acquired slice thickness, mm.
        through_plane_blur: PSF width through-plane in slice thicknesses (1 for 2D; 1.4 to 2.2 for 3D).
        noise: thermal noise of one control or label image, as a fraction of grey-matter M0.
        n_averages: control-label pairs averaged.
        background_suppression: whether the static tissue signal is nulled.
        m0_tr: repetition time of the M0 scan, s.
        gain_ratio: receiver gain of the ASL series over that of the M0 scan (1 = matched); scales CBF.
        m0_mode: "voxelwise" (divide by the M0 image) or "reference" (divide by its median in the brain).
        coil_periphery: log receive sensitivity gained from the brain centre to its edge (0 = uniform).
        coil_posterior: log receive sensitivity gained from the middle to the back of the head.
        prevalence: diagnosis -> fraction of this study's subjects with it.
        motion_scale: mean head motion of this study's subjects, mm (frail patients move more).
        weight: share of the cohort's subjects scanned here (the weights of all sites sum to 1).
    """

    index: int
    labelling: str
    field_t: float
    pld: float
    tau: float
    ti: float
    ti1: float
    alpha_achieved: float
    alpha_assumed: float
    readout: str
    slice_time: float
    voxel_mm: float
    slice_mm: float
    through_plane_blur: float
    noise: float
    n_averages: int
    background_suppression: bool
    m0_tr: float
    gain_ratio: float
    m0_mode: str = "voxelwise"
    coil_periphery: float = 0.0
    coil_posterior: float = 0.0
    prevalence: dict = field(default_factory=dict)
    motion_scale: float = 0.3
    weight: float = 1.0

    @property
    def name(self) -> str:
        return f"site{self.index:02d}"

    @property
    def t1_blood(self) -> float:
        """Blood T1 (s) at this site's field strength; quantification uses the same value."""
        return T1_BLOOD[self.field_t]

    @property
    def static_fraction(self) -> float:
        """Static tissue signal left in each control/label image, as a fraction of M0 (BS nulls most of it)."""
        return 0.07 if self.background_suppression else 0.85

    def describe(self) -> str:
        """One line for tables: labelling, timing, readout, resolution, averages, BS."""
        timing = f"PLD {self.pld:.2f} s, tau {self.tau:.2f} s" if self.labelling == "pcasl" else \
            f"TI {self.ti:.2f} s, TI1 {self.ti1:.2f} s"
        return (f"{self.name}: {self.labelling} {self.field_t:g} T, {timing}, {self.readout.upper()} "
                f"{self.voxel_mm:.1f}x{self.voxel_mm:.1f}x{self.slice_mm:.1f} mm, {self.n_averages} averages, "
                f"BS {'on' if self.background_suppression else 'off'}, M0 {self.m0_mode}")


def make_asl_sites(n_sites: int, seed: int = 0) -> list[AslSite]:
    """Draw ``n_sites`` ASL studies; site k depends only on (seed, k), so adding sites keeps the first ones.

    The site weights (share of subjects) are normalised over the ``n_sites`` drawn.
    """
    if n_sites < 1:
        raise InputError(f"n_sites must be at least 1; got {n_sites}")
    sites = [_random_asl_site(k, seed) for k in range(n_sites)]
    total = sum(site.weight for site in sites)
    return [replace(site, weight=site.weight / total) for site in sites]


def _random_asl_site(k: int, seed: int) -> AslSite:
    rng = stream_rng(seed, Stream.ASL_SITE, k)
    # Two pCASL studies for one PASL study, in a fixed cycle so that even three sites mix both kinds.
    labelling = "pasl" if k % 3 == 2 else "pcasl"
    field_t = 1.5 if k % 4 == 3 else 3.0  # one study in four at 1.5 T, the rest at 3 T
    readout = "3d" if rng.random() < (0.5 if labelling == "pcasl" else 0.25) else "2d"
    if labelling == "pcasl":
        alpha_assumed, alpha_achieved = 0.85, rng.uniform(0.6, 0.92)
    else:
        alpha_assumed, alpha_achieved = 0.98, rng.uniform(0.85, 0.98)
    slice_mm = float(rng.uniform(4.0, 6.0))
    return AslSite(
        index=k,
        labelling=labelling,
        field_t=field_t,
        pld=float(np.round(rng.uniform(1.5, 2.0), 3)),
        tau=float(np.round(rng.uniform(1.45, 1.8), 3)),
        ti=float(np.round(rng.uniform(1.6, 2.0), 3)),
        ti1=float(np.round(rng.uniform(0.7, 0.8), 3)),
        alpha_achieved=float(alpha_achieved),
        alpha_assumed=alpha_assumed,
        readout=readout,
        # A 2D readout covers the brain (about 130 mm) in 0.5 to 0.8 s, slice after slice.
        slice_time=float(rng.uniform(0.5, 0.8) * slice_mm / 130.0) if readout == "2d" else 0.0,
        voxel_mm=float(rng.uniform(3.0, 4.5)),
        slice_mm=slice_mm,
        through_plane_blur=1.0 if readout == "2d" else float(rng.uniform(1.4, 2.2)),
        # 3D readouts have about twice the SNR of 2D EPI; 1.5 T about 0.7 times that of 3 T.
        noise=float(rng.uniform(0.002, 0.005) * (0.5 if readout == "3d" else 1.0) * (1.4 if field_t == 1.5 else 1.0)),
        n_averages=int(rng.choice([10, 15, 20, 30, 40, 50]) if readout == "2d" else rng.choice([4, 6, 8, 10])),
        background_suppression=bool(readout == "3d" or rng.random() < 0.5),
        m0_tr=float(rng.choice([2.0, 4.0, 5.0, 6.0, 8.0, 10.0])),
        gain_ratio=float(1.0 if rng.random() < 0.5 else rng.uniform(0.7, 1.4)),
        prevalence={"alzheimers": float(rng.beta(1.0, 2.2)), "vascular": float(rng.beta(0.9, 2.6)),
                    "ftd": float(rng.beta(0.9, 2.6))},
        motion_scale=float(rng.uniform(0.15, 0.6)),
        weight=float(rng.uniform(0.4, 1.6)),
        m0_mode="reference" if rng.random() < 0.35 else "voxelwise",
        coil_periphery=float(rng.uniform(0.0, 0.35)),
        coil_posterior=float(rng.uniform(-0.1, 0.25)),
    )


def white_paper_site(*, noise: float = 0.0, index: int = 0) -> AslSite:
    """The white paper's recommended protocol with nothing going wrong: the clean scan to add problems to.

    pCASL at 3 T, PLD 1.8 s, tau 1.8 s, the assumed efficiency (0.85) achieved, a 3D readout at 3 mm isotropic,
    background suppression, a fully relaxed M0 (TR 10 s) divided voxel by voxel, matched gains, a uniform coil;
    thermal ``noise`` (fraction of grey-matter M0 per image) 0 by default.
    """
    return AslSite(index=index, labelling="pcasl", field_t=3.0, pld=1.8, tau=1.8, ti=1.8, ti1=0.8,
                   alpha_achieved=0.85, alpha_assumed=0.85, readout="3d", slice_time=0.0, voxel_mm=3.0,
                   slice_mm=3.0, through_plane_blur=1.0, noise=noise, n_averages=10, background_suppression=True,
                   m0_tr=10.0, gain_ratio=1.0, prevalence={name: 0.0 for name in DIAGNOSES}, motion_scale=0.0)
