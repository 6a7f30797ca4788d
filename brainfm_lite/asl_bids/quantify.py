"""CBF from an ASL-BIDS series: pick the volumes, calibrate with M0, apply the white paper or fit multi-delay data.

Which volumes are used (``aslcontext.tsv``):

1. ``control`` and ``label`` volumes, paired in acquisition order: ``dM = control - label``;
2. else ``deltam`` volumes;
3. else (or when ``M0Type`` is ``Absent``) ``cbf`` volumes, averaged as they are (``Units`` must be
   mL/100 g/min).

``m0scan`` volumes calibrate (``M0Type`` ``Included``); ``noRF`` and ``n/a`` volumes are not used.

Quantification: when every difference volume has the same PLD and labelling duration, the mean ``dM`` goes into
the single-delay white-paper equation (`brainfm_lite.physics.asl.cbf_pcasl` for PCASL and CASL,
`cbf_pasl` for PASL with QUIPSS II / Q2TIPS, TI = PLD, TI1 = ``BolusCutOffDelayTime``); with 2D slice timing the
PLD of each slice is ``PLD + SliceTiming``. With several PLDs (or labelling durations) CBF and arterial transit
time are fitted with the Buxton model (`multidelay`). No motion correction, registration or outlier rejection:
the series is quantified on its own grid as stored (ASLPrep does those steps first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.asl_bids.m0 import M0Map, read_m0
from brainfm_lite.asl_bids.multidelay import fit_cbf_att
from brainfm_lite.asl_bids.protocol import AslProtocol, read_protocol
from brainfm_lite.asl_bids.series import AslSeries, find_series, read_series
from brainfm_lite.errors import InputError
from brainfm_lite.physics.asl import cbf_pasl, cbf_pcasl

# Voxels whose M0 is below this fraction of the M0 map's 98th percentile are background: their CBF is set to 0
# (dividing noise by a near-zero M0 gives meaningless, huge values). A uniform M0Estimate masks nothing.
BACKGROUND_M0_FRACTION = 0.1

# Spellings of the unit of stored cbf volumes that mean mL/100 g/min (compared without spaces, case-insensitive).
CBF_UNITS = ("ml/100g/min", "ml/100g/minute", "ml/(100g*min)", "ml/(100g)/min")


@dataclass
class CbfResult:
    """Mean CBF of one series, with what was used to compute it.

    Attributes:
        series: the series read.
        cbf: float64 [X, Y, Z], mL/100 g/min, on the series' grid (``series.affine``); 0 in the background
            (M0 below `BACKGROUND_M0_FRACTION` of its bright end).
        att: float64 [X, Y, Z] arterial transit time in s (multi-delay fits), else None.
        parameters: JSON-ready record of the inputs, constants and choices (written beside the map).
    """

    series: AslSeries
    cbf: np.ndarray
    att: np.ndarray | None
    parameters: dict


def quantify_participant(root: str | Path, participant: str, session: str | None = None) -> list[CbfResult]:
    """Mean CBF of every ASL series of one participant (and session), computed before anything is written.

    Raises:
        InputError: no series, or any series malformed (the message names the file and the field).
    """
    return [compute_cbf(read_series(root, path)) for path in find_series(root, participant, session)]


def compute_cbf(series: AslSeries) -> CbfResult:
    """Mean CBF map (mL/100 g/min) of one series read with `read_series`.

    Raises:
        InputError: malformed metadata (see `read_protocol`), no usable volumes, unequal control and label
            counts, a control/label pair with different timing, no M0 (``Absent`` without ``cbf`` volumes),
            ``cbf`` volumes without the unit, PASL timing with TI < TI1.
    """
    protocol = read_protocol(series)
    kind, indices = _volumes_to_use(series, protocol)
    parameters = _base_parameters(series, protocol, kind, indices)
    if kind == "cbf":
        _check_cbf_units(series)
        cbf = series.data[..., indices].mean(axis=3)
        parameters["Quantification"] = "mean of the stored cbf volumes"
        return CbfResult(series=series, cbf=np.nan_to_num(cbf), att=None, parameters=parameters)

    m0 = read_m0(series, protocol)
    delta_m, plds, taus = _difference_volumes(series, protocol, kind, indices)
    parameters.update(_m0_parameters(series, protocol, m0))
    inside = _head_mask(m0.data)
    parameters["Mask"] = f"M0 > {BACKGROUND_M0_FRACTION} x its 98th percentile ({int(inside.sum())} voxels)"
    timing = sorted({(p, t) for p, t in zip(plds, taus if taus is not None else [None] * len(plds))},
                    key=lambda pair: (pair[0], pair[1] or 0.0))
    slice_offsets = _slice_offsets(series, protocol)
    if len(timing) == 1:
        cbf = _single_delay(series, protocol, delta_m.mean(axis=3), m0.data, plds[0] + slice_offsets,
                            None if taus is None else taus[0])
        cbf, att = np.where(inside, cbf, 0.0), None
        parameters["Quantification"] = _single_delay_description(protocol)
    else:
        cbf, att = _multi_delay(protocol, delta_m, m0.data, inside, plds, taus, timing, slice_offsets)
        parameters["Quantification"] = ("Buxton general kinetic model (single compartment), CBF and ATT fitted "
                                        "per voxel with scipy.optimize.least_squares after an ATT grid search")
    parameters["PostLabelingDelay"] = sorted({float(p) for p in plds})
    if taus is not None:
        parameters["LabelingDuration"] = sorted({float(t) for t in taus})
    return CbfResult(series=series, cbf=np.nan_to_num(cbf), att=att, parameters=parameters)


def _volumes_to_use(series: AslSeries, protocol: AslProtocol) -> tuple[str, list[int]]:
    """("control"/"deltam"/"cbf", volume indices): the raw pairs first, then deltam, then stored cbf."""
    controls, labels = series.indices("control"), series.indices("label")
    deltams, cbfs = series.indices("deltam"), series.indices("cbf")
    if protocol.m0_type == "Absent":
        if not cbfs:
            raise series.metadata.error("M0Type", f"is Absent and {series.context_path.name} has no cbf volume: "
                                        "there is no M0 to calibrate dM with (add an M0 scan, M0Type Estimate "
                                        "with M0Estimate, or cbf volumes)")
        return "cbf", cbfs
    if controls or labels:
        if len(controls) != len(labels):
            raise InputError(f"{series.context_path}: volume_type has {len(controls)} control and {len(labels)} "
                             "label rows; they must come in pairs")
        return "control", controls
    if deltams:
        return "deltam", deltams
    if cbfs:
        return "cbf", cbfs
    raise InputError(f"{series.context_path}: volume_type has no control/label, deltam or cbf rows; nothing to "
                     "quantify")


def _difference_volumes(series, protocol, kind, indices):
    """dM [X, Y, Z, D] with the PLD [D] and labelling duration [D] (or None) of each difference volume."""
    pld_all, tau_all = protocol.post_labelling_delay_s, protocol.labelling_duration_s
    if kind == "deltam":
        delta_m = series.data[..., indices]
    else:
        labels = series.indices("label")
        for control, label in zip(indices, labels):
            same_tau = tau_all is None or tau_all[control] == tau_all[label]
            if pld_all[control] != pld_all[label] or not same_tau:
                field = "PostLabelingDelay" if pld_all[control] != pld_all[label] else "LabelingDuration"
                raise series.metadata.error(field, f"differs between control volume {control} and its label "
                                            f"volume {label}; a pair must share its timing")
        delta_m = series.data[..., indices] - series.data[..., labels]
    plds = pld_all[indices]
    taus = None if tau_all is None else tau_all[indices]
    if protocol.labelling_type == "PASL" and plds.min() < protocol.bolus_duration_s:
        raise series.metadata.error("BolusCutOffDelayTime", f"({protocol.bolus_duration_s:g} s, TI1) is longer "
                                    f"than a PostLabelingDelay (TI) of {plds.min():g} s: the bolus must be cut off "
                                    "before the readout")
    if taus is not None and taus.min() <= 0:
        raise series.metadata.error("LabelingDuration", "must be positive for control, label and deltam volumes")
    return delta_m, plds, taus


def _slice_offsets(series: AslSeries, protocol: AslProtocol) -> np.ndarray:
    """Readout delay of each voxel's slice, s, broadcastable to [X, Y, Z] (0 for a 3D readout)."""
    if protocol.slice_times_s is None:
        return np.zeros((1, 1, 1))
    shape = [1, 1, 1]
    shape[protocol.slice_axis] = protocol.slice_times_s.size
    return protocol.slice_times_s.reshape(shape)


def _single_delay(series, protocol, delta_m, m0, pld, tau):
    pld = np.broadcast_to(pld, delta_m.shape)
    if protocol.labelling_type == "PASL":
        return cbf_pasl(delta_m, m0, ti=pld, ti1=protocol.bolus_duration_s, t1_blood=protocol.t1_blood_s,
                        alpha=protocol.labelling_efficiency, lam=protocol.partition_coefficient)
    return cbf_pcasl(delta_m, m0, pld=pld, tau=tau, t1_blood=protocol.t1_blood_s,
                     alpha=protocol.labelling_efficiency, lam=protocol.partition_coefficient)


def _multi_delay(protocol, delta_m, m0, inside, plds, taus, timing, slice_offsets):
    """CBF and ATT maps [X, Y, Z] from difference volumes at several (PLD, tau), fitted where ``inside``."""
    shape = delta_m.shape[:3]
    groups = []
    for pld, tau in timing:
        members = [i for i in range(len(plds)) if plds[i] == pld and (taus is None or taus[i] == tau)]
        groups.append((pld, tau, members))
    signal = np.stack([delta_m[..., members].mean(axis=3)[inside] / m0[inside] for _, _, members in groups], axis=1)
    weights = np.sqrt([len(members) for _, _, members in groups])
    voxel_plds = np.stack([(pld + np.broadcast_to(slice_offsets, shape))[inside] for pld, _, _ in groups], axis=1)
    cbf_values, att_values = fit_cbf_att(
        signal, weights, plds=voxel_plds, taus=None if taus is None else np.array([tau for _, tau, _ in groups]),
        labelling_type=protocol.labelling_type, ti1=protocol.bolus_duration_s, t1_blood=protocol.t1_blood_s,
        alpha=protocol.labelling_efficiency, lam=protocol.partition_coefficient)
    cbf, att = np.zeros(shape), np.zeros(shape)
    cbf[inside], att[inside] = cbf_values, att_values
    return cbf, att


def _head_mask(m0: np.ndarray) -> np.ndarray:
    """Voxels with a usable M0: positive and at least `BACKGROUND_M0_FRACTION` of the bright end of the map."""
    positive = m0[(m0 > 0) & np.isfinite(m0)]
    if positive.size == 0:
        return np.zeros(m0.shape, bool)
    return (m0 > BACKGROUND_M0_FRACTION * np.percentile(positive, 98)) & np.isfinite(m0)


def _check_cbf_units(series: AslSeries) -> None:
    units = series.metadata.require("Units", "BIDS requires it when the series holds cbf volumes")
    if str(units).replace(" ", "").lower() not in CBF_UNITS:
        raise series.metadata.error("Units", f"is {units!r}; cbf volumes must be in mL/100g/min")


def _single_delay_description(protocol: AslProtocol) -> str:
    if protocol.labelling_type == "PASL":
        return ("white paper single-delay PASL equation: CBF = 6000 lambda dM exp(TI/T1b) / (2 alpha TI1 M0), "
                "TI = PostLabelingDelay (+ SliceTiming), TI1 = BolusCutOffDelayTime")
    return ("white paper single-delay (P)CASL equation: CBF = 6000 lambda dM exp(PLD/T1b) / "
            "(2 alpha T1b M0 (1 - exp(-tau/T1b))), PLD = PostLabelingDelay (+ SliceTiming), tau = LabelingDuration")


def _base_parameters(series: AslSeries, protocol: AslProtocol, kind: str, indices: list[int]) -> dict:
    counts = {kind_: series.volume_types.count(kind_) for kind_ in dict.fromkeys(series.volume_types)}
    used = {"control": ["control", "label"], "deltam": ["deltam"], "cbf": ["cbf"]}[kind]
    if protocol.m0_type == "Included" and kind != "cbf":
        used = [*used, "m0scan"]
    sources = [f"bids::{series.relative(series.path)}", f"bids::{series.relative(series.context_path)}"]
    return {
        "Units": "mL/100 g/min",
        "Sources": sources,
        "SidecarFiles": [f"bids::{series.relative(p)}" for p in series.metadata.files],
        "ArterialSpinLabelingType": protocol.labelling_type,
        "M0Type": protocol.m0_type,
        "MagneticFieldStrength": protocol.field_strength_t,
        "VolumesUsed": {k: v for k, v in counts.items() if k in used},
        "VolumesNotUsed": {k: v for k, v in counts.items() if k not in used},
        "BloodT1": protocol.t1_blood_s,
        "LabelingEfficiency": protocol.labelling_efficiency,
        "LabelingEfficiencySource": protocol.labelling_efficiency_source,
        "PartitionCoefficient": protocol.partition_coefficient,
        "BackgroundSuppression": protocol.background_suppression,
        "BackgroundSuppressionNumberPulses": protocol.background_suppression_pulses,
        "BolusCutOffTechnique": protocol.bolus_cutoff_technique,
        "BolusCutOffDelayTime": protocol.bolus_duration_s,
        "SliceTiming": None if protocol.slice_times_s is None else protocol.slice_times_s.tolist(),
        "SliceTimingApplied": protocol.slice_times_s is not None,
    }


def _m0_parameters(series: AslSeries, protocol: AslProtocol, m0: M0Map) -> dict:
    return {
        "M0Source": m0.source,
        "M0Files": [f"bids::{series.relative(p)}" for p in m0.files],
        "M0RepetitionTime": None if m0.repetition_time_s is None else list(m0.repetition_time_s),
        "M0RepetitionTimeSource": m0.repetition_time_source,
        "M0SaturationRecoveryFactors": list(m0.recovery_factors),
        "TissueT1ForM0Correction": None if m0.repetition_time_s is None else protocol.t1_tissue_s,
    }
