"""Seconds per synthetic subject (`brainfm_lite.sim.cohort`) at 4 mm and 2 mm, and a cohort table's cost.

The smoke profile builds tens of subjects at 4 mm inside a chapter's 60 s budget; colab and full build hundreds at
2 mm. Loading the anatomy (once per spacing, cached) is timed apart from the subjects.

Run from the repository root::

    .venv/bin/python benchmarks/bench_synth.py               # 5 subjects per spacing
    .venv/bin/python benchmarks/bench_synth.py --n 20
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.cohort import make_cohort


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="subjects timed per spacing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"machine: {platform.platform(terse=True)}, {os.cpu_count()} CPUs, numpy {np.__version__}")

    for spacing_mm in (4.0, 2.0):
        start = time.perf_counter()
        anatomy = load_anatomy(spacing_mm)
        load_s = time.perf_counter() - start
        cohort = make_cohort(args.n + 1, seed=args.seed, spacing_mm=spacing_mm)
        cohort[0]  # first subject also builds the cached ventricle field
        times = []
        for k in range(1, args.n + 1):
            start = time.perf_counter()
            cohort[k]
            times.append(time.perf_counter() - start)
        print(f"{spacing_mm:.0f} mm grid {anatomy.shape}: anatomy load {load_s:.2f} s; "
              f"{np.mean(times):.3f} s per subject (min {np.min(times):.3f}, max {np.max(times):.3f}, "
              f"{args.n} subjects)")


if __name__ == "__main__":
    main()
