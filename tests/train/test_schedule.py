"""Tests for brainfm_lite.train.schedule: linear warm-up then cosine decay of the learning rate."""

import math

import pytest

from brainfm_lite.train import TrainConfig, lr_at


def config(**overrides) -> TrainConfig:
    return TrainConfig(**{"max_steps": 110, "batch_size": 1, "lr": 1e-3, "warmup_steps": 10, **overrides})


def test_warm_up_rises_linearly_from_zero_to_the_peak():
    cfg = config()
    assert [lr_at(step, cfg) for step in (0, 1, 5, 10)] == pytest.approx([0.0, 1e-4, 5e-4, 1e-3], abs=1e-15)


def test_cosine_decays_from_the_peak_to_the_floor_at_max_steps():
    cfg = config(min_lr_ratio=0.1)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # half-way: half of the way down
    assert lr_at(35, cfg) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4))))
    assert lr_at(110, cfg) == pytest.approx(1e-4)
    assert lr_at(500, cfg) == pytest.approx(1e-4)  # past the end the floor holds


def test_rate_never_increases_after_the_warm_up():
    cfg = config()
    rates = [lr_at(step, cfg) for step in range(10, 111)]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))


def test_no_warm_up_starts_at_the_peak_and_warm_up_to_the_end_stays_there():
    assert lr_at(0, config(warmup_steps=0)) == pytest.approx(1e-3)
    assert lr_at(110, config(warmup_steps=110)) == pytest.approx(1e-3)
