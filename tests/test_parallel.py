"""Worker processes give the serial result, in order, even after torch has run in the parent."""

import math

import torch

from brainfm_lite.parallel import run_in_processes


def test_parallel_result_equals_the_serial_loop_in_order():
    items = list(range(20))
    assert run_in_processes(math.factorial, items, n_jobs=2) == [math.factorial(k) for k in items]


def test_workers_start_after_torch_has_used_its_thread_pool():
    torch.randn(256, 256) @ torch.randn(256, 256)  # a forked pool could hang after this; spawned workers do not
    assert run_in_processes(abs, [-3, -2, -1, 0, 1, 2], n_jobs=2) == [3, 2, 1, 0, 1, 2]
