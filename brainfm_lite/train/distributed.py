"""torch.distributed for the Trainer: one process per GPU (or CPU worker), launched with ``torchrun``.

``torchrun --nproc_per_node 4 train.py`` starts four copies of the same script and sets, in each, the
environment variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. :func:`setup_distributed` reads
them and joins the process group (NCCL on CUDA, gloo on CPU); without them everything here answers for a single
process (rank 0 of 1), so the same script runs unchanged with ``python train.py``.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist


def setup_distributed(backend: str | None = None) -> bool:
    """Join the process group described by torchrun's environment variables, once; True when distributed.

    A no-op (returning False) when WORLD_SIZE is unset or 1. `backend` defaults to "nccl" when CUDA is present
    (each process then uses GPU LOCAL_RANK), else "gloo" (CPU). The group is left when the interpreter exits.
    """
    if is_distributed():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)
    atexit.register(cleanup)
    return True


def join(device_spec: str = "auto") -> torch.device:
    """This process's device (`process_device`), after joining torchrun's process group with the backend that
    device needs (NCCL for CUDA, gloo for the CPU); a no-op join in a single process."""
    device = process_device(device_spec)
    setup_distributed(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def process_device(spec: str = "auto") -> torch.device:
    """The device this process trains on: "auto" is its own GPU (LOCAL_RANK) when CUDA is present, else the CPU;
    "cuda" without an index also means the process's own GPU; anything else is taken as given."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(spec)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank())
    return device


def simulation_device(spec: str = "auto") -> torch.device | None:
    """Where this process simulates CBF maps for a run on `spec` (`CbfDataset.prepare`'s ``device``): its GPU, in
    batches (24x numpy on one core on an H200, ``benchmarks/bench_batched_simulation.py``), or None on a CPU: numpy,
    as the recorded CPU results were made (the torch path equals it to float32 rounding, not bit for bit)."""
    device = process_device(spec)
    return device if device.type == "cuda" else None


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    """This process's rank on its node, i.e. its GPU index (torchrun's LOCAL_RANK; 0 when not distributed)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on the process that logs, saves and shows progress (rank 0)."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process reaches this point (nothing to wait for in a single process)."""
    if is_distributed():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over all processes (a new tensor; the input is unchanged)."""
    tensor = tensor.detach().clone()
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size()
    return tensor


def all_gather_objects(obj) -> list:
    """Every process's `obj` (JSON-like values and CPU tensors), in rank order; ``[obj]`` in a single process."""
    if not is_distributed():
        return [obj]
    gathered = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def cleanup() -> None:
    """Leave the process group (safe to call twice or when not distributed)."""
    if is_distributed():
        dist.destroy_process_group()
