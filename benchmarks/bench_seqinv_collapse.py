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

from contrastive_runs import compare_views

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.seqinv_views import SeqInvPairs, SeqInvViewConfig, SeqInvViews
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.train.pretrain import contrastive_encoder_config


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
    runs = {name: (lambda dataset, config=config: SeqInvPairs(dataset, "seqinv", views=SeqInvViews(config)))
            for name, config in geometries(args.crops).items()}
    compared = lambda: SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(profile),  # noqa: E731
                                           temperature=profile.contrastive_temperature))
    compare_views(profile, "SeqInv", compared, runs, args.steps)


if __name__ == "__main__":
    main()
