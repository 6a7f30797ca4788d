"""Learning-rate schedule: linear warm-up, then cosine decay (as in MAE, SimCLR and nanoGPT)."""

from __future__ import annotations

import math

from brainfm_lite.train.config import TrainConfig


def lr_factor(step: int, config: TrainConfig) -> float:
    """The schedule's multiplier of the peak learning rate for optimizer step `step` (0-based), in [0, 1].

    Warm-up: ``step / warmup_steps`` for ``step < warmup_steps`` (so the first step does not move the weights
    with the full rate). Then a half cosine from 1 at ``warmup_steps`` to ``min_lr_ratio`` at ``max_steps``::

        progress = (step - warmup) / (max_steps - warmup)
        factor = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + cos(pi * progress))

    Steps past ``max_steps`` keep the final value.
    """
    if step < config.warmup_steps:
        return step / config.warmup_steps
    decay_steps = config.max_steps - config.warmup_steps
    if decay_steps <= 0:
        return 1.0
    progress = min(1.0, (step - config.warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate of optimizer step `step` (0-based): ``config.lr * lr_factor(step, config)``.

    Example:
        >>> cfg = TrainConfig(max_steps=110, batch_size=1, lr=1e-3, warmup_steps=10)
        >>> lr_at(0, cfg), lr_at(5, cfg), lr_at(10, cfg), lr_at(60, cfg), lr_at(110, cfg)
        (0.0, 0.0005, 0.001, 0.0005, 0.0)
    """
    return config.lr * lr_factor(step, config)
