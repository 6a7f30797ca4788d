"""Epoch time of the CBF dataset read from its preprocessed cache against simulating and preprocessing on the fly.

Pretraining reads every subject once an epoch. Without a cache each read simulates the ASL scan (perfusion,
acquisition, quantification), crops and normalises it; with ``cache_dir`` that happens in the first epoch only and
later epochs load a ``.npz`` file. This script times one epoch of each through a DataLoader (batch 8, no workers)
after a first epoch that fills the cache, and prints the ratio.

Run from the repository root::

    .venv/bin/python benchmarks/bench_cache.py                       # 64 subjects, 4 mm, 64^3
    .venv/bin/python benchmarks/bench_cache.py --n 32 --spacing-mm 2 --size 96
"""

from __future__ import annotations

import argparse
import tempfile
import time

from torch.utils.data import DataLoader

from brainfm_lite.datasets.cbf import CbfDataset
from brainfm_lite.sim.asl.cohort import make_asl_cohort


def epoch_seconds(dataset: CbfDataset, batch_size: int) -> float:
    """Wall time of reading every item once in batches, s."""
    start = time.perf_counter()
    for _ in DataLoader(dataset, batch_size=batch_size):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64, help="subjects")
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--spacing-mm", type=float, default=4.0, help="voxel size, mm")
    parser.add_argument("--size", type=int, default=64, help="crop/pad edge, voxels")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    cohort = make_asl_cohort(args.n, n_sites=args.sites, seed=0, spacing_mm=args.spacing_mm)
    size = (args.size,) * 3
    on_the_fly = epoch_seconds(CbfDataset(cohort, size=size), args.batch_size)
    with tempfile.TemporaryDirectory() as cache_dir:
        cached = CbfDataset(cohort, size=size, cache_dir=cache_dir)
        filling = epoch_seconds(cached, args.batch_size)
        from_cache = epoch_seconds(cached, args.batch_size)

    print(f"{args.n} subjects, {args.spacing_mm:g} mm, {args.size}^3, batch {args.batch_size}")
    print(f"on the fly (simulate + preprocess): {on_the_fly:8.2f} s/epoch")
    print(f"first cached epoch (fills cache):   {filling:8.2f} s/epoch")
    print(f"later cached epochs (read .npz):    {from_cache:8.3f} s/epoch")
    print(f"speed-up of a cached epoch: {on_the_fly / from_cache:.0f}x")


if __name__ == "__main__":
    main()
