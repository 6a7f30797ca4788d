"""What simulating the chapters' data costs on a CPU core: the measured figures, and their scaling to a profile.

The chapters simulate their subjects into a cache before training (ASL CBF maps, structural subjects, recon slices)
and the sequence-invariant pretraining simulates two contrasts per pair on the fly, in the DataLoader's workers.
Each figure below was measured on the project's 2-core CPU (AMD EPYC, AVX2) and is named with its source; a
profile at another grid gets the figure of the nearest measured spacing (or size) scaled by the voxel count, which
the plan marks as scaled. The views' augmentations (crops, flips, elastic deformation, bias field, noise) are not
included: no figure of them alone has been measured.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredCost:
    """Seconds of one CPU core for one item, at the grid it was measured on.

    Attributes:
        item: what one item is ("ASL CBF map", ...).
        core_seconds: seconds of one core per item.
        spacing_mm: grid spacing it was measured at (None: the cost depends on `voxels` only).
        voxels: voxels of the item's grid where the spacing does not say it (a contrast of a cached volume).
        source: where the figure is recorded.
    """

    item: str
    core_seconds: float
    spacing_mm: float | None = None
    voxels: int | None = None
    source: str = ""


ASL_MAP_COSTS = (
    MeasuredCost("ASL CBF map", 1.55, spacing_mm=2.0,
                 source="issue 19: 1.4-1.7 s a map at 2 mm (numpy, one map at a time)"),
    # 0.46-0.53 s a map of wall time with two processes on two cores: about 1.0 s of one core
    MeasuredCost("ASL CBF map", 1.0, spacing_mm=3.0,
                 source="profiles/reference.yaml: prepare(n_jobs=2) 0.46-0.53 s a map at 3 mm on 2 cores"),
)
# CBF maps simulated in batches on the run's GPU (what a GPU run does: `train.distributed.simulation_device`), by
# the planner's GPU; a GPU not listed is planned with the numpy figures on the CPU workers (its batched path is
# unmeasured). Seconds of the GPU a map, not of a core.
ASL_MAP_GPU_COSTS = {
    "h100": MeasuredCost("ASL CBF map", 0.051, spacing_mm=2.0,
                         source="benchmarks/README.md, bench_batched_simulation: 0.051 s a map at 2 mm in batches "
                                "of 8-32 on an H200"),
}
STRUCTURAL_SUBJECT_COSTS = (
    MeasuredCost("structural subject", 0.083, spacing_mm=4.0,
                 source="benchmarks/README.md, bench_synth: 0.083 s a subject at 4 mm"),
    MeasuredCost("structural subject", 0.637, spacing_mm=2.0,
                 source="benchmarks/README.md, bench_synth: 0.637 s a subject at 2 mm"),
)
# SeqInv views: the voxelwise signal equations on the cached maps
CONTRAST_COST = MeasuredCost("simulated contrast", 1 / 30.8, voxels=96**3,
                             source="benchmarks/README.md, bench_contrasts: 30.8 contrasts/s from voxelwise maps at "
                                    "96^3 (numpy)")


@dataclass(frozen=True)
class ItemCost:
    """One item's seconds on one core at a profile's grid, and how that figure was obtained."""

    core_seconds: float
    source: str
    scaled: bool


def at_spacing(costs: tuple[MeasuredCost, ...], spacing_mm: float) -> ItemCost:
    """The cost of one item at `spacing_mm`: the measured figure of the nearest spacing, scaled by the voxel count
    (spacing_measured / spacing_mm)^3 when the spacings differ."""
    nearest = min(costs, key=lambda cost: abs(cost.spacing_mm - spacing_mm))
    factor = (nearest.spacing_mm / spacing_mm) ** 3
    scaled = factor != 1.0
    source = nearest.source + (f", scaled by voxel count x{factor:.2f} to {spacing_mm:g} mm" if scaled else "")
    return ItemCost(nearest.core_seconds * factor, source, scaled)


def at_voxels(cost: MeasuredCost, voxels: int) -> ItemCost:
    """The cost of one item of `voxels` voxels, from a figure measured at ``cost.voxels``, scaled by voxel count."""
    factor = voxels / cost.voxels
    scaled = factor != 1.0
    return ItemCost(cost.core_seconds * factor, cost.source + (f", scaled x{factor:.2f} by voxel count" if scaled
                                                                else ""), scaled)
