"""How many random contrasts per second one subject's qMRI gives at 96^3, in numpy and in torch.

Sequence-invariant pretraining (Chalcroft et al.) simulates a new random contrast for every view it trains on, so the
simulator must keep up with the model. This script builds one cohort subject on the 2 mm grid, crops or pads its
tissue fractions to 96^3 around the brain, draws random sequences with ``sample_sequence`` and times
``simulate_contrast`` for both partial-volume models: the tissue compartments (one signal equation per tissue,
summed; what synthetic subjects use) and the voxelwise maps (one equation per voxel), on numpy arrays and on torch
tensors (CPU, and CUDA when present). All backends simulate the same sequences.

Run from the repository root::

    .venv/bin/python benchmarks/bench_contrasts.py            # 60 contrasts per backend
    .venv/bin/python benchmarks/bench_contrasts.py --n 200 --seed 1
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
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.sim.qmri import Compartments, qmri_compartments, simulate_contrast

GRID = (96, 96, 96)


def subject_compartments(seed: int) -> Compartments:
    """Tissue compartments of one 2 mm cohort subject, its fractions cropped (or padded) to 96^3 around the brain."""
    subject = make_cohort(1, seed=seed, spacing_mm=2.0)[0]
    brain = subject.labels > 0
    fractions = {name: crop_or_pad(Volume(values, subject.affine), GRID, mask=brain).data
                 for name, values in subject.tissue.items()}
    start = time.perf_counter()
    compartments = qmri_compartments(fractions, rng=seed, spacing_mm=2.0)
    print(f"qmri_compartments on the {GRID} 2 mm grid: {time.perf_counter() - start:.3f} s "
          f"(tissues with voxels: {[t for t, f in fractions.items() if f.any()]})")
    return compartments


def to_torch(compartments: Compartments, device: str = "cpu") -> Compartments:
    """The same compartments as torch tensors on ``device``."""
    return Compartments({t: torch.from_numpy(f).to(device) for t, f in compartments.fractions.items()},
                        {t: {name: torch.from_numpy(values).to(device) for name, values in maps.items()}
                         for t, maps in compartments.maps.items()})


def contrasts_per_second(qmri, sequences, *, synchronize=lambda: None) -> float:
    """Simulate every sequence once (after two warm-up calls) and return the rate."""
    for sequence in sequences[:2]:
        simulate_contrast(qmri, sequence)
    synchronize()
    start = time.perf_counter()
    for sequence in sequences:
        simulate_contrast(qmri, sequence)
    synchronize()
    return len(sequences) / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="random contrasts per backend")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"machine: {platform.platform(terse=True)}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, numpy "
          f"{np.__version__}; load average {os.getloadavg()[0]:.1f}")
    compartments = subject_compartments(args.seed)
    models = {"compartments": compartments, "voxel maps": compartments.voxel_maps()}
    rng = np.random.default_rng(args.seed)
    sequences = [sample_sequence(rng) for _ in range(args.n)]
    print(f"{args.n} random sequences, kinds: {sorted({s.kind for s in sequences})}, grid {GRID}, float32")

    rates = {}
    for model, qmri in models.items():
        rates[f"{model}, numpy"] = contrasts_per_second(qmri, sequences)
    with torch.no_grad():
        tensors = {"compartments": to_torch(compartments),
                   "voxel maps": {name: torch.from_numpy(values) for name, values in models["voxel maps"].items()}}
        # One thread as well as torch's default: on a busy machine, OpenMP threads waiting for each other can
        # make small element-wise kernels many times slower than a single thread.
        default_threads = torch.get_num_threads()
        for threads in sorted({1, default_threads}):
            torch.set_num_threads(threads)
            for model, qmri in tensors.items():
                rates[f"{model}, torch cpu, {threads} thread(s)"] = contrasts_per_second(qmri, sequences)
        torch.set_num_threads(default_threads)
        if torch.cuda.is_available():
            on_gpu = {"compartments": to_torch(compartments, "cuda"),
                      "voxel maps": {name: values.cuda() for name, values in tensors["voxel maps"].items()}}
            for model, qmri in on_gpu.items():
                name = f"{model}, torch cuda ({torch.cuda.get_device_name()})"
                rates[name] = contrasts_per_second(qmri, sequences, synchronize=torch.cuda.synchronize)

    for backend, rate in rates.items():
        numpy_rate = rates[f"{backend.split(',')[0]}, numpy"]
        print(f"{backend:>44}: {rate:8.1f} contrasts/s  ({1e3 / rate:7.1f} ms each, {rate / numpy_rate:.2f} x numpy)")


if __name__ == "__main__":
    main()
