"""Tests for brainfm_lite.physics.signal: limits, textbook identities, an independent Bloch simulation of
MPRAGE/MP2RAGE, numpy/torch agreement, gradients and input errors."""

import math

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics import signal

# Tissue midpoints of REFERENCE.md (3 T): WM, GM, CSF.
T1 = np.array([0.85, 1.5, 4.0])
PD = np.array([0.685, 0.815, 1.0])
R2 = 1 / np.array([0.075, 0.090, 1.5])
R2S = 1 / np.array([0.045, 0.0525, 0.3])

MP2RAGE_3T = dict(tr=6.25, te=2.9e-3, ti1=0.8, ti2=2.2, flip1_deg=4.0, flip2_deg=5.0)
MPRAGE_3T = dict(tr=2.3, te=3e-3, ti=0.9, flip_deg=9.0)


def test_spgr_with_very_long_tr_is_a_free_induction_decay():
    flip = 30.0
    image = signal.spgr(PD, 1 / T1, R2S, tr=1e4, te=0.01, flip_deg=flip)
    expected = PD * math.sin(math.radians(flip)) * np.exp(-0.01 * R2S)
    np.testing.assert_allclose(image, expected, rtol=1e-12)


def test_spgr_is_largest_at_the_ernst_angle():
    tr, r1 = 0.02, 1 / 1.5
    flips = np.linspace(0.5, 90, 2000)
    image = signal.spgr(1.0, r1, 0.0, tr=tr, te=0.0, flip_deg=flips)
    ernst = math.degrees(math.acos(math.exp(-tr * r1)))
    assert abs(flips[np.argmax(image)] - ernst) < 0.1


def test_spgr_magnetisation_transfer_follows_the_hmri_formula():
    flip, tr, mt = math.radians(20), 0.025, 0.015
    e1 = np.exp(-tr / T1)
    expected = PD * math.sin(flip) * (1 - e1) * (1 - mt) / (1 - math.cos(flip) * (1 - mt) * e1)
    image = signal.spgr(PD, 1 / T1, R2S, tr=tr, te=0.0, flip_deg=20, mt=mt)
    np.testing.assert_allclose(image, expected, rtol=1e-12)
    assert np.all(image < signal.spgr(PD, 1 / T1, R2S, tr=tr, te=0.0, flip_deg=20))


def test_fse_at_zero_echo_time_is_saturation_recovery():
    image = signal.fse(PD, 1 / T1, R2, tr=2.0, te=0.0)
    np.testing.assert_allclose(image, PD * (1 - np.exp(-2.0 / T1)), rtol=1e-12)


def test_flair_nulls_the_tissue_at_ln2_over_r1():
    r1 = 1 / T1
    for rate, density in zip(r1, PD):
        image = signal.flair(density, rate, 10.0, tr=1e3, te=0.0, ti=math.log(2) / rate)
        assert abs(image) < 1e-6 * density


def test_flair_signed_signal_is_negative_before_the_null_and_magnitude_is_not():
    signed = signal.flair(PD, 1 / T1, R2, tr=9.0, te=0.1, ti=0.2, magnitude=False)
    assert np.all(signed < 0)
    np.testing.assert_allclose(signal.flair(PD, 1 / T1, R2, tr=9.0, te=0.1, ti=0.2), -signed)


def _bloch_mprage_like(r1, *, tr, blocks, echo_spacing, n, eff, n_repeats=60):
    """Pulse-by-pulse simulation of Mz over many TRs; returns sin(a)*Mz at each block's k-space centre.

    ``blocks`` is a list of (ti, flip_deg). Written independently of the closed forms on purpose.
    """
    def relax(mz, duration):
        return mz * math.exp(-duration * r1) + 1 - math.exp(-duration * r1)

    mz, centres = 1.0, []
    for _ in range(n_repeats):
        mz, time, centres = -eff * mz, 0.0, []
        for ti, flip_deg in blocks:
            start = ti - n * echo_spacing / 2
            mz = relax(mz, start - time)
            angle = math.radians(flip_deg)
            for k in range(n):
                if k == n // 2:
                    centres.append(math.sin(angle) * mz)
                mz = relax(mz * math.cos(angle), echo_spacing)
            time = start + n * echo_spacing
        mz = relax(mz, tr - time)
    return centres


@pytest.mark.parametrize("t1", [0.85, 1.5, 4.0])
def test_mprage_matches_a_pulse_by_pulse_bloch_simulation(t1):
    expected = _bloch_mprage_like(1 / t1, tr=2.3, blocks=[(0.9, 9.0)], echo_spacing=6e-3, n=160, eff=0.96)[0]
    image = signal.mprage(1.0, 1 / t1, 0.0, **MPRAGE_3T, echo_spacing=6e-3, n_excitations=160,
                          inversion_efficiency=0.96, magnitude=False)
    assert image == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("t1", [0.85, 1.5, 4.0])
def test_mp2rage_readouts_match_a_pulse_by_pulse_bloch_simulation(t1):
    expected = _bloch_mprage_like(1 / t1, tr=6.25, blocks=[(0.8, 4.0), (2.2, 5.0)], echo_spacing=5.8e-3,
                                  n=160, eff=0.96)
    gre1, gre2 = signal.mp2rage_readouts(1.0, 1 / t1, 0.0, **MP2RAGE_3T)
    assert (gre1, gre2) == (pytest.approx(expected[0], rel=1e-9), pytest.approx(expected[1], rel=1e-9))


def test_mprage_gives_t1_weighting_and_t2star_decay():
    image = signal.mprage(PD, 1 / T1, R2S, **MPRAGE_3T)
    assert image[0] > image[1] > image[2]  # WM > GM > CSF
    later = signal.mprage(PD, 1 / T1, R2S, **{**MPRAGE_3T, "te": 0.01})
    np.testing.assert_allclose(later / image, np.exp(-(0.01 - 3e-3) * R2S), rtol=1e-12)


def test_mp2rage_is_bounded_and_independent_of_pd_and_t2star():
    rng = np.random.default_rng(0)
    t1 = rng.uniform(0.3, 5.0, 500)
    pd = rng.uniform(0.1, 1.0, 500)
    image = signal.mp2rage(pd, 1 / t1, 20.0, **MP2RAGE_3T)
    assert np.all(np.abs(image) <= 0.5)
    rescaled = signal.mp2rage(3.7 * pd, 1 / t1, 50.0, **MP2RAGE_3T)
    np.testing.assert_allclose(rescaled, image, rtol=1e-10, atol=1e-12)


def test_mp2rage_decreases_with_t1_over_the_brain_range():
    # As in Marques et al. 2010 (Fig. 2): a monotonic lookup table over the T1 of brain tissue.
    t1 = np.linspace(0.5, 2.2, 200)
    image = signal.mp2rage(1.0, 1 / t1, 20.0, **MP2RAGE_3T)
    assert np.all(np.diff(image) < 0)
    assert image[0] > 0.3 and image[-1] < -0.3


def test_mp2rage_is_zero_where_there_is_no_signal():
    image = signal.mp2rage(np.array([0.0, 0.8]), 1 / np.array([1.0, 1.0]), 20.0, **MP2RAGE_3T)
    assert image[0] == 0.0 and np.isfinite(image).all()


def _all_sequences(pd, r1, r2s, r2):
    return {
        "spgr": signal.spgr(pd, r1, r2s, tr=0.025, te=0.005, flip_deg=20.0, mt=0.01),
        "fse": signal.fse(pd, r1, r2, tr=5.0, te=0.1),
        "flair": signal.flair(pd, r1, r2, tr=9.0, te=0.12, ti=2.5),
        "mprage": signal.mprage(pd, r1, r2s, **MPRAGE_3T),
        "mp2rage": signal.mp2rage(pd, r1, r2s, **MP2RAGE_3T),
    }


def test_numpy_and_torch_give_the_same_images():
    in_numpy = _all_sequences(PD, 1 / T1, R2S, R2)
    in_torch = _all_sequences(*(torch.from_numpy(x) for x in (PD, 1 / T1, R2S, R2)))
    for name, image in in_torch.items():
        assert isinstance(image, torch.Tensor) and image.dtype == torch.float64, name
        np.testing.assert_allclose(image.numpy(), in_numpy[name], rtol=1e-12, err_msg=name)
    assert all(isinstance(image, np.ndarray) for image in in_numpy.values())


def test_any_tensor_makes_the_result_a_tensor_of_its_dtype():
    r1 = torch.tensor(1 / T1, dtype=torch.float32)
    image = signal.spgr(PD, r1, R2S, tr=0.025, te=0.005, flip_deg=20.0)  # numpy PD, R2*; torch R1
    assert isinstance(image, torch.Tensor) and image.dtype == torch.float32
    float32_numpy = signal.fse(PD.astype(np.float32), (1 / T1).astype(np.float32), R2.astype(np.float32),
                               tr=5.0, te=0.1)
    assert float32_numpy.dtype == np.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tensors_on_a_gpu_stay_on_it():
    maps = [torch.tensor(x, device="cuda") for x in (PD, 1 / T1, R2S, R2)]
    for name, image in _all_sequences(*maps).items():
        assert image.device == maps[0].device, name
        np.testing.assert_allclose(image.cpu().numpy(), _all_sequences(PD, 1 / T1, R2S, R2)[name], rtol=1e-10)


def test_parameters_broadcast_against_the_maps():
    flips = np.array([5.0, 20.0, 60.0])[:, None]  # [3, 1] against maps [3] -> [3, 3]
    image = signal.spgr(PD, 1 / T1, R2S, tr=0.025, te=0.005, flip_deg=flips)
    assert image.shape == (3, 3)
    np.testing.assert_allclose(image[1], signal.spgr(PD, 1 / T1, R2S, tr=0.025, te=0.005, flip_deg=20.0))


def _small_maps():
    torch.manual_seed(0)
    pd = (0.6 + 0.4 * torch.rand(4, dtype=torch.float64)).requires_grad_()
    r1 = (0.3 + 1.0 * torch.rand(4, dtype=torch.float64)).requires_grad_()
    r2 = (10 + 10 * torch.rand(4, dtype=torch.float64)).requires_grad_()
    return pd, r1, r2


def test_spgr_gradients_are_correct():
    pd, r1, r2s = _small_maps()
    flip = torch.tensor(20.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, a, b, f: signal.spgr(p, a, b, tr=0.025, te=0.005, flip_deg=f, mt=0.01), (pd, r1, r2s, flip))


def test_flair_gradients_are_correct():
    pd, r1, r2 = _small_maps()
    assert torch.autograd.gradcheck(lambda p, a, b: signal.flair(p, a, b, tr=9.0, te=0.1, ti=0.3), (pd, r1, r2))


def test_mp2rage_gradients_are_finite_and_correct():
    pd, r1, r2s = _small_maps()
    assert torch.autograd.gradcheck(lambda a: signal.mp2rage(pd.detach(), a, r2s.detach(), **MP2RAGE_3T), (r1,))
    background = signal.mp2rage(torch.zeros(2, dtype=torch.float64), r1[:2], r2s[:2], **MP2RAGE_3T)
    background.sum().backward()
    assert torch.isfinite(r1.grad).all()


BAD_CALLS = {
    "negative tr": lambda: signal.spgr(PD, 1 / T1, R2S, tr=-0.01, te=0.005, flip_deg=20),
    "zero tr": lambda: signal.fse(PD, 1 / T1, R2, tr=0.0, te=0.1),
    "negative te": lambda: signal.fse(PD, 1 / T1, R2, tr=5.0, te=-0.1),
    "negative ti": lambda: signal.flair(PD, 1 / T1, R2, tr=9.0, te=0.1, ti=-1.0),
    "ti beyond tr": lambda: signal.flair(PD, 1 / T1, R2, tr=1.0, te=0.1, ti=2.0),
    "zero flip": lambda: signal.spgr(PD, 1 / T1, R2S, tr=0.02, te=0.005, flip_deg=0.0),
    "flip over 180": lambda: signal.mprage(PD, 1 / T1, R2S, **{**MPRAGE_3T, "flip_deg": 190.0}),
    "zero r1": lambda: signal.fse(PD, np.array([1.0, 0.0, 0.5]), R2, tr=5.0, te=0.1),
    "negative r2": lambda: signal.fse(PD, 1 / T1, -R2, tr=5.0, te=0.1),
    "negative r2s": lambda: signal.spgr(PD, 1 / T1, -R2S, tr=0.02, te=0.005, flip_deg=20),
    "negative pd": lambda: signal.spgr(-PD, 1 / T1, R2S, tr=0.02, te=0.005, flip_deg=20),
    "mt of one": lambda: signal.spgr(PD, 1 / T1, R2S, tr=0.02, te=0.005, flip_deg=20, mt=1.0),
    "negative mt": lambda: signal.spgr(PD, 1 / T1, R2S, tr=0.02, te=0.005, flip_deg=20, mt=-0.1),
    "negative r1 tensor": lambda: signal.spgr(torch.tensor(PD), -torch.tensor(1 / T1), torch.tensor(R2S),
                                              tr=0.02, te=0.005, flip_deg=20),
    "mprage block longer than ti": lambda: signal.mprage(PD, 1 / T1, R2S, **{**MPRAGE_3T, "ti": 0.3}),
    "mprage block past tr": lambda: signal.mprage(PD, 1 / T1, R2S, **{**MPRAGE_3T, "ti": 2.0}),
    "mp2rage overlapping blocks": lambda: signal.mp2rage(PD, 1 / T1, R2S, **{**MP2RAGE_3T, "ti2": 1.2}),
    "mp2rage block past tr": lambda: signal.mp2rage(PD, 1 / T1, R2S, **{**MP2RAGE_3T, "tr": 2.3}),
    "inversion efficiency above one": lambda: signal.mprage(PD, 1 / T1, R2S, **MPRAGE_3T,
                                                            inversion_efficiency=1.2),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_raises_input_error(case):
    with pytest.raises(InputError):
        BAD_CALLS[case]()


def test_error_message_names_the_parameter_and_the_values():
    with pytest.raises(InputError, match=r"tr must lie in \(0.0, inf\] s; got values from -0.01"):
        signal.spgr(PD, 1 / T1, R2S, tr=-0.01, te=0.005, flip_deg=20)
