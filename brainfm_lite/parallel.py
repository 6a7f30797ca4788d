"""Run a function over many items in worker processes: the one way the package simulates in parallel."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable


def run_in_processes(function: Callable, items: Iterable, *, n_jobs: int = 1) -> list:
    """``[function(item) for item in items]``, computed by `n_jobs` worker processes (-1: one per CPU core).

    Results come back in the order of `items`, identical to the serial loop. Workers are *spawned* (fresh Python
    processes), not forked: forking a process whose torch or OpenMP thread pool has already run can deadlock, and a
    notebook kernel has usually run torch by then. `function` must therefore be picklable (a module-level function,
    a bound method of a picklable object, or a functools.partial of one).
    """
    items = list(items)
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    if n_jobs <= 1 or len(items) < 2 * n_jobs:
        return [function(item) for item in items]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
        return list(pool.map(function, items, chunksize=max(1, len(items) // (8 * n_jobs))))
