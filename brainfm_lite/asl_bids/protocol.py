"""Validate an ASL series' metadata and turn it into the numbers quantification needs (`AslProtocol`).

Field meanings follow BIDS 1.9 (``*_asl.json``):

- ``ArterialSpinLabelingType``: ``PCASL``, ``CASL`` or ``PASL``; ``M0Type``: ``Separate``, ``Included``,
  ``Estimate`` (with ``M0Estimate``) or ``Absent``.
- ``PostLabelingDelay`` (s): from the end of labelling ((P)CASL) or the middle of the labelling pulse (PASL, so it
  is the inversion time TI) to the readout of the slab (3D) or of the first slice (2D). A number, or one value per
  volume (0 for M0 volumes).
- ``LabelingDuration`` (s, (P)CASL, required): the bolus duration tau; a number or one value per volume.
- PASL: ``BolusCutOffFlag`` (required); when true ``BolusCutOffTechnique`` and ``BolusCutOffDelayTime`` (the
  time from labelling to the cut-off saturation, TI1 of QUIPSS II; for Q2TIPS the first of two values).
- ``MRAcquisitionType`` ``2D`` requires ``SliceTiming`` (s, one per slice along ``SliceEncodingDirection``, default
  ``k``): each slice is read that much later, so its PLD is ``PostLabelingDelay + SliceTiming[slice]``.
- ``BackgroundSuppression`` (required) and ``BackgroundSuppressionNumberPulses``: each pulse scales the label by
  `BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY`; ``LabelingEfficiency``, when given, is used as it is.
- ``RepetitionTimePreparation`` (s): a number or one per volume; it decides the M0 correction (`m0`).
- ``MagneticFieldStrength`` (T): 1.5, 3 or 7; it picks blood and tissue T1.

Anything missing or malformed raises `InputError` naming the sidecar that holds (or should hold) the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

from brainfm_lite.asl_bids.series import AslSeries
from brainfm_lite.asl_bids.sidecars import Sidecar
from brainfm_lite.physics.asl import (
    BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY,
    BLOOD_BRAIN_PARTITION,
    LABELLING_EFFICIENCY,
    T1_BLOOD,
    T1_TISSUE,
)

LABELLING_TYPES = tuple(LABELLING_EFFICIENCY)  # PCASL, CASL, PASL
M0_TYPES = ("Separate", "Included", "Estimate", "Absent")
# Bolus cut-off techniques the single-compartment PASL equation covers (BIDS spelling, spaces removed).
BOLUS_CUTOFF_TECHNIQUES = ("QUIPSSII", "Q2TIPS")
# Times above this are almost surely in milliseconds (the BIDS validator warns at the same bound).
MAX_PLAUSIBLE_TIME_S = 10.0


@dataclass(frozen=True)
class AslProtocol:
    """What the sidecar says about one series, checked and in SI units (seconds, tesla).

    Attributes:
        labelling_type: ``PCASL``, ``CASL`` or ``PASL``.
        m0_type: ``Separate``, ``Included``, ``Estimate`` or ``Absent``.
        field_strength_t: main field, T.
        t1_blood_s, t1_tissue_s: arterial blood T1 and grey-matter T1 (for the M0 correction) at that field, s.
        labelling_efficiency: alpha, background-suppression losses included.
        labelling_efficiency_source: how alpha was chosen, in words (recorded in the output JSON).
        partition_coefficient: lambda, mL/g.
        post_labelling_delay_s: [T] per volume (PLD for (P)CASL, TI for PASL), before slice timing.
        labelling_duration_s: [T] per volume for (P)CASL, else None.
        bolus_cutoff_technique: ``QUIPSSII`` or ``Q2TIPS`` for PASL, else None.
        bolus_duration_s: TI1 for PASL, else None.
        slice_times_s: [n slices] readout delay of each slice in array order along ``slice_axis``, or None (3D).
        slice_axis: array axis the slices are stacked along (0, 1 or 2).
        repetition_time_preparation_s: [T] per volume, or None when the sidecar has none.
        background_suppression: whether background suppression was used.
        background_suppression_pulses: the pulse count used for alpha (None without suppression or when
            ``LabelingEfficiency`` was given).
        m0_estimate: ``M0Estimate`` for ``M0Type`` ``Estimate``, else None.
    """

    labelling_type: str
    m0_type: str
    field_strength_t: float
    t1_blood_s: float
    t1_tissue_s: float
    labelling_efficiency: float
    labelling_efficiency_source: str
    partition_coefficient: float
    post_labelling_delay_s: np.ndarray
    labelling_duration_s: np.ndarray | None
    bolus_cutoff_technique: str | None
    bolus_duration_s: float | None
    slice_times_s: np.ndarray | None
    slice_axis: int
    repetition_time_preparation_s: np.ndarray | None
    background_suppression: bool
    background_suppression_pulses: int | None
    m0_estimate: float | None


def read_protocol(series: AslSeries) -> AslProtocol:
    """Check the series' merged ``asl.json`` and return its protocol.

    Raises:
        InputError: a required field is missing (``ArterialSpinLabelingType``, ``M0Type``, ``PostLabelingDelay``,
            ``MagneticFieldStrength``, ``BackgroundSuppression``, ``LabelingDuration`` for (P)CASL,
            ``BolusCutOffFlag`` / ``BolusCutOffTechnique`` / ``BolusCutOffDelayTime`` for PASL, ``M0Estimate``
            for ``Estimate``, ``SliceTiming`` for 2D), has an unknown value, the wrong type or sign, a per-volume
            array of the wrong length, or a Look-Locker readout (not supported).
    """
    meta = series.metadata
    labelling = _choice(meta, "ArterialSpinLabelingType", LABELLING_TYPES)
    m0_type = _choice(meta, "M0Type", M0_TYPES)
    field_t = _field_strength(meta)
    if meta.get("LookLocker") is True:
        raise meta.error("LookLocker", "is true: Look-Locker readouts need a flip-angle-aware model, not supported")

    pld = _per_volume(meta, "PostLabelingDelay", series, minimum=0.0)
    tau = None
    if labelling in ("PCASL", "CASL"):
        meta.require("LabelingDuration", f"required for {labelling}")
        tau = _per_volume(meta, "LabelingDuration", series, minimum=0.0)
    technique, ti1 = _bolus_cutoff(meta) if labelling == "PASL" else (None, None)
    slice_times, slice_axis = _slice_timing(meta, series)
    tr_prep = _per_volume(meta, "RepetitionTimePreparation", series, minimum=0.0, required=False)
    alpha, source, suppressed, pulses = _labelling_efficiency(meta, labelling)

    m0_estimate = None
    if m0_type == "Estimate":
        m0_estimate = _number(meta, meta.require("M0Estimate", "required when M0Type is Estimate"), "M0Estimate")
        if m0_estimate <= 0:
            raise meta.error("M0Estimate", f"must be positive, got {m0_estimate}")

    return AslProtocol(
        labelling_type=labelling, m0_type=m0_type, field_strength_t=field_t, t1_blood_s=T1_BLOOD[field_t],
        t1_tissue_s=T1_TISSUE[field_t], labelling_efficiency=alpha, labelling_efficiency_source=source,
        partition_coefficient=BLOOD_BRAIN_PARTITION, post_labelling_delay_s=pld, labelling_duration_s=tau,
        bolus_cutoff_technique=technique, bolus_duration_s=ti1, slice_times_s=slice_times, slice_axis=slice_axis,
        repetition_time_preparation_s=tr_prep, background_suppression=suppressed,
        background_suppression_pulses=pulses, m0_estimate=m0_estimate,
    )


def _choice(meta: Sidecar, key: str, allowed: tuple[str, ...]) -> str:
    value = meta.require(key)
    if value not in allowed:
        raise meta.error(key, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _field_strength(meta: Sidecar) -> float:
    value = _number(meta, meta.require("MagneticFieldStrength", "it sets blood and tissue T1"), "MagneticFieldStrength")
    for known in T1_BLOOD:
        if math.isclose(value, known, abs_tol=0.05):
            return known
    raise meta.error("MagneticFieldStrength", f"{value} T has no blood/tissue T1 here; supported: "
                     f"{', '.join(f'{t:g}' for t in T1_BLOOD)} T")


def _number(meta: Sidecar, value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise meta.error(key, f"must be a number, got {value!r}")
    return float(value)


def _per_volume(meta: Sidecar, key: str, series: AslSeries, *, minimum: float, required: bool = True):
    """A number or one number per volume -> float array [T] (seconds); None when optional and absent."""
    if key not in meta:
        if required:
            meta.require(key)
        return None
    value = meta.get(key)
    if isinstance(value, list):
        if len(value) != series.n_volumes:
            raise meta.error(key, f"has {len(value)} values but {series.path.name} has {series.n_volumes} volumes "
                             f"({series.context_path.name} lists {len(series.volume_types)}); give one per volume "
                             "or a single number")
        values = np.array([_number(meta, v, key) for v in value])
    else:
        values = np.full(series.n_volumes, _number(meta, value, key))
    if values.min() < minimum:
        raise meta.error(key, f"must be >= {minimum:g} s, got {values.min():g}")
    if values.max() > MAX_PLAUSIBLE_TIME_S:
        raise meta.error(key, f"has {values.max():g} > {MAX_PLAUSIBLE_TIME_S:g}: BIDS times are in seconds")
    return values


def _bolus_cutoff(meta: Sidecar) -> tuple[str, float]:
    flag = meta.require("BolusCutOffFlag", "required for PASL")
    if not isinstance(flag, bool):
        raise meta.error("BolusCutOffFlag", f"must be true or false, got {flag!r}")
    if not flag:
        raise meta.error("BolusCutOffFlag", "is false: without a bolus cut-off (QUIPSS II, Q2TIPS) the bolus "
                         "duration TI1 is unknown and the single-compartment PASL equation does not apply")
    raw = meta.require("BolusCutOffTechnique", "required when BolusCutOffFlag is true")
    technique = str(raw).upper().replace(" ", "").replace("_", "")
    if technique not in BOLUS_CUTOFF_TECHNIQUES:
        raise meta.error("BolusCutOffTechnique", f"{raw!r} is not supported (supported: QUIPSSII, Q2TIPS)")
    delay = meta.require("BolusCutOffDelayTime", "required when BolusCutOffFlag is true")
    delays = delay if isinstance(delay, list) else [delay]
    delays = [_number(meta, d, "BolusCutOffDelayTime") for d in delays]
    expected = 2 if technique == "Q2TIPS" else 1
    if len(delays) != expected:
        raise meta.error("BolusCutOffDelayTime", f"has {len(delays)} values; {technique} needs {expected}")
    ti1 = delays[0]  # QUIPSS II: the one saturation; Q2TIPS: the first of the train (white paper's TI1)
    if not 0 < ti1 <= MAX_PLAUSIBLE_TIME_S:
        raise meta.error("BolusCutOffDelayTime", f"must lie in (0, {MAX_PLAUSIBLE_TIME_S:g}] s, got {ti1:g}")
    return technique, ti1


def _slice_timing(meta: Sidecar, series: AslSeries) -> tuple[np.ndarray | None, int]:
    acquisition = meta.get("MRAcquisitionType")
    if acquisition not in (None, "2D", "3D"):
        raise meta.error("MRAcquisitionType", f"{acquisition!r} is not 2D or 3D")
    direction = meta.get("SliceEncodingDirection", "k")
    if direction not in ("i", "j", "k", "i-", "j-", "k-"):
        raise meta.error("SliceEncodingDirection", f"{direction!r} is not one of i, j, k, i-, j-, k-")
    axis = "ijk".index(direction[0])
    if "SliceTiming" not in meta:
        if acquisition == "2D":
            meta.require("SliceTiming", "required for a 2D readout: each slice has its own PLD")
        return None, axis
    if acquisition == "3D":
        raise meta.error("SliceTiming", "is given for a 3D readout (MRAcquisitionType 3D); BIDS forbids it there")
    value = meta.get("SliceTiming")
    n_slices = series.data.shape[axis]
    if not isinstance(value, list) or len(value) != n_slices:
        count = len(value) if isinstance(value, list) else "not a list of"
        raise meta.error("SliceTiming", f"has {count} values but {series.path.name} has {n_slices} slices along "
                         f"axis {direction}")
    times = np.array([_number(meta, v, "SliceTiming") for v in value])
    if times.min() < 0 or times.max() > MAX_PLAUSIBLE_TIME_S:
        raise meta.error("SliceTiming", f"values must lie in [0, {MAX_PLAUSIBLE_TIME_S:g}] s")
    return (times[::-1] if direction.endswith("-") else times), axis


def _labelling_efficiency(meta: Sidecar, labelling: str) -> tuple[float, str, bool, int | None]:
    """(alpha, where it came from, background suppression on, pulse count used)."""
    suppressed = meta.require("BackgroundSuppression", "it changes the labelling efficiency")
    if not isinstance(suppressed, bool):
        raise meta.error("BackgroundSuppression", f"must be true or false, got {suppressed!r}")
    if "LabelingEfficiency" in meta:
        alpha = _number(meta, meta.get("LabelingEfficiency"), "LabelingEfficiency")
        if not 0 < alpha <= 1:
            raise meta.error("LabelingEfficiency", f"must lie in (0, 1], got {alpha}")
        return alpha, f"LabelingEfficiency from {meta.file_of('LabelingEfficiency').name}", suppressed, None
    alpha = LABELLING_EFFICIENCY[labelling]
    if not suppressed:
        return alpha, f"{labelling} default {alpha}", False, None
    pulses, how = _pulse_count(meta)
    factor = BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY**pulses
    source = (f"{labelling} default {alpha} x {BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY} per background-suppression "
              f"pulse ({pulses} pulses, {how})")
    return alpha * factor, source, True, pulses


def _pulse_count(meta: Sidecar) -> tuple[int, str]:
    if "BackgroundSuppressionNumberPulses" in meta:
        count = _number(meta, meta.get("BackgroundSuppressionNumberPulses"), "BackgroundSuppressionNumberPulses")
        if count < 0 or count != int(count):
            raise meta.error("BackgroundSuppressionNumberPulses", f"must be a whole number >= 0, got {count}")
        return int(count), "BackgroundSuppressionNumberPulses"
    times = meta.get("BackgroundSuppressionPulseTime")
    if isinstance(times, list) and times:
        return len(times), "length of BackgroundSuppressionPulseTime"
    return 1, "count not given: one pulse assumed, as ASLPrep does"
