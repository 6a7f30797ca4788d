"""How strong may SimCLR's views of the simulated structural cohort be? The same SimCLR run with its smallest crop
and its rotation varied.

3D-Neuro-SimCLR crops down to 0.2 of each edge and resizes back (`SimCLRViewConfig`'s default). Real brains differ
in every fold; every subject of the package's cohort is one template scaled, rotated and deformed, so two small
crops of one subject share little that tells it from the others, and SimCLR stays near chance (the recorded run of
``561a49a`` ended 4 % below it). This script pretrains `SimCLR` on a profile's structural pretraining pool with:

- ``crop <f>``: the seed's views with crops of at least ``f`` of each edge (``SimCLRViewConfig(min_crop_fraction=f)``);
- ``crop <f> rot 10``: the same with rotations within +-10 deg instead of +-45 deg.

It prints, for each, the NT-Xent at five steps against chance, the partner and negative similarity and the embedding
SD against an even spread's, and seconds a step. The profiles' ``simclr_min_crop_fraction`` is chosen from it.
Run from the repository root::

    .venv/bin/python benchmarks/bench_simclr_views.py                     # about 6 minutes on 2 idle cores
    .venv/bin/python benchmarks/bench_simclr_views.py --steps 500 --crops 0.7
"""

from __future__ import annotations

import argparse

from contrastive_runs import compare_views

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.simclr_views import SimCLRViewConfig, SimCLRViews, ViewPairs
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.train.pretrain import contrastive_encoder_config


def view_strengths(crops) -> dict[str, SimCLRViewConfig]:
    """The compared views: the seed's with each smallest crop, then the mildest crop with rotations within 10 deg."""
    compared = {f"crop {crop:g}": SimCLRViewConfig(min_crop_fraction=crop) for crop in crops}
    compared[f"crop {max(crops):g} rot 10"] = SimCLRViewConfig(min_crop_fraction=max(crops), max_rotation_deg=10.0)
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="reference")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--crops", type=float, nargs="+", default=[0.2, 0.7, 1.0],
                        help="smallest crop edge fractions to compare (0.2: the seed's)")
    args = parser.parse_args()

    profile = load_profile(args.profile)
    runs = {name: (lambda dataset, config=config: ViewPairs(dataset, SimCLRViews(config)))
            for name, config in view_strengths(args.crops).items()}
    compared = lambda: SimCLR(SimCLRConfig(encoder=contrastive_encoder_config(profile),  # noqa: E731
                                           temperature=profile.contrastive_temperature))
    compare_views(profile, "SimCLR", compared, runs, args.steps)


if __name__ == "__main__":
    main()
