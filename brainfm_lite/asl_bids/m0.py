"""The M0 (equilibrium magnetisation) map a series is calibrated with, by ``M0Type``.

- ``Separate``: the ``*_m0scan.nii[.gz]`` files in the series' folder whose ``IntendedFor`` names the series
  (averaged when several); their own ``*_m0scan.json`` gives ``RepetitionTimePreparation``.
- ``Included``: the mean of the series' ``m0scan`` volumes; ``RepetitionTimePreparation`` from ``asl.json``
  (per volume when it is a list).
- ``Estimate``: ``M0Estimate`` in every voxel (as ASLPrep uses it: a tissue M0, divided by lambda like a map).
- ``Absent``: no M0; only precomputed ``cbf`` volumes can be used then.

Saturation-recovery correction: an M0 volume acquired with ``RepetitionTimePreparation`` below
`SHORT_TR_S` is divided by ``1 - exp(-TR / T1_tissue)`` (grey-matter T1 at the field strength), volume by volume,
before averaging. A ``RepetitionTimePreparation`` of 0 (which the schema allows and converters write, e.g.
OpenNeuro ds000240) says nothing about recovery: ``RepetitionTime`` is used instead, and the JSON says so. This
is the white paper's correction (Alsop et al. 2015, p. 113) applied as ASLPrep applies it:
only below 5 s, one grey-matter T1 for every voxel. No smoothing (ASLPrep smooths M0 with a 5 mm kernel; here the
map is used as acquired, so a noise-free dataset quantifies exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.asl_bids.protocol import AslProtocol
from brainfm_lite.asl_bids.series import AslSeries, load_4d, m0scans_for
from brainfm_lite.asl_bids.sidecars import read_sidecar
from brainfm_lite.errors import InputError
from brainfm_lite.physics.asl import m0_correction

# Below this M0 repetition time (s) incomplete recovery is corrected (white paper; ASLPrep's threshold).
SHORT_TR_S = 5.0
# Voxel-to-world matrices closer than this (mm) describe the same grid.
GRID_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class M0Map:
    """A calibration map on the series' grid.

    Attributes:
        data: float64 [X, Y, Z], corrected for incomplete recovery where the TR was short.
        source: ``m0scan file``, ``m0scan volumes`` or ``M0Estimate``.
        files: the M0 files read (empty for volumes inside the series and for an estimate).
        repetition_time_s: the TR of each M0 volume used, or None for an estimate.
        recovery_factors: the factor each M0 volume was multiplied by (1.0 when not corrected).
        repetition_time_source: the field the TRs came from, in words (None for an estimate).
    """

    data: np.ndarray
    source: str
    files: tuple[Path, ...]
    repetition_time_s: tuple[float, ...] | None
    recovery_factors: tuple[float, ...]
    repetition_time_source: str | None = None


def read_m0(series: AslSeries, protocol: AslProtocol) -> M0Map | None:
    """The M0 map of ``series`` by its ``M0Type``; None for ``Absent``.

    Raises:
        InputError: ``Separate`` without an M0 scan intended for the series, an M0 scan on another grid or
            without ``RepetitionTimePreparation``; ``Included`` without ``m0scan`` volumes or without
            ``RepetitionTimePreparation``.
    """
    if protocol.m0_type == "Separate":
        return _separate(series, protocol)
    if protocol.m0_type == "Included":
        return _included(series, protocol)
    if protocol.m0_type == "Estimate":
        data = np.full(series.data.shape[:3], protocol.m0_estimate, dtype=np.float64)
        return M0Map(data=data, source="M0Estimate", files=(), repetition_time_s=None, recovery_factors=(1.0,))
    return None


def _separate(series: AslSeries, protocol: AslProtocol) -> M0Map:
    scans = m0scans_for(series)
    if not scans:
        others = sorted(series.path.parent.glob("*_m0scan.nii*"))
        if others:  # an M0 scan is there, but its IntendedFor does not point at this series
            meta = read_sidecar(series.root, others[0], suffix="m0scan")
            given = f"is {meta.get('IntendedFor')!r}" if "IntendedFor" in meta else "is missing"
            raise InputError(f"{meta.file_of('IntendedFor')}: IntendedFor {given}; it must name "
                             f"bids::{series.relative(series.path)} (M0Type is Separate in "
                             f"{series.metadata.file_of('M0Type')})")
        raise series.metadata.error("M0Type", f"is Separate but {series.path.parent} has no *_m0scan.nii[.gz]")
    volumes, trs, sources = [], [], set()
    for scan in scans:
        data = _load_on_grid(scan, series)
        meta = read_sidecar(series.root, scan, suffix="m0scan")
        tr = meta.require("RepetitionTimePreparation", "needed to correct M0 for incomplete recovery")
        tr = tr if isinstance(tr, list) else [tr] * data.shape[3]
        if len(tr) != data.shape[3]:
            raise meta.error("RepetitionTimePreparation", f"has {len(tr)} values but {scan.name} has "
                             f"{data.shape[3]} volumes")
        scan_trs, source = _repetition_times(meta, tr)
        volumes += [data[..., index] for index in range(data.shape[3])]
        trs += scan_trs
        sources.add(source)
    return _corrected_mean(volumes, trs, protocol, source="m0scan file", files=tuple(scans),
                           tr_source="; ".join(sorted(sources)))


def _included(series: AslSeries, protocol: AslProtocol) -> M0Map:
    indices = series.indices("m0scan")
    if not indices:
        raise InputError(f"{series.context_path}: volume_type has no m0scan row, but M0Type is Included "
                         f"(in {series.metadata.file_of('M0Type')})")
    if protocol.repetition_time_preparation_s is None:
        series.metadata.require("RepetitionTimePreparation", "needed to correct the included M0 volumes")
    trs, tr_source = _repetition_times(series.metadata, [protocol.repetition_time_preparation_s[i] for i in indices])
    volumes = [series.data[..., i] for i in indices]
    return _corrected_mean(volumes, trs, protocol, source="m0scan volumes", files=(), tr_source=tr_source)


def _repetition_times(meta, values) -> tuple[list[float], str]:
    """The TR (s) of each M0 volume: ``RepetitionTimePreparation``, or ``RepetitionTime`` where that is 0."""
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or value < 0:
            raise meta.error("RepetitionTimePreparation", f"must be numbers >= 0 (s), got {value!r}")
    if min(values) > 0:
        return [float(v) for v in values], "RepetitionTimePreparation"
    fallback = meta.get("RepetitionTime")
    if isinstance(fallback, bool) or not isinstance(fallback, (int, float)) or fallback <= 0:
        raise meta.error("RepetitionTimePreparation", "is 0 for M0 volumes and there is no RepetitionTime > 0 to "
                         "use instead; the M0 cannot be corrected for incomplete recovery")
    return ([float(v) if v > 0 else float(fallback) for v in values],
            f"RepetitionTime of {meta.file_of('RepetitionTime').name} (RepetitionTimePreparation is 0)")


def _corrected_mean(volumes, trs, protocol: AslProtocol, *, source: str, files, tr_source: str) -> M0Map:
    factors = []
    corrected = []
    for volume, tr in zip(volumes, trs):
        if tr < SHORT_TR_S:
            factors.append(float(m0_correction(1.0, tr=tr, t1_tissue=protocol.t1_tissue_s)))
            corrected.append(m0_correction(volume, tr=tr, t1_tissue=protocol.t1_tissue_s))
        else:
            factors.append(1.0)
            corrected.append(volume)
    return M0Map(data=np.mean(corrected, axis=0), source=source, files=files, repetition_time_s=tuple(trs),
                 recovery_factors=tuple(factors), repetition_time_source=tr_source)


def _load_on_grid(path: Path, series: AslSeries) -> np.ndarray:
    """[X, Y, Z, N] voxels of an M0 file; InputError unless it lies on the series' grid."""
    data, affine = load_4d(path)
    shape = series.data.shape[:3]
    if data.shape[:3] != shape or not np.allclose(affine, series.affine, atol=GRID_TOLERANCE_MM):
        raise InputError(f"{path}: grid (shape {data.shape[:3]}) differs from {series.path.name}'s (shape {shape}, "
                         "or another affine); resample the M0 scan onto the ASL grid first")
    return data
