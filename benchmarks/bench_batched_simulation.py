"""Per-subject simulation in numpy against the batched torch path, for ASL CBF maps and for random contrasts.

The full profile simulates 11,405 ASL maps (about 1.4-1.7 s each at 2 mm in numpy, one at a time), and
sequence-invariant pretraining simulates a new contrast for every view. Both now also run in batches on a torch
device with the same code and the same random draws (`brainfm_lite.sim.asl.batched.simulate_asl_batch`,
`brainfm_lite.sim.batched_contrasts.simulate_contrasts`). This script times, in one run:

- ASL: seconds per CBF map of ``cohort[k]`` (numpy) and of ``simulate_asl_batch`` at each batch size (torch);
- contrasts: ms per random contrast of one subject's tissue compartments cropped to 96^3 at 2 mm
  (``simulate_contrast``, numpy, one at a time; ``simulate_contrasts``, torch, batches of the same sequences);

and prints each torch figure's ratio to numpy (numpy time / torch time: above 1, torch is faster). Every figure is the
best of ``--repeats`` runs (a busy machine only ever makes a run slower), with the CPU seconds of the process beside
the wall time. Torch runs on ``--device`` (default: CUDA when present, else the CPU) with torch's threads.

Run from the repository root::

    .venv/bin/python benchmarks/bench_batched_simulation.py                       # 2 mm, batches 8 and 32
    .venv/bin/python benchmarks/bench_batched_simulation.py --spacing 4 --repeats 2  # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from brainfm_lite.data.volume import Volume
from brainfm_lite.physics.sequences import sample_sequence
from brainfm_lite.preprocess.crop import crop_or_pad
from brainfm_lite.sim.asl.batched import simulate_asl_batch
from brainfm_lite.sim.asl.cohort import make_asl_cohort
from brainfm_lite.sim.batched_contrasts import simulate_contrasts
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.sim.qmri import qmri_compartments, simulate_contrast

CONTRAST_GRID = (96, 96, 96)


def best_of(repeats: int, run, synchronize=lambda: None) -> tuple[float, float]:
    """(wall s, CPU s of this process) of the fastest of ``repeats`` calls of ``run``."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        synchronize()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def asl_figures(args, device, synchronize) -> list[tuple[str, float, float]]:
    """(label, wall s per map, CPU s per map) for numpy and each torch batch size."""
    cohort = make_asl_cohort(max(max(args.batches), args.numpy_subjects), args.sites, seed=args.seed,
                             spacing_mm=args.spacing)
    cohort[0], simulate_asl_batch(cohort, [0], device=device)  # warm-up: anatomy, grids, caches
    wall, cpu = best_of(args.repeats, lambda: [cohort[k] for k in range(args.numpy_subjects)])
    rows = [("numpy, one subject at a time", wall / args.numpy_subjects, cpu / args.numpy_subjects)]
    for batch in args.batches:
        wall, cpu = best_of(args.repeats, lambda b=batch: simulate_asl_batch(cohort, range(b), device=device),
                            synchronize)
        rows.append((f"torch {device}, batch {batch}", wall / batch, cpu / batch))
    return rows


def contrast_figures(args, device, synchronize) -> list[tuple[str, float, float]]:
    """(label, wall s per contrast, CPU s per contrast) for numpy and each torch batch size."""
    subject = make_cohort(1, seed=args.seed, spacing_mm=2.0)[0]
    fractions = {name: crop_or_pad(Volume(values, subject.affine), CONTRAST_GRID, mask=subject.labels > 0).data
                 for name, values in subject.tissue.items()}
    compartments = qmri_compartments(fractions, rng=args.seed, spacing_mm=2.0)
    rng = np.random.default_rng(args.seed)
    sequences = [sample_sequence(rng) for _ in range(max(args.batches))]
    simulate_contrast(compartments, sequences[0]), simulate_contrasts(compartments, sequences[:2], device=device)
    count = min(args.numpy_contrasts, len(sequences))
    wall, cpu = best_of(args.repeats, lambda: [simulate_contrast(compartments, s) for s in sequences[:count]])
    rows = [("numpy, one contrast at a time", wall / count, cpu / count)]
    for batch in args.batches:
        wall, cpu = best_of(args.repeats, lambda b=batch: simulate_contrasts(compartments, sequences[:b],
                                                                             device=device), synchronize)
        rows.append((f"torch {device}, batch {batch}", wall / batch, cpu / batch))
    return rows


def print_table(title: str, unit: str, scale: float, rows) -> None:
    print(f"\n{title}")
    numpy_wall = rows[0][1]
    for label, wall, cpu in rows:
        print(f"  {label:>34}: {wall * scale:9.3f} {unit} each (CPU {cpu * scale:9.3f} {unit}); "
              f"numpy / this: {numpy_wall / wall:5.2f}x")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=2.0, help="ASL grid spacing, mm (2: colab and full)")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="torch batch sizes")
    parser.add_argument("--numpy-subjects", type=int, default=4, help="ASL maps per numpy run")
    parser.add_argument("--numpy-contrasts", type=int, default=16, help="contrasts per numpy run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best counts")
    parser.add_argument("--sites", type=int, default=14, help="ASL studies (the full profile has 14)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-asl", action="store_true")
    parser.add_argument("--skip-contrasts", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"machine: {platform.platform(terse=True)}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs{gpu}; torch {torch.__version__} with {torch.get_num_threads()} threads, numpy "
          f"{np.__version__}; load average {os.getloadavg()[0]:.1f}; nice {os.nice(0)}")
    print(f"best of {args.repeats} runs; ratio = numpy time / torch time (above 1: the batch is faster)")
    with torch.no_grad():
        if not args.skip_asl:
            print_table(f"ASL CBF maps at {args.spacing:g} mm ({args.sites} studies, seed {args.seed})", "s", 1.0,
                        asl_figures(args, device, synchronize))
        if not args.skip_contrasts:
            print_table(f"random contrasts of one subject's compartments at {CONTRAST_GRID} (2 mm)", "ms", 1e3,
                        contrast_figures(args, device, synchronize))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
