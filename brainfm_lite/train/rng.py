"""Seeding and saving the global random generators, so that a resumed run draws the same random numbers.

Objectives draw randomness in ``forward`` (MAE masks, dropout, SimCLR views, diffusion noise levels) from the
global generators of torch (CPU and CUDA), numpy and Python's ``random``. A checkpoint stores all of them; resuming
restores them, and the run continues as if it had never stopped.

Building a network draws its initial weights from torch's CPU generator; `seeded_init` makes them depend on a seed
alone, without touching the global generators the rest of a program draws from::

    >>> with seeded_init(profile.seed):                                                  # doctest: +SKIP
    ...     mae = MAE(config)                          # the same weights for the same seed
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Inside the block, torch's CPU generator starts from `seed`; after it, every global generator is as before.

    Networks built inside (on the CPU) get the same initial weights for the same seed, whatever ran earlier, and
    code after the block draws the same random numbers as if the block had not run. CUDA generators are left alone.

    Args:
        seed: seed of the initial weights.
    """
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


def get_rng_state() -> dict:
    """This process's generator states: ``torch`` and ``cuda`` (a list, one per device) as uint8 tensors;
    ``python`` and ``numpy`` as JSON-serialisable lists and dicts."""
    version, internal, gauss_next = random.getstate()
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {"keys": keys.tolist(), "position": int(position), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached_gaussian)},
    }


def set_rng_state(state: dict) -> None:
    """Restore states from :func:`get_rng_state` (CUDA states only when this machine has CUDA devices)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    numpy = state["numpy"]
    np.random.set_state(("MT19937", np.asarray(numpy["keys"], dtype=np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
