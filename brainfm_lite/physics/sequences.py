"""MRI sequences as data: a kind plus its parameters, a seeded random sampler, and clinical presets.

The sampler reproduces the contrast augmentation of Chalcroft et al. (sequence-invariant pretraining): draw a sequence
kind uniformly, then its parameters from the ranges below (``logU`` = log-uniform), and a receive-field scale
U(0.3, 7) that multiplies PD. Times in seconds, flip angles in degrees.

========  ==================  ================  ========================  ==========  ==============================
kind      TR                  TE                TI                        flip        other
========  ==================  ================  ========================  ==========  ==============================
mprage    U(1.9, 2.5)         U(2, 4) ms        U(0.6, 1.2)               U(5, 12)    n U(100, 200), eff U(0.8, 1),
                                                                                      echo spacing 6 ms
mp2rage   6.25                2.9 ms            TI1 U(0.6, 0.9),          U(3, 6)     n 160, eff 0.96,
                                                TI2 2.2                   each        echo spacing 5.8 ms
gre       logU(5 ms, 5 s)     logU(2, 80) ms                              U(5, 50)    MT from the maps
spgr      logU(5, 800) ms     logU(2, 80) ms                              U(5, 50)    MT from the maps
fse       logU(2, 8)          logU(20, 150) ms
flair     logU(1 ms, 5 s)     20 ms             logU(1 ms, min(3 s,TR))
========  ==================  ================  ========================  ==========  ==============================

Departures from Chalcroft et al.'s code, all so that every drawn sequence is physically possible: the MP2RAGE TR is
6.25 s (nitorch's default, given there as the 3 T protocol of Marques et al. 2010; Chalcroft et al.'s 2.3 s cannot fit a
160-excitation block after TI2 = 2.2 s); the FLAIR TI is capped at TR (an inversion cannot come after the next
one); the MPRAGE echo spacing is 6 ms (Chalcroft et al. used 2 * TE, up to 8 ms, which does not fit 200 excitations
around TI = 0.6 s). Values the seed jitters around a centre ("about 2.9 ms") are used as fixed values here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.physics import signal

KINDS = ("mprage", "mp2rage", "gre", "spgr", "fse", "flair")

RECEIVE_SCALE_RANGE = (0.3, 7.0)

# Maps each kind needs besides PD and R1 (gre/spgr also read MT when given).
_REQUIRED_MAPS = {
    "mprage": ("r2s",),
    "mp2rage": ("r2s",),
    "gre": ("r2s",),
    "spgr": ("r2s",),
    "fse": ("r2",),
    "flair": ("r2",),
}


@dataclass(frozen=True)
class Sequence:
    """A sequence kind and its parameters (keyword arguments of the matching function in ``signal``).

    ``params`` may hold ``"receive_scale"``, a factor applied to PD (receive-field gain); every other key is
    passed to the signal function: ``spgr`` for "gre" and "spgr", ``fse``, ``flair``, ``mprage``, ``mp2rage``.
    """

    kind: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"unknown sequence kind {self.kind!r}; expected one of {KINDS}")

    def simulate(self, pd, r1, *, r2s=None, r2=None, mt=None):
        """Image this sequence gives for the maps (numpy or torch, same kind back).

        One signal per voxel: the maps' values are taken to hold for all the water of the voxel. For a voxel
        that holds several tissues, sum their :meth:`readouts` instead and form the image with
        :meth:`image_from_readouts` (``brainfm_lite.sim.qmri.simulate_contrast`` does).

        Args:
            pd, r1 (array_like or torch.Tensor): Proton density and R1 (1/s).
            r2s, r2 (array_like or torch.Tensor, optional): R2* (mprage, mp2rage, gre, spgr) and R2 (fse, flair), in
                1/s.
            mt (array_like or torch.Tensor, optional): MT saturation fraction for "gre"/"spgr"; None means no MT.

        A dict of maps with keys ``pd, r1, r2s, r2, mt`` can be passed as ``sequence.simulate(**maps)``.
        """
        return self.image_from_readouts(self.readouts(pd, r1, r2s=r2s, r2=r2, mt=mt))

    def readouts(self, pd, r1, *, r2s=None, r2=None, mt=None) -> tuple:
        """The signed signals the scanner receives, before it forms the image (parameters as :meth:`simulate`).

        Signals are linear in the magnetisation, so readouts add: the readouts of a voxel are the sum over its
        tissues of fraction times that tissue's readouts. Magnitude and ratio are taken after the sum, by
        :meth:`image_from_readouts`. That is why the readouts keep their sign: after an inversion, a tissue not yet
        past its null is negative and cancels part of a positive neighbour in the same voxel.

        Returns:
            tuple: ``(gre1, gre2)`` for "mp2rage" (its two gradient-echo readouts), ``(signal,)`` for every other kind.
        """
        given = {"r2s": r2s, "r2": r2}
        missing = [name for name in _REQUIRED_MAPS[self.kind] if given[name] is None]
        if missing:
            raise InputError(f"a {self.kind} sequence needs the {', '.join(missing)} map(s)")
        params = dict(self.params)
        scaled_pd = pd * params.pop("receive_scale", 1.0)
        if self.kind in ("gre", "spgr"):
            return (signal.spgr(scaled_pd, r1, r2s, mt=0.0 if mt is None else mt, **params),)
        if self.kind == "fse":
            return (signal.fse(scaled_pd, r1, r2, **params),)
        if self.kind == "flair":
            return (signal.flair(scaled_pd, r1, r2, magnitude=False, **params),)
        if self.kind == "mprage":
            return (signal.mprage(scaled_pd, r1, r2s, magnitude=False, **params),)
        return signal.mp2rage_readouts(scaled_pd, r1, r2s, **params)

    def image_from_readouts(self, readouts: tuple):
        """The image a scanner shows from (summed) :meth:`readouts`: the MP2RAGE uniform image for "mp2rage", the
        magnitude for the other inversion-recovery kinds ("flair", "mprage"), and the signal itself for the gradient
        and spin echoes (never negative).
        """
        if self.kind == "mp2rage":
            return signal.mp2rage_uniform(*readouts)
        (signed,) = readouts
        return abs(signed) if self.kind in ("flair", "mprage") else signed


def sample_sequence(rng=None, kinds=None) -> Sequence:
    """Draw a random sequence as in Chalcroft et al. (see the module table).

    Args:
        rng (numpy.random.Generator, int or None): Generator, or a seed for one. The same seed gives the same sequence.
        kinds (sequence of str, optional): Kinds to choose from (uniformly); default all of ``KINDS``.

    Returns:
        Sequence: With ``params["receive_scale"]`` drawn from U(0.3, 7).
    """
    rng = np.random.default_rng(rng)
    kinds = KINDS if kinds is None else tuple(kinds)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if not kinds or unknown:
        raise InputError(f"kinds must be a non-empty subset of {KINDS}; got {kinds}")
    kind = kinds[rng.integers(len(kinds))]
    params = _SAMPLERS[kind](rng)
    params["receive_scale"] = float(rng.uniform(*RECEIVE_SCALE_RANGE))
    return Sequence(kind, params)


def _log_uniform(rng, low, high):
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _sample_mprage(rng):
    return {
        "tr": float(rng.uniform(1.9, 2.5)),
        "te": float(rng.uniform(2e-3, 4e-3)),
        "ti": float(rng.uniform(0.6, 1.2)),
        "flip_deg": float(rng.uniform(5, 12)),
        "n_excitations": int(rng.integers(100, 201)),
        "inversion_efficiency": float(rng.uniform(0.8, 1.0)),
        "echo_spacing": 6e-3,  # 200 * 6 ms / 2 = 0.6 s fits before the shortest TI
    }


def _sample_mp2rage(rng):
    return {
        "tr": 6.25,
        "te": 2.9e-3,
        "ti1": float(rng.uniform(0.6, 0.9)),
        "ti2": 2.2,
        "flip1_deg": float(rng.uniform(3, 6)),
        "flip2_deg": float(rng.uniform(3, 6)),
        "n_excitations": 160,
        "inversion_efficiency": 0.96,
        "echo_spacing": 5.8e-3,
    }


def _sample_gradient_echo(max_tr):
    def sample(rng):
        return {
            "tr": _log_uniform(rng, 5e-3, max_tr),
            "te": _log_uniform(rng, 2e-3, 80e-3),
            "flip_deg": float(rng.uniform(5, 50)),
        }
    return sample


def _sample_fse(rng):
    return {"tr": _log_uniform(rng, 2.0, 8.0), "te": _log_uniform(rng, 20e-3, 150e-3)}


def _sample_flair(rng):
    tr = _log_uniform(rng, 1e-3, 5.0)
    return {"tr": tr, "te": 20e-3, "ti": _log_uniform(rng, 1e-3, min(3.0, tr))}


_SAMPLERS = {
    "mprage": _sample_mprage,
    "mp2rage": _sample_mp2rage,
    "gre": _sample_gradient_echo(max_tr=5.0),
    "spgr": _sample_gradient_echo(max_tr=0.8),
    "fse": _sample_fse,
    "flair": _sample_flair,
}

# Clinically typical 3 T protocols (Siemens-like), chosen to give the textbook look on GM/WM/CSF.
PRESETS = {
    # ADNI-style MPRAGE: WM > GM > CSF.
    "t1w": Sequence("mprage", {"tr": 2.3, "te": 2.98e-3, "ti": 0.9, "flip_deg": 9.0,
                               "echo_spacing": 7.1e-3, "n_excitations": 160}),
    # Turbo spin echo, long TR and TE: CSF > GM > WM.
    "t2w": Sequence("fse", {"tr": 5.0, "te": 0.1}),
    # Long TR, short TE: contrast mostly from PD, CSF >= GM > WM.
    "pdw": Sequence("fse", {"tr": 6.0, "te": 0.015}),
    # 2D FLAIR: TI near the CSF null, long TE: CSF dark, GM > WM.
    "flair": Sequence("flair", {"tr": 9.0, "te": 0.12, "ti": 2.5}),
}
