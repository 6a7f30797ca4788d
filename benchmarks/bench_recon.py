"""Posterior-sampling cost of the diffusion reconstruction (`brainfm_lite.eval.recon`): DDIM with k steps against
DDPM over the prior's full schedule, in one run.

For the same test slices (scored as one volume, as fastMRI scores), measurements and seed it prints the table of
`brainfm_lite.eval.recon_results.compare_samplers`: per sampler, network evaluations, eta, PSNR and SSIM of the
magnitude, seconds per slice and the time as a share of DDPM's (about k / T is the expectation: the network
dominates; the k-space projection adds a small fixed cost per step), with DDIM also run once without fresh noise
(eta = 0) at the largest k. The PSNR column says what the speed costs.

The prior and slices come from a run folder of ``brainfm evaluate recon`` (its fine-tuned prior and slice cache);
without ``--run`` a freshly initialised prior of the profile is used, which times correctly but reconstructs
badly, so its PSNR column is meaningless.

On a CUDA GPU it adds slices per second (DDIM, batch 16, fp32 network, float64 projection) at the
colab (small preset, 128^2, T = 1000) and full (base preset, 256^2) configurations, with random weights.

Run from the repository root::

    .venv/bin/python benchmarks/bench_recon.py --profile smoke --ks 5 10 25 --threads 2          # laptop CPU
    .venv/bin/python benchmarks/bench_recon.py --profile smoke --run runs/recon_smoke --ks 10 25 50
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.recon_slices import recon_datasets
from brainfm_lite.eval.recon import reconstruct
from brainfm_lite.eval.recon_experiments import KSPACE_NOISE_STD, simulate_test_acquisitions
from brainfm_lite.eval.recon_report import samplers_markdown
from brainfm_lite.eval.recon_results import compare_samplers
from brainfm_lite.models.diffusion import DiffusionConfig, DiffusionPrior
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.physics.kspace import cartesian_mask, coil_sensitivities, simulate_acquisition
from brainfm_lite.train.diffusion_training import new_prior

THROUGHPUT_CONFIGS = {"colab": ("small", 128, 50), "full": ("base", 256, 100)}  # preset, size, DDIM steps


def gpu_throughput(n_coils: int, batch: int = 16) -> None:
    """Slices per second of DDIM + projection at the colab and full configurations (random weights)."""
    for name, (preset, size, steps) in THROUGHPUT_CONFIGS.items():
        torch.manual_seed(0)
        prior = DiffusionPrior(DiffusionConfig.preset(preset)).cuda()
        truth = torch.randn(batch, size, size, dtype=torch.complex64)
        sens = coil_sensitivities((size, size), n_coils, seed=0)
        mask = cartesian_mask((size, size), 4, 0.08, seed=0)
        kspace = simulate_acquisition(truth, sens, mask)
        reconstruct(prior, kspace[:2], sens, mask, steps=2)  # warm-up: cuDNN autotuning, allocations
        torch.cuda.synchronize()
        tic = time.perf_counter()
        reconstruct(prior, kspace, sens, mask, steps=steps)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - tic
        print(f"{name}: {preset} prior at {size}^2, DDIM {steps} steps, batch {batch}: "
              f"{batch / seconds:.2f} slices/s ({torch.cuda.get_device_name()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="smoke", help="profile of the data, prior size and T")
    parser.add_argument("--run", help="run folder of `brainfm evaluate recon` (trained prior and slice cache)")
    parser.add_argument("--ks", nargs="+", type=int, default=[10, 25, 50], help="DDIM step counts")
    parser.add_argument("--acceleration", type=float, default=4)
    parser.add_argument("--slices", type=int, default=4, help="test slices reconstructed together")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    profile = load_profile(args.profile)
    ks = [k for k in args.ks if k <= profile.diffusion_timesteps]

    run = Path(args.run) if args.run else None
    cache = run / "slices" if run else Path("runs") / f"recon_{profile.name}" / "slices"
    truth = recon_datasets(profile, cache_dir=cache)["test"].images()[: args.slices]  # scored as one volume
    acquisition = simulate_test_acquisitions(truth, profile.recon_coils, accelerations=(args.acceleration,),
                                             noise_std=KSPACE_NOISE_STD, seed=profile.seed)[args.acceleration]
    prior = from_pretrained(run / "diffusion_finetuned" / "prior") if run else new_prior(profile)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    prior = prior.to(device)
    print(f"profile {profile.name}: {profile.diffusion_preset} prior, T={prior.config.num_train_timesteps}, "
          f"{len(truth)} slices of {profile.recon_image_size}^2, {profile.recon_coils} coils, R={args.acceleration:g},"
          f" {device}, {torch.get_num_threads()} threads, prior: {run or 'untrained (PSNR meaningless)'}")
    print(samplers_markdown(compare_samplers(prior, acquisition, ddim_steps=ks, deterministic_steps=max(ks),
                                             seed=profile.seed)))
    if torch.cuda.is_available():
        gpu_throughput(profile.recon_coils)


if __name__ == "__main__":
    main()
