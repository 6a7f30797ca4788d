"""brainfm_lite.threads: a chapter uses the cores other processes leave free, or the count the user set."""

import pytest
import torch

from brainfm_lite import threads


@pytest.fixture(autouse=True)
def keep_threads(monkeypatch):
    before = torch.get_num_threads()
    for name in threads.THREADS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(before)


def test_free_cores_leave_out_the_busy_ones_and_keep_at_least_one():
    assert threads.free_cores(0.05, 2) == 2  # idle
    assert threads.free_cores(1.0, 2) == 1  # one other CPU-bound job
    assert threads.free_cores(7.5, 2) == 1  # more jobs than cores: still one thread
    assert threads.free_cores(2.4, 8) == 6


def test_the_busy_cores_measured_lie_between_none_and_all():
    busy = threads.busy_cores(0.05)
    assert 0.0 <= busy <= len(open("/proc/stat").read().split("\ncpu")) - 1


def test_a_busy_machine_gets_fewer_threads(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda interval_s: 1.0)
    assert threads.use_free_cores() == 1 and torch.get_num_threads() == 1
    monkeypatch.setattr(threads, "busy_cores", lambda interval_s: 0.1)
    assert threads.use_free_cores() == 2 and torch.get_num_threads() == 2


@pytest.mark.parametrize("name", threads.THREADS_VARIABLES)
def test_a_thread_count_the_user_set_wins(monkeypatch, name):
    monkeypatch.setattr(threads, "busy_cores", lambda interval_s: 0.0)
    monkeypatch.setenv(name, "1")
    assert threads.use_free_cores() == 1 and torch.get_num_threads() == 1
