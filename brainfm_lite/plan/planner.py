"""The plan of a profile: every chapter run's size, FLOPs, memory and predicted time on a GPU, each chapter's data
simulation, and whether each chapter fits a GPU and a time budget (with what to change when it does not).

Per run (one `RunPlan` row): one batch unit's cost is measured at the profile's sizes (`measure_per_unit`: a real
forward and backward pass at batch 1, or 2 where the network needs two) and scaled linearly to the run's batch.
Training runs count forward + backward; sampling runs the forward pass only. Memory is the weights with AdamW's
state in fp32 (parameters, gradients and two moments: 16 bytes a trainable parameter, plus 4 for an EMA copy, 4 for
frozen ones) and the measured activations (fp32, as the CPU measured them; bf16 autocast keeps about half).

    >>> plan = plan_profile(load_profile("colab"), "t4", budget_s=20 * 60)               # doctest: +SKIP
    >>> [chapter.fits for chapter in plan.chapters]                                     # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

from brainfm_lite.config import Profile
from brainfm_lite.errors import InputError
from brainfm_lite.plan.gpus import GPUS, HOST_SECONDS_PER_OPERATION, MEMORY_HEADROOM, precision_on, seconds_for
from brainfm_lite.plan.runs import CHAPTERS, chapter_data, planned_runs, scaled_field, workers
from brainfm_lite.plan.scaling import MAX_MEASURED_FLOPS, Measurement, measure_per_unit
from brainfm_lite.plan.steps import TRAINING_STEPS

# Each chapter's budget on its GPU, seconds, by profile (DESIGN.md: colab, one 16 GB T4, <= 20 min a chapter)
CHAPTER_BUDGETS = {"colab": 20 * 60}
DEFAULT_GPU = {"full": "h100"}  # every other profile: "t4"
FP32_BYTES = 4
# the profile field that sets each step's batch (what to lower when a run does not fit in memory)
BATCH_FIELDS = {"mae_cbf": "mae_batch_size", "simclr_cbf": "mae_batch_size", "finetune_mae_cbf": "mae_batch_size",
                "finetune_simclr_cbf": "mae_batch_size", "simclr": "contrastive_batch_size",
                "seqinv": "contrastive_batch_size", "mae_structural": "contrastive_batch_size",
                "finetune_structural": "contrastive_batch_size", "dense_segmentation": "dense_batch_size",
                "dense_denoising": "dense_batch_size", "diffusion_prior": "diffusion_batch_size",
                "supervised_unet": "diffusion_batch_size", "posterior_sampling": "recon_eval_slices"}


@dataclass
class RunPlan:
    """One row of the plan: a kind of run of a chapter at the profile, on the GPU planned for."""

    chapter: int
    label: str
    step: str
    kind: str  # "train" or "sample"
    parameters: int
    batch: int
    steps: int  # of one run
    runs: int
    total_steps: int  # over all runs
    runs_note: str
    flops_per_step: float
    total_flops: float
    weight_bytes: float  # weights + optimizer state (+ EMA)
    activation_bytes: float  # at the run's batch
    activation_bytes_per_unit: float
    precision: str
    gpu_seconds: float  # over all steps: each step the longer of its FLOPs' time and its operations' issue time
    compute_seconds: float  # over all steps: the FLOPs at the GPU's share of its peak
    host_seconds: float  # over all steps: the operations issued at HOST_SECONDS_PER_OPERATION each
    operations: int  # aten operations of one step
    data_seconds: float  # on-the-fly simulation, on the profile's workers
    data_source: str
    measured_size: int
    real_size: int
    steps_fields: tuple[str, ...]

    @property
    def peak_bytes(self) -> float:
        return self.weight_bytes + self.activation_bytes

    @property
    def seconds(self) -> float:
        """Predicted wall time: the GPU waits for on-the-fly data when that is slower."""
        return max(self.gpu_seconds, self.data_seconds)

    @property
    def scaled(self) -> bool:
        return self.measured_size != self.real_size

    @property
    def host_bound(self) -> bool:
        """Whether issuing the step's operations takes longer than its FLOPs (a small network's step)."""
        return self.host_seconds > self.compute_seconds


@dataclass
class ChapterPlan:
    """A chapter's data simulation, its runs' time, and the verdict against a GPU and a budget."""

    chapter: int
    name: str
    data_items: int
    data_what: str
    data_seconds: float
    data_source: str
    run_seconds: float
    peak_bytes: float
    fits_memory: bool
    fits_time: bool | None  # None: no budget
    changes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.data_seconds + self.run_seconds

    @property
    def fits(self) -> bool:
        return self.fits_memory and self.fits_time is not False


@dataclass
class Plan:
    """Everything `brainfm plan` prints."""

    profile: str
    gpu: str
    gpu_name: str
    utilisation: float
    utilisation_source: str
    memory_bytes: float
    budget_s: float | None
    workers: int
    rows: list[RunPlan]
    chapters: list[ChapterPlan]
    measure_cpu_s: float
    max_measured_flops: float

    def to_dict(self) -> dict:
        rows = [{**asdict(row), "peak_bytes": row.peak_bytes, "seconds": row.seconds, "scaled": row.scaled}
                for row in self.rows]
        chapters = [{**asdict(chapter), "seconds": chapter.seconds, "fits": chapter.fits} for chapter in self.chapters]
        return {**{k: v for k, v in asdict(self).items() if k not in ("rows", "chapters")},
                "gpu_peaks": asdict(GPUS[self.gpu]), "rows": rows, "chapters": chapters}


def measure_steps(profile: Profile, names=None, *, max_flops: float = MAX_MEASURED_FLOPS) -> dict[str, Measurement]:
    """`measure_per_unit` of every step the profile's runs use (or of `names`), each once."""
    names = list(dict.fromkeys(run.name for run in planned_runs(profile))) if names is None else names
    return {name: measure_per_unit(profile, name, max_flops=max_flops) for name in names}


def plan_profile(profile: Profile, gpu: str | None = None, *, budget_s: float | None = None,
                 memory_bytes: float | None = None, utilisation: float | None = None,
                 measurements: dict[str, Measurement] | None = None,
                 max_measured_flops: float = MAX_MEASURED_FLOPS) -> Plan:
    """The plan of `profile` on `gpu` ("t4", "a100", "h100"; default h100 for full, else t4).

    Args:
        profile: the `Profile`.
        gpu: a `GPUS` key.
        budget_s: each chapter's time budget, seconds (default `CHAPTER_BUDGETS` of the profile; None: no verdict
            on time).
        memory_bytes: the memory a run may use (default the GPU's memory x `MEMORY_HEADROOM`).
        utilisation: share of the GPU's peak a step's FLOPs run at (default the GPU's, `GPUS`).
        measurements: `measure_steps` results to reuse (default: measured now).
        max_measured_flops: heavier steps are measured at a reduced image size and scaled (`measure_per_unit`).
    """
    gpu = gpu or DEFAULT_GPU.get(profile.name, "t4")
    if gpu not in GPUS:
        raise InputError(f"unknown GPU {gpu!r}: choose one of {', '.join(GPUS)}")
    device = GPUS[gpu]
    budget_s = CHAPTER_BUDGETS.get(profile.name) if budget_s is None else budget_s
    memory_bytes = device.memory * MEMORY_HEADROOM if memory_bytes is None else memory_bytes
    started = time.process_time()
    if measurements is None:
        measurements = measure_steps(profile, max_flops=max_measured_flops)
    measure_cpu_s = time.process_time() - started
    utilisation = device.utilisation if utilisation is None else utilisation
    source = device.utilisation_source if utilisation == device.utilisation else "given"
    rows = [_row(run, measurements[run.name], profile, device, utilisation) for run in planned_runs(profile)]
    chapters = [_chapter(data, [r for r in rows if r.chapter == data.chapter], profile, memory_bytes, budget_s)
                for data in chapter_data(profile, gpu)]
    return Plan(profile.name, gpu, device.name, utilisation, source, memory_bytes, budget_s, workers(profile), rows,
                chapters, measure_cpu_s, max_measured_flops)


def _row(run, measurement: Measurement, profile: Profile, device, utilisation: float) -> RunPlan:
    unit = measurement.per_unit
    training = run.name in TRAINING_STEPS
    if training:  # weights, gradients and AdamW's two moments of what trains; the weights of what is frozen; EMA
        frozen = unit.parameters - unit.trainable
        weight_bytes = FP32_BYTES * (4 * unit.trainable + frozen + (unit.parameters if measurement.ema else 0))
    else:
        weight_bytes = FP32_BYTES * unit.parameters
    precision = precision_on(device, measurement.precision)
    compute_seconds = seconds_for(device, matmul_flops=unit.matmul_flops * run.batch,
                                  convolution_flops=unit.convolution_flops * run.batch, precision=precision,
                                  utilisation=utilisation)
    host_seconds = unit.operations * HOST_SECONDS_PER_OPERATION  # the GPU cannot run ahead of the host
    data_seconds = run.data_seconds_per_step * run.total_steps / workers(profile)
    return RunPlan(chapter=run.chapter, label=run.label, step=run.name, kind="train" if training else "sample",
                   parameters=unit.parameters, batch=run.batch, steps=run.steps, runs=run.runs,
                   total_steps=run.total_steps, runs_note=run.runs_note, flops_per_step=unit.flops * run.batch,
                   total_flops=unit.flops * run.batch * run.total_steps, weight_bytes=float(weight_bytes),
                   activation_bytes=float(unit.activation_bytes * run.batch),
                   activation_bytes_per_unit=float(unit.activation_bytes), precision=precision,
                   gpu_seconds=max(compute_seconds, host_seconds) * run.total_steps,
                   compute_seconds=compute_seconds * run.total_steps, host_seconds=host_seconds * run.total_steps,
                   operations=unit.operations, data_seconds=data_seconds,
                   data_source=run.data_source, measured_size=measurement.measured_size,
                   real_size=measurement.real_size, steps_fields=run.steps_fields)


def _chapter(data, rows: list[RunPlan], profile: Profile, memory_bytes: float, budget_s: float | None) -> ChapterPlan:
    """A chapter's totals and verdict; `changes` says what would make it fit (computed, one line a change)."""
    data_seconds = data.core_seconds / (1 if data.on_gpu else workers(profile))
    source = data.cost.source
    run_seconds = sum(row.seconds for row in rows)
    peak = max((row.peak_bytes for row in rows), default=0.0)
    fits_memory = peak <= memory_bytes
    fits_time = None if budget_s is None else data_seconds + run_seconds <= budget_s
    changes = [_batch_change(row, memory_bytes) for row in rows if row.peak_bytes > memory_bytes]
    if fits_time is False:
        changes += _time_changes(data, data_seconds, rows, run_seconds, profile, budget_s)
    return ChapterPlan(data.chapter, CHAPTERS[data.chapter], data.items, data.what, data_seconds, source, run_seconds,
                       peak, fits_memory, fits_time, changes)


def _batch_change(row: RunPlan, memory_bytes: float) -> str:
    """The largest batch of `row` whose weights, optimizer state and activations fit in `memory_bytes`."""
    name = BATCH_FIELDS[row.step]
    room = memory_bytes - row.weight_bytes
    largest = int(room // row.activation_bytes_per_unit) if row.activation_bytes_per_unit > 0 else row.batch
    if largest < 1:
        return (f"{row.label}: does not fit even at batch 1 ({_gb(row.weight_bytes + row.activation_bytes_per_unit)} "
                f"GB > {_gb(memory_bytes)} GB): use a smaller preset or image size")
    peak = f"peak {_gb(row.peak_bytes)} GB > {_gb(memory_bytes)} GB"
    if row.kind == "sample":
        return f"{row.label}: sample {largest} slices at a time, reconstruct(batch_size={largest}) ({peak})"
    return (f"{row.label}: {name} {row.batch} -> {largest} ({peak}; accumulate {math.ceil(row.batch / largest)} "
            "micro-batches to keep the batch)")


def _time_changes(data, data_seconds: float, rows: list[RunPlan], run_seconds: float, profile: Profile,
                  budget_s: float) -> list[str]:
    """Fewer simulated subjects when simulation takes more than half the budget, then the steps scaled so that the
    runs take the rest."""
    changes = []
    if data_seconds > budget_s / 2:
        factor = budget_s / 2 / data_seconds
        changes.append(f"{data.field_name} {getattr(profile, data.field_name)} -> "
                       f"{scaled_field(profile, data.field_name, factor)} (simulation "
                       f"{_minutes(data_seconds)} -> {_minutes(data_seconds * factor)} min "
                       f"{'on the GPU' if data.on_gpu else f'on {workers(profile)} workers'})")
        data_seconds *= factor
    if run_seconds > budget_s - data_seconds and run_seconds > 0:
        factor = (budget_s - data_seconds) / run_seconds
        fields = dict.fromkeys(name for row in rows for name in row.steps_fields)
        scaled = [f"{name} {_text(getattr(profile, name))} -> {_text(scaled_field(profile, name, factor))}"
                  for name in fields]
        changes.append(f"{'; '.join(scaled)} (runs x{factor:.2f}: {_minutes(run_seconds)} -> "
                       f"{_minutes(run_seconds * factor)} min)")
    return changes


def _text(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"
