"""Sizing of the reference profile's chapters 6-7 experiment: the cost of each unit of work of
``brainfm results structural --profile reference`` and the wall time it predicts for Chapter 6's part (SimCLR and MAE
pretraining, the structural classifications) and Chapter 7's (the three sequence-invariant variants, the dense tasks,
the feature distances).

On a small cohort of the profile (its spacing, image sizes, widths and batches) in a temporary folder it measures,
each as the median of a few repeats after one warm-up:

- seconds a subject of ``prepare`` in this process (the T1 cache at ``contrastive_image_size`` and the lesion cohort
  at ``dense_volume_size``; the tissue task shares the T1 cache when both sizes agree), predicted for ``--jobs``
  processes;
- a pretraining step of SimCLR, SeqInv and the structural MAE, split into the batch (views made in the main process,
  ``num_workers`` 0) and the network's forward, backward and AdamW step;
- a fine-tuning step of the shared backbone (and of the MAE's ViT) with a linear head, and probe features a subject;
- a dense training step (tissue segmentation, the CNN with its U-Net decoder) at ``dense_batch_size`` and at one
  volume (a run with one labelled subject), and the scoring of one test subject (sliding windows, Dice and HD95);
- the feature distances of one method (contrasts of ``DISTANCE_SUBJECTS`` subjects simulated and encoded).

Every figure is taken as process CPU time at ``--threads`` torch threads (default 1) as well as wall time: on a busy
machine the wall time says little, the CPU time of one thread much more. An idle 2-core machine's wall time is
predicted as the data time (single-threaded) plus the network time divided by the 2-thread speed-up of the
calibration step, the network of ``benchmarks/bench_cnn_memory_format.py`` (widths 8-64, 16 volumes of 64^3, channels
last), recorded at ``CALIBRATION_IDLE_S`` on an idle 2-core machine. Run from the repository root::

    .venv/bin/python benchmarks/bench_structural_reference.py                     # about 10 min of CPU on 2 cores
    .venv/bin/python benchmarks/bench_structural_reference.py --set contrastive_image_size=48 --set dense_volume_size=48
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader, Subset

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.seqinv_views import SeqInvPairs
from brainfm_lite.datasets.simclr_views import ViewPairs
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.eval.dense import dense_dataset, dense_split, score_dense
from brainfm_lite.eval.feature_distance import contrast_images, encode_contrasts
from brainfm_lite.eval.probe import SupervisedObjective, extract_features
from brainfm_lite.eval.segmentation import TISSUE_LABEL_MAP, SegmentationObjective
from brainfm_lite.eval.structural_results import DISTANCE_KINDS, DISTANCE_SUBJECTS, STRUCTURAL_METHODS, StructuralGrid
from brainfm_lite.models.decoders import SegmentationModel
from brainfm_lite.models.encoders import EncoderConfig, build_encoder
from brainfm_lite.models.heads import LinearHead, ProbeModel
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.train.pretrain import contrastive_encoder_config, mae_for_backbone, structural_mae_encoder_config

CALIBRATION_IDLE_S = 0.287  # bench_cnn_memory_format.py, channels-last, 2 idle cores, 2026-12-03 (benchmarks/README.md)
SMALL_COHORT = 24  # subjects of the measuring cohort (4 sites: a training site with subjects for the dense task)


@dataclasses.dataclass
class Cost:
    """CPU and wall seconds of one unit of work, and the part of it spent making data (single-threaded)."""

    cpu: float
    wall: float
    data_cpu: float = 0.0

    def idle_wall(self, speedup: float) -> float:
        """Predicted wall seconds on an idle 2-core machine: data single-threaded, the network `speedup` faster."""
        return self.data_cpu + (self.cpu - self.data_cpu) / speedup


def timed(function, repeats: int) -> Cost:
    """Median CPU and wall seconds of `function()` over `repeats` calls after one warm-up."""
    function()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        function()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return Cost(statistics.median(cpu), statistics.median(wall))


def training_step(objective, batches, repeats: int) -> Cost:
    """Median cost of one step: next batch from `batches` (an endless iterator) then forward, backward, AdamW."""
    optimizer = torch.optim.AdamW([p for p in objective.parameters() if p.requires_grad], lr=1e-4)
    objective.train()
    data_cpu = []

    def step():
        start = time.process_time()
        batch = next(batches)
        data_cpu.append(time.process_time() - start)
        loss = objective(batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    cost = timed(step, repeats)
    cost.data_cpu = statistics.median(data_cpu[1:])
    return cost


def endless(dataset, batch_size: int):
    """Batches of `dataset` in order, for ever (the Trainer's DataLoader with 0 workers)."""
    while True:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0)


def measure(profile, folder: Path, *, repeats: int) -> dict[str, Cost]:
    """Cost of each unit of work at `profile` (its cohort cut to `SMALL_COHORT` subjects)."""
    small = dataclasses.replace(profile, contrastive_subjects=SMALL_COHORT)
    costs = {}
    t1 = structural_dataset(small, cache_dir=folder / "t1")
    lesion = dense_dataset(small, lesions=True, cache_dir=folder / "t1")
    for name, data in (("subject_t1", t1), ("subject_lesion", lesion)):
        c, w = time.process_time(), time.perf_counter()
        data.prepare(n_jobs=1)  # in this process, so that its CPU time counts; single-threaded numpy and scipy
        cpu = (time.process_time() - c) / len(data)
        costs[name] = Cost(cpu=cpu, wall=(time.perf_counter() - w) / len(data), data_cpu=cpu)
    batch = profile.contrastive_batch_size
    with torch.random.fork_rng():
        torch.manual_seed(0)
        simclr = SimCLR(SimCLRConfig(encoder=contrastive_encoder_config(profile),
                                     temperature=profile.contrastive_temperature))
        costs["simclr_step"] = training_step(simclr, endless(ViewPairs(t1), batch), repeats)
        seqinv = SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(profile),
                                     temperature=profile.contrastive_temperature))
        costs["seqinv_step"] = training_step(seqinv, endless(SeqInvPairs(t1, "seqinv"), batch), repeats)
        costs["mae_step"] = training_step(mae_for_backbone(profile), endless(t1, batch), repeats)
        for name, config in (("finetune_step", contrastive_encoder_config(profile)),
                             ("finetune_mae_step", structural_mae_encoder_config(profile))):
            encoder = build_encoder(config)
            model = ProbeModel(encoder, LinearHead(encoder.feature_dim, 1), freeze_encoder=False)
            costs[name] = training_step(SupervisedObjective(model, "older"), endless(t1, batch), repeats)
        encoder = build_encoder(contrastive_encoder_config(profile))
        costs["probe_feature"] = timed(lambda: extract_features(encoder, Subset(t1, range(8)), batch_size=batch), 1)
        costs["probe_feature"].cpu /= 8
        costs["probe_feature"].wall /= 8
        tissue = dense_dataset(small, cache_dir=folder / "t1")
        tissue.prepare(n_jobs=1)
        split = dense_split(tissue.sites(), seed=small.seed)
        model = SegmentationModel(build_encoder(contrastive_encoder_config(profile)), max(TISSUE_LABEL_MAP) + 1,
                                  feature_size=profile.dense_feature_size)
        objective = SegmentationObjective(model, model.encoder.config.img_size, TISSUE_LABEL_MAP)
        train = Subset(tissue, split.train.tolist())
        costs["dense_step"] = training_step(objective, endless(train, min(profile.dense_batch_size, len(train))),
                                            repeats)
        costs["dense_step_1"] = training_step(objective, endless(train, 1), repeats)  # one labelled subject
        model.eval()
        subject = [int(split.unseen_site[0])]
        costs["dense_score"] = timed(lambda: score_dense(model, tissue, subject, "tissue",
                                                         spacing_mm=profile.spacing_mm), 1)
        cohort = make_cohort(DISTANCE_SUBJECTS, seed=small.seed, spacing_mm=small.spacing_mm, n_sites=small.n_sites)
        costs["distances"] = timed(lambda: encode_contrasts(encoder, contrast_images(
            [cohort[k] for k in range(DISTANCE_SUBJECTS)], DISTANCE_KINDS, size=(profile.contrastive_image_size,) * 3)),
            1)
    return costs


def calibration(repeats: int) -> Cost:
    """The step of ``bench_cnn_memory_format.py`` (channels-last), whose idle 2-core wall time is recorded."""
    encoder = build_encoder(EncoderConfig(kind="cnn", img_size=(64,) * 3, widths=(8, 16, 32, 64)))
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-4)
    x = torch.randn(16, 1, 64, 64, 64)

    def step():
        encoder(x).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return timed(step, repeats)


def predict(profile, costs: dict[str, Cost], speedup: float, grid: StructuralGrid, jobs: int) -> dict:
    """Predicted idle 2-core minutes of each stage of ``brainfm results structural``, by chapter."""
    from brainfm_lite.datasets.splits import evaluation_split

    n = profile.contrastive_subjects
    idle = {name: cost.idle_wall(speedup) for name, cost in costs.items()}
    split = evaluation_split(structural_dataset(profile).sites(), seed=profile.seed)
    n_test = split.test_in_site.size + split.test_unseen_site.size
    seeds = profile.eval_seeds
    dense = dense_split(structural_dataset(profile).sites(), seed=profile.seed)
    n_dense_test = dense.in_site.size + dense.unseen_site.size
    finetune_runs = {e: len(grid.finetune_tasks) * 2 * seeds for e in grid.finetune_encoders}
    finetune_min = sum(runs * (profile.finetune_steps * idle["finetune_mae_step" if e == "mae" else "finetune_step"]
                               + n_test * idle["probe_feature"]) for e, runs in finetune_runs.items()) / 60
    runs = [(fraction, max(1, round(fraction * dense.train.size))) for _, _, fractions in grid.dense_runs()
            for fraction in fractions for _ in range(seeds)]
    dense_min = sum(profile.dense_steps * idle["dense_step_1" if n_train == 1 else "dense_step"]
                    + n_dense_test * idle["dense_score"] for _, n_train in runs) / 60
    chapter6 = {
        f"cohort (T1, {jobs} processes)": n * idle["subject_t1"] / jobs / 60,
        "pretrain simclr": profile.contrastive_steps * idle["simclr_step"] / 60,
        "pretrain mae": profile.contrastive_steps * idle["mae_step"] / 60,
        f"probe ({len(STRUCTURAL_METHODS)} methods)": len(STRUCTURAL_METHODS) * n * idle["probe_feature"] / 60,
        f"finetune ({sum(finetune_runs.values())} runs)": finetune_min,
    }
    chapter7 = {
        "cohort (lesion; tissue unless it shares the T1 cache)": n / jobs / 60 * (
            idle["subject_lesion"] * ("lesion" in grid.dense_tasks)
            + idle["subject_t1"] * (profile.dense_volume_size != profile.contrastive_image_size)),
        "pretrain seqinv, seqaug, baseline": 3 * profile.contrastive_steps * idle["seqinv_step"] / 60,
        f"dense ({len(runs)} runs)": dense_min,
        "distances": len(STRUCTURAL_METHODS) * idle["distances"] / 60,
    }
    return {"chapter 6": chapter6, "chapter 7": chapter7}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a profile value")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each step (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads while measuring")
    parser.add_argument("--jobs", type=int, default=2, help="processes simulating the subjects in the predicted run")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    profile = load_profile(args.profile, **overrides, device="cpu")
    torch.set_num_threads(args.threads)
    calib = calibration(args.repeats)
    speedup = calib.cpu / CALIBRATION_IDLE_S
    with tempfile.TemporaryDirectory() as tmp:
        costs = measure(profile, Path(tmp), repeats=args.repeats)
    print(f"{profile.name}: {profile.contrastive_backbone} widths {profile.contrastive_cnn_widths} at "
          f"{profile.contrastive_image_size}^3 ({profile.spacing_mm:g} mm), batch {profile.contrastive_batch_size}; "
          f"dense {profile.dense_volume_size}^3 batch {profile.dense_batch_size}; MAE ViT "
          f"{profile.contrastive_encoder}; {args.threads} torch thread(s)")
    print(f"calibration step: {calib.cpu:.3f} CPU s, {calib.wall:.3f} wall s (idle 2 cores: {CALIBRATION_IDLE_S} s): "
          f"2-thread speed-up {speedup:.2f}")
    for name, cost in costs.items():
        print(f"  {name:<18} CPU {cost.cpu:7.3f} s (data {cost.data_cpu:6.3f})  wall {cost.wall:7.3f} s  "
              f"-> idle 2 cores {cost.idle_wall(speedup):7.3f} s")
    for chapter, minutes in predict(profile, costs, speedup, StructuralGrid(), args.jobs).items():
        print(f"predicted idle 2-core minutes, {chapter}: {sum(minutes.values()):.1f}")
        for stage, value in minutes.items():
            print(f"  {stage:<38} {value:6.1f}")


if __name__ == "__main__":
    main()
