"""SimCLR, sequence-invariant and MAE pretraining on the structural cohort at a profile's scale (chapters 6-7,
``brainfm pretrain simclr|seqinv``).

Every method of the comparison trains the SAME backbone, `contrastive_encoder_config(profile)`: a ViT (so a
UNETR-style decoder and the MAE fit it) of the profile's ``contrastive_encoder`` preset at
``contrastive_image_size``^3.

    >>> encoder_dir = pretrain_simclr(load_profile("smoke"), "runs/simclr")                     # doctest: +SKIP
    >>> encoder_dir = pretrain_seqinv(load_profile("smoke"), "runs/seqaug", variant="seqaug")   # doctest: +SKIP
    >>> encoder_dir = pretrain_mae_structural(load_profile("smoke"), "runs/mae_t1")           # doctest: +SKIP
    >>> encoder = from_pretrained(encoder_dir)                                                  # doctest: +SKIP

A run folder holds the Trainer's ``metrics.jsonl`` and ``checkpoints/`` (``resume=True`` continues), the
preprocessed subjects in ``t1_cache/`` (unless another ``cache_dir`` is given; share one between runs of a
profile) and ``encoder/``, the pretrained backbone saved with ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from brainfm_lite.datasets.seqinv_views import SeqInvPairs
from brainfm_lite.datasets.simclr_views import ViewPairs
from brainfm_lite.datasets.structural import StructuralDataset
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import EncoderConfig
from brainfm_lite.models.hub import save_pretrained
from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.train.config import TrainConfig
from brainfm_lite.train.loop import Trainer

CONTRASTIVE_ENCODERS = {
    # CPU smoke runs at 32^3: 64 patches of 8^3, a step of 8 pairs takes a fraction of a second.
    "tiny": dict(patch_size=8, hidden_size=96, mlp_dim=384, num_layers=2, num_heads=4),
    # One T4 (colab) at 96^3: ViT-Tiny width, as the MAE "small" preset.
    "small": dict(patch_size=16, hidden_size=192, mlp_dim=768, num_layers=4, num_heads=3),
    # GPU server (full): seed 002's ViT-B (patch 16, 768 wide, 12 layers, 12 heads).
    "base": dict(patch_size=16, hidden_size=768, mlp_dim=3072, num_layers=12, num_heads=12),
}


def contrastive_encoder_config(profile) -> EncoderConfig:
    """The one backbone of chapters 6-7 at a profile: a ViT of preset ``profile.contrastive_encoder`` at
    ``profile.contrastive_image_size``^3, sin-cos positions and a class token (as the MAE's encoder)."""
    if profile.contrastive_encoder not in CONTRASTIVE_ENCODERS:
        raise InputError(f"unknown contrastive_encoder {profile.contrastive_encoder!r}: choose one of "
                         f"{', '.join(CONTRASTIVE_ENCODERS)}")
    return EncoderConfig(kind="vit", img_size=(profile.contrastive_image_size,) * 3, pos_embed_type="sincos",
                         cls_token=True, **CONTRASTIVE_ENCODERS[profile.contrastive_encoder])


def structural_cohort(profile):
    """The structural cohort of chapters 6-7: ``contrastive_subjects`` from ``n_sites`` sites at ``spacing_mm``."""
    return make_cohort(profile.contrastive_subjects, seed=profile.seed, spacing=profile.spacing_mm,
                       n_sites=profile.n_sites)


def structural_dataset(profile, *, cache_dir: str | Path | None = None, indices=None) -> StructuralDataset:
    """Every T1 of the profile's cohort, z-scored in the brain, cropped or padded to ``contrastive_image_size``^3."""
    return StructuralDataset(structural_cohort(profile), indices, size=(profile.contrastive_image_size,) * 3,
                             cache_dir=cache_dir)


def contrastive_train_config(profile, **overrides) -> TrainConfig:
    """Trainer settings of contrastive pretraining at a profile (AdamW, warm-up over the first tenth, cosine decay,
    clipping at 1, bf16 on a capable GPU, a checkpoint every fifth of the run); keyword overrides change any field."""
    steps = profile.contrastive_steps
    settings = dict(max_steps=steps, batch_size=profile.contrastive_batch_size, lr=profile.contrastive_lr,
                    warmup_steps=steps // 10, clip_grad_norm=1.0, precision="bf16", cpu_bf16=profile.cpu_bf16,
                    seed=profile.seed,
                    num_workers=profile.num_workers, device=profile.device, checkpoint_every=max(1, steps // 5))
    return TrainConfig(**{**settings, **overrides})


def pretrain_simclr(profile, out_dir: str | Path, *, resume: bool = False, cache_dir: str | Path | None = None,
                    n_jobs: int = 1, **train_overrides) -> Path:
    """Pretrain the shared backbone with SimCLR (seed 001's views and NT-Xent) on the cohort's T1 images.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile`.
        out_dir: run folder (created).
        resume: continue from the latest checkpoint in ``out_dir``.
        cache_dir: preprocessed-subject cache (default ``out_dir/t1_cache``).
        n_jobs: processes that simulate the subjects into the cache before training (-1: one per core).
        train_overrides: changes to `contrastive_train_config` (e.g. ``progress=False, max_steps=5``).

    Returns:
        The folder of the saved encoder (``out_dir/encoder``).
    """
    out_dir = Path(out_dir)
    dataset = _prepared_dataset(profile, out_dir, cache_dir, n_jobs)
    torch.manual_seed(profile.seed)  # the same initial weights for the same profile seed
    objective = SimCLR(SimCLRConfig(encoder=contrastive_encoder_config(profile),
                                    temperature=profile.contrastive_temperature))
    config = contrastive_train_config(profile, **train_overrides)
    result = Trainer(objective, ViewPairs(dataset), config, out_dir=out_dir).fit(resume=resume)
    metadata = {"objective": "simclr", "profile": profile.to_dict(), "steps": result.step,
                "last_loss": result.last_loss, "data": f"synthetic structural cohort, {len(dataset)} T1 images"}
    return save_pretrained(objective.encoder(), out_dir / "encoder", metadata=metadata)


def pretrain_seqinv(profile, out_dir: str | Path, *, variant: str = "seqinv", resume: bool = False,
                    cache_dir: str | Path | None = None, n_jobs: int = 1, **train_overrides) -> Path:
    """Pretrain the shared backbone with the sequence-invariant objective on contrasts simulated from the cohort's
    qMRI maps (seed 002).

    Args:
        variant: "seqinv" (two random sequences per pair), "seqaug" (one random sequence in both views) or
            "baseline" (the MPRAGE-like "t1w" preset in both views).
        Others as :func:`pretrain_simclr`.

    Returns:
        The folder of the saved encoder (``out_dir/encoder``).
    """
    out_dir = Path(out_dir)
    dataset = _prepared_dataset(profile, out_dir, cache_dir, n_jobs)
    pairs = SeqInvPairs(dataset, variant)  # checks the variant before any training
    torch.manual_seed(profile.seed)
    objective = SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(profile),
                                    temperature=profile.contrastive_temperature))
    config = contrastive_train_config(profile, **train_overrides)
    result = Trainer(objective, pairs, config, out_dir=out_dir).fit(resume=resume)
    metadata = {"objective": variant, "profile": profile.to_dict(), "steps": result.step,
                "last_loss": result.last_loss, "data": f"synthetic cohort qMRI maps, {len(dataset)} subjects"}
    return save_pretrained(objective.encoder(), out_dir / "encoder", metadata=metadata)


def mae_for_backbone(profile) -> MAE:
    """A masked autoencoder whose encoder half IS the shared contrastive backbone (same ViT sizes), with a
    one-block decoder of the same width; initialised from the profile seed."""
    backbone = contrastive_encoder_config(profile)
    torch.manual_seed(profile.seed)
    return MAE(MAEConfig(img_size=backbone.img_size, patch_size=backbone.patch_size,
                         hidden_size=backbone.hidden_size, mlp_dim=backbone.mlp_dim, num_layers=backbone.num_layers,
                         num_heads=backbone.num_heads, decoder_hidden_size=backbone.hidden_size,
                         decoder_mlp_dim=backbone.mlp_dim, decoder_num_layers=1,
                         decoder_num_heads=backbone.num_heads))


def pretrain_mae_structural(profile, out_dir: str | Path, *, resume: bool = False,
                            cache_dir: str | Path | None = None, n_jobs: int = 1, **train_overrides) -> Path:
    """MAE pretraining of the shared backbone on the structural cohort's T1 images, with the contrastive methods'
    Trainer settings (`contrastive_train_config`), so the comparison of chapter 7 differs in the objective only.

    Args and returns as :func:`pretrain_simclr`.
    """
    out_dir = Path(out_dir)
    dataset = _prepared_dataset(profile, out_dir, cache_dir, n_jobs)
    mae = mae_for_backbone(profile)
    config = contrastive_train_config(profile, **train_overrides)
    result = Trainer(mae, dataset, config, out_dir=out_dir).fit(resume=resume)
    metadata = {"objective": "mae", "profile": profile.to_dict(), "steps": result.step,
                "last_loss": result.last_loss, "data": f"synthetic structural cohort, {len(dataset)} T1 images"}
    return save_pretrained(mae.encoder(), out_dir / "encoder", metadata=metadata)


def _prepared_dataset(profile, out_dir: Path, cache_dir, n_jobs: int) -> StructuralDataset:
    dataset = structural_dataset(profile, cache_dir=out_dir / "t1_cache" if cache_dir is None else cache_dir)
    dataset.prepare(n_jobs=n_jobs)
    return dataset
