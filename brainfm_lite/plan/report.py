"""`Plan` as a fixed-width table for a terminal (``brainfm plan``) and as JSON (``--json PATH``)."""

from __future__ import annotations

from pathlib import Path

from brainfm_lite.atomic import write_json
from brainfm_lite.plan.data_costs import ASL_MAP_GPU_COSTS
from brainfm_lite.plan.gpus import GPUS, HOST_SECONDS_PER_OPERATION
from brainfm_lite.plan.planner import Plan

COLUMNS = (  # header, width, value of a row
    ("ch", 2, lambda r: str(r.chapter)),
    ("run", 36, lambda r: r.label + ("*" if r.scaled else "")),
    ("params", 7, lambda r: _count(r.parameters)),
    ("batch", 5, lambda r: str(r.batch)),
    ("steps x runs", 12, lambda r: f"{r.steps}x{r.runs}" if r.total_steps == r.steps * r.runs
     else f"{r.total_steps} in {r.runs}"),
    ("GFLOP/step", 10, lambda r: f"{r.flops_per_step / 1e9:.1f}"),
    ("PFLOP", 8, lambda r: f"{r.total_flops / 1e15:.3g}"),
    ("w+opt", 7, lambda r: _bytes(r.weight_bytes)),
    ("activ.", 7, lambda r: _bytes(r.activation_bytes)),
    ("peak", 7, lambda r: _bytes(r.peak_bytes)),
    ("prec", 4, lambda r: r.precision),
    ("GPU time", 9, lambda r: duration(r.gpu_seconds) + ("^" if r.host_bound else " ")),
    ("data", 8, lambda r: duration(r.data_seconds) if r.data_seconds else "-"),
)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.0f}k"


def _bytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def duration(seconds: float) -> str:
    """Seconds as "12 s", "3.4 min" or "2.5 h"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _line(values) -> str:
    """One table line: the run's label left-aligned, numbers right-aligned."""
    return "  ".join(value.ljust(width) if k == 1 else value.rjust(width)
                     for k, (value, (_, width, _)) in enumerate(zip(values, COLUMNS)))


def format_plan(plan: Plan) -> str:
    """The plan as text: the constants, one line per run, one verdict per chapter, the notes."""
    gpu = GPUS[plan.gpu]
    if gpu.bf16 is None:
        peaks = f"fp32 {gpu.fp32 / 1e12:.1f} TFLOP/s; no bf16, and the Trainer does not use its fp16"
    else:
        peaks = f"bf16 {gpu.bf16 / 1e12:.0f}, TF32 {gpu.tf32 / 1e12:.0f}, fp32 {gpu.fp32 / 1e12:.1f} TFLOP/s"
    lines = [f"brainfm plan --profile {plan.profile}: predicted on {plan.gpu_name} ({peaks}) at "
             f"{plan.utilisation:.0%} of peak ({plan.utilisation_source}); data simulated on {plan.workers} "
             f"worker(s){' (CBF maps in batches on the GPU)' if plan.gpu in ASL_MAP_GPU_COSTS else ''}",
             _line([header for header, _, _ in COLUMNS]), _line(["-" * width for _, width, _ in COLUMNS])]
    lines += [_line([value(row) for _, _, value in COLUMNS]) for row in plan.rows]
    lines.append("")
    for chapter in plan.chapters:
        verdict = _verdict(plan, chapter)
        lines.append(f"{chapter.name}: simulate {chapter.data_items} {chapter.data_what} "
                     f"{duration(chapter.data_seconds)} + runs {duration(chapter.run_seconds)} = "
                     f"{duration(chapter.seconds)}; peak {_bytes(chapter.peak_bytes)}{verdict}")
        lines += [f"    change: {change}" for change in chapter.changes]
    lines += ["", *notes(plan)]
    return "\n".join(lines)


def _verdict(plan: Plan, chapter) -> str:
    usable = f"{_bytes(plan.memory_bytes)} usable"
    memory = f"fits ({usable})" if chapter.fits_memory else f"does NOT fit ({usable})"
    if chapter.fits_time is None:
        return f"; memory {memory}"
    time = f"within {plan.budget_s / 60:g} min" if chapter.fits_time else f"NOT within {plan.budget_s / 60:g} min"
    return f"; memory {memory}, {time} on the {plan.gpu_name}"


def notes(plan: Plan) -> list[str]:
    """How the numbers were made, for the reader of the table."""
    scaled = [f"{row.label} ({row.measured_size} -> {row.real_size})" for row in plan.rows if row.scaled]
    sources = dict.fromkeys([chapter.data_source for chapter in plan.chapters] +
                            [row.data_source for row in plan.rows if row.data_source])
    return [
        "FLOPs: torch FlopCounterMode on one real forward + backward (sampling: forward) at batch 1 (2 where NT-Xent "
        "or batch norm needs it), divided per unit and scaled linearly to the batch; total = per step x steps x runs.",
        "Memory: AdamW in fp32 (weights, gradients, 2 moments; +1 copy for EMA) + activations saved for backward "
        "(measured in fp32, storages counted once, x batch); sampling: weights + the peak of its live tensors "
        f"(no_grad). A run may use {plan.memory_bytes / GPUS[plan.gpu].memory:.0%} of the GPU's memory.",
        f"Time: a step takes FLOPs / (peak x {plan.utilisation:.2f}) in the precision the Trainer uses on this GPU "
        "(bf16 only where a run asks for it and the GPU has it; else fp32, convolutions in TF32 where available), "
        f"or, when longer (^), its operations x {HOST_SECONDS_PER_OPERATION * 1e6:.0f} us, the host's time to issue "
        "them (measured on an H200 machine; a slower host, such as Colab's, takes longer); data simulated on the fly "
        "overlaps it (the slower one counts); cache simulation runs before. Data loading is not included.",
        "* measured at a reduced image size and scaled by voxel count (attention FLOPs by its square, activations "
        "tensor by tensor): "
        + ("; ".join(scaled) if scaled else "none"),
        f"Data costs (one core a item): {'; '.join(sources)}. View augmentations are not included (unmeasured).",
        f"Measuring took {plan.measure_cpu_s:.0f} s of CPU time (steps heavier than "
        f"{plan.max_measured_flops / 1e9:.0f} GFLOP are measured smaller).",
    ]


def write_plan_json(plan: Plan, path: str | Path) -> Path:
    """Write the plan's rows, chapters and constants as JSON (atomically)."""
    return write_json(path, plan.to_dict())
