"""A toy objective for the Trainer tests, and the script each process runs in the two-process DDP test.

The toy is a miniature masked autoencoder: smooth 8^3 volumes, half of the voxels hidden by a random mask drawn
with ``torch.rand`` in ``forward``, a two-layer 3D CNN with dropout that fills them in, and the mean squared error
on the hidden voxels. It is learnable (a smooth volume's hidden voxel is close to the mean of its neighbours) and its
forward pass draws random numbers, so resuming is only exact if the Trainer restores the generators.

Run by torchrun (``python -m torch.distributed.run --standalone --nproc_per_node 2 toy_problem.py --out DIR``),
it trains the runs that test_distributed.py compares; see :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from brainfm_lite.train import TrainConfig, Trainer, TrainResult

SIDE = 8  # voxels along each axis


class ToyCrash(RuntimeError):
    """Raised by the objective to stop a run as a crash or a pre-emption would."""


class SmoothVolumes(Dataset):
    """`n` smooth random volumes ``{"volume": [1, 8, 8, 8], "index": int}``: ramps and a slow wave, fixed by `seed`."""

    def __init__(self, n: int = 32, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        axis = torch.linspace(-1.0, 1.0, SIDE)
        x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
        coefficients = torch.randn(n, 5, generator=generator)
        volumes = [c[0] * x + c[1] * y + c[2] * z + c[3] * torch.sin(math.pi * (x + c[4] * y)) for c in coefficients]
        self.volumes = torch.stack(volumes).unsqueeze(1)

    def __len__(self) -> int:
        return len(self.volumes)

    def __getitem__(self, index: int) -> dict:
        return {"volume": self.volumes[index], "index": index}


class MaskedVoxelObjective(nn.Module):
    """Fill in hidden voxels; ``forward(batch) -> {"loss", "masked_fraction"}``.

    Args:
        init_seed: seeds the weight initialisation (without touching the global generators).
        random_forward: True: a random mask (``torch.rand``) and dropout 0.2, as in a real MAE. False: a fixed
            checkerboard mask and no dropout, so that every process computes the same function.
        crash_at_call: raise :class:`ToyCrash` on this forward call (1-based), as if the run were killed.
    """

    def __init__(self, init_seed: int = 0, random_forward: bool = True, crash_at_call: int | None = None):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(init_seed)
            self.net = nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.GELU(),
                                     nn.Dropout(0.2 if random_forward else 0.0), nn.Conv3d(4, 1, 3, padding=1))
        self.random_forward = random_forward
        self.crash_at_call = crash_at_call
        self.calls = 0
        self.seen: list[list[int]] = []  # the samples of each forward call, by dataset index

    def forward(self, batch: dict) -> dict:
        volume = batch["volume"]  # [B, 1, 8, 8, 8]
        self.seen.append(batch["index"].tolist())
        if self.random_forward:
            mask = (torch.rand_like(volume) < 0.5).float()  # 1 = hidden
        else:
            index = torch.arange(SIDE, device=volume.device)
            checkerboard = (index[:, None, None] + index[None, :, None] + index[None, None, :]) % 2
            mask = checkerboard.float().expand_as(volume)
        self.calls += 1
        if self.calls == self.crash_at_call:  # mid-step, after drawing random numbers, as a real crash would be
            raise ToyCrash(f"simulated crash at forward call {self.calls}")
        prediction = self.net(torch.cat([volume * (1 - mask), mask], dim=1))
        loss = ((prediction - volume) ** 2 * mask).sum() / mask.sum()
        return {"loss": loss, "masked_fraction": mask.mean()}


def toy_config(**overrides) -> TrainConfig:
    """The tests' default run: 12 steps of batch 4 over 32 volumes (8 batches an epoch), logged every 2 steps."""
    values = dict(max_steps=12, batch_size=4, lr=3e-3, warmup_steps=2, min_lr_ratio=0.1, log_every=2,
                  progress=False, device="cpu")
    return TrainConfig(**{**values, **overrides})


def train(out_dir: Path, config: TrainConfig, *, init_seed: int = 0, random_forward: bool = True,
          crash_after_step: int | None = None, resume=False, n_samples: int = 32) -> tuple[TrainResult, nn.Module]:
    """Train a fresh toy objective; returns the result and the trained objective.

    `crash_after_step` k: the run raises :class:`ToyCrash` in the first forward pass of step k + 1, after the
    checkpoint of step k (when one is due) was written.
    """
    crash_at = None if crash_after_step is None else crash_after_step * config.grad_accum_steps + 1
    objective = MaskedVoxelObjective(init_seed, random_forward=random_forward, crash_at_call=crash_at)
    trainer = Trainer(objective, SmoothVolumes(n_samples), config, out_dir=out_dir)
    return trainer.fit(resume=resume), objective


def main() -> None:
    """Each process of the DDP test trains three runs under ``--out``.

    - ``ddp/``: no randomness in forward, batch `--batch-size` per process; compared with one process at twice
      the batch. Each process also writes the dataset indices of every step it trained, ``seen_rank{R}.json``.
    - ``uninterrupted/`` and ``resumed/``: random masks and dropout, grad accumulation 2 and EMA; the second run
      is stopped after step 4 and resumed by a freshly initialised model: both must end bitwise equal.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=2)
    args = parser.parse_args()

    _, objective = train(args.out / "ddp", toy_config(batch_size=args.batch_size), random_forward=False)
    rank = int(os.environ.get("RANK", "0"))
    (args.out / "ddp" / f"seen_rank{rank}.json").write_text(json.dumps(objective.seen))

    config = toy_config(max_steps=8, batch_size=args.batch_size, grad_accum_steps=2, ema_decay=0.9,
                        checkpoint_every=4)
    train(args.out / "uninterrupted", config)
    try:
        train(args.out / "resumed", config, crash_after_step=4)
    except ToyCrash:
        pass
    train(args.out / "resumed", config, init_seed=1, resume=True)


if __name__ == "__main__":
    main()
