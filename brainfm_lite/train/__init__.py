"""Training: one Trainer for every objective, with checkpoints, exact resume and torchrun/DDP; one config builder;
one pretraining function per method, named in `PRETRAINERS`."""

from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.ema import EMA
from brainfm_lite.train.loop import Trainer, TrainResult
from brainfm_lite.train.metrics_log import MetricsLog
from brainfm_lite.train.pretrain import (
                                         PRETRAINERS,
                                         contrastive_encoder_config,
                                         contrastive_train_config,
                                         fit_and_save_encoder,
                                         mae_encoder_config,
                                         mae_model,
                                         mae_train_config,
                                         pretrain_mae,
                                         pretrain_mae_structural,
                                         pretrain_seqinv,
                                         pretrain_simclr,
                                         pretrain_simclr_cbf,
                                         pretraining_subjects,
                                         structural_mae_encoder_config,
)
from brainfm_lite.train.rng import seeded_init
from brainfm_lite.train.schedule import lr_at

__all__ = [
    "EMA", "PRETRAINERS", "MetricsLog", "TrainConfig", "TrainResult", "Trainer", "contrastive_encoder_config",
    "contrastive_train_config", "fit_and_save_encoder", "lr_at", "mae_encoder_config", "mae_model",
    "mae_train_config", "pretrain_mae", "pretrain_mae_structural", "pretrain_seqinv", "pretrain_simclr",
    "pretrain_simclr_cbf", "pretraining_subjects", "seeded_init", "structural_mae_encoder_config", "train_config_for",
]
