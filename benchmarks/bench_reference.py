"""Sizing of the reference profile's ASL experiment (chapters 4-5): whole-process times on this machine and the wall
time they predict for ``brainfm results asl --profile reference``.

It measures, on a small cohort of the reference profile (64 maps, its spacing and image size) in a temporary folder:

- seconds a map of ``asl_cbf_dataset(profile).prepare(n_jobs)`` (simulation, preprocessing, cache write);
- seconds a step of `pretrain_mae` and `pretrain_simclr_cbf` (the Trainer's ``seconds`` in metrics.jsonl, warm-up
  excluded): the MONAI views of SimCLR are made in the DataLoader, so ``--workers`` matters for it;
- seconds a step of one fine-tuning run (`eval.probe.finetune`) and the rest of that run but its test predictions
  (set-up, reading the targets, the final checkpoint; an upper bound: the evaluation reads the targets once a part);
- seconds a map of the linear probe's feature extraction;

then prints the predicted minutes of each stage at the profile's sizes (``n_asl_subjects`` maps, ``mae_steps`` of
both pretrainers, the default fine-tuning grid, ``eval_seeds`` seeds). A busy machine is slower, and by more than a
constant: read the figures of a quiet one, and keep a margin of 2. Run from the repository root::

    .venv/bin/python benchmarks/bench_reference.py                  # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/bench_reference.py --workers 2 --set mae_preset=small
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import yaml

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.eval.asl_evaluation import FRACTIONS
from brainfm_lite.eval.probe import TASKS, extract_features, finetune
from brainfm_lite.eval.reference_results import ASL_ENCODERS, FinetuneGrid
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.train.config import train_config_for
from brainfm_lite.train.pretrain import PRETRAINERS, mae_encoder_config

SMALL_COHORT = 64  # maps of the measuring cohort


def seconds_per_step(metrics: Path) -> float:
    """Trainer seconds a step between the first and the last metrics line (the first interval holds the warm-up)."""
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    return (lines[-1]["seconds"] - lines[0]["seconds"]) / (lines[-1]["step"] - lines[0]["step"])


def measure(profile, folder: Path, *, steps: int, jobs: int) -> dict:
    """Whole-process seconds of each unit of work at `profile` (its cohort cut to `SMALL_COHORT` maps)."""
    small = dataclasses.replace(profile, n_asl_subjects=SMALL_COHORT, mae_steps=steps)
    cache = folder / "cbf_cache"
    dataset = asl_cbf_dataset(small, cache_dir=cache)
    start = time.perf_counter()
    dataset.prepare(n_jobs=jobs)
    figures = {"map": (time.perf_counter() - start) / len(dataset)}
    for name in ("mae", "simclr_cbf"):
        PRETRAINERS[name](small, folder / name, cache_dir=cache, progress=False, log_every=5, checkpoint_every=None)
        figures[name] = seconds_per_step(folder / name / "metrics.jsonl")
    split = evaluation_split(dataset.sites(), seed=small.seed)
    start = time.perf_counter()
    extract_features(build_encoder(mae_encoder_config(small)), dataset, batch_size=small.mae_batch_size,
                     num_workers=small.num_workers)
    figures["feature"] = (time.perf_counter() - start) / len(dataset)
    config = train_config_for(small, steps=steps, batch_size=small.mae_batch_size, lr=small.finetune_lr,
                              checkpoint_every=None, progress=False, log_every=5)
    start = time.perf_counter()
    finetune(build_encoder(mae_encoder_config(small)), dataset, split, "qei", train_config=config,
             out_dir=folder / "finetune")
    total = time.perf_counter() - start
    figures["finetune"] = seconds_per_step(folder / "finetune" / "metrics.jsonl")
    trained = json.loads((folder / "finetune" / "metrics.jsonl").read_text().splitlines()[-1])["seconds"]
    n_test = split.test_in_site.size + split.test_unseen_site.size
    figures["finetune_rest"] = total - trained - n_test * figures["feature"]  # set-up, targets, final checkpoint
    return figures


def predict(profile, figures: dict, grid: FinetuneGrid) -> dict:
    """Minutes of each stage of ``brainfm results asl`` at `profile`, from the measured `figures`."""
    n = profile.n_asl_subjects
    split = evaluation_split(asl_cbf_dataset(profile).sites(), seed=profile.seed)
    n_test = split.test_in_site.size + split.test_unseen_site.size
    runs = len(grid.encoders) * len(grid.tasks) * len(grid.fractions) * profile.eval_seeds
    per_run = profile.finetune_steps * figures["finetune"] + figures["finetune_rest"] + n_test * figures["feature"]
    minutes = {
        "maps": n * figures["map"] / 60,
        "pretrain_mae": profile.mae_steps * figures["mae"] / 60,
        "pretrain_simclr_cbf": profile.mae_steps * figures["simclr_cbf"] / 60,
        "probe": len(ASL_ENCODERS) * n * figures["feature"] / 60,
        f"finetune ({runs} runs)": runs * per_run / 60,
    }
    minutes["total"] = sum(minutes.values())
    return minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a profile value")
    parser.add_argument("--workers", type=int, help="DataLoader workers (default: the profile's num_workers)")
    parser.add_argument("--steps", type=int, default=40, help="steps of each measured training run")
    parser.add_argument("--jobs", type=int, default=2, help="processes simulating the maps")
    args = parser.parse_args()
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    if args.workers is not None:
        overrides["num_workers"] = args.workers
    profile = load_profile(args.profile, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(profile, Path(tmp), steps=args.steps, jobs=args.jobs)
    print(f"{profile.name}: {profile.mae_preset} ViT at {profile.cbf_image_size}^3, {profile.spacing_mm:g} mm, batch "
          f"{profile.mae_batch_size}, {profile.num_workers} DataLoader workers")
    print(f"  map {figures['map']:.2f} s (n_jobs={args.jobs}) | MAE step {figures['mae']:.3f} s | SimCLR-CBF step "
          f"{figures['simclr_cbf']:.3f} s | fine-tune step {figures['finetune']:.3f} s "
          f"+ {figures['finetune_rest']:.1f} s a run | probe feature {figures['feature'] * 1000:.0f} ms a map")
    grid = FinetuneGrid()
    print(f"predicted minutes of `brainfm results asl --profile {profile.name}` ({profile.n_asl_subjects} maps, "
          f"{profile.mae_steps} steps each, fine-tuning {len(grid.encoders)} encoders x {len(grid.tasks)} tasks x "
          f"{len(grid.fractions)} fractions x {profile.eval_seeds} seeds of {profile.finetune_steps} steps; "
          f"{len(TASKS) * len(FRACTIONS)} probes an encoder):")
    for stage, value in predict(profile, figures, grid).items():
        print(f"  {stage:<24} {value:6.1f}")


if __name__ == "__main__":
    main()
