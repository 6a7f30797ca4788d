"""Run by tests/models/test_losses.py under torchrun (2 CPU processes): NT-Xent with gathered negatives.

Every process builds the same global batch of projections (fixed seed), keeps its own rows, and writes the loss and
the gradient of its rows to ``<out>/rank<k>.pt``; the test compares them with one process on the whole batch.
"""

import sys
from pathlib import Path

import torch

from brainfm_lite.models.losses import nt_xent
from brainfm_lite.train import distributed

PAIRS_PER_PROCESS, DIM = 3, 5


def main(out: Path) -> None:
    distributed.setup_distributed(backend="gloo")
    rank, world = distributed.rank(), distributed.world_size()
    generator = torch.Generator().manual_seed(0)
    z1 = torch.randn(PAIRS_PER_PROCESS * world, DIM, generator=generator)
    z2 = torch.randn(PAIRS_PER_PROCESS * world, DIM, generator=generator)
    rows = slice(rank * PAIRS_PER_PROCESS, (rank + 1) * PAIRS_PER_PROCESS)
    local1, local2 = z1[rows].clone().requires_grad_(), z2[rows].clone().requires_grad_()
    loss = nt_xent(local1, local2, temperature=0.5)
    loss.backward()
    torch.save({"loss": loss.detach(), "grad1": local1.grad, "grad2": local2.grad}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
