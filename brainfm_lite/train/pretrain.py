"""Pretraining at a profile's scale, one function per method, all one shape: prepare the data, build the objective,
fit it with the `Trainer`, save its encoder (``brainfm pretrain METHOD``, `eval.comparison`).

`PRETRAINERS` names them: "mae" (masked autoencoder on the ASL cohort's CBF maps, chapters 4-5), "simclr"
(3D-Neuro-SimCLR's views and NT-Xent on structural T1 images, chapter 6), "seqinv" (contrasts simulated from qMRI maps,
Chalcroft et al., chapter 7), "mae_structural" (the MAE objective on the structural T1 images) and "simclr_cbf"
(SimCLR adapted to the CBF maps with 3D-Neuro-SimCLR's kind of backbone, a 3D CNN: the rival of chapter 5's MAE).
"simclr" and "seqinv" (all three variants) train the SAME backbone, `contrastive_encoder_config(profile)`: the
papers' kind of backbone, a compact channels-last 3D CNN of ``contrastive_cnn_widths`` at
(``contrastive_image_size``)^3 (``contrastive_backbone: cnn``; "vit" gives the ViT of ``contrastive_encoder`` instead,
a variant on which SimCLR collapses at CPU batch sizes), with the same Trainer settings (`contrastive_train_config`),
so the comparison of chapters 6-7 differs in the objective only. "mae_structural" needs tokens to mask: it trains
the ViT of `structural_mae_encoder_config` with the same Trainer settings.

    >>> encoder_dir = PRETRAINERS["mae"](load_profile("smoke"), "runs/mae_smoke")                 # doctest: +SKIP
    >>> encoder_dir = pretrain_seqinv(load_profile("smoke"), "runs/seqaug", variant="seqaug")   # doctest: +SKIP
    >>> encoder = from_pretrained(encoder_dir)                                                  # doctest: +SKIP

Every pretrainer sees only its cohort's pretraining pool (`pretraining_subjects`): the training subjects of the
cohort's ONE `~brainfm_lite.datasets.splits.evaluation_split`. The evaluations (`eval.asl_evaluation`,
`eval.structural`, `eval.dense`) test on that split's in-site test subjects and held-out sites, which no
pretraining run has seen; the saved encoder's metadata records the pool (``pretraining_pool``) and the
preprocessing its data had (``preprocessing``, a `~brainfm_lite.features.recipe.Recipe`: ``brainfm features`` prepares
new scans by it).

A run folder holds the Trainer's ``metrics.jsonl`` and ``checkpoints/`` (``resume=True`` continues an interrupted
run), the preprocessed subjects (``cbf_cache/`` or ``t1_cache/``, unless another ``cache_dir`` is given; share one
between runs of a profile) and ``encoder/``, the pretrained encoder saved with ``save_pretrained``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from torch import nn

from brainfm_lite.config import Profile
from brainfm_lite.datasets.cbf import CbfDataset, asl_cbf_dataset
from brainfm_lite.datasets.seqinv_views import SeqInvPairs
from brainfm_lite.datasets.simclr_views import SimCLRViewConfig, SimCLRViews, ViewPairs
from brainfm_lite.datasets.splits import evaluation_split, pretraining_pool
from brainfm_lite.datasets.structural import StructuralDataset, structural_dataset
from brainfm_lite.features.recipe import RECIPE_KEY, pretraining_recipe
from brainfm_lite.models.encoders import EncoderConfig
from brainfm_lite.models.hub import save_pretrained
from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.train import distributed as dist
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.rng import seeded_init

ENCODER_DIR = "encoder"  # the saved encoder inside a run folder
OBJECTIVE_DIR = "objective"  # the whole pretrained objective (the MAE with its decoder), where it is kept


def mae_train_config(profile: Profile, **overrides) -> TrainConfig:
    """MAE pretraining on CBF maps: ``mae_steps`` of ``mae_batch_size`` maps at ``mae_lr``, bf16 where it pays
    (`train_config_for` gives the rest); keyword overrides change any field (e.g. ``progress=False``)."""
    return train_config_for(profile, steps=profile.mae_steps, batch_size=profile.mae_batch_size, lr=profile.mae_lr,
                            precision="bf16", **overrides)


def contrastive_train_config(profile: Profile, **overrides) -> TrainConfig:
    """Every method on the shared backbone: ``contrastive_steps`` of ``contrastive_batch_size`` subjects at
    ``contrastive_lr``, bf16 where it pays (`train_config_for` gives the rest); keyword overrides change any field."""
    return train_config_for(profile, steps=profile.contrastive_steps, batch_size=profile.contrastive_batch_size,
                            lr=profile.contrastive_lr, precision="bf16", **overrides)


def mae_model(profile: Profile) -> MAE:
    """A freshly initialised MAE of the profile's preset and image size; the same weights for the same profile seed."""
    with seeded_init(profile.seed):
        return MAE(MAEConfig.preset(profile.mae_preset, img_size=(profile.cbf_image_size,) * 3))


def contrastive_encoder_config(profile: Profile) -> EncoderConfig:
    """The one backbone of chapters 6-7 at a profile (SimCLR, the sequence-invariant variants, scratch), at
    (``profile.contrastive_image_size``)^3: for ``contrastive_backbone: cnn`` the compact 3D CNN of
    ``contrastive_cnn_widths``, channels-last (3D-Neuro-SimCLR and Chalcroft et al. pretrain 3D CNNs, and SimCLR
    learns on one at CPU batch sizes where a small ViT collapses: issue 13's measurements); for "vit" the ViT of
    `structural_mae_encoder_config`."""
    if profile.contrastive_backbone == "vit":
        return structural_mae_encoder_config(profile)
    return EncoderConfig(kind="cnn", img_size=(profile.contrastive_image_size,) * 3,
                         widths=profile.contrastive_cnn_widths, channels_last=True)


def structural_mae_encoder_config(profile: Profile) -> EncoderConfig:
    """The ViT of the structural MAE (masking needs patch tokens): preset ``profile.contrastive_encoder`` at
    (``profile.contrastive_image_size``)^3, sin-cos positions and a class token (as the MAE's encoder)."""
    return EncoderConfig.preset(profile.contrastive_encoder, img_size=(profile.contrastive_image_size,) * 3)


def mae_for_backbone(profile: Profile) -> MAE:
    """A masked autoencoder whose encoder half is the ViT of `structural_mae_encoder_config`, with a one-block
    decoder of the same width; initialised from the profile seed."""
    backbone = structural_mae_encoder_config(profile)
    config = MAEConfig(img_size=backbone.img_size, patch_size=backbone.patch_size, hidden_size=backbone.hidden_size,
                       mlp_dim=backbone.mlp_dim, num_layers=backbone.num_layers, num_heads=backbone.num_heads,
                       decoder_hidden_size=backbone.hidden_size, decoder_mlp_dim=backbone.mlp_dim,
                       decoder_num_layers=1, decoder_num_heads=backbone.num_heads)
    with seeded_init(profile.seed):
        return MAE(config)


def pretraining_subjects(dataset, profile: Profile) -> tuple[np.ndarray, dict]:
    """The subjects of a cohort that its pretraining runs may see, and what the saved encoder records of them.

    Args:
        dataset: the dataset of the WHOLE cohort (e.g. ``asl_cbf_dataset(profile)``); only its ``sites()`` [N] are
            read (no simulation).
        profile: its ``seed`` seeds the cohort's `evaluation_split`, the split the evaluations use.

    Returns:
        pool: cohort subject numbers [M], sorted (`pretraining_pool`: no in-site test subject, no held-out site).
        record: ``{"subjects": M, "cohort_subjects": N, "held_out_sites": [...], "held_out_subjects": N - M}``.
    """
    split = evaluation_split(dataset.sites(), seed=profile.seed)
    pool = pretraining_pool(split)
    record = {"subjects": int(pool.size), "cohort_subjects": len(dataset), "held_out_sites": list(split.test_sites),
              "held_out_subjects": len(dataset) - int(pool.size)}
    return pool, record


def fit_and_save_encoder(objective: nn.Module, dataset, config: TrainConfig, out_dir: str | Path, *,
                         resume: bool = False, metadata: dict, keep_objective: bool = False) -> Path:
    """Train `objective` on `dataset` with the `Trainer` in `out_dir`, then save ``objective.encoder()``.

    Args:
        objective: a module whose ``forward(batch)`` returns {"loss", ...} and whose ``encoder()`` returns the
            pretrained `Encoder` (MAE, SimCLR, SeqInv).
        dataset: its training items.
        config: the Trainer settings.
        out_dir: run folder (``metrics.jsonl``, ``checkpoints/``, and the encoder in ``encoder/``).
        resume: continue from the latest checkpoint in `out_dir` (a finished run is not trained again).
        metadata: saved beside the weights, with the run's ``steps`` and ``last_loss`` added.
        keep_objective: also save the whole objective (e.g. the MAE with its decoder, which can then show its
            reconstructions) in ``out_dir/objective``, before the encoder.

    Returns:
        The folder of the saved encoder (``out_dir/encoder``).
    """
    result = Trainer(objective, dataset, config, out_dir=out_dir).fit(resume=resume)
    metadata = {**metadata, "steps": result.step, "last_loss": result.last_loss}
    encoder_dir = Path(out_dir) / ENCODER_DIR
    if dist.is_main():  # under torchrun every process holds the same weights: one writes them, the others wait
        if keep_objective:  # first: a finished run is recognised by its encoder, so the encoder is written last
            save_pretrained(objective, Path(out_dir) / OBJECTIVE_DIR, metadata=metadata)
        save_pretrained(objective.encoder(), encoder_dir, metadata=metadata)
    dist.barrier()
    return encoder_dir


def pretrain_mae(profile: Profile, out_dir: str | Path, *, resume: bool = False, cache_dir: str | Path | None = None,
                 n_jobs: int = 1, **train_overrides) -> Path:
    """Pretrain a masked autoencoder (``profile.mae_preset``) on the CBF maps of the profile's ASL cohort that no
    evaluation tests on (`pretraining_subjects`).

    Args:
        profile: a :class:`~brainfm_lite.config.Profile` (cohort size, image size, steps, batch, learning rate).
        out_dir: run folder (created).
        resume: continue from the latest checkpoint in ``out_dir`` instead of starting again.
        cache_dir: preprocessed-map cache (default ``out_dir/cbf_cache``).
        n_jobs: processes that simulate the maps into the cache before training (-1: one per core).
        train_overrides: changes to `mae_train_config` (e.g. ``progress=False, log_every=1``).

    Returns:
        The folder of the saved encoder (``out_dir/encoder``); the whole MAE, decoder included, is saved in
        ``out_dir/objective`` (chapter 4 shows its reconstructions).
    """
    dataset, record = _cbf_data(profile, out_dir, cache_dir, n_jobs)
    metadata = {"objective": "mae", "profile": profile.to_dict(), "pretraining_pool": record,
                "data": f"synthetic ASL cohort, {len(dataset)} CBF maps (the evaluation's test subjects held out)",
                RECIPE_KEY: pretraining_recipe(profile, "CBF").to_dict()}
    return fit_and_save_encoder(mae_model(profile), dataset, mae_train_config(profile, **train_overrides), out_dir,
                                resume=resume, metadata=metadata, keep_objective=True)


def pretrain_simclr(profile: Profile, out_dir: str | Path, *, resume: bool = False, cache_dir: str | Path | None = None,
                    n_jobs: int = 1, **train_overrides) -> Path:
    """Pretrain the shared backbone (`contrastive_encoder_config`) with SimCLR (3D-Neuro-SimCLR's views and NT-Xent)
    on the T1 images of the structural cohort's pretraining pool (`pretraining_subjects`).

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
    dataset, record = _structural_data(profile, out_dir, cache_dir, n_jobs)
    with seeded_init(profile.seed):
        objective = SimCLR(SimCLRConfig(encoder=contrastive_encoder_config(profile),
                                        temperature=profile.contrastive_temperature))
    metadata = {"objective": "simclr", "profile": profile.to_dict(), "pretraining_pool": record,
                "data": f"synthetic structural cohort, {len(dataset)} T1 images (the evaluation's test subjects "
                        "held out)", RECIPE_KEY: pretraining_recipe(profile, "T1w").to_dict()}
    views = SimCLRViews(SimCLRViewConfig(min_crop_fraction=profile.simclr_min_crop_fraction))
    metadata["views"] = dataclasses.asdict(views.config)
    config = contrastive_train_config(profile, **train_overrides)
    return fit_and_save_encoder(objective, ViewPairs(dataset, views), config, out_dir, resume=resume, metadata=metadata)


def pretrain_seqinv(profile: Profile, out_dir: str | Path, *, variant: str = "seqinv", resume: bool = False,
                    cache_dir: str | Path | None = None, n_jobs: int = 1, **train_overrides) -> Path:
    """Pretrain the shared backbone with the sequence-invariant objective on contrasts simulated from the cohort's
    qMRI maps (Chalcroft et al.), those of the structural cohort's pretraining pool (`pretraining_subjects`).

    Args:
        variant: "seqinv" (two random sequences per pair), "seqaug" (one random sequence in both views) or
            "baseline" (the MPRAGE-like "t1w" preset in both views); the saved ``objective``.
        Others as :func:`pretrain_simclr`.

    Returns:
        The folder of the saved encoder (``out_dir/encoder``).
    """
    dataset, record = _structural_data(profile, out_dir, cache_dir, n_jobs)
    pairs = SeqInvPairs(dataset, variant)  # checks the variant before any training
    with seeded_init(profile.seed):
        objective = SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(profile),
                                        temperature=profile.contrastive_temperature))
    metadata = {"objective": variant, "profile": profile.to_dict(), "pretraining_pool": record,
                "data": f"synthetic cohort qMRI maps, {len(dataset)} subjects (the evaluation's test subjects "
                        "held out)", RECIPE_KEY: pretraining_recipe(profile, "T1w").to_dict()}
    return fit_and_save_encoder(objective, pairs, contrastive_train_config(profile, **train_overrides), out_dir,
                                resume=resume, metadata=metadata)


def pretrain_mae_structural(profile: Profile, out_dir: str | Path, *, resume: bool = False,
                            cache_dir: str | Path | None = None, n_jobs: int = 1, **train_overrides) -> Path:
    """MAE pretraining of a ViT (`mae_for_backbone`: masking needs tokens, so not the contrastive methods' CNN) on
    the T1 images of the structural cohort's pretraining pool (`pretraining_subjects`), with the contrastive
    methods' Trainer settings (`contrastive_train_config`).

    Args and returns as :func:`pretrain_simclr`.
    """
    dataset, record = _structural_data(profile, out_dir, cache_dir, n_jobs)
    metadata = {"objective": "mae", "profile": profile.to_dict(), "pretraining_pool": record,
                "data": f"synthetic structural cohort, {len(dataset)} T1 images (the evaluation's test subjects "
                        "held out)", RECIPE_KEY: pretraining_recipe(profile, "T1w").to_dict()}
    config = contrastive_train_config(profile, **train_overrides)
    return fit_and_save_encoder(mae_for_backbone(profile), dataset, config, out_dir, resume=resume, metadata=metadata)


def mae_encoder_config(profile: Profile) -> EncoderConfig:
    """The ViT of the MAE's encoder half at a profile (``mae_preset`` at (``cbf_image_size``)^3, sin-cos positions,
    a class token): the backbone every CBF-map pretrainer trains, so that they differ in the objective only."""
    return MAEConfig.preset(profile.mae_preset, img_size=(profile.cbf_image_size,) * 3).encoder_config()


def simclr_cbf_encoder_config(profile: Profile) -> EncoderConfig:
    """The backbone of SimCLR on the CBF maps: the compact 3D CNN of ``profile.cnn_widths`` at (``cbf_image_size``)^3.

    3D-Neuro-SimCLR pretrains a 3D CNN (a ResNet), and a small ViT trained with SimCLR at the batch sizes a CPU
    affords stays near its chance loss (its embeddings collapse; measured in ``benchmarks/bench_simclr_collapse.py``),
    so the rival is the method as its authors built it, scaled to the profile, not the MAE's ViT.
    """
    return EncoderConfig(kind="cnn", img_size=(profile.cbf_image_size,) * 3, widths=profile.cnn_widths)


def pretrain_simclr_cbf(profile: Profile, out_dir: str | Path, *, resume: bool = False,
                        cache_dir: str | Path | None = None, n_jobs: int = 1, **train_overrides) -> Path:
    """SimCLR adapted to ASL, the self-supervised rival ICHOR compares against: 3D-Neuro-SimCLR's views, NT-Xent and
    kind of backbone (a 3D CNN, `simclr_cbf_encoder_config`) on the same CBF maps as `pretrain_mae` (the ASL
    cohort's pretraining pool), with the MAE's Trainer settings (`mae_train_config`: steps, batch, learning rate).

    Args and returns as :func:`pretrain_mae` (``cbf_cache/`` by default; share one with the MAE run).
    """
    dataset, record = _cbf_data(profile, out_dir, cache_dir, n_jobs)
    with seeded_init(profile.seed):
        objective = SimCLR(SimCLRConfig(encoder=simclr_cbf_encoder_config(profile),
                                        temperature=profile.contrastive_temperature))
    metadata = {"objective": "simclr", "profile": profile.to_dict(), "pretraining_pool": record,
                "data": f"synthetic ASL cohort, {len(dataset)} CBF maps (the evaluation's test subjects held out)",
                RECIPE_KEY: pretraining_recipe(profile, "CBF").to_dict()}
    return fit_and_save_encoder(objective, ViewPairs(dataset), mae_train_config(profile, **train_overrides), out_dir,
                                resume=resume, metadata=metadata)


# name -> pretrainer(profile, out_dir, *, resume=False, cache_dir=None, n_jobs=1, **train_overrides) -> encoder folder
# ("seqinv" also takes ``variant``); `brainfm pretrain NAME` and `eval.comparison` run these.
#: The pretraining function of each method, by name (``brainfm pretrain NAME``).
#:
#: :meta hide-value:
PRETRAINERS = {
    "mae": pretrain_mae,
    "simclr": pretrain_simclr,
    "seqinv": pretrain_seqinv,
    "mae_structural": pretrain_mae_structural,
    "simclr_cbf": pretrain_simclr_cbf,
}


def _structural_data(profile: Profile, out_dir: str | Path, cache_dir,
                     n_jobs: int) -> tuple[StructuralDataset, dict]:
    """The pretraining pool of the profile's `structural_dataset` (one pool for SimCLR, SeqInv and MAE), cached in
    `cache_dir` (default ``out_dir/t1_cache``) and prepared, with the record of `pretraining_subjects`."""
    pool, record = pretraining_subjects(structural_dataset(profile), profile)
    dataset = structural_dataset(profile, cache_dir=Path(out_dir) / "t1_cache" if cache_dir is None else cache_dir,
                                 indices=pool)
    _fill_cache(dataset, profile, n_jobs)
    return dataset, record


def _cbf_data(profile: Profile, out_dir: str | Path, cache_dir, n_jobs: int) -> tuple[CbfDataset, dict]:
    """The pretraining pool of the profile's `asl_cbf_dataset`, cached in `cache_dir` (default
    ``out_dir/cbf_cache``) and prepared, with the record of `pretraining_subjects`."""
    pool, record = pretraining_subjects(asl_cbf_dataset(profile), profile)
    dataset = asl_cbf_dataset(profile, cache_dir=Path(out_dir) / "cbf_cache" if cache_dir is None else cache_dir,
                              indices=pool)
    _fill_cache(dataset, profile, n_jobs, device=dist.simulation_device(profile.device))  # a GPU run: on its GPU
    return dataset, record


def _fill_cache(dataset, profile: Profile, n_jobs: int, **prepare_options) -> None:
    """Simulate the subjects `dataset` has not cached yet, before training reads them (`n_jobs` processes, and any
    other option of the dataset's ``prepare``, e.g. the device of CBF maps' batched simulation).

    Under torchrun the processes split them (`SubjectDataset.missing`'s ``part``) and wait for one another, so a
    cache folder they share (one node, or a file system the nodes share) is filled once, not once a process. On
    nodes that share no folder, a subject simulated on another node is simulated again when first read.
    """
    dist.join(profile.device)  # the Trainer joins the same group later; a no-op in one process
    dataset.prepare(n_jobs=n_jobs, part=(dist.rank(), dist.world_size()), **prepare_options)
    dist.barrier()
