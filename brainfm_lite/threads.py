"""How many CPU threads torch should use: the cores this process may run on, less those other processes keep busy.

Torch starts one thread per core. On a shared machine that oversubscribes the cores: with one other CPU-bound job on
a 2-core machine, a chapter's threads wait on each other at every parallel region: at smoke Chapter 5 took 232 s
against 41 s idle and a cell of Chapter 8 passed its 600 s limit (58 s idle for the whole chapter). With the threads
set here, 87 s and 101 s run alone (2026-12-04, one ``python3 -c "while True: pass"`` beside the chapter), and
66 s and 69 s within a whole smoke book beside one (`benchmarks/bench_book.py`, the same day).

`use_free_cores` measures how busy the machine is over a short interval and sets torch's thread count to the cores
left free (at least one), unless ``OMP_NUM_THREADS`` or ``BRAINFM_THREADS`` says how many to use. A chapter calls it
once, at its start (`provenance.ChapterRun`).

    >>> use_free_cores()   # doctest: +SKIP
    1
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

THREADS_VARIABLES = ("BRAINFM_THREADS", "OMP_NUM_THREADS")  # set by the user: their count wins, in this order
SAMPLE_S = 0.3  # how long the machine's load is watched: long enough to see a busy core, short beside a chapter


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def busy_cores(interval_s: float = SAMPLE_S) -> float:
    """Cores kept busy by all processes over the next `interval_s` seconds (0 to the machine's core count), from
    the kernel's CPU counters (``/proc/stat``); 0.0 where the platform has none."""
    first = _cpu_counters()
    if first is None:
        return 0.0
    time.sleep(interval_s)
    second = _cpu_counters()
    (total0, idle0, cores), (total1, idle1, _) = first, second
    elapsed = total1 - total0
    return 0.0 if elapsed <= 0 else cores * (1 - (idle1 - idle0) / elapsed)


def free_cores(busy: float, cores: int) -> int:
    """Threads to use when `busy` of this process's `cores` are taken by others: the rest, rounded, at least one."""
    return max(1, min(cores, round(cores - busy)))


def use_free_cores(interval_s: float = SAMPLE_S) -> int:
    """Set torch's CPU threads to the cores left free by other processes (`free_cores`), or to the count the user
    set in ``BRAINFM_THREADS`` or ``OMP_NUM_THREADS``; returns the thread count in use."""
    for name in THREADS_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            torch.set_num_threads(int(value))
            return int(value)
    threads = free_cores(busy_cores(interval_s), usable_cores())
    torch.set_num_threads(threads)
    return threads


def _cpu_counters() -> tuple[int, int, int] | None:
    """(total jiffies, idle jiffies, number of cores) of the whole machine, or None without ``/proc/stat``."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    fields = [int(x) for x in lines[0].split()[1:]]
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return sum(fields[:8]), idle, max(1, cores)  # user..steal; guest time is counted inside user already
