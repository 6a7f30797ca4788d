"""Structural classification of the embedded cohort, as 3D-Neuro-SimCLR evaluates SimCLR: in-distribution (test subjects
from the training sites) and out-of-distribution (unseen sites), with all and with 20 % of the training labels,
by linear probe and by fine-tuning (chapters 6-7).

Tasks come from `StructuralDataset` targets: "older" (older than the middle of the cohort's age range: the
atrophy that comes with age) and "lesion" (any white-matter hyperintensity or stroke). Everything runs through
:func:`brainfm_lite.eval.probe.evaluate_encoder` on the structural cohort's ONE evaluation split
(`structural_splits`), so every encoder is scored on the same subjects, none of which any pretraining run saw (the
pretrainers hold the same split's test subjects out; `brainfm_lite.train.pretrain.pretraining_subjects`)::

    >>> factories = {"simclr": lambda: from_pretrained("runs/simclr/encoder"),
    ...              "random_init": lambda: build_encoder(contrastive_encoder_config(profile))}   # doctest: +SKIP
    >>> rows = evaluate_structural(profile, factories)                                           # doctest: +SKIP
    >>> table = summarise(rows)                                                                  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from brainfm_lite.config import Profile
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.eval.probe import MODES, evaluate_encoder
from brainfm_lite.eval.splits import SiteSplit, evaluation_split
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.distributed import process_device

STRUCTURAL_CLASSIFICATION_TASKS = ("older", "lesion")
STRUCTURAL_FRACTIONS = (1.0, 0.2)  # 3D-Neuro-SimCLR fine-tunes with 20 % of the labels


def structural_splits(dataset, profile: Profile) -> list[SiteSplit]:
    """The cohort's evaluation split, as a list of one (the folds `evaluate_encoder` takes), seeded by the profile.

    `dataset` must hold the whole cohort in order (as ``structural_dataset(profile)`` does): the split's indices are
    cohort subjects, the same the pretrainers hold out. Leave-sites-out folds would test on subjects that
    pretraining saw, so there are none.
    """
    return [evaluation_split(dataset.sites(), seed=profile.seed)]


def evaluate_structural(profile: Profile, encoder_factories: dict, *, dataset=None, cache_dir: str | Path | None = None,
                        tasks=STRUCTURAL_CLASSIFICATION_TASKS, fractions=STRUCTURAL_FRACTIONS, modes=MODES,
                        seeds=None, splits: list[SiteSplit] | None = None,
                        train_config: TrainConfig | None = None) -> list[dict]:
    """Score every encoder on the structural tasks, on the same split, label fractions and seeds.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile` (cohort, image size, fine-tuning settings, seeds).
        encoder_factories: name -> ``() -> Encoder`` (a fresh encoder per call; e.g. ``from_pretrained`` of a
            pretraining folder, or ``build_encoder`` of the same config for random initialisation).
        dataset: the `StructuralDataset` of the whole cohort (default: the profile's, `structural_dataset`).
        cache_dir: its preprocessed-subject cache, when `dataset` is not given.
        tasks: classification tasks of ``STRUCTURAL_TASKS`` (also "age", a regression, scored by MAE and r).
        fractions: shares of the training labels (default 100 % and 20 %).
        modes: "probe" (frozen features, logistic regression) and/or "finetune" (encoder + linear head).
        seeds: label-subset / initialisation seeds (default ``range(profile.eval_seeds)``).
        splits: the split(s), when the caller already made them (default `structural_splits`, the one evaluation
            split that pretraining held out).
        train_config: fine-tuning settings (default: ``finetune_steps`` of ``contrastive_batch_size`` volumes at
            ``finetune_lr``, `train_config_for`, no intermediate checkpoints: each run trains in a scratch folder).

    Returns:
        Rows of :func:`~brainfm_lite.eval.probe.evaluate_encoder` (``encoder`` = the factory's name; ``test`` =
        "in_site" for in-distribution, "unseen_site" for out-of-distribution); `probe.summarise` makes the table.
    """
    dataset = structural_dataset(profile, cache_dir=cache_dir) if dataset is None else dataset
    if getattr(dataset, "cache_dir", None) is not None:
        dataset.prepare(n_jobs=max(1, profile.num_workers))
    splits = structural_splits(dataset, profile) if splits is None else splits
    seeds = tuple(range(profile.eval_seeds)) if seeds is None else tuple(seeds)
    if train_config is None:
        train_config = train_config_for(profile, steps=profile.finetune_steps,
                                        batch_size=profile.contrastive_batch_size, lr=profile.finetune_lr,
                                        checkpoint_every=None, progress=False)
    rows = []
    for name, factory in encoder_factories.items():
        rows += evaluate_encoder(factory, dataset, name=name, splits=splits, tasks=tasks, fractions=fractions,
                                 seeds=seeds, modes=modes, train_config=train_config,
                                 batch_size=profile.contrastive_batch_size, device=process_device(profile.device),
                                 num_workers=profile.num_workers)
    return rows
