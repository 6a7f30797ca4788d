"""The one configuration of a training run, whatever the objective (MAE, SimCLR, sequence-invariant, DDPM), and
`train_config_for`, the settings every run of the package starts from at a profile.

    >>> config = train_config_for(profile, steps=profile.mae_steps, batch_size=profile.mae_batch_size,
    ...                           lr=profile.mae_lr, precision="bf16")                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from brainfm_lite.config import Profile
from brainfm_lite.errors import InputError

PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainConfig:
    """Optimisation, schedule, precision and bookkeeping of a :class:`~brainfm_lite.train.loop.Trainer` run.

    A *step* is one optimizer step; it consumes ``grad_accum_steps`` micro-batches of ``batch_size`` samples on
    every process, so the global batch is ``batch_size * grad_accum_steps * world_size`` samples.

    Attributes:
        max_steps: optimizer steps of the whole run (the cosine schedule ends here).
        batch_size: samples per process per micro-step.
        lr: peak learning rate (AdamW), reached at the end of the warm-up.
        weight_decay: AdamW decoupled weight decay; applied to weight matrices and kernels only (ndim >= 2), not to
            biases and normalisation scales, unless the caller passes its own ``param_groups``.
        betas: AdamW moment decays.
        warmup_steps: steps of the linear warm-up from 0 to ``lr``.
        min_lr_ratio: the cosine decays to ``lr * min_lr_ratio`` at ``max_steps``.
        grad_accum_steps: micro-batches whose gradients are summed before one optimizer step.
        clip_grad_norm: clip the global gradient L2 norm to this value; None: no clipping (the norm is still logged).
        precision: "fp32", or "bf16" for bfloat16 autocast of the forward pass on a CUDA GPU of compute capability
            >= 8 (A100, H100; no loss scaling needed), and on a CPU with AMX-BF16 when ``cpu_bf16`` is set.
            Elsewhere (other CPUs, a Colab T4) "bf16" runs in fp32 and the start line says so: CPU autocast without
            AMX is slower than fp32, and the T4 only emulates bf16.
        cpu_bf16: allow "bf16" on a CPU with AMX-BF16 (Xeon Sapphire Rapids and later). Off by default: it speeds
            up convolution-heavy networks of some size and slows small ones (see `Profile.cpu_bf16`).
        ema_decay: keep an exponential moving average of the weights with this decay per step (e.g. 0.999), warmed
            up as min(decay, (1 + n) / (10 + n)) after step n (see `EMA`); None: off.
        log_every: write a metrics line every this many steps (and always at the last step).
        checkpoint_every: save a checkpoint every this many steps; None: only at the end.
        seed: seeds data order (with the epoch) and the random generators (with the process rank).
        num_workers: DataLoader worker processes.
        device: "auto" (the process's CUDA device when present, else the CPU), "cpu" or "cuda[:k]".
        progress: show a tqdm progress bar with the loss (first process only).
    """

    max_steps: int
    batch_size: int
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_accum_steps: int = 1
    clip_grad_norm: float | None = 1.0
    precision: str = "fp32"
    cpu_bf16: bool = False
    ema_decay: float | None = None
    log_every: int = 10
    checkpoint_every: int | None = None
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self):
        self.betas = tuple(self.betas)  # a config read back from JSON holds a list
        for name in ("max_steps", "batch_size", "grad_accum_steps", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise InputError(f"TrainConfig.checkpoint_every must be >= 1 or None, got {self.checkpoint_every}")
        if self.warmup_steps < 0 or self.num_workers < 0:
            raise InputError("TrainConfig.warmup_steps and num_workers must be >= 0")
        if self.lr < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise InputError(f"TrainConfig needs lr >= 0 and 0 <= min_lr_ratio <= 1, got {self.lr}, "
                             f"{self.min_lr_ratio}")
        if self.precision not in PRECISIONS:
            raise InputError(f"TrainConfig.precision must be one of {PRECISIONS}, got '{self.precision}'")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"TrainConfig.ema_decay must be in [0, 1) or None, got {self.ema_decay}")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise InputError(f"TrainConfig.clip_grad_norm must be > 0 or None, got {self.clip_grad_norm}")

    def to_dict(self) -> dict:
        """The config as a plain dict of its fields (what a checkpoint saves)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Rebuild a config saved with :meth:`to_dict` (e.g. from a checkpoint's ``trainer_state.json``)."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown TrainConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**values)


def train_config_for(profile: Profile, *, steps: int, batch_size: int, lr: float, **overrides) -> TrainConfig:
    """The settings of a training run at a profile: the shared defaults, then the run's own changes.

    Defaults beyond `TrainConfig`'s own: a linear warm-up over the first tenth of the steps, a checkpoint every
    fifth of them (so ``fit(resume=True)`` loses at most a fifth of an interrupted run), and the profile's
    ``seed``, ``device``, ``num_workers`` (DataLoader workers) and ``cpu_bf16``.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile`.
        steps: optimizer steps of the run (``max_steps``).
        batch_size: samples per process per micro-step.
        lr: peak learning rate.
        overrides: any other `TrainConfig` field, replacing the defaults (e.g. ``precision="bf16"``,
            ``checkpoint_every=None``, ``progress=False``).
    """
    settings = dict(max_steps=steps, batch_size=batch_size, lr=lr, warmup_steps=steps // 10,
                    checkpoint_every=max(1, steps // 5), seed=profile.seed, device=profile.device,
                    num_workers=profile.num_workers, cpu_bf16=profile.cpu_bf16)
    return TrainConfig(**{**settings, **overrides})
