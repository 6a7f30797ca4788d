"""MRI signal equations: from quantitative maps (PD, R1, R2, R2*, MT) to the image a sequence would give.

Units: times in seconds, rates in 1/s, flip angles in degrees, MT as a fraction in [0, 1) (the hMRI toolbox
writes MT in percent: divide by 100). Maps and parameters may be python floats, numpy arrays or torch tensors,
broadcastable to each other. If any of them is a tensor, the result is a tensor on its device and dtype and is
differentiable; otherwise it is a numpy array. All signals are noise-free and in the units of ``pd``.

Notation: ``E1 = exp(-TR * R1)``, ``a`` the flip angle in radians.

Example:
    >>> import numpy as np
    >>> pd, r1, r2s = np.array([0.8, 0.7]), np.array([1 / 1.5, 1 / 0.85]), np.array([1 / 0.05, 1 / 0.045])
    >>> image = spgr(pd, r1, r2s, tr=0.025, te=0.005, flip_deg=20)  # T1-weighted FLASH: WM brighter than GM
    >>> bool(image[1] > image[0])
    True
"""

from __future__ import annotations

import math

from brainfm_lite.errors import InputError
from brainfm_lite.physics._backend import check_range, one_minus_exp, to_common, value_range


def spgr(pd, r1, r2s, *, tr, te, flip_deg, mt=0.0):
    """Spoiled gradient echo (SPGR / FLASH / GRE) steady state, with magnetisation transfer.

    ``S = PD * sin(a) * (1 - E1) * (1 - MT) / (1 - cos(a) * (1 - MT) * E1) * exp(-TE * R2*)``

    MT is modelled as in the hMRI toolbox: a fraction of the longitudinal magnetisation saturated once per TR.

    Args:
        pd (array_like or torch.Tensor): Proton density (>= 0), any shape.
        r1, r2s (array_like or torch.Tensor): Longitudinal rate R1 (> 0) and effective transverse rate R2* (>= 0), in
            1/s.
        tr, te (float or array_like): Repetition time (> 0) and echo time (>= 0), in s.
        flip_deg (float or array_like): Flip angle in degrees, in (0, 180].
        mt (float or array_like, default 0): Magnetisation-transfer saturation as a fraction in [0, 1).

    Returns:
        Signal with the broadcast shape of the inputs; numpy array, or tensor if any input is a tensor.
    """
    xp, (pd, r1, r2s, tr, te, flip_deg, mt) = to_common(pd, r1, r2s, tr, te, flip_deg, mt)
    _check_maps(pd=pd, r1=r1, r2s=r2s)
    _check_times(tr=tr, te=te)
    _check_flip(flip_deg, "flip_deg")
    check_range(mt, "mt", low=0.0, high=1.0, high_inclusive=False)
    angle = flip_deg * (math.pi / 180)
    e1 = xp.exp(-tr * r1)
    kept = 1 - mt  # longitudinal magnetisation left after the MT saturation
    steady = one_minus_exp(xp, tr * r1) * kept / (1 - xp.cos(angle) * kept * e1)
    return pd * xp.sin(angle) * steady * xp.exp(-te * r2s)


def fse(pd, r1, r2, *, tr, te):
    """Fast (turbo) spin echo with a long echo train: ``S = PD * (1 - E1) * exp(-TE * R2)``.

    Assumes the train leaves no longitudinal magnetisation at its end, so that each TR recovers from zero.

    Args:
        pd (array_like or torch.Tensor): Proton density (>= 0).
        r1, r2 (array_like or torch.Tensor): R1 (> 0) and R2 (>= 0), in 1/s.
        tr, te (float or array_like): Repetition time (> 0) and effective echo time (>= 0), in s.

    Returns:
        Signal with the broadcast shape of the inputs (numpy array or tensor, as given).
    """
    xp, (pd, r1, r2, tr, te) = to_common(pd, r1, r2, tr, te)
    _check_maps(pd=pd, r1=r1, r2=r2)
    _check_times(tr=tr, te=te)
    return pd * one_minus_exp(xp, tr * r1) * xp.exp(-te * r2)


def flair(pd, r1, r2, *, tr, te, ti, magnitude=True):
    """Inversion recovery spin echo (FLAIR when TI nulls CSF).

    ``S = PD * (1 - 2 * exp(-TI * R1) + E1) * exp(-TE * R2)``

    Derivation: the readout leaves Mz = 0; it recovers for TR - TI, is inverted, and recovers for TI before the
    excitation. The tissue with rate R1 is nulled at ``TI = ln(2) / R1`` when TR >> T1.

    Args:
        pd (array_like or torch.Tensor): Proton density (>= 0).
        r1, r2 (array_like or torch.Tensor): R1 (> 0) and R2 (>= 0), in 1/s.
        tr, te, ti (float or array_like): Repetition time (> 0), echo time (>= 0) and inversion time (0 <= TI <= TR), in
            s.
        magnitude (bool, default True): Return ``|S|``, as a scanner shows a magnitude image; False keeps the sign
            (negative before the null).

    Returns:
        Signal with the broadcast shape of the inputs (numpy array or tensor, as given).
    """
    xp, (pd, r1, r2, tr, te, ti) = to_common(pd, r1, r2, tr, te, ti)
    _check_maps(pd=pd, r1=r1, r2=r2)
    _check_times(tr=tr, te=te, ti=ti)
    _check_fits(tr - ti, "FLAIR timing: the inversion time must not exceed TR (TR - TI)")
    signal = pd * (1 - 2 * xp.exp(-ti * r1) + xp.exp(-tr * r1)) * xp.exp(-te * r2)
    return xp.abs(signal) if magnitude else signal


def mprage(pd, r1, r2s, *, tr, te, ti, flip_deg, echo_spacing=6e-3, n_excitations=160,
           inversion_efficiency=0.96, magnitude=True):
    """MPRAGE: one inversion followed by one block of ``n`` low-angle gradient echoes, repeated every TR.

    The model is Marques et al. (2010, NeuroImage 49:1271, appendix) with a single readout block, as in the
    simulator of Chalcroft et al. (nitorch). Assumptions: ideal spoiling; instantaneous pulses; the block of
    ``n = n_excitations`` excitations, ``echo_spacing`` apart, is centred on TI (linear ordering, the k-space
    centre is acquired after ``n / 2`` excitations); the inversion leaves ``-eff * Mz``; steady state over TRs.

    With ``E = exp(-echo_spacing * R1)``, ``c = cos(a) * E``, ``TD1 = TI - n*es/2`` (inversion to block) and
    ``TD2 = TR - TI - n*es/2`` (block to next inversion):

    - across ``k`` excitations, ``Mz -> Mz * c**k + (1 - E) * (1 - c**k) / (1 - c)``;
    - across a delay ``t``, ``Mz -> Mz * exp(-t R1) + 1 - exp(-t R1)``;
    - one TR maps the Mz before the inversion affinely, ``m -> slope * m + offset`` with
      ``slope = -eff * exp(-TD1 R1) * c**n * exp(-TD2 R1)``; the steady state is ``offset / (1 - slope)``
      (equal to Marques' closed form);
    - ``S = PD * sin(a) * Mz(after inversion, TD1 and n/2 excitations) * exp(-TE * R2*)``.

    Args:
        pd (array_like or torch.Tensor): Proton density (>= 0).
        r1, r2s (array_like or torch.Tensor): R1 (> 0) and R2* (>= 0), in 1/s.
        tr (float): Time between two inversions, in s.
        te (float): Echo time of the gradient echoes, in s (T2* decay).
        ti (float): Time from the inversion to the centre of the readout block, in s.
        flip_deg (float): Flip angle of the readout, degrees in (0, 180].
        echo_spacing (float, default 6 ms): Time between two excitations of the block, in s.
        n_excitations (int, default 160): Excitations per block (phase-encoding steps per inversion).
        inversion_efficiency (float, default 0.96): Fraction in (0, 1] of Mz that the inversion flips (0.96: Siemens
            adiabatic pulse).
        magnitude (bool, default True): Return ``|S|`` as a scanner shows it.

    Raises:
        InputError: Also when the block does not fit: TI < n*es/2 or TR - TI < n*es/2.
    """
    xp, (pd, r1, r2s, tr, te, ti, flip_deg, echo_spacing, n, eff) = to_common(
        pd, r1, r2s, tr, te, ti, flip_deg, echo_spacing, n_excitations, inversion_efficiency)
    _check_maps(pd=pd, r1=r1, r2s=r2s)
    _check_times(tr=tr, te=te, ti=ti)
    _check_flip(flip_deg, "flip_deg")
    _check_readout(echo_spacing, n, eff)
    half_block = n * echo_spacing / 2
    before, after = ti - half_block, tr - ti - half_block
    _check_fits(before, "MPRAGE timing: TI must leave room for half the readout block (TI - n*es/2)")
    _check_fits(after, "MPRAGE timing: TR - TI must leave room for half the readout block (TR - TI - n*es/2)")

    angle = flip_deg * (math.pi / 180)
    block = _ReadoutBlock(xp, r1, angle, echo_spacing)
    # One TR is an affine map of the Mz before the inversion; its fixed point is the steady state.
    offset = _relax(xp, block.apply(_relax(xp, 0.0, r1, before), n), r1, after)
    slope = -eff * xp.exp(-before * r1) * block.decay(n) * xp.exp(-after * r1)
    mz_steady = offset / (1 - slope)

    mz_centre = block.apply(_relax(xp, -eff * mz_steady, r1, before), n / 2)
    signal = pd * xp.sin(angle) * mz_centre * xp.exp(-te * r2s)
    return xp.abs(signal) if magnitude else signal


def mp2rage_readouts(pd, r1, r2s, *, tr, te, ti1, ti2, flip1_deg, flip2_deg, echo_spacing=5.8e-3,
                     n_excitations=160, inversion_efficiency=0.96):
    """The two gradient-echo images (GRE1 at TI1, GRE2 at TI2) of MP2RAGE, signed (real, phase-corrected).

    Marques et al. (2010, NeuroImage 49:1271, appendix), checked against the authors' ``MPRAGEfunc.m``
    (JosePMarques/MP2RAGE-related-scripts): the same propagation as :func:`mprage` with two blocks. With
    ``TD1 = TI1 - n*es/2``, ``TD2 = TI2 - TI1 - n*es``, ``TD3 = TR - TI2 - n*es/2`` and ``c_i = cos(a_i) * E``:

    ``Mss = (((((1-e1) c1^n + B1) e2 + 1-e2) c2^n + B2) e3 + 1-e3) / (1 + eff * c1^n * c2^n * e1 e2 e3)``,
    ``B_i = (1-E)(1-c_i^n)/(1-c_i)``, ``e_j = exp(-TD_j R1)``;
    ``GRE1 = sin(a1) * [(-eff Mss e1 + 1 - e1) c1^(n/2) + B1(n/2)]`` and GRE2 likewise after the first block and
    TD2; both times ``PD * exp(-TE * R2*)``.

    Args:
        pd, r1, r2s (array_like or torch.Tensor): Proton density (>= 0), R1 (> 0) and R2* (>= 0) in 1/s.
        tr (float): Time between two inversions (MP2RAGE TR), in s.
        te (float): Echo time, in s.
        ti1, ti2 (float): Inversion to the centre of the first / second block, in s.
        flip1_deg, flip2_deg (float): Flip angles of the two blocks, degrees in (0, 180].
        echo_spacing (float, default 5.8 ms): Time between two excitations within a block, in s.
        n_excitations (int, default 160): Excitations per block.
        inversion_efficiency (float, default 0.96):

    Returns:
        gre1, gre2 : arrays or tensors: Signed signals; GRE1 is negative for long-T1 tissue.

    Raises:
        InputError: For out-of-range values, or blocks that do not fit: TI1 < n*es/2, TI2 - TI1 < n*es, TR - TI2 <
            n*es/2.
    """
    xp, (pd, r1, r2s, tr, te, ti1, ti2, flip1, flip2, echo_spacing, n, eff) = to_common(
        pd, r1, r2s, tr, te, ti1, ti2, flip1_deg, flip2_deg, echo_spacing, n_excitations, inversion_efficiency)
    _check_maps(pd=pd, r1=r1, r2s=r2s)
    _check_times(tr=tr, te=te, ti1=ti1, ti2=ti2)
    _check_flip(flip1, "flip1_deg")
    _check_flip(flip2, "flip2_deg")
    _check_readout(echo_spacing, n, eff)
    block_time = n * echo_spacing
    before, between, after = ti1 - block_time / 2, ti2 - ti1 - block_time, tr - ti2 - block_time / 2
    _check_fits(before, "MP2RAGE timing: TI1 must leave room for half the first block (TI1 - n*es/2)")
    _check_fits(between, "MP2RAGE timing: the two blocks overlap (TI2 - TI1 - n*es)")
    _check_fits(after, "MP2RAGE timing: TR - TI2 must leave room for half the second block (TR - TI2 - n*es/2)")

    angle1, angle2 = flip1 * (math.pi / 180), flip2 * (math.pi / 180)
    first = _ReadoutBlock(xp, r1, angle1, echo_spacing)
    second = _ReadoutBlock(xp, r1, angle2, echo_spacing)

    # One TR is an affine map of the Mz before the inversion; its fixed point is the steady state.
    offset = _relax(xp, 0.0, r1, before)
    offset = _relax(xp, first.apply(offset, n), r1, between)
    offset = _relax(xp, second.apply(offset, n), r1, after)
    slope = -eff * xp.exp(-(before + between + after) * r1) * first.decay(n) * second.decay(n)
    mz_steady = offset / (1 - slope)

    mz_first_centre = first.apply(_relax(xp, -eff * mz_steady, r1, before), n / 2)
    mz_second_start = _relax(xp, first.apply(mz_first_centre, n / 2), r1, between)
    mz_second_centre = second.apply(mz_second_start, n / 2)

    weight = pd * xp.exp(-te * r2s)
    return weight * xp.sin(angle1) * mz_first_centre, weight * xp.sin(angle2) * mz_second_centre


def mp2rage(pd, r1, r2s, *, tr, te, ti1, ti2, flip1_deg, flip2_deg, echo_spacing=5.8e-3, n_excitations=160,
            inversion_efficiency=0.96):
    """MP2RAGE uniform image ``GRE1 * GRE2 / (GRE1**2 + GRE2**2)``, in [-0.5, 0.5].

    PD, T2* decay and the receive field multiply both readouts and cancel: the image depends on R1 (and the
    flip angles) only. Voxels where both readouts are 0 (e.g. PD = 0 background) give 0.
    Parameters as in :func:`mp2rage_readouts`.
    """
    gre1, gre2 = mp2rage_readouts(
        pd, r1, r2s, tr=tr, te=te, ti1=ti1, ti2=ti2, flip1_deg=flip1_deg, flip2_deg=flip2_deg,
        echo_spacing=echo_spacing, n_excitations=n_excitations, inversion_efficiency=inversion_efficiency)
    return mp2rage_uniform(gre1, gre2)


def mp2rage_uniform(gre1, gre2):
    """The MP2RAGE uniform image of two signed readouts: ``GRE1 * GRE2 / (GRE1**2 + GRE2**2)``, in [-0.5, 0.5].

    A scanner forms it from the readouts of the whole voxel: when a voxel holds several tissues, sum their readouts
    (each times its volume fraction) first, then combine; the ratio of a sum is not the sum of the ratios.
    Voxels where both readouts are 0 give 0.

    Args:
        gre1, gre2 (array_like or torch.Tensor): The signed readouts of :func:`mp2rage_readouts` (or sums of them),
            broadcastable to each other.
    """
    xp, (gre1, gre2) = to_common(gre1, gre2)
    power = gre1**2 + gre2**2
    # Divide only where the power is positive, so that neither the value nor its gradient is NaN elsewhere.
    safe_power = xp.where(power > 0, power, xp.ones_like(power))
    return xp.where(power > 0, gre1 * gre2 / safe_power, xp.zeros_like(power))


class _ReadoutBlock:
    """Longitudinal magnetisation across a train of excitations (flip ``angle``, ``echo_spacing`` apart)."""

    def __init__(self, xp, r1, angle, echo_spacing):
        self._xp = xp
        self._cos_e = xp.cos(angle) * xp.exp(-echo_spacing * r1)  # kept per excitation + spacing
        self._regrowth = one_minus_exp(xp, echo_spacing * r1)  # recovered per spacing

    def decay(self, k):
        """Factor applied to the incoming Mz across ``k`` excitations."""
        return self._cos_e**k

    def fill(self, k):
        """Mz regrown across ``k`` excitations when the incoming Mz is 0 (a geometric sum)."""
        return self._regrowth * (1 - self._cos_e**k) / (1 - self._cos_e)

    def apply(self, mz, k):
        return mz * self.decay(k) + self.fill(k)


def _relax(xp, mz, r1, duration):
    """Free T1 recovery of ``mz`` (in units of the equilibrium) during ``duration`` seconds."""
    return mz * xp.exp(-duration * r1) + one_minus_exp(xp, duration * r1)


def _check_maps(**maps):
    for name, values in maps.items():
        if name == "r1":
            check_range(values, "r1", low=0.0, low_inclusive=False, unit="1/s")
        elif name == "pd":
            check_range(values, "pd", low=0.0)
        else:
            check_range(values, name, low=0.0, unit="1/s")


def _check_times(tr, **others):
    check_range(tr, "tr", low=0.0, low_inclusive=False, unit="s")
    for name, values in others.items():
        check_range(values, name, low=0.0, unit="s")


def _check_flip(flip_deg, name):
    check_range(flip_deg, name, low=0.0, low_inclusive=False, high=180.0, unit="degrees")


def _check_readout(echo_spacing, n_excitations, efficiency):
    check_range(echo_spacing, "echo_spacing", low=0.0, low_inclusive=False, unit="s")
    check_range(n_excitations, "n_excitations", low=1.0)
    check_range(efficiency, "inversion_efficiency", low=0.0, low_inclusive=False, high=1.0)


def _check_fits(margin, message):
    """Raise when a timing margin (a duration that must be >= 0) is negative anywhere."""
    lowest, _ = value_range(margin)
    if lowest < -1e-12:  # tolerate rounding when the block exactly fills the interval
        raise InputError(f"{message} is negative: {lowest:g} s")
