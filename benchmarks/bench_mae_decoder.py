"""Does a lighter MAE decoder lose reconstruction quality? The same MAE pretraining run with two decoders.

The MAE paper's decoder is light (a few percent of the encoder's FLOPs), which is what makes masking 75 % of the
patches cheap (`bench_mae.py`). This script trains one MAE preset twice on the reference profile's CBF maps, once
with the decoder the preset had before it was slimmed (``--before``) and once with the preset's decoder today, from
the same seed, the same maps and the same Trainer settings (`mae_train_config`), and prints for each:

- the hidden-patch error (`eval.hidden_patches`): MSE over the hidden voxels of in-site test subjects that no
  pretraining saw, beside predicting 0 and each map's visible mean;
- the last training loss, the seconds a step and the decoder's share of the step's FLOPs.

Run from the repository root (about 10 minutes on 2 idle cores at the defaults)::

    .venv/bin/python benchmarks/bench_mae_decoder.py                          # "small" at 64^3, 600 steps
    .venv/bin/python benchmarks/bench_mae_decoder.py --before 96x2 48x4 --seeds 0 1
    .venv/bin/python benchmarks/bench_mae_decoder.py --steps 50 --maps 4      # a quick look
    .venv/bin/python benchmarks/bench_mae_decoder.py --preset tiny --set hidden_size=384 mlp_dim=1536 --before 48x1
                                                          # other encoder fields, for every run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch
from bench_mae import parse_fields  # this folder is on the path when a script of it runs
from torch.utils.flop_counter import FlopCounterMode

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.eval.hidden_patches import hidden_patch_errors
from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.pretrain import mae_train_config, pretraining_subjects
from brainfm_lite.train.rng import seeded_init

BEFORE = "96x2"  # the "small" preset's decoder before issue 19 slimmed it: 96 wide, 2 blocks


def decoder_flop_share(config: MAEConfig) -> float:
    """The decoder's share of the FLOPs of one forward and backward at masking 0.75, batch 1 (counted on the meta
    device): its layers run on every patch token and the class token, and pass gradients back to the encoder."""
    with torch.device("meta"):
        mae = MAE(config)
        net = mae.net
        volumes = torch.zeros(1, config.in_channels, *config.img_size)
        encoded = torch.zeros(1, mae.num_patches + 1, config.hidden_size, requires_grad=True)

    def flops(run) -> int:
        with FlopCounterMode(display=False) as counter:
            run().sum().backward()
        return counter.get_total_flops()

    total = flops(lambda: mae.masked_forward(volumes, 0.75)[0])
    decoder = flops(lambda: net.decoder_pred(net.decoder_blocks(net.decoder_embed(encoded))))
    return decoder / total


def train_and_score(config: MAEConfig, profile, dataset, test_maps: torch.Tensor, steps: int, seed: int) -> dict:
    with seeded_init(seed):
        mae = MAE(config)
    train = mae_train_config(profile, max_steps=steps, progress=False, checkpoint_every=None, seed=seed)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        result = Trainer(mae, dataset, train, out_dir=run_dir).fit()
        seconds = time.perf_counter() - start
    errors = hidden_patch_errors(mae, test_maps, masking_ratio=0.75, seed=0)
    return {"errors": errors, "last_loss": result.last_loss, "s_per_step": seconds / steps,
            "decoder_share": decoder_flop_share(config)}


def decoder_fields(shape: str) -> dict:
    """MAEConfig fields of a decoder "WIDTHxBLOCKS" (MLP 4x the width, 4 heads, as the presets' decoders)."""
    width, blocks = (int(n) for n in shape.lower().split("x"))
    return dict(decoder_hidden_size=width, decoder_mlp_dim=4 * width, decoder_num_layers=blocks,
                decoder_num_heads=4)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="reference", help="profile of the cohort, image size and Trainer")
    parser.add_argument("--preset", default="small", help="MAE preset whose decoder is compared")
    parser.add_argument("--before", nargs="+", default=[BEFORE],
                        help="earlier or other decoders to compare, as WIDTHxBLOCKS")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="initialisation and Trainer seeds")
    parser.add_argument("--steps", type=int, default=600, help="training steps of each run")
    parser.add_argument("--maps", type=int, default=16, help="in-site test maps scored")
    parser.add_argument("--jobs", type=int, default=2, help="processes simulating the maps")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="change MAEConfig fields of the preset for every run (e.g. hidden_size=384)")
    args = parser.parse_args(argv)

    profile = load_profile(args.profile)
    size = (profile.cbf_image_size,) * 3
    with tempfile.TemporaryDirectory() as cache:
        whole = asl_cbf_dataset(profile, cache_dir=cache)
        pool, record = pretraining_subjects(whole, profile)  # what pretrain_mae trains on: no test subject
        dataset = asl_cbf_dataset(profile, cache_dir=cache, indices=pool)
        dataset.prepare(n_jobs=args.jobs)
        split = evaluation_split(whole.sites(), seed=profile.seed)
        subjects = sorted(int(k) for k in split.test_in_site)[:args.maps]
        test = asl_cbf_dataset(profile, cache_dir=cache, indices=np.array(subjects))
        test.prepare(n_jobs=args.jobs)
        test_maps = torch.stack([test[i]["image"] for i in range(len(test))])

        today = MAEConfig.preset(args.preset, img_size=size, **parse_fields(args.set))
        runs = {shape: replace(today, **decoder_fields(shape)) for shape in args.before}
        runs[f"{today.decoder_hidden_size}x{today.decoder_num_layers} (today)"] = today
        print(f"profile {args.profile}: {record['subjects']} pretraining maps at {size[0]}^3, {args.steps} steps of "
              f"batch {profile.mae_batch_size}, cohort and split seed {profile.seed}; {len(subjects)} in-site test "
              f"maps (never pretrained on), masking 0.75, patch draw seed 0; torch {torch.get_num_threads()} threads; "
              f"preset {args.preset}" + (f" with {' '.join(args.set)}" if args.set else ""))
        print(f"\n{'decoder':<14} {'seed':>4} {'decoder FLOPs':>14} {'hidden MSE':>11} {'visible mean':>13} "
              f"{'zero':>7} {'last loss':>10} {'s/step':>7}")
        for seed in args.seeds:
            for name, config in runs.items():
                r = train_and_score(config, profile, dataset, test_maps, args.steps, seed)
                e = r["errors"]
                print(f"{name:<14} {seed:>4} {r['decoder_share']:>13.0%} {e['mae']:>11.4f} {e['visible_mean']:>13.4f} "
                      f"{e['zero']:>7.4f} {r['last_loss']:>10.4f} {r['s_per_step']:>7.3f}")


if __name__ == "__main__":
    main()
