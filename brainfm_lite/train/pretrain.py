"""MAE pretraining on the ASL cohort's CBF maps at a profile's scale (``brainfm pretrain mae``, chapter 4).

    >>> encoder_dir = pretrain_mae(load_profile("smoke"), "runs/mae_smoke")      # doctest: +SKIP
    >>> encoder = from_pretrained(encoder_dir)                                    # doctest: +SKIP

The run folder holds ``metrics.jsonl`` and ``checkpoints/`` (the Trainer's; ``resume=True`` continues an
interrupted run), ``cbf_cache/`` (preprocessed maps, unless another ``cache_dir`` is given) and ``encoder/``:
the pretrained encoder half, saved with ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.models.hub import save_pretrained
from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.train.config import TrainConfig
from brainfm_lite.train.loop import Trainer


def mae_train_config(profile, **overrides) -> TrainConfig:
    """The Trainer settings of MAE pretraining at a profile (warm-up over the first tenth, bf16 on GPU, a checkpoint
    every fifth of the run); keyword overrides change any `TrainConfig` field (e.g. ``progress=False``)."""
    settings = dict(max_steps=profile.mae_steps, batch_size=profile.mae_batch_size, lr=profile.mae_lr,
                    warmup_steps=profile.mae_steps // 10, precision="bf16", cpu_bf16=profile.cpu_bf16,
                    seed=profile.seed,
                    num_workers=profile.num_workers, device=profile.device,
                    checkpoint_every=max(1, profile.mae_steps // 5))
    return TrainConfig(**{**settings, **overrides})


def mae_model(profile) -> MAE:
    """A freshly initialised MAE of the profile's preset and image size; the same weights for the same profile seed."""
    torch.manual_seed(profile.seed)
    return MAE(MAEConfig.preset(profile.mae_preset, img_size=(profile.image_size,) * 3))


def pretrain_mae(profile, out_dir: str | Path, *, resume: bool = False, cache_dir: str | Path | None = None,
                 n_jobs: int = 1, **train_overrides) -> Path:
    """Pretrain a masked autoencoder (``profile.mae_preset``) on every CBF map of the profile's ASL cohort.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile` (cohort size, image size, steps, batch, learning rate).
        out_dir: run folder (created).
        resume: continue from the latest checkpoint in ``out_dir`` instead of starting again.
        cache_dir: preprocessed-map cache (default ``out_dir/cbf_cache``).
        n_jobs: processes that simulate the maps into the cache before training (-1: one per core).
        train_overrides: changes to `mae_train_config` (e.g. ``progress=False, log_every=1``).

    Returns:
        The folder of the saved encoder (``out_dir/encoder``).
    """
    out_dir = Path(out_dir)
    dataset = asl_cbf_dataset(profile, cache_dir=out_dir / "cbf_cache" if cache_dir is None else cache_dir)
    dataset.prepare(n_jobs=n_jobs)
    mae = mae_model(profile)
    result = Trainer(mae, dataset, mae_train_config(profile, **train_overrides), out_dir=out_dir).fit(resume=resume)
    metadata = {"objective": "mae", "profile": profile.to_dict(), "steps": result.step,
                "last_loss": result.last_loss, "data": f"synthetic ASL cohort, {len(dataset)} CBF maps"}
    return save_pretrained(mae.encoder(), out_dir / "encoder", metadata=metadata)
