"""Training: one Trainer for every objective, with checkpoints, exact resume and torchrun/DDP."""

from brainfm_lite.train.config import TrainConfig
from brainfm_lite.train.ema import EMA
from brainfm_lite.train.loop import Trainer, TrainResult
from brainfm_lite.train.schedule import lr_at

__all__ = ["EMA", "TrainConfig", "TrainResult", "Trainer", "lr_at"]
