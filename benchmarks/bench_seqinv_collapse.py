"""Does sequence-invariant pretraining learn, or collapse? The same SeqInv run with different view geometries.

The reference run of chapters 6-7 (``book/results/reference/structural.json``, recorded at ``561a49a``) ended with
SeqInv collapsed: contrastive loss at its chance value log(2B - 1), partner and negative similarity both 0.96,
embedding SD a fifth of an even spread's, while SeqAug and the baseline (one contrast in both views) learned. This
script pretrains `SeqInv` (two different random contrasts a pair, `datasets.seqinv_views`) on the pretraining pool
of a profile's structural cohort, from one seed and the same Trainer settings, with the views' geometry varied:

- ``crop <f>``: crop-and-resize of at least ``f`` of each edge (rescales the head by up to 1/f), flips and the
  smooth deformation (``SeqInvViewConfig(min_crop_fraction=f)``);
- ``no spatial``: no crop, no flip, no deformation: both views on the same voxel grid (the easiest case).

Every subject of the embedded cohort is the one template scaled, rotated and deformed, so a subject's size and shape
are much of what tells it from the others in two different contrasts; a random rescale of the same order erases
it. The script prints, for each geometry, the contrastive loss (NT-Xent) at a few steps and at the end against
chance, the partner and negative similarity and the embedding SD against an even spread's, and seconds a step.
Run from the repository root::

    .venv/bin/python benchmarks/bench_seqinv_collapse.py                  # about 6 minutes on 2 idle cores
    .venv/bin/python benchmarks/bench_seqinv_collapse.py --steps 300 --crops 1.0 0.9
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.seqinv_views import SeqInvPairs, SeqInvViewConfig, SeqInvViews
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.pretrain import contrastive_encoder_config, contrastive_train_config, pretraining_subjects
from brainfm_lite.train.rng import seeded_init


def geometries(crops) -> dict[str, SeqInvViewConfig]:
    """The compared view geometries: one per crop fraction, then none at all."""
    compared = {f"crop {crop:g}": SeqInvViewConfig(min_crop_fraction=crop) for crop in crops}
    compared["no spatial"] = SeqInvViewConfig(min_crop_fraction=1.0, flip_prob=0.0, elastic_prob=0.0)
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--crops", type=float, nargs="+", default=[0.75, 1.0],
                        help="smallest crop edge fractions to compare (0.75: the views of the recorded run)")
    args = parser.parse_args()

    profile = load_profile(args.profile)
    chance = math.log(2 * profile.contrastive_batch_size - 1)
    shown = sorted({max(10, args.steps // 5 // 10 * 10) * k for k in (1, 2, 3, 4)} | {args.steps})
    with tempfile.TemporaryDirectory() as tmp:
        pool, record = pretraining_subjects(structural_dataset(profile), profile)  # no test subject, no held-out site
        dataset = structural_dataset(profile, cache_dir=Path(tmp) / "t1_cache", indices=pool)
        dataset.prepare(n_jobs=-1)
        print(f"SeqInv on {record['subjects']} pretraining subjects of profile {profile.name} "
              f"({profile.contrastive_image_size}^3 at {profile.spacing_mm:g} mm), {args.steps} steps of batch "
              f"{profile.contrastive_batch_size}, lr {profile.contrastive_lr}, temperature "
              f"{profile.contrastive_temperature}; chance NT-Xent log(2B - 1) = {chance:.3f}")
        print(f"{'views':12} {'NT-Xent at steps ' + ', '.join(map(str, shown)):>40} {'partner':>8} {'negative':>9} "
              f"{'SD':>6} {'(even)':>7} {'s/step':>7}")
        for name, view_config in geometries(args.crops).items():
            with seeded_init(profile.seed):
                objective = SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(profile),
                                                temperature=profile.contrastive_temperature))
            config = contrastive_train_config(profile, max_steps=args.steps, warmup_steps=args.steps // 10,
                                              progress=False, log_every=10, checkpoint_every=None)
            pairs = SeqInvPairs(dataset, "seqinv", views=SeqInvViews(view_config))
            Trainer(objective, pairs, config, out_dir=Path(tmp) / name.replace(" ", "_")).fit()
            logged = {line["step"]: line for line in map(json.loads, (Path(tmp) / name.replace(" ", "_") /
                                                                       "metrics.jsonl").read_text().splitlines())
                      if "contrastive" in line}
            last = logged[max(logged)]
            even = 1 / math.sqrt(objective.config.projection_widths[-1])
            losses = ", ".join(f"{logged[s]['contrastive']:.2f}" if s in logged else "-" for s in shown)
            print(f"{name:12} {losses:>40} {last['positive_similarity']:8.2f} {last['negative_similarity']:9.2f} "
                  f"{last['embedding_std']:6.3f} {even:7.3f} {last['seconds'] / last['step']:7.2f}", flush=True)


if __name__ == "__main__":
    main()
