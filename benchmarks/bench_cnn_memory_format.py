"""Training-step time of the compact 3D CNN (``EncoderConfig(kind="cnn")``) with channels-last 3D weights and inputs
against the default contiguous layout, in one process, interleaved so that both see the same machine load.

On 2 CPU cores 3D convolution backward is much faster channels-last; this is why `ConvEncoder` keeps that layout
(``channels_last=True``). Run from the repository root::

    .venv/bin/python benchmarks/bench_cnn_memory_format.py                     # about a minute on 2 cores
    .venv/bin/python benchmarks/bench_cnn_memory_format.py --size 48 --batch 8 --widths 16 32 64 128
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from brainfm_lite.models.encoders import EncoderConfig, build_encoder


def step_seconds(encoder, x: torch.Tensor, optimizer) -> float:
    """Seconds of one forward, backward and optimizer step."""
    start = time.perf_counter()
    encoder(x).square().mean().backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="volume edge in voxels")
    parser.add_argument("--batch", type=int, default=16, help="volumes a step (SimCLR: 2 views of 8)")
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=6, help="timed steps of each layout (after one warm-up)")
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.size, args.size, args.size)
    runs = {}
    for layout in (False, True):
        encoder = build_encoder(EncoderConfig(kind="cnn", img_size=(args.size,) * 3, widths=tuple(args.widths),
                                              channels_last=layout))
        runs[layout] = (encoder, torch.optim.AdamW(encoder.parameters(), lr=1e-4), [])
        step_seconds(encoder, x, runs[layout][1])  # warm-up: allocator and kernel selection
    for _ in range(args.repeats):  # interleaved: both layouts see the same load
        for encoder, optimizer, times in runs.values():
            times.append(step_seconds(encoder, x, optimizer))
    contiguous, channels_last = (statistics.median(runs[layout][2]) for layout in (False, True))
    print(f"cnn widths {tuple(args.widths)}, batch {args.batch} x {args.size}^3, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} steps")
    print(f"  contiguous     {contiguous:.3f} s a step")
    print(f"  channels-last  {channels_last:.3f} s a step   ratio {channels_last / contiguous:.2f}")


if __name__ == "__main__":
    main()
