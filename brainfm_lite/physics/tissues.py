"""Tissue constants at 3 T: the one place where the book's T1, T2, T2*, PD and MT values live.

Each tissue holds literature *ranges* in the units papers print (times in s, PD and MT as fractions); the maps the
simulator uses are in rates: ``R1 = 1/T1``, ``R2 = 1/T2``, ``R2* = 1/T2*`` in 1/s. ``range("r1")`` converts
(the long-T1 end of the range is the low-R1 end), ``midpoint("r1")`` is ``1 / midpoint of T1`` (the middle of the
printed table), and ``draw(rng)`` picks one subject's values uniformly inside the ranges.

Healthy tissue (GM, WM, CSF) follows the REFERENCE.md table (Chalcroft et al.'s simulator). The table says "> 300 ms"
for the T2* of CSF and "~1.0" for its PD; we take 300-500 ms and 0.98-1.0. CSF has no macromolecules, so no MT.

The lesion class models a chronic white-matter lesion (WM hyperintensity, MS plaque): tissue that lost myelin
and gained water, so every value moves from WM toward CSF. The ranges are teaching values placed where these papers
describe lesions, not a fit to any one of them: T1 prolonged to 1.2-1.8 s at 3 T (MP2RAGE of MS lesions,
Kober et al. 2012, Invest Radiol 47:346); T2 prolonged, here 100-200 ms (Whittall et al. 2002, MRM 47:403, and
the T2 relaxometry literature it cites); more water in WM hyperintensities than in normal-appearing WM
(Anderson et al. 2014, Fluids Barriers CNS 11:24), PD 0.75-0.90; less macromolecular MT than WM (MTsat lower in
MS lesions, Lema et al. 2017, J Neuroimaging 27:221), 0.6-1.2 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainfm_lite.errors import InputError

MAP_NAMES = ("pd", "r1", "r2", "r2s", "mt")
"""The quantitative maps, in the order the chapters show them: PD (fraction), R1, R2, R2* (1/s), MT (fraction)."""

_TIME_OF_RATE = {"r1": "t1", "r2": "t2", "r2s": "t2s"}


@dataclass(frozen=True)
class Tissue:
    """Literature ranges ``(low, high)`` of one tissue's MR properties at one field strength.

    Attributes:
        name (str): "gm", "wm", "csf" or "lesion".
        t1, t2, t2s (tuple of float): Relaxation times T1, T2, T2*, in s.
        pd (tuple of float): Proton density as a fraction of pure water (CSF is about 1).
        mt (tuple of float): Magnetisation-transfer saturation as a fraction in [0, 1) (the hMRI toolbox prints
            percent).
    """

    name: str
    t1: tuple[float, float]
    t2: tuple[float, float]
    t2s: tuple[float, float]
    pd: tuple[float, float]
    mt: tuple[float, float]

    def __post_init__(self):
        for quantity in ("t1", "t2", "t2s", "pd", "mt"):
            low, high = getattr(self, quantity)
            if not 0 <= low <= high:
                raise InputError(f"{self.name}: {quantity} range must satisfy 0 <= low <= high; got {(low, high)}")
        for quantity in ("t1", "t2", "t2s"):
            if getattr(self, quantity)[0] <= 0:
                raise InputError(f"{self.name}: {quantity} must be positive")

    def range(self, name: str) -> tuple[float, float]:
        """``(low, high)`` of one map (``pd``, ``r1``, ``r2``, ``r2s`` in 1/s, or ``mt``)."""
        if name in _TIME_OF_RATE:
            short, long = getattr(self, _TIME_OF_RATE[name])
            return 1.0 / long, 1.0 / short
        if name in ("pd", "mt"):
            return getattr(self, name)
        raise InputError(f"unknown map {name!r}; expected one of {MAP_NAMES}")

    def midpoint(self, name: str) -> float:
        """The middle of the printed range; for rates ``1 / (middle of the time range)``."""
        if name in _TIME_OF_RATE:
            return 1.0 / float(np.mean(getattr(self, _TIME_OF_RATE[name])))
        return float(np.mean(self.range(name)))

    def midpoints(self) -> dict[str, float]:
        """``{"pd": ..., "r1": ..., "r2": ..., "r2s": ..., "mt": ...}`` at the middle of every range."""
        return {name: self.midpoint(name) for name in MAP_NAMES}

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One subject's values, each uniform in its range (times drawn as times, then inverted to rates)."""
        values = {}
        for name in MAP_NAMES:
            if name in _TIME_OF_RATE:
                values[name] = 1.0 / float(rng.uniform(*getattr(self, _TIME_OF_RATE[name])))
            else:
                values[name] = float(rng.uniform(*self.range(name)))
        return values


TISSUES_3T = {
    "gm": Tissue("gm", t1=(1.4, 1.6), t2=(0.080, 0.100), t2s=(0.045, 0.060), pd=(0.78, 0.85), mt=(0.008, 0.010)),
    "wm": Tissue("wm", t1=(0.8, 0.9), t2=(0.070, 0.080), t2s=(0.040, 0.050), pd=(0.65, 0.72), mt=(0.015, 0.020)),
    "csf": Tissue("csf", t1=(3.5, 4.5), t2=(1.0, 2.0), t2s=(0.3, 0.5), pd=(0.98, 1.0), mt=(0.0, 0.0)),
    "lesion": Tissue("lesion", t1=(1.2, 1.8), t2=(0.100, 0.200), t2s=(0.050, 0.080), pd=(0.75, 0.90),
                     mt=(0.006, 0.012)),
}

# Outside the head: no protons. The rates only need to be valid inputs for the signal equations (R1 > 0).
BACKGROUND = {"pd": 0.0, "r1": 1.0, "r2": 1.0, "r2s": 1.0, "mt": 0.0}

SUPPORTED_FIELDS_T = (3.0,)


def tissues(field_strength: float = 3.0) -> dict[str, Tissue]:
    """The tissue table at a field strength (tesla); only 3 T is tabulated.

    Raises:
        InputError: For any other field strength (relaxation times change with the field, so 3 T values would be wrong).
    """
    if float(field_strength) not in SUPPORTED_FIELDS_T:
        raise InputError(f"tissue values are tabulated at {SUPPORTED_FIELDS_T} T only; got {field_strength} T")
    return TISSUES_3T
