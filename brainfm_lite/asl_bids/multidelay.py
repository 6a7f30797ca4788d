"""Multi-delay ASL: fit CBF and arterial transit time (ATT) per voxel with the Buxton general kinetic model.

The model is `brainfm_lite.physics.asl.asl_signal_pcasl` (PCASL, CASL) or `asl_signal_pasl` (PASL, QUIPSS II):
single compartment, tissue T1 equal to blood T1, plug flow, no arterial (macrovascular) component. It is linear
in CBF, ``dM / M0 = CBF * s(ATT; PLD, tau)``, so the fit has two stages:

1. a grid over ATT (`ATT_STEP_S` steps from 0 to the latest readout): for each ATT the best CBF is a weighted
   linear least-squares solution in closed form; each voxel keeps the ATT with the smallest residual;
2. ``scipy.optimize.least_squares`` (trust-region reflective, ATT bounded to [0, latest readout]) refines CBF
   and ATT together from there, voxels in blocks with a block-diagonal Jacobian pattern.

Volumes with the same (PLD, tau) are averaged first and weighted by the square root of their count, which gives
the same solution as fitting every volume. Where every PLD is longer than the ATT the signal does not depend on
the ATT: CBF is still determined, the ATT is not (the voxel then reports the longest ATT that fits, about the
shortest PLD). The refinement stops after `MAX_EVALUATIONS` model evaluations per block: noise-free data converge
well before, and on noisy data it moves CBF little from the grid's answer.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import csr_matrix

from brainfm_lite.physics.asl import asl_signal_pasl, asl_signal_pcasl

ATT_STEP_S = 0.02  # grid step of the first stage, s
VOXELS_PER_BLOCK = 1024  # voxels refined together in one least-squares problem (faster than one by one)
CBF_SCALE = 50.0  # typical CBF, mL/100 g/min: puts CBF and ATT (s) on comparable steps for the optimiser
MAX_EVALUATIONS = 50  # per block: a noisy voxel must not keep the others waiting


def fit_cbf_att(signal, weights, *, plds, taus, labelling_type, ti1, t1_blood, alpha, lam):
    """Fit CBF and ATT to multi-delay difference signals.

    Args:
        signal (numpy.ndarray [N, P]): ``dM / M0`` of N voxels at P distinct delays (M0 already corrected).
        weights (numpy.ndarray [P]): least-squares weight of each delay (square root of its volume count).
        plds (numpy.ndarray [N, P] or [P]): post-labelling delay of each delay and voxel (TI for PASL), s,
            slice timing included.
        taus (numpy.ndarray [P] or None): labelling duration of each delay, s ((P)CASL); None for PASL.
        labelling_type (str): ``PCASL``, ``CASL`` or ``PASL``.
        ti1 (float or None): PASL bolus duration (QUIPSS II TI1), s.
        t1_blood, alpha, lam (float): blood T1 (s), labelling efficiency, partition coefficient (mL/g).

    Returns:
        (cbf, att): two float64 arrays [N], mL/100 g/min and s.
    """
    signal = np.asarray(signal, dtype=np.float64)
    n_voxels, n_delays = signal.shape
    plds = np.broadcast_to(np.asarray(plds, dtype=np.float64), (n_voxels, n_delays))
    weights = np.asarray(weights, dtype=np.float64)[None, :]

    def unit_signal(att, pld):  # dM / M0 for CBF = 1 mL/100 g/min; att [n, 1], pld [n, P]
        if labelling_type == "PASL":
            return asl_signal_pasl(1.0, 1.0, att=att, ti=pld, ti1=ti1, t1_blood=t1_blood, alpha=alpha, lam=lam)
        return asl_signal_pcasl(1.0, 1.0, att=att, pld=pld, tau=taus[None, :], t1_blood=t1_blood, alpha=alpha,
                                lam=lam)

    latest = float(plds.max() + (0.0 if taus is None else np.max(taus)))
    cbf, att = _grid_search(signal, weights, plds, unit_signal, latest)
    for start in range(0, n_voxels, VOXELS_PER_BLOCK):
        block = slice(start, start + VOXELS_PER_BLOCK)
        cbf[block], att[block] = _refine(signal[block], weights, plds[block], unit_signal, cbf[block], att[block],
                                         latest)
    return cbf, att


def _grid_search(signal, weights, plds, unit_signal, latest):
    """Per voxel, the grid ATT whose closed-form CBF leaves the smallest weighted residual."""
    n_voxels = signal.shape[0]
    w2 = weights**2
    best_residual = np.full(n_voxels, np.inf)
    best_cbf, best_att = np.zeros(n_voxels), np.zeros(n_voxels)
    for att in np.arange(0.0, latest + ATT_STEP_S / 2, ATT_STEP_S):
        unit = unit_signal(np.full((n_voxels, 1), att), plds)
        energy = (w2 * unit * unit).sum(axis=1)
        cbf = np.divide((w2 * unit * signal).sum(axis=1), energy, out=np.zeros(n_voxels), where=energy > 0)
        residual = (w2 * (signal - cbf[:, None] * unit) ** 2).sum(axis=1)
        better = residual <= best_residual  # ties keep the longest ATT: a start the refinement can move from
        best_residual[better], best_cbf[better], best_att[better] = residual[better], cbf[better], att
    return best_cbf, best_att


def _refine(signal, weights, plds, unit_signal, cbf0, att0, latest):
    """Joint least-squares refinement of one block of voxels; parameters are [cbf_1..n, att_1..n]."""
    n_voxels, n_delays = signal.shape

    def residuals(params):
        cbf, att = params[:n_voxels, None], params[n_voxels:, None]
        return (weights * (cbf * unit_signal(att, plds) - signal)).ravel()

    rows = np.arange(n_voxels * n_delays)
    voxel_of_row = rows // n_delays
    pattern = csr_matrix((np.ones(2 * rows.size), (np.r_[rows, rows], np.r_[voxel_of_row, voxel_of_row + n_voxels])),
                         shape=(rows.size, 2 * n_voxels))
    margin = 1e-6  # least_squares needs a start strictly inside the bounds
    start = np.r_[cbf0, np.clip(att0, margin, latest - margin)]
    lower = np.r_[np.full(n_voxels, -np.inf), np.zeros(n_voxels)]
    upper = np.r_[np.full(n_voxels, np.inf), np.full(n_voxels, latest)]
    scale = np.r_[np.full(n_voxels, CBF_SCALE), np.ones(n_voxels)]
    fit = least_squares(residuals, start, jac_sparsity=pattern, bounds=(lower, upper), method="trf", x_scale=scale,
                        max_nfev=MAX_EVALUATIONS)
    return fit.x[:n_voxels], fit.x[n_voxels:]
