"""The training and inference runs of chapters 4-8 at a profile: which network, batch, steps, how many runs, and the
data each chapter simulates.

The counts follow the chapters' notebooks and the experiment functions they call (each `PlannedRun` names where its
count comes from); where a count depends on the data (label fractions that give the same number of subjects run
once) the larger count is taken.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from brainfm_lite.config import Profile
from brainfm_lite.eval.dense import DENSE_FRACTIONS
from brainfm_lite.eval.recon_experiments import ACCELERATIONS, RECON_METHODS
from brainfm_lite.plan.data_costs import (
    ASL_MAP_COSTS,
    ASL_MAP_GPU_COSTS,
    CONTRAST_COST,
    STRUCTURAL_SUBJECT_COSTS,
    ItemCost,
    at_spacing,
    at_voxels,
)

CHAPTERS = {4: "04_mae", 5: "05_downstream", 6: "06_simclr", 7: "07_seqinv", 8: "08_recon"}
SEQINV_VARIANTS_RUN = 3  # 07_seqinv pretrains baseline, seqaug and seqinv
# 07_seqinv: tissue at the smallest fraction for scratch + the 3 variants, scratch and seqinv at the other fractions,
# lesions for scratch and seqinv
DENSE_SEGMENTATION_RUNS = 4 + 2 * (len(DENSE_FRACTIONS) - 1) + 2
DENSE_DENOISING_RUNS = 2  # 07_seqinv: scratch and seqinv at the smallest fraction
PRIORS_FROM_SCRATCH = 3  # run_recon_experiments: source (pretrained), target only, many targets
PRIORS_SAMPLED = sum(method.startswith("diffusion") for method in RECON_METHODS)


@dataclass
class PlannedRun:
    """One kind of run of a chapter.

    Attributes:
        chapter: chapter number (4-8).
        name: a `TRAINING_STEPS` or `INFERENCE_STEPS` key: the network and its step.
        label: what the table prints.
        batch: units per step (maps, pairs, slices); for sampling, the slices sampled together.
        steps: optimizer steps (or network evaluations) of one run; `total_steps` when runs differ in length.
        runs: how many such runs the chapter makes.
        runs_note: where `runs` comes from.
        steps_fields: the profile fields that set the steps (what to change to make the chapter shorter).
        total_steps: steps over all runs (default steps x runs).
        data_seconds_per_step: core-seconds of on-the-fly data simulation a step (in the DataLoader's workers).
        data_source: where that figure comes from.
    """

    chapter: int
    name: str
    label: str
    batch: int
    steps: int
    runs: int = 1
    runs_note: str = ""
    steps_fields: tuple[str, ...] = ()
    total_steps: int | None = None
    data_seconds_per_step: float = 0.0
    data_source: str = ""

    def __post_init__(self):
        if self.total_steps is None:
            self.total_steps = self.steps * self.runs


@dataclass
class ChapterData:
    """The data a chapter simulates before training: items, cost of one on one core, and where that comes from."""

    chapter: int
    items: int
    what: str
    cost: ItemCost
    field_name: str  # the profile field that sets the count (what to change to simulate less)
    extra: list = field(default_factory=list)
    on_gpu: bool = False  # simulated in batches on the GPU (cost: GPU seconds an item), not on the CPU workers

    @property
    def core_seconds(self) -> float:
        """Seconds of one core (or of the GPU, when `on_gpu`) for every item."""
        return self.items * self.cost.core_seconds


def test_slices(profile: Profile) -> int:
    """Test slices chapter 8 reconstructs: whole test subjects within ``recon_eval_slices`` (at least one subject;
    `select_test_volumes`)."""
    per_subject = profile.recon_slices_per_subject
    subjects = min(profile.recon_test_subjects, max(1, profile.recon_eval_slices // per_subject))
    return subjects * per_subject


def planned_runs(profile: Profile) -> list[PlannedRun]:
    """Every training and inference run of chapters 4-8 at `profile`, in the chapters' order."""
    p = profile
    seeds = p.eval_seeds
    contrast = at_voxels(CONTRAST_COST, p.contrastive_image_size ** 3)
    sweep = len(p.diffusion_sweep_lrs)
    return [
        PlannedRun(4, "mae_cbf", "MAE pretraining (CBF maps)", p.mae_batch_size, p.mae_steps,
                   steps_fields=("mae_steps",)),
        PlannedRun(5, "mae_cbf", "MAE pretraining (the chapter's own)", p.mae_batch_size, p.mae_steps,
                   runs_note="05_downstream pretrains its own MAE", steps_fields=("mae_steps",)),
        PlannedRun(5, "simclr_cbf", "SimCLR-CBF pretraining (3D CNN)", p.mae_batch_size, p.mae_steps,
                   runs_note="pretrain_simclr_cbf: the MAE's Trainer settings", steps_fields=("mae_steps",)),
        PlannedRun(5, "finetune_mae_cbf", "fine-tuning, MAE ViT + head", p.mae_batch_size, p.finetune_steps,
                   runs=2 * 2 * seeds, runs_note="pretrained and random init x 2 label fractions x eval_seeds",
                   steps_fields=("finetune_steps",)),
        PlannedRun(5, "finetune_simclr_cbf", "fine-tuning, SimCLR-CBF CNN + head", p.mae_batch_size,
                   p.finetune_steps, runs=2 * seeds, runs_note="2 label fractions x eval_seeds",
                   steps_fields=("finetune_steps",)),
        PlannedRun(6, "simclr", "SimCLR pretraining (structural T1)", p.contrastive_batch_size, p.contrastive_steps,
                   steps_fields=("contrastive_steps",)),
        PlannedRun(6, "mae_structural", "structural MAE pretraining", p.contrastive_batch_size, p.contrastive_steps,
                   steps_fields=("contrastive_steps",)),
        PlannedRun(6, "finetune_structural", "fine-tuning, backbone + head", p.contrastive_batch_size,
                   p.finetune_steps, runs=2 * seeds, runs_note="SimCLR and random init x eval_seeds ('older', 20 %)",
                   steps_fields=("finetune_steps",)),
        PlannedRun(7, "seqinv", "SeqInv pretraining (3 variants)", p.contrastive_batch_size, p.seqinv_steps,
                   runs=SEQINV_VARIANTS_RUN, runs_note="baseline, seqaug, seqinv", steps_fields=("seqinv_steps",),
                   data_seconds_per_step=2 * p.contrastive_batch_size * contrast.core_seconds,
                   data_source="2 contrasts a pair: " + contrast.source),
        PlannedRun(7, "dense_segmentation", "dense fine-tuning, segmentation", p.dense_batch_size, p.dense_steps,
                   runs=DENSE_SEGMENTATION_RUNS * seeds,
                   runs_note=f"{DENSE_SEGMENTATION_RUNS} (encoder, task, fraction) x eval_seeds",
                   steps_fields=("dense_steps",)),
        PlannedRun(7, "dense_denoising", "dense fine-tuning, denoising", p.dense_batch_size, p.dense_steps,
                   runs=DENSE_DENOISING_RUNS * seeds, runs_note="scratch and seqinv x eval_seeds",
                   steps_fields=("dense_steps",)),
        PlannedRun(8, "diffusion_prior", "diffusion prior from scratch", p.diffusion_batch_size, p.diffusion_steps,
                   runs=PRIORS_FROM_SCRATCH, runs_note="source, target only, many targets",
                   steps_fields=("diffusion_steps",)),
        PlannedRun(8, "diffusion_prior", "diffusion prior fine-tuning + sweep", p.diffusion_batch_size,
                   p.diffusion_finetune_steps, runs=1 + sweep,
                   total_steps=p.diffusion_finetune_steps + sweep * max(p.diffusion_sweep_steps),
                   runs_note="fine-tuning + one run per sweep rate to the longest duration",
                   steps_fields=("diffusion_finetune_steps", "diffusion_sweep_steps")),
        PlannedRun(8, "supervised_unet", "supervised U-Net", p.diffusion_batch_size, p.diffusion_steps,
                   steps_fields=("diffusion_steps",)),
        PlannedRun(8, "posterior_sampling", f"posterior sampling, DDIM {p.ddim_steps}", test_slices(p), p.ddim_steps,
                   runs=len(ACCELERATIONS) * PRIORS_SAMPLED + sweep * len(p.diffusion_sweep_steps),
                   runs_note=f"{PRIORS_SAMPLED} priors x {len(ACCELERATIONS)} R + the sweep grid; batch = test slices",
                   steps_fields=("recon_eval_slices",)),
    ]


def chapter_data(profile: Profile, gpu: str | None = None) -> list[ChapterData]:
    """The subjects each chapter simulates into its cache before training, with their cost on one core, or on `gpu`
    (a `GPUS` key) for the CBF maps where their batched simulation on it was measured (`ASL_MAP_GPU_COSTS`)."""
    p = profile
    asl_on_gpu = gpu in ASL_MAP_GPU_COSTS
    asl = at_spacing((ASL_MAP_GPU_COSTS[gpu],) if asl_on_gpu else ASL_MAP_COSTS, p.spacing_mm)
    if gpu is not None and not asl_on_gpu:  # the run simulates them on this GPU too, at a speed nobody measured
        asl = dataclasses.replace(asl, source=asl.source + "; a run on this GPU simulates the maps in batches there, "
                                                           "unmeasured: the numpy figure on the workers stands in")
    structural = at_spacing(STRUCTURAL_SUBJECT_COSTS, p.spacing_mm)
    recon = at_spacing(STRUCTURAL_SUBJECT_COSTS, p.recon_spacing_mm)
    recon_subjects = p.recon_source_subjects + p.recon_target_subjects + p.recon_many_subjects + p.recon_test_subjects
    return [
        ChapterData(4, p.n_asl_subjects, "CBF maps", asl, "n_asl_subjects", on_gpu=asl_on_gpu),
        ChapterData(5, p.n_asl_subjects, "CBF maps (its own cache)", asl, "n_asl_subjects", on_gpu=asl_on_gpu),
        ChapterData(6, p.contrastive_subjects, "structural subjects", structural, "contrastive_subjects"),
        # the pretraining cache and the two dense caches (tissue, lesions) at their own sizes
        ChapterData(7, 3 * p.contrastive_subjects, "structural subjects (3 caches)", structural,
                    "contrastive_subjects"),
        ChapterData(8, recon_subjects, "recon subjects", recon, "recon_source_subjects"),
    ]


def workers(profile: Profile) -> int:
    """Processes that simulate data: the profile's DataLoader workers, at least one (the main process)."""
    return max(1, profile.num_workers)


def scaled_field(profile: Profile, name: str, factor: float):
    """The value of the profile field `name` multiplied by `factor`, rounded down, at least 1 (tuples elementwise)."""
    value = getattr(profile, name)
    if isinstance(value, tuple):
        return tuple(max(1, math.floor(v * factor)) for v in value)
    return max(1, math.floor(value * factor))
