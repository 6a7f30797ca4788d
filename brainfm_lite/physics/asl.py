"""Arterial spin labelling: CBF quantification, its forward model, M0 correction and the QEI quality index.

CBF follows the consensus white paper (Alsop et al. 2015, MRM 73:102), single post-labelling delay:

- pCASL: ``CBF = 6000 * lam * dM * exp(PLD / T1b) / (2 * alpha * T1b * M0 * (1 - exp(-tau / T1b)))``
- PASL (QUIPSS II): ``CBF = 6000 * lam * dM * exp(TI / T1b) / (2 * alpha * TI1 * M0)``

in mL/100 g/min (6000 converts mL/g/s). Times in seconds, ``lam`` in mL/g. Arrays may be numpy or torch (the
same kind comes back, differentiable); ``qei`` takes numpy arrays and returns a float, or a torch batch of maps and
returns one QEI per map.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics._backend import _size, check_range, clip, namespace, one_minus_exp, to_common
from brainfm_lite.physics._ndimage import gaussian_filter

# Arterial blood T1 (s) by field strength (T): white paper values at 1.5 and 3 T; 7 T from the project's reference
# table.
T1_BLOOD = {1.5: 1.35, 3.0: 1.65, 7.0: 2.087}

# Grey-matter T1 (s) by field strength (T), for the M0 saturation-recovery correction: Wright et al. 2008 (NeuroImage
# 42:1069), the values ASLPrep's ``estimate_t1`` uses.
T1_TISSUE = {1.5: 1.197, 3.0: 1.607, 7.0: 1.939}

# Labelling efficiency alpha by BIDS ``ArterialSpinLabelingType``: white paper for PCASL and PASL; CASL from
# Wang et al. 2005 (the value ASLPrep uses).
LABELLING_EFFICIENCY = {"PCASL": 0.85, "CASL": 0.68, "PASL": 0.98}

# Each background-suppression inversion pulse scales the label by this factor: ASLPrep's
# ``estimate_labeling_efficiency`` (a widely used choice, not a measured value; ASLPrep says so itself).
BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY = 0.95

BLOOD_BRAIN_PARTITION = 0.9  # lambda, mL/g (white paper)

SECONDS_PER_MINUTE_PER_100G = 6000.0  # mL/g/s -> mL/100 g/min


def cbf_pcasl(delta_m, m0, *, pld, tau, t1_blood=T1_BLOOD[3.0], alpha=LABELLING_EFFICIENCY["PCASL"],
              lam=BLOOD_BRAIN_PARTITION):
    """CBF from a single-delay pCASL difference image (white paper equation).

    Args:
        delta_m (array_like or torch.Tensor): Control minus label signal, same units as ``m0``.
        m0 (array_like or torch.Tensor): Equilibrium magnetisation of tissue (after :func:`m0_correction` if TR was
            short).
        pld (float): Post-labelling delay, s (>= 0).
        tau (float): Labelling duration, s (> 0).
        t1_blood (float, default 1.65 (3 T)): Arterial blood T1, s.
        alpha (float, default 0.85): Labelling efficiency in (0, 1].
        lam (float, default 0.9): Blood-brain partition coefficient, mL/g.

    Returns:
        CBF in mL/100 g/min, broadcast shape. Voxels with ``m0 <= 0`` (outside the head, or noise) get 0 instead of a
        division by zero.
    """
    xp, (delta_m, m0, pld, tau, t1_blood, alpha, lam) = to_common(delta_m, m0, pld, tau, t1_blood, alpha, lam)
    _check_labelling(t1_blood=t1_blood, alpha=alpha, lam=lam)
    check_range(pld, "pld", low=0.0, unit="s")
    check_range(tau, "tau", low=0.0, low_inclusive=False, unit="s")
    scale = SECONDS_PER_MINUTE_PER_100G * lam * xp.exp(pld / t1_blood) / (
        2 * alpha * t1_blood * one_minus_exp(xp, tau / t1_blood))
    return _divide_by_m0(xp, scale * delta_m, m0)


def cbf_pasl(delta_m, m0, *, ti, ti1, t1_blood=T1_BLOOD[3.0], alpha=LABELLING_EFFICIENCY["PASL"],
             lam=BLOOD_BRAIN_PARTITION):
    """CBF from a single-TI PASL (QUIPSS II) difference image (white paper equation).

    Args:
        delta_m, m0 (array_like or torch.Tensor): Control minus label signal and tissue M0, same units.
        ti (float): Inversion time (labelling to readout), s.
        ti1 (float): Bolus duration set by the QUIPSS II saturation, s (0 < TI1 <= TI).
        t1_blood, alpha, lam (float): As in :func:`cbf_pcasl`; alpha defaults to 0.98 for PASL.

    Returns:
        CBF in mL/100 g/min; 0 where ``m0 <= 0``.
    """
    xp, (delta_m, m0, ti, ti1, t1_blood, alpha, lam) = to_common(delta_m, m0, ti, ti1, t1_blood, alpha, lam)
    _check_labelling(t1_blood=t1_blood, alpha=alpha, lam=lam)
    _check_pasl_times(ti, ti1)
    scale = SECONDS_PER_MINUTE_PER_100G * lam * xp.exp(ti / t1_blood) / (2 * alpha * ti1)
    return _divide_by_m0(xp, scale * delta_m, m0)


def m0_correction(m0, *, tr, t1_tissue=T1_TISSUE[3.0]):
    """Correct an M0 image acquired with a short TR for incomplete recovery: ``M0 / (1 - exp(-TR / T1))``.

    The white paper asks for it when TR < 5 s; at 5 s grey matter is still about 4 % short, so the function
    applies the factor whatever the TR. ``t1_tissue`` defaults to grey matter at 3 T (1.607 s), in s.
    """
    xp, (m0, tr, t1_tissue) = to_common(m0, tr, t1_tissue)
    check_range(tr, "tr", low=0.0, low_inclusive=False, unit="s")
    check_range(t1_tissue, "t1_tissue", low=0.0, low_inclusive=False, unit="s")
    return m0 / one_minus_exp(xp, tr / t1_tissue)


def asl_signal_pcasl(cbf, m0, *, att, pld, tau, t1_blood=T1_BLOOD[3.0], alpha=LABELLING_EFFICIENCY["PCASL"],
                     lam=BLOOD_BRAIN_PARTITION):
    """pCASL difference signal dM from CBF: Buxton et al. (1998) general kinetic model, one compartment.

    Assumptions: tissue T1 equal to blood T1, no venous outflow of label (white paper model), plug flow with
    arterial transit time ``att``; labelling from t = 0 to ``tau``, readout at ``tau + pld``. Label created at
    time ``s`` reaches tissue at ``s + att`` and has decayed by ``exp(-(t - s) / T1b)`` at readout time t.
    With ``f = CBF / 6000`` (mL/g/s) and ``M0b = M0 / lam``:

    - ``pld >= att`` (whole bolus delivered): ``dM = 2 alpha M0b f T1b exp(-PLD/T1b) (1 - exp(-tau/T1b))``,
      independent of the transit time; inverting it gives :func:`cbf_pcasl`;
    - ``pld < att <= pld + tau`` (bolus still arriving):
      ``dM = 2 alpha M0b f T1b exp(-att/T1b) (1 - exp(-(tau + pld - att)/T1b))``;
    - ``att > pld + tau`` (nothing arrived yet): ``dM = 0``.

    With ``pld < att`` the tissue signal is low and :func:`cbf_pcasl` underestimates CBF: the transit artefact.

    Args:
        cbf (array_like or torch.Tensor): mL/100 g/min.
        m0 (array_like or torch.Tensor): Tissue equilibrium magnetisation.
        att (float or array_like): Arterial transit time, s (>= 0).
        pld, tau, t1_blood, alpha, lam: As in :func:`cbf_pcasl`.
    """
    xp, (cbf, m0, att, pld, tau, t1_blood, alpha, lam) = to_common(cbf, m0, att, pld, tau, t1_blood, alpha, lam)
    _check_labelling(t1_blood=t1_blood, alpha=alpha, lam=lam)
    check_range(att, "att", low=0.0, unit="s")
    check_range(pld, "pld", low=0.0, unit="s")
    check_range(tau, "tau", low=0.0, low_inclusive=False, unit="s")
    amplitude = 2 * alpha * (m0 / lam) * (cbf / SECONDS_PER_MINUTE_PER_100G) * t1_blood
    readout = tau + pld
    full_bolus = xp.exp(-pld / t1_blood) * one_minus_exp(xp, tau / t1_blood)
    # Label arrived for (readout - att) seconds, none if negative.
    arrived = clip(xp, readout - att, low=0.0)
    partial_bolus = xp.exp(-att / t1_blood) * one_minus_exp(xp, arrived / t1_blood)
    delivered = xp.where(pld >= att, full_bolus, partial_bolus)  # partial is 0 once att >= tau + pld
    return amplitude * delivered


def asl_signal_pasl(cbf, m0, *, att, ti, ti1, t1_blood=T1_BLOOD[3.0], alpha=LABELLING_EFFICIENCY["PASL"],
                    lam=BLOOD_BRAIN_PARTITION):
    """PASL (QUIPSS II) difference signal from CBF: Buxton et al. (1998), one compartment.

    All label is created at t = 0 and decays with ``exp(-t / T1b)``; a bolus of duration ``ti1`` reaches tissue
    from ``att`` to ``att + ti1``. At readout time TI, with ``f = CBF / 6000`` and ``M0b = M0 / lam``:

    - ``ti >= att + ti1``: ``dM = 2 alpha M0b f TI1 exp(-TI/T1b)`` (inverting it gives :func:`cbf_pasl`);
    - ``att <= ti < att + ti1``: ``dM = 2 alpha M0b f (TI - att) exp(-TI/T1b)``;
    - ``ti < att``: ``dM = 0``.

    Parameters as in :func:`cbf_pasl`, plus ``att`` (s, >= 0).
    """
    xp, (cbf, m0, att, ti, ti1, t1_blood, alpha, lam) = to_common(cbf, m0, att, ti, ti1, t1_blood, alpha, lam)
    _check_labelling(t1_blood=t1_blood, alpha=alpha, lam=lam)
    check_range(att, "att", low=0.0, unit="s")
    _check_pasl_times(ti, ti1)
    amplitude = 2 * alpha * (m0 / lam) * (cbf / SECONDS_PER_MINUTE_PER_100G)
    delivered_duration = clip(xp, ti - att, low=0.0, high=ti1)  # how much of the bolus has arrived
    return amplitude * delivered_duration * xp.exp(-ti / t1_blood)


def qei(cbf, gm, wm, csf, *, voxel_size_mm=(2.0, 2.0, 2.0), fwhm_mm=5.0, tpm_threshold=0.7):
    """Quality evaluation index of a CBF map (Dolui et al. 2017/2024), as ASLPrep's ``compute_qei`` computes it.

    Steps (ASLPrep ``aslprep/utils/qc.py``):

    1. smooth CBF with a Gaussian of ``fwhm_mm`` (nibabel ``smooth_image``: sigma per axis from the voxel size,
       ``mode="nearest"``);
    2. masks: tissue probability ``> tpm_threshold`` (ASLPrep uses 0.7, 0.8 for GE data);
    3. ``rho = max(0, corr(CBF_s, 2.5 * GM + WM))`` over voxels where the smoothed CBF is non-zero and finite;
    4. ``DI = V / |mean GM CBF_s|`` with the pooled variance
       ``V = sum_t (n_t - 1) var_t / (n_GM + n_WM + n_CSF - 3)`` (``var_t`` the population variance);
    5. ``negGM`` = fraction of GM-mask voxels with negative smoothed CBF;
    6. ``QEI = cbrt((1 - exp(-3.0126 rho^2.4419)) * exp(-(0.054 DI^0.9272 + 2.8478 negGM^0.5196)))``, in [0, 1].

    Args:
        cbf (numpy.ndarray [X, Y, Z]): CBF map, mL/100 g/min, 0 outside the brain.
        gm, wm, csf (numpy.ndarray [X, Y, Z]): Tissue probability maps in [0, 1] on the same grid.
        voxel_size_mm (3 floats, default (2, 2, 2)): Voxel size in mm (``Volume.spacing_mm``).
        fwhm_mm (float, default 5): Smoothing kernel FWHM in mm.
        tpm_threshold (float, default 0.7): Probability above which a voxel belongs to a tissue mask.

    Returns:
        float: QEI in [0, 1]; higher is better. For torch tensors [B, X, Y, Z] (a batch of maps and their tissue
        maps, on any device): float64 tensor [B], one QEI per map, the same numbers.
    """
    batched = isinstance(cbf, torch.Tensor)
    if batched:
        cbf, gm, wm, csf = (torch.as_tensor(x, device=cbf.device).double() for x in (cbf, gm, wm, csf))
    else:
        cbf = np.asarray(cbf, dtype=np.float64)
        gm, wm, csf = (np.asarray(tpm, dtype=np.float64) for tpm in (gm, wm, csf))
    for name, tpm in (("gm", gm), ("wm", wm), ("csf", csf)):
        if tpm.shape != cbf.shape:
            raise InputError(f"{name} has shape {tuple(tpm.shape)} but cbf has shape {tuple(cbf.shape)}")
    if cbf.ndim != (4 if batched else 3):
        expected = "a batch [B, X, Y, Z]" if batched else "a 3-D map [X, Y, Z]"
        raise InputError(f"cbf must be {expected}; got shape {tuple(cbf.shape)}")
    voxel_size_mm = np.asarray(voxel_size_mm, dtype=np.float64)
    if voxel_size_mm.shape != (3,) or np.any(voxel_size_mm <= 0):
        raise InputError(f"voxel_size_mm must be 3 positive sizes in mm; got {voxel_size_mm.tolist()}")

    sigma_voxels = fwhm_mm / (2 * math.sqrt(2 * math.log(2))) / voxel_size_mm
    smoothed = gaussian_filter(cbf, sigma_voxels, mode="nearest")
    if batched:
        return torch.tensor([_qei_of_smoothed(*maps, tpm_threshold) for maps in zip(smoothed, gm, wm, csf)],
                            dtype=torch.float64, device=cbf.device)
    return _qei_of_smoothed(smoothed, gm, wm, csf, tpm_threshold)


def _qei_of_smoothed(smoothed, gm, wm, csf, tpm_threshold: float) -> float:
    """Steps 2-6 of :func:`qei` on one smoothed CBF map [X, Y, Z] and its tissue maps (float64, numpy or torch)."""
    masks = {name: tpm > tpm_threshold for name, tpm in (("gm", gm), ("wm", wm), ("csf", csf))}
    empty = [name for name, mask in masks.items() if mask.sum() < 2]
    if empty:
        raise InputError(f"fewer than 2 voxels with probability > {tpm_threshold} in: {', '.join(empty)}")

    rho = _structural_correlation(smoothed, 2.5 * gm + wm)
    dispersion = _dispersion_index(smoothed, masks)
    negative_gm = float(_statistic(smoothed[masks["gm"]] < 0, "mean"))

    structure_term = 1 - math.exp(-3.0126 * rho**2.4419)
    penalty = math.exp(-(0.054 * dispersion**0.9272 + 2.8478 * negative_gm**0.5196))
    return float(np.cbrt(structure_term * penalty))


def _structural_correlation(smoothed_cbf, pseudo_cbf) -> float:
    xp = namespace(smoothed_cbf)
    inside = (smoothed_cbf != 0) & xp.isfinite(smoothed_cbf) & xp.isfinite(pseudo_cbf)
    a, b = smoothed_cbf[inside], pseudo_cbf[inside]
    if _size(a) < 2 or _statistic(a, "std") == 0 or _statistic(b, "std") == 0:
        return 0.0  # no structure to correlate with: the worst score, not NaN
    correlation = np.corrcoef(a, b)[0, 1] if xp is np else torch.corrcoef(torch.stack([a, b]))[0, 1]
    return max(0.0, float(correlation))


def _dispersion_index(smoothed_cbf, masks) -> float:
    counts = {name: int(mask.sum()) for name, mask in masks.items()}
    pooled = sum((counts[name] - 1) * _statistic(smoothed_cbf[mask], "var") for name, mask in masks.items())
    pooled /= sum(counts.values()) - 3
    mean_gm = abs(float(_statistic(smoothed_cbf[masks["gm"]], "mean")))
    return math.inf if mean_gm == 0 else float(pooled) / mean_gm


def _statistic(values, name: str):
    """numpy's ``np.mean``, ``np.std`` or ``np.var`` (population) of a numpy or torch array, as numpy computes it
    (a bool array's mean is its fraction of True)."""
    if isinstance(values, torch.Tensor):
        values = values.double()
        return {"mean": values.mean, "std": lambda: values.std(correction=0),
                "var": lambda: values.var(correction=0)}[name]()
    return {"mean": np.mean, "std": np.std, "var": np.var}[name](values)


def _divide_by_m0(xp, numerator, m0):
    # Divide by 1 where M0 <= 0 and then zero those voxels: no inf/NaN in the value or its gradient.
    positive = m0 > 0
    ratio = numerator / xp.where(positive, m0, xp.ones_like(m0))
    return xp.where(positive, ratio, xp.zeros_like(ratio))


def _check_labelling(*, t1_blood, alpha, lam):
    check_range(t1_blood, "t1_blood", low=0.0, low_inclusive=False, unit="s")
    check_range(alpha, "alpha", low=0.0, low_inclusive=False, high=1.0)
    check_range(lam, "lam", low=0.0, low_inclusive=False, unit="mL/g")


def _check_pasl_times(ti, ti1):
    check_range(ti, "ti", low=0.0, low_inclusive=False, unit="s")
    check_range(ti1, "ti1", low=0.0, low_inclusive=False, unit="s")
    check_range(ti - ti1, "ti - ti1 (the bolus must end before the readout)", low=0.0, unit="s")
