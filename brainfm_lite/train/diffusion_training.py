"""Training the diffusion prior of chapter 8 with the shared `Trainer`: pretrain, fine-tune, train from scratch.

The stroke DPM paper's recipe is two calls of `train_prior`::

    >>> groups = recon_datasets(profile)                                                          # doctest: +SKIP
    >>> source = train_prior(profile, groups["source"], "runs/source")                           # many non-FLAIR brains
    >>> tuned = train_prior(profile, groups["target_train"], "runs/tuned", init=source,
    ...                     steps=profile.diffusion_finetune_steps, lr=profile.diffusion_finetune_lr)
    >>> prior = from_pretrained(tuned)                                                            # EMA weights

Training from scratch (``init=None``) warms up over the first tenth and decays along a cosine to a tenth of the
peak rate. Fine-tuning (``init`` given) starts from the pretrained EMA weights and keeps a constant, reduced rate,
as the stroke DPM paper's group continues EDM training. A constant rate also makes a fine-tuning run of k steps
exactly the first k steps of a longer one, which `finetune_sweep` uses: one run per learning rate gives every duration.
"""

from __future__ import annotations

import math
from pathlib import Path

from brainfm_lite.config import Profile
from brainfm_lite.errors import InputError
from brainfm_lite.models.diffusion import DiffusionConfig, DiffusionPrior
from brainfm_lite.models.hub import load_weights, save_pretrained
from brainfm_lite.train.checkpoint import checkpoint_name
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.rng import seeded_init

PRIOR_DIR = "prior"  # the saved EMA prior inside a run folder
# The slices sit in memory and an item is an index: loader workers would only add their start-up at every epoch.
# On 20 target subjects (7 batches an epoch) a step took 1.0-1.2 s with 2 workers and 0.58 s without (2 cores).
SLICE_LOADER_WORKERS = 0


def diffusion_config(profile: Profile) -> DiffusionConfig:
    """The prior's network and schedule at a profile (``diffusion_preset``, ``diffusion_timesteps``).

    The linear betas are scaled by 1000 / T (Ho et al.'s 1e-4 .. 0.02 at T = 1000): a shorter schedule then still
    ends in (almost) pure noise, abar_T about 4e-5, where sampling starts; unscaled, T = 100 would stop at 0.36.
    """
    scale = 1000 / profile.diffusion_timesteps
    return DiffusionConfig.preset(profile.diffusion_preset, num_train_timesteps=profile.diffusion_timesteps,
                                  beta_start=1e-4 * scale, beta_end=min(0.02 * scale, 0.999))


def diffusion_train_config(profile: Profile, *, steps: int, lr: float, finetune: bool, **overrides) -> TrainConfig:
    """Trainer settings of a prior run (`train_config_for` gives the rest, a checkpoint every fifth included):
    from scratch, warm-up over the first tenth and a cosine down to a tenth of `lr`; fine-tuning, a constant `lr`.
    Always: ``diffusion_batch_size`` slices a step, EMA weights, no weight decay, bf16 where it pays, a metrics
    line every tenth of the run.

    Keyword overrides change any `TrainConfig` field (e.g. ``progress=False``).
    """
    schedule = dict(warmup_steps=0, min_lr_ratio=1.0) if finetune else dict(min_lr_ratio=0.1)
    settings = dict(weight_decay=0.0, betas=(0.9, 0.999), ema_decay=profile.diffusion_ema_decay, precision="bf16",
                    num_workers=SLICE_LOADER_WORKERS, log_every=max(1, steps // 10), **schedule)
    return train_config_for(profile, steps=steps, batch_size=profile.diffusion_batch_size, lr=lr,
                            **{**settings, **overrides})


def new_prior(profile: Profile, init: str | Path | None = None) -> DiffusionPrior:
    """A prior of the profile's size: freshly initialised (the same weights for the same profile seed), or
    loaded from `init` (a folder written by `train_prior`, or any weights file `load_weights` reads)."""
    with seeded_init(profile.seed):
        prior = DiffusionPrior(diffusion_config(profile))
    if init is not None:
        load_weights(prior, init)
    return prior


def train_prior(profile: Profile, dataset, out_dir: str | Path, *, init: str | Path | None = None,
                steps: int | None = None, lr: float | None = None, resume: bool = False, **train_overrides) -> Path:
    """Train (or fine-tune) a diffusion prior on `dataset` and save its EMA weights with ``save_pretrained``.

    Args:
        profile: a `Profile` (prior size, batch, EMA decay, seed, device).
        dataset: slices with ``image`` [2, H, W] items (a `~brainfm_lite.datasets.recon_slices.SliceDataset`).
        out_dir: run folder (``metrics.jsonl``, ``checkpoints/``, and the saved prior in ``prior/``).
        init: a saved prior to start from (fine-tuning); None trains from scratch.
        steps: optimizer steps (default ``diffusion_finetune_steps`` with `init`, else ``diffusion_steps``).
        lr: learning rate (default ``diffusion_finetune_lr`` with `init`, else ``diffusion_lr``).
        resume: continue from the last checkpoint in `out_dir` (a finished run is not trained again).
        train_overrides: changes to `diffusion_train_config` (e.g. ``progress=False``, ``checkpoint_every=5``).

    Returns:
        The folder of the saved prior (``out_dir/prior``); `from_pretrained` loads it.
    """
    finetune = init is not None
    steps = steps if steps is not None else (profile.diffusion_finetune_steps if finetune else profile.diffusion_steps)
    lr = lr if lr is not None else (profile.diffusion_finetune_lr if finetune else profile.diffusion_lr)
    prior = new_prior(profile, init)
    config = diffusion_train_config(profile, steps=steps, lr=lr, finetune=finetune, **train_overrides)
    trainer = Trainer(prior, dataset, config, out_dir=out_dir)
    result = trainer.fit(resume=resume)
    trainer.ema.copy_to(prior)
    metadata = {"objective": "ddpm", "init": str(init) if finetune else None, "steps": result.step, "lr": lr,
                "last_loss": result.last_loss, "data": repr(dataset), "weights": "EMA"}
    return save_pretrained(prior, Path(out_dir) / PRIOR_DIR, metadata=metadata)


def finetune_sweep(profile: Profile, init: str | Path, dataset, out_dir: str | Path, *, lrs=None, durations=None,
                   resume: bool = False, **train_overrides) -> dict[tuple[float, int], Path]:
    """Fine-tune a pretrained prior at every (learning rate, duration) pair; one run per learning rate.

    Each run goes to the longest duration at a constant rate and checkpoints at every multiple of the durations'
    greatest common divisor; the prior of (lr, k steps) is the EMA in the checkpoint of step k, which is exactly
    what a separate k-step run would have given.

    Args:
        profile: a `Profile`.
        init: the pretrained prior (a folder from `train_prior`).
        dataset: the target slices.
        out_dir: sweep folder; run i goes to ``out_dir/lr_{i}``.
        lrs: learning rates (default ``diffusion_sweep_lrs``).
        durations: fine-tuning steps (default ``diffusion_sweep_steps``).
        resume: continue each run from its last checkpoint.
        train_overrides: changes to `diffusion_train_config`.

    Returns:
        {(lr, steps): EMA weights file of that point} (``ema.safetensors`` files; load with `new_prior`).
    """
    lrs = list(profile.diffusion_sweep_lrs if lrs is None else lrs)
    durations = sorted(int(d) for d in (profile.diffusion_sweep_steps if durations is None else durations))
    if not lrs or not durations or min(durations) < 1:
        raise InputError(f"the sweep needs learning rates and positive durations; got {lrs}, {durations}")
    every = math.gcd(*durations)
    weights = {}
    for index, lr in enumerate(lrs):
        run_dir = Path(out_dir) / f"lr_{index}"
        train_prior(profile, dataset, run_dir, init=init, steps=durations[-1], lr=lr, checkpoint_every=every,
                    resume=resume, **train_overrides)
        for steps in durations:
            weights[(float(lr), steps)] = run_dir / "checkpoints" / checkpoint_name(steps) / "ema.safetensors"
    return weights
