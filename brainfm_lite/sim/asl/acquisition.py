"""From true perfusion to a quantified CBF map: the ASL acquisition of one site, its artefacts, and quantification.

The path a real map takes, step by step (all on the cohort grid):

1. **M0**: proton density (grey matter 0.82, white matter 0.70, CSF 1.0) times the head coil's receive
   sensitivity (the site's profile); the M0 scan recovers only ``1 - exp(-TR/T1)`` of it when its TR is short.
2. **label**: the kinetic model (:func:`~brainfm_lite.physics.asl.asl_signal_pcasl` or ``asl_signal_pasl``) with
   the efficiency the scanner achieves, lowered where labelling failed; 2D readouts read later slices later.
3. **transit artefact**: where the transit time exceeds the delay, tissue gets less label and the label still in
   the arteries shows as bright spots along the vessels on the cortical surface.
4. **motion**: after realignment a small shift between control and label remains and leaves a subtraction error
   at edges (the static tissue signal is a hundred times the perfusion signal, less with background suppression);
   the M0 scan is misregistered too; and motion blurs the perfusion signal.
5. **noise**: physiological (fluctuations of the static signal, smooth in space) and thermal (white at the acquired
   resolution), both averaged over the control-label pairs.
6. **resolution**: the acquired point spread function (in-plane voxel size, slice thickness, 3D through-plane
   blurring), applied to the signal and to M0.
7. **quantification**: white-paper equation with the site's *assumed* efficiency and blood T1, and the M0
   correction assuming grey-matter T1, inside the brain; M0 voxel by voxel (the coil profile cancels) or as one
   reference value (it stays).

The amount of each artefact is known and returned (:class:`ArtifactAmounts`). A scan's random parts are drawn first
(`draw_scan_noise`, numpy, from the subject's stream); `acquire_from_noise` then computes the scan from them, on one
numpy subject or on a torch batch of subjects of one site (:mod:`brainfm_lite.sim.asl.batched`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from brainfm_lite.physics._backend import (
    as_float32,
    clip,
    maximum,
    namespace,
    per_item,
    spatial_std,
    spatial_sum,
    to_float,
)
from brainfm_lite.physics._ndimage import shift_linear
from brainfm_lite.physics.asl import asl_signal_pasl, asl_signal_pcasl, cbf_pasl, cbf_pcasl, m0_correction
from brainfm_lite.sim.asl.perfusion import PerfusionGrid, grid_weight
from brainfm_lite.sim.asl.sites import AslSite
from brainfm_lite.sim.random_fields import field_noise, gaussian_blur_mm, smooth_field_from_noise

M0_SCALE = 1000.0               # arbitrary scanner units of a fully relaxed voxel of water
PROTON_DENSITY = {"gm": 0.82, "wm": 0.70, "csf": 1.0}
T1_TISSUE = {1.5: {"gm": 1.35, "wm": 0.75, "csf": 4.0}, 3.0: {"gm": 1.607, "wm": 0.85, "csf": 4.0}}
PHYSIOLOGICAL_NOISE = 0.005     # fluctuation of the static signal between pairs, fraction
PASL_ATT_SHORTENING = 0.35      # s: a PASL labelling slab sits closer to the brain than a pCASL plane
RESIDUAL_MOTION = 0.15          # fraction of the head motion that realignment leaves between control and label
VESSEL_BRIGHTNESS = 10.0        # intravascular label relative to grey-matter tissue signal
FAILURE_TERRITORIES = ("global", "carotid_l", "carotid_r", "posterior")
VESSEL_DENSITY = 0.08           # fraction of sulcal voxels that hold a cortical artery
COIL_FWHM_MM = 80.0             # how smoothly one head's coil sensitivity differs from the coil's profile
PHYSIOLOGICAL_FWHM_MM = 12.0    # spatial smoothness of physiological noise


@dataclass(frozen=True)
class ArtifactDraw:
    """The artefacts a subject's scan will have (drawn before simulating).

    Attributes:
        motion_mm: root-mean-square head displacement between control/label pairs, mm.
        failure_loss: fraction of labelling efficiency lost where labelling failed (0 = none).
        failure_territory: "none", or where it failed: "global", "carotid_l", "carotid_r", "posterior".
        noise_factor: subject's thermal-noise multiplier (head size, coil loading), around 1.
    """

    motion_mm: float
    failure_loss: float
    failure_territory: str
    noise_factor: float

    float64_fields = ("motion_mm", "noise_factor")  # batched in double: they set blur widths and shifts


@dataclass(frozen=True)
class ArtifactAmounts:
    """Known amount of each artefact in a quantified map (the quality regression's ground truth).

    Attributes:
        motion: RMS head motion during the scan, mm.
        labelling_failure: grey-matter mean fraction of labelling efficiency lost (0..1).
        noise: standard deviation of the noise in the CBF map over the true mean CBF, both in grey matter.
        transit: grey-matter mean fraction of the label that had not reached tissue at readout (0..1).
    """

    motion: float
    labelling_failure: float
    noise: float
    transit: float

    def to_dict(self) -> dict:
        return {"motion": self.motion, "labelling_failure": self.labelling_failure, "noise": self.noise,
                "transit": self.transit}


@dataclass
class Acquisition:
    """What the scanner gives and what quantification makes of it (arrays [X, Y, Z], float32).

    Attributes:
        delta_m: mean control - label difference, scanner units.
        m0: M0 image as acquired (before the short-TR correction).
        cbf: quantified CBF, mL/100 g/min, 0 outside the brain.
        delay: PLD (pCASL) or TI (PASL) of each voxel, s, shape [1, 1, Z] for 2D readouts.
        amounts: known artefact amounts.
    """

    delta_m: np.ndarray
    m0: np.ndarray
    cbf: np.ndarray
    delay: np.ndarray | float
    amounts: ArtifactAmounts


def draw_artifacts(site: AslSite, rng: np.random.Generator, *, patient: bool) -> ArtifactDraw:
    """Draw the artefacts of one scan at ``site``; patients move more than controls."""
    motion = min(rng.exponential(site.motion_scale * (1.5 if patient else 1.0)), 4.0)
    failure_rate = 0.12 if site.labelling == "pcasl" else 0.04  # pCASL is sensitive to off-resonance
    if rng.random() < failure_rate:
        territory = str(rng.choice(FAILURE_TERRITORIES, p=[0.4, 0.2, 0.2, 0.2]))
        loss = float(rng.uniform(0.2, 0.8))
    else:
        territory, loss = "none", 0.0
    return ArtifactDraw(float(motion), loss, territory, float(rng.lognormal(0.0, 0.25)))


def acquire(true_cbf, att, tissue: dict, site: AslSite, artifacts: ArtifactDraw, grid: PerfusionGrid,
            rng: np.random.Generator) -> Acquisition:
    """Simulate the ASL and M0 scans of one subject at ``site`` and quantify CBF.

    Args:
        true_cbf (numpy.ndarray [X, Y, Z]): mL/100 g/min.
        att (numpy.ndarray [X, Y, Z]): Arterial transit time from a pCASL labelling plane, s (shortened for PASL here).
        tissue (dict): "gm", "wm", "csf" fractions [X, Y, Z].
        site, artifacts, grid, rng: The study, this scan's artefacts, the grid's regions, the subject's random stream.
    """
    return acquire_from_noise(true_cbf, att, tissue, site, artifacts, grid, draw_scan_noise(rng, grid))


@dataclass(frozen=True)
class ScanNoise:
    """Every random draw of one scan (`draw_scan_noise`), in the order `acquire` makes them.

    Attributes:
        coil_noise: white noise of the head's own coil-sensitivity variation (`random_fields.field_noise`).
        vessel_candidates: bool [X, Y, Z], voxels that hold an artery if they lie in a sulcus.
        motion_direction: [3] unit vector of the control-label misalignment left after realignment.
        physiological_noise: white noise of the physiological fluctuation.
        thermal_noise: float32 [X, Y, Z] standard normal, the thermal noise before the point spread function.
        m0_direction: [3] unit vector of the M0 scan's misalignment.
    """

    coil_noise: np.ndarray
    vessel_candidates: np.ndarray
    motion_direction: np.ndarray
    physiological_noise: np.ndarray
    thermal_noise: np.ndarray
    m0_direction: np.ndarray

    float64_fields = ("coil_noise", "motion_direction", "physiological_noise", "m0_direction")


def draw_scan_noise(rng: np.random.Generator, grid: PerfusionGrid) -> ScanNoise:
    """Draw a scan's random parts from the subject's stream (after `draw_artifacts`)."""
    coil = field_noise(grid.shape, grid.spacing_mm, fwhm_mm=COIL_FWHM_MM, rng=rng)
    vessels = rng.random(grid.shape) < VESSEL_DENSITY
    motion_direction = _unit_vector(rng)
    physiological = field_noise(grid.shape, grid.spacing_mm, fwhm_mm=PHYSIOLOGICAL_FWHM_MM, rng=rng)
    thermal = rng.standard_normal(grid.shape).astype(np.float32)
    return ScanNoise(coil, vessels, motion_direction, physiological, thermal, _unit_vector(rng))


def acquire_from_noise(true_cbf, att, tissue: dict, site: AslSite, artifacts: ArtifactDraw, grid: PerfusionGrid,
                       noise: ScanNoise) -> Acquisition:
    """`acquire` with the scan's random parts drawn already.

    For a batch of subjects scanned at the same ``site``: maps are tensors [B, X, Y, Z], ``artifacts`` and
    ``noise`` are collated (``brainfm_lite.sim.batching.collate``: numbers [B, 1, 1, 1], vectors [B, 1, 1, 3], maps
    [B, X, Y, Z]) and ``grid`` lies on their device (`~brainfm_lite.sim.asl.perfusion.grid_on`); the results are
    then tensors [B, ...] and the amounts one per subject [B, 1, 1, 1].
    """
    xp = namespace(true_cbf)
    gm = tissue["gm"]
    brain = (tissue["gm"] + tissue["wm"] + tissue["csf"]) > 0.5
    m0_true = M0_SCALE * _coil_sensitivity(site, grid, noise.coil_noise) * sum(
        PROTON_DENSITY[t] * tissue[t] for t in PROTON_DENSITY)

    # Label: the kinetic model with the efficiency achieved (less where labelling failed), and late label in vessels.
    delay = _delays(site, brain, grid)
    att_site = clip(xp, att - (PASL_ATT_SHORTENING if site.labelling == "pasl" else 0.0), 0.1, None)
    failure = _failure_map(artifacts, grid)
    alpha = site.alpha_achieved * (1 - failure)
    undelivered = _undelivered_fraction(att_site, site, delay)
    perfusion = (_label_signal(true_cbf, m0_true, att_site, alpha, site, delay)
                 + _intravascular_signal(undelivered, tissue, site, alpha, delay, noise.vessel_candidates))

    # Motion: after realignment, label images still sit a little off the control images; the difference keeps a
    # rim of static signal at edges. Motion during the scan also blurs the perfusion signal.
    static = site.static_fraction * m0_true
    net_shift_mm = RESIDUAL_MOTION * artifacts.motion_mm * noise.motion_direction
    subtraction_error = static - shift_linear(static, net_shift_mm / grid.spacing_mm)
    perfusion = gaussian_blur_mm(perfusion, 0.5 * artifacts.motion_mm, grid.spacing_mm)

    psf = _point_spread_mm(site, grid.spacing_mm)
    physiological = gaussian_blur_mm(
        PHYSIOLOGICAL_NOISE * static / np.sqrt(site.n_averages)
        * smooth_field_from_noise(noise.physiological_noise, grid.shape, grid.spacing_mm,
                                  fwhm_mm=PHYSIOLOGICAL_FWHM_MM), psf, grid.spacing_mm)
    thermal = _thermal_noise(site, artifacts, psf, grid, noise.thermal_noise)
    scan_noise = physiological + thermal
    delta_m = site.gain_ratio * (gaussian_blur_mm(perfusion + subtraction_error, psf, grid.spacing_mm) + scan_noise)

    # M0: a separate scan (aligned less well), recovered by 1 - exp(-TR/T1) of each tissue, at the same resolution.
    m0_shift_mm = 2 * RESIDUAL_MOTION * artifacts.motion_mm * noise.m0_direction
    t1 = clip(xp, sum(T1_TISSUE[site.field_t][t] * tissue[t] for t in PROTON_DENSITY), 0.3, None)
    m0_acquired = shift_linear(m0_true * (1 - xp.exp(-site.m0_tr / t1)), m0_shift_mm / grid.spacing_mm)
    m0 = gaussian_blur_mm(m0_acquired, psf, grid.spacing_mm)

    cbf = quantify(delta_m, m0, site, delay, brain=brain) * brain
    noise_cbf = quantify(site.gain_ratio * scan_noise, m0, site, delay, brain=brain)
    gm_mask = gm > 0.5
    amounts = ArtifactAmounts(
        motion=artifacts.motion_mm,
        labelling_failure=_gm_mean(failure, gm),
        noise=to_float(per_item(noise_cbf, gm_mask, "std") / per_item(true_cbf, gm_mask, "mean")),
        transit=_gm_mean(undelivered, gm),
    )
    return Acquisition(as_float32(delta_m), as_float32(m0), as_float32(cbf), delay, amounts)


def quantify(delta_m, m0, site: AslSite, delay, *, brain):
    """White-paper CBF (mL/100 g/min) with the site's assumed efficiency, blood T1 and M0 correction.

    ``brain`` (bool [X, Y, Z]) is where a "reference" site takes the median of M0 as its single M0 value. Arrays may
    be numpy or a torch batch [B, X, Y, Z] (one median per subject).
    """
    m0_corrected = m0_correction(m0, tr=site.m0_tr, t1_tissue=T1_TISSUE[site.field_t]["gm"])
    if site.m0_mode == "reference":
        m0_corrected = to_float(per_item(m0_corrected, brain, "median"))
    if site.labelling == "pcasl":
        return cbf_pcasl(delta_m, m0_corrected, pld=delay, tau=site.tau, t1_blood=site.t1_blood,
                         alpha=site.alpha_assumed)
    return cbf_pasl(delta_m, m0_corrected, ti=delay, ti1=site.ti1, t1_blood=site.t1_blood, alpha=site.alpha_assumed)


def _coil_sensitivity(site: AslSite, grid: PerfusionGrid, noise):
    """Receive sensitivity: the site coil's profile (higher at the periphery and the back), and a little per head."""
    xp = namespace(noise)
    x, y, z = grid.positions_mm
    from_centre = xp.sqrt(x**2 + (y + 18.0) ** 2 + (z - 8.0) ** 2) / 70.0  # about 1 at the cortex
    towards_back = clip(xp, -(y + 18.0) / 70.0, -1.5, 1.5)
    log_sensitivity = (site.coil_periphery * (from_centre - 0.7) + site.coil_posterior * towards_back
                       + 0.05 * smooth_field_from_noise(noise, grid.shape, grid.spacing_mm, fwhm_mm=COIL_FWHM_MM))
    return as_float32(xp.exp(log_sensitivity))


def _delays(site: AslSite, brain, grid: PerfusionGrid):
    """PLD or TI per voxel: a 2D readout reads slice after slice from the bottom of the brain up.

    Returns a number (3D readouts), or the delay of each slice [1, 1, Z] (a batch: [B, 1, 1, Z]).
    """
    first = site.pld if site.labelling == "pcasl" else site.ti
    if site.readout == "3d":
        return first
    if isinstance(brain, torch.Tensor):
        has_brain = brain.any(dim=(1, 2))  # [B, Z]
        lowest = torch.where(has_brain.any(dim=1), has_brain.double().argmax(dim=1), 0).reshape(-1, 1, 1, 1)
        slices = torch.arange(grid.shape[2], dtype=torch.float64, device=brain.device).reshape(1, 1, 1, -1)
        height_mm = torch.clamp(slices - lowest, min=0) * grid.spacing_mm  # in double, as numpy
        return first + site.slice_time * torch.floor(height_mm / site.slice_mm)
    slices_with_brain = np.flatnonzero(brain.any(axis=(0, 1)))
    lowest = slices_with_brain[0] if slices_with_brain.size else 0
    height_mm = np.clip(np.arange(grid.shape[2]) - lowest, 0, None) * grid.spacing_mm
    slice_index = np.floor(height_mm / site.slice_mm)
    return (first + site.slice_time * slice_index).reshape(1, 1, -1)


def _label_signal(cbf, m0, att, alpha, site: AslSite, delay):
    if site.labelling == "pcasl":
        return asl_signal_pcasl(cbf, m0, att=att, pld=delay, tau=site.tau, t1_blood=site.t1_blood, alpha=alpha)
    return asl_signal_pasl(cbf, m0, att=att, ti=delay, ti1=site.ti1, t1_blood=site.t1_blood, alpha=alpha)


def _undelivered_fraction(att, site: AslSite, delay):
    """Fraction of the bolus still in the arteries at readout (0 once all of it reached tissue)."""
    xp = namespace(att)
    if site.labelling == "pcasl":
        return clip(xp, (att - delay) / site.tau, 0.0, 1.0)
    return clip(xp, 1 - (delay - att) / site.ti1, 0.0, 1.0)


def _intravascular_signal(undelivered, tissue: dict, site: AslSite, alpha, delay, vessel_candidates):
    """Bright spots along cortical arteries (sulci: grey matter next to CSF) fed by regions with late label."""
    in_sulcus = (tissue["gm"] > 0.2) & (tissue["csf"] > 0.2)
    vessels = in_sulcus & vessel_candidates
    full_gm_signal = _label_signal(60.0, M0_SCALE * PROTON_DENSITY["gm"], 0.0, alpha, site, delay)
    return VESSEL_BRIGHTNESS * full_gm_signal * vessels * undelivered


def _failure_map(artifacts: ArtifactDraw, grid: PerfusionGrid):
    """Fraction of labelling efficiency lost in each voxel."""
    if not isinstance(artifacts.failure_territory, str):  # a batch: one territory per subject
        return artifacts.failure_loss * grid_weight(grid, artifacts.failure_territory)
    if artifacts.failure_territory == "none":
        return np.zeros(grid.shape, dtype=np.float32)
    if artifacts.failure_territory == "global":
        return np.full(grid.shape, artifacts.failure_loss, dtype=np.float32)
    return artifacts.failure_loss * grid.weights[artifacts.failure_territory]


def _point_spread_mm(site: AslSite, spacing_mm: float):
    """Blur (FWHM, mm, along x, y, z) that takes a map on our grid to the site's resolution.

    The acquired PSF is the in-plane voxel size and the slice thickness (times the 3D through-plane blurring); a grid
    voxel already averages ``spacing_mm``, so only the rest is added: FWHMs add in quadrature.
    """
    acquired = np.array([site.voxel_mm, site.voxel_mm, site.slice_mm * site.through_plane_blur])
    return np.sqrt(np.clip(acquired**2 - spacing_mm**2, 0.0, None))


def _thermal_noise(site: AslSite, artifacts: ArtifactDraw, psf, grid: PerfusionGrid, white):
    """White noise at the acquired resolution, averaged over the pairs; correlated by the PSF on our grid."""
    acquired_volume = site.voxel_mm**2 * site.slice_mm
    # A grid coarser than the acquisition averages acquired voxels together, which lowers the noise.
    per_voxel = min(1.0, np.sqrt(acquired_volume / grid.spacing_mm**3))
    m0_grey_matter = M0_SCALE * PROTON_DENSITY["gm"]
    sigma = site.noise * m0_grey_matter * np.sqrt(2.0 / site.n_averages) * artifacts.noise_factor * per_voxel
    field = gaussian_blur_mm(white, psf, grid.spacing_mm)
    return sigma * field / maximum(spatial_std(field), 1e-12)


def _unit_vector(rng) -> np.ndarray:
    direction = rng.standard_normal(3)
    return direction / np.linalg.norm(direction)


def _gm_mean(values, gm):
    """Grey-matter-weighted mean of ``values`` (a float; a batch: one per subject [B, 1, 1, 1])."""
    if isinstance(gm, torch.Tensor):
        return spatial_sum(values * gm, float64=True) / spatial_sum(gm, float64=True).clamp(min=1e-12)
    weights = np.broadcast_to(gm, np.shape(gm))
    return float(np.sum(np.broadcast_to(values, weights.shape) * weights) / max(np.sum(weights), 1e-12))
