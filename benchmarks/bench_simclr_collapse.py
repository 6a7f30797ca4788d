"""Does SimCLR learn on the CBF maps, or collapse? The same run with three backbones, and the numbers that tell.

SimCLR on a small ViT at the batch sizes a CPU affords tends to map every view to one point: the loss then sits at
its chance value log(2B - 1), partner AND negative similarity approach 1, and the per-dimension SD of the unit-length
embeddings (`models.losses.contrastive_diagnostics`) falls towards 0 (evenly spread: 1 / sqrt(D)). This script
pretrains `SimCLR` with 3D-Neuro-SimCLR's views (`datasets.simclr_views`) on the CBF maps of a small cohort of a
profile (its image size and spacing) with three backbones, from one seed and the same Trainer settings:

- ``vit``: the MAE's ViT (``mae_preset``) with the seed's projection head (Linear-ReLU-Linear);
- ``vit_bn``: the same with batch norm in the head (SimCLR paper, MoCo v3);
- ``cnn``: the compact 3D CNN of ``profile.cnn_widths`` (3D-Neuro-SimCLR trains a 3D CNN): the backbone
  `pretrain_simclr_cbf` uses.

It prints, for each, the last logged loss against chance, the similarities and the embedding SD, and seconds a
step. Run from the repository root::

    .venv/bin/python benchmarks/bench_simclr_collapse.py                       # about 15 minutes on 2 cores
    .venv/bin/python benchmarks/bench_simclr_collapse.py --steps 100 --maps 32
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
from pathlib import Path

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.simclr_views import ViewPairs
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.pretrain import mae_encoder_config, mae_train_config, simclr_cbf_encoder_config
from brainfm_lite.train.rng import seeded_init


def backbones(profile) -> dict[str, dict]:
    """SimCLRConfig keyword arguments of each compared variant."""
    vit = mae_encoder_config(profile)
    return {"vit": {"encoder": vit}, "vit_bn": {"encoder": vit, "projection_batch_norm": True},
            "cnn": {"encoder": simclr_cbf_encoder_config(profile)}}


def last_line(metrics: Path) -> dict:
    return [json.loads(line) for line in metrics.read_text().splitlines()][-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--maps", type=int, default=64, help="CBF maps of the cohort (all used for pretraining)")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    profile = dataclasses.replace(load_profile(args.profile), n_asl_subjects=args.maps)
    chance = math.log(2 * profile.mae_batch_size - 1)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = asl_cbf_dataset(profile, cache_dir=Path(tmp) / "cbf_cache")
        dataset.prepare(n_jobs=-1)
        print(f"{args.maps} CBF maps of profile {profile.name} ({profile.cbf_image_size}^3 at {profile.spacing_mm} mm),"
              f" {args.steps} steps of batch {profile.mae_batch_size}, lr {profile.mae_lr}, temperature "
              f"{profile.contrastive_temperature}; chance loss log(2B - 1) = {chance:.3f}")
        print(f"{'backbone':8} {'loss':>6} {'partner sim':>11} {'negative sim':>12} {'embedding SD':>12} "
              f"{'(even)':>7} {'s/step':>7}")
        for name, settings in backbones(profile).items():
            with seeded_init(profile.seed):
                objective = SimCLR(SimCLRConfig(temperature=profile.contrastive_temperature, **settings))
            config = mae_train_config(profile, max_steps=args.steps, warmup_steps=args.steps // 10, progress=False,
                                      log_every=max(1, args.steps // 10), checkpoint_every=None)
            Trainer(objective, ViewPairs(dataset), config, out_dir=Path(tmp) / name).fit()
            last = last_line(Path(tmp) / name / "metrics.jsonl")
            even = 1 / math.sqrt(objective.config.projection_widths[-1])
            print(f"{name:8} {last['loss']:6.3f} {last['positive_similarity']:11.3f} "
                  f"{last['negative_similarity']:12.3f} {last['embedding_std']:12.3f} {even:7.3f} "
                  f"{last['seconds'] / last['step']:7.2f}")


if __name__ == "__main__":
    main()
