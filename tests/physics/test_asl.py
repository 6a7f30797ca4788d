"""Tests for brainfm_lite.physics.asl: worked CBF examples, kinetic-model round trips, M0 correction, QEI."""

import math
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch
from nibabel.processing import smooth_image

from brainfm_lite.errors import InputError
from brainfm_lite.physics import asl


def test_pcasl_worked_example():
    # dM = 0.01 * M0 with M0 = 1000, PLD = tau = 1.8 s, T1b = 1.65 s, alpha = 0.85, lambda = 0.9:
    #   exp(PLD/T1b)      = exp(1.0909)  = 2.97698
    #   1 - exp(-tau/T1b) = 1 - 0.33591  = 0.66409
    #   numerator   = 6000 * 0.9 * 10 * 2.97698           = 160756.9
    #   denominator = 2 * 0.85 * 1.65 * 1000 * 0.66409    = 1862.77
    #   CBF = 160756.9 / 1862.77 = 86.30 mL/100 g/min
    cbf = asl.cbf_pcasl(np.array([10.0]), np.array([1000.0]), pld=1.8, tau=1.8)
    assert cbf[0] == pytest.approx(86.30, abs=0.01)


def test_pasl_worked_example():
    # dM = 10, M0 = 1000, TI = 1.8 s, TI1 = 0.8 s, T1b = 1.65 s, alpha = 0.98, lambda = 0.9:
    #   numerator   = 6000 * 0.9 * 10 * exp(1.8/1.65) = 54000 * 2.97698 = 160756.9
    #   denominator = 2 * 0.98 * 0.8 * 1000           = 1568
    #   CBF = 160756.9 / 1568 = 102.52 mL/100 g/min
    cbf = asl.cbf_pasl(np.array([10.0]), np.array([1000.0]), ti=1.8, ti1=0.8)
    assert cbf[0] == pytest.approx(102.52, abs=0.01)


def test_pcasl_round_trip_recovers_cbf_when_the_bolus_has_arrived():
    cbf = np.array([5.0, 20.0, 45.0, 60.0, 110.0])
    att = np.array([0.5, 1.0, 1.5, 1.79, 1.8])  # all <= PLD
    delta_m = asl.asl_signal_pcasl(cbf, 1500.0, att=att, pld=1.8, tau=1.8)
    np.testing.assert_allclose(asl.cbf_pcasl(delta_m, 1500.0, pld=1.8, tau=1.8), cbf, rtol=1e-5)


def test_pcasl_underestimates_cbf_when_transit_is_longer_than_pld():
    att = np.array([1.6, 2.2, 2.8, 3.5, 4.0])  # PLD = 1.5 s, tau = 1.8 s: bolus ends arriving at 3.3 s
    delta_m = asl.asl_signal_pcasl(60.0, 1500.0, att=att, pld=1.5, tau=1.8)
    recovered = asl.cbf_pcasl(delta_m, 1500.0, pld=1.5, tau=1.8)
    assert np.all(recovered[:3] < 60.0) and np.all(np.diff(recovered[:3]) < 0)
    np.testing.assert_array_equal(recovered[3:], 0.0)  # nothing arrived yet


def test_pcasl_signal_is_continuous_at_the_branch_points():
    pld, tau = 1.5, 1.8
    eps = 1e-9
    at_pld = asl.asl_signal_pcasl(60.0, 1.0, att=np.array([pld - eps, pld + eps]), pld=pld, tau=tau)
    at_end = asl.asl_signal_pcasl(60.0, 1.0, att=np.array([pld + tau - eps, pld + tau + eps]), pld=pld, tau=tau)
    assert at_pld[0] == pytest.approx(at_pld[1], rel=1e-6)
    assert at_end[0] == pytest.approx(at_end[1], abs=1e-9)


def test_pasl_round_trip_and_transit_artefact():
    delta_m = asl.asl_signal_pasl(np.array([60.0, 60.0, 60.0]), 1200.0, att=np.array([0.5, 1.0, 1.6]),
                                  ti=1.8, ti1=0.8)
    recovered = asl.cbf_pasl(delta_m, 1200.0, ti=1.8, ti1=0.8)
    np.testing.assert_allclose(recovered[:2], 60.0, rtol=1e-5)  # TI >= ATT + TI1
    assert 0 < recovered[2] < 60.0  # bolus only partly delivered


def test_zero_or_negative_m0_gives_zero_cbf_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cbf = asl.cbf_pcasl(np.array([5.0, 5.0, 5.0]), np.array([0.0, -3.0, 1000.0]), pld=1.8, tau=1.8)
    assert cbf[0] == 0.0 and cbf[1] == 0.0 and cbf[2] > 0


def test_torch_in_torch_out_with_finite_gradients():
    delta_m = torch.tensor([10.0, 8.0], dtype=torch.float64, requires_grad=True)
    m0 = torch.tensor([1000.0, 0.0], dtype=torch.float64, requires_grad=True)
    cbf = asl.cbf_pcasl(delta_m, m0, pld=1.8, tau=1.8)
    assert isinstance(cbf, torch.Tensor)
    cbf.sum().backward()
    assert torch.isfinite(delta_m.grad).all() and torch.isfinite(m0.grad).all()
    np.testing.assert_allclose(cbf.detach().numpy(), asl.cbf_pcasl(np.array([10.0, 8.0]),
                                                                   np.array([1000.0, 0.0]), pld=1.8, tau=1.8))


def test_m0_correction_undoes_incomplete_recovery():
    # TR = 2 s, T1 = 1.607 s: 1 - exp(-2/1.607) = 1 - exp(-1.24455) = 0.71193
    measured = np.array([711.93])
    assert asl.m0_correction(measured, tr=2.0)[0] == pytest.approx(1000.0, rel=1e-5)
    with pytest.raises(InputError):
        asl.m0_correction(measured, tr=0.0)


def test_t1_blood_constants():
    assert asl.T1_BLOOD == {1.5: 1.35, 3.0: 1.65, 7.0: 2.087}


@pytest.mark.parametrize("kwargs", [
    dict(pld=1.8, tau=1.8, alpha=0.0),
    dict(pld=1.8, tau=1.8, alpha=1.2),
    dict(pld=1.8, tau=0.0),
    dict(pld=-0.1, tau=1.8),
    dict(pld=1.8, tau=1.8, t1_blood=-1.0),
    dict(pld=1.8, tau=1.8, lam=0.0),
])
def test_bad_pcasl_parameters_raise(kwargs):
    with pytest.raises(InputError):
        asl.cbf_pcasl(np.ones(3), np.ones(3), **kwargs)


def test_pasl_bolus_must_end_before_readout():
    with pytest.raises(InputError, match="ti1"):
        asl.cbf_pasl(np.ones(3), np.ones(3), ti=0.7, ti1=0.8)


# ---- QEI -------------------------------------------------------------------------------------------------

def _phantom(shape=(26, 26, 26)):
    """Smooth spherical 'brain': CSF ventricle, WM core, GM rind, each a partial-volume fraction."""
    grid = np.stack(np.meshgrid(*(np.arange(n) - (n - 1) / 2 for n in shape), indexing="ij"))
    # A gentle wobble of the boundaries so the anatomy is not purely radial.
    radius = np.sqrt((grid**2).sum(0)) * (1 + 0.08 * np.sin(grid[0] / 2.5))

    def inside(r):
        return 1 / (1 + np.exp((radius - r) / 0.6))

    brain, wm_and_csf, csf = inside(11.0), inside(7.0), inside(3.0)
    return brain - wm_and_csf, wm_and_csf - csf, csf  # gm, wm, csf


def test_qei_ranks_clean_above_noisy_above_negative_gm():
    gm, wm, csf = _phantom()
    clean = 60 * gm + 20 * wm
    rng = np.random.default_rng(0)
    brain = (gm + wm + csf) > 0.5
    noisy = clean + brain * rng.normal(0, 25, clean.shape)
    negative = clean.copy()
    negative[(gm > 0.7) & (np.arange(gm.shape[0])[:, None, None] < 13)] = -40.0  # half the cortex negative
    scores = [asl.qei(cbf, gm, wm, csf, voxel_size_mm=(3, 3, 3)) for cbf in (clean, noisy, negative)]
    assert 1.0 >= scores[0] > scores[1] > scores[2] >= 0.0, scores
    assert scores[0] > 0.8


def _aslprep_reference_qei(cbf, gm, wm, csf, affine, thresh=0.7):
    """ASLPrep's compute_qei written out literally (nibabel smoothing from the affine)."""
    smoothed = smooth_image(nib.Nifti1Image(cbf, affine), fwhm=5).get_fdata()
    gm_mask, wm_mask, csf_mask = gm > thresh, wm > thresh, csf > thresh
    pseudo = 2.5 * gm + wm
    inside = smoothed != 0
    rho = max(0.0, np.corrcoef(smoothed[inside], pseudo[inside])[1, 0])
    pooled = ((gm_mask.sum() - 1) * np.var(smoothed[gm_mask]) + (wm_mask.sum() - 1) * np.var(smoothed[wm_mask])
              + (csf_mask.sum() - 1) * np.var(smoothed[csf_mask])) / (gm_mask.sum() + wm_mask.sum()
                                                                      + csf_mask.sum() - 3)
    di = pooled / abs(np.mean(smoothed[gm_mask]))
    neg_gm = np.sum(smoothed[gm_mask] < 0) / gm_mask.sum()
    parts = [math.exp(-0.054 * di**0.9272), math.exp(-2.8478 * neg_gm**0.5196),
             1 - math.exp(-3.0126 * rho**2.4419)]
    return float(np.prod(parts) ** (1 / 3))


def test_qei_matches_aslprep_with_anisotropic_voxels():
    gm, wm, csf = _phantom((20, 22, 18))
    rng = np.random.default_rng(1)
    cbf = 55 * gm + 22 * wm + ((gm + wm + csf) > 0.5) * rng.normal(0, 15, gm.shape)
    affine = np.diag([2.0, 3.0, 2.5, 1.0])
    expected = _aslprep_reference_qei(cbf, gm, wm, csf, affine)
    assert asl.qei(cbf, gm, wm, csf, voxel_size_mm=(2.0, 3.0, 2.5)) == pytest.approx(expected, rel=1e-9)


def test_qei_rejects_mismatched_or_empty_tissue_maps():
    gm, wm, csf = _phantom((16, 16, 16))
    with pytest.raises(InputError, match="shape"):
        asl.qei(gm, gm[:-1], wm, csf)
    with pytest.raises(InputError, match="csf"):
        asl.qei(60 * gm, gm, wm, np.zeros_like(csf))
