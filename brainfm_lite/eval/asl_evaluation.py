"""The ASL results table: a pretrained encoder, the same network from random weights, and the regional-CBF
baseline, on the same leave-sites-out folds (``brainfm evaluate asl``, chapter 4).

    >>> profile = load_profile("smoke")                                                     # doctest: +SKIP
    >>> results = evaluate_asl(profile, "runs/mae_smoke/encoder", "runs/asl_results.json")  # doctest: +SKIP
    >>> results["table"][0]["auc_mean"]                                                    # doctest: +SKIP

Rows of ``table`` share one schema: ``encoder`` ("pretrained", "random_init", "regional_cbf"), ``mode`` ("probe",
"finetune", or "linear" for the baseline), ``task``, ``kind``, ``test`` ("in_site", "unseen_site"),
``fraction`` of training labels, ``n_seeds``, ``n_train``, ``n_test`` and ``<metric>_mean`` / ``<metric>_std``.
For the encoders the spread is over seeds (each seed's score averaged over folds); the regional baseline is
deterministic, so its ``_mean`` is scored on the predictions of all folds pooled and its ``_std`` is the spread
across folds (``"spread": "folds"``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from brainfm_lite.atomic import write_json
from brainfm_lite.config import Profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.eval.baselines import asl_baseline_table
from brainfm_lite.eval.probe import METRICS, MODES, TASKS, evaluate_encoder, summarise
from brainfm_lite.eval.splits import site_splits
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train.config import train_config_for
from brainfm_lite.train.distributed import process_device
from brainfm_lite.train.rng import seeded_init

FRACTIONS = (1.0, 0.2, 0.05)
N_FOLDS = 3


def evaluate_asl(profile: Profile, encoder_path: str | Path, out_path: str | Path | None = None, *, modes=MODES,
                 tasks=TASKS, fractions=FRACTIONS, cache_dir: str | Path | None = None,
                 max_folds: int | None = None) -> dict:
    """Evaluate a pretrained encoder against random initialisation and the regional-CBF baseline.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile`: its ASL cohort, ``eval_seeds`` seeds,
            ``finetune_steps`` / ``finetune_lr`` / ``mae_batch_size`` for fine-tuning, device, seed of the folds.
        encoder_path: folder written by ``save_pretrained`` (e.g. ``pretrain_mae``'s ``encoder/``). Its
            ``img_size`` sets the crop size of the CBF maps.
        out_path: JSON file to write the results to (atomically); None: do not write.
        modes, tasks, fractions: what to run (default: probe and fine-tune, all four tasks, 100/20/5 % labels).
        cache_dir: preprocessed-map cache (default: none, simulate on the fly).
        max_folds: evaluate the encoders on the first this many site folds only (fine-tuning on a CPU); the
            regional baseline keeps every fold. None: all folds.

    Returns:
        ``{"table": [...], "rows": [...], "splits": [...], "settings": {...}}``: the summary table (module
        docstring), every per-fold row of the encoders, the folds' subject indices, and what was run.
    """
    start = time.perf_counter()
    pretrained_config = from_pretrained(encoder_path).config
    # the saved encoder decides the input size it reads
    data_profile = dataclasses.replace(profile, cbf_image_size=pretrained_config.img_size[0])
    dataset = asl_cbf_dataset(data_profile, cache_dir=cache_dir)
    sites = dataset.sites()
    n_folds = min(N_FOLDS, np.unique(sites).size)
    splits = site_splits(sites, n_folds=n_folds, seed=profile.seed)[:max_folds]
    # each fine-tuning run trains in a scratch folder: no intermediate checkpoints
    train_config = train_config_for(profile, steps=profile.finetune_steps, batch_size=profile.mae_batch_size,
                                    lr=profile.finetune_lr, checkpoint_every=None, progress=False)

    def random_init():
        with seeded_init(profile.seed):  # the same random weights in every run: the baseline is reproducible
            return build_encoder(pretrained_config)

    factories = {"pretrained": lambda: from_pretrained(encoder_path), "random_init": random_init}
    rows = []
    for name, factory in factories.items():
        rows += evaluate_encoder(factory, dataset, name=name, splits=splits, tasks=tasks, fractions=fractions,
                                 seeds=tuple(range(profile.eval_seeds)), modes=modes, train_config=train_config,
                                 batch_size=profile.mae_batch_size, device=process_device(profile.device),
                                 num_workers=profile.num_workers)
    # the baseline needs each subject's regional means: cached beside the maps, else simulated again (in parallel
    # where the profile allows)
    records = dataset.records() if cache_dir is not None else None
    baseline = asl_baseline_table(dataset.cohort, seed=profile.seed, n_folds=n_folds, records=records,
                                  n_jobs=max(1, profile.num_workers))
    results = {
        "table": summarise(rows) + regional_baseline_rows(baseline, tasks),
        "rows": rows,
        "splits": [split.to_dict() for split in splits],
        "settings": {"profile": profile.to_dict(), "encoder": str(encoder_path), "modes": list(modes),
                     "tasks": list(tasks), "fractions": list(fractions), "n_folds": n_folds,
                     "encoder_folds": len(splits),
                     "train_config": train_config.to_dict(), "wall_time_s": round(time.perf_counter() - start, 1)},
    }
    if out_path is not None:
        write_json(out_path, results)
    return results


def regional_baseline_rows(baseline: list[dict], tasks=TASKS) -> list[dict]:
    """Rows of :func:`~brainfm_lite.eval.baselines.asl_baseline_table` in the results-table schema."""
    rows = []
    for row in baseline:
        if row["task"] not in tasks:
            continue
        entry = {"encoder": "regional_cbf", "mode": "linear", "task": row["task"], "kind": row["kind"],
                 "test": row["test"], "fraction": 1.0, "n_seeds": 1, "n_train": row["n_train"],
                 "n_test": row["n_test"], "spread": "folds"}
        for metric in METRICS[row["kind"]]:
            entry[f"{metric}_mean"] = row.get(metric, float("nan"))
            entry[f"{metric}_std"] = row.get(f"{metric}_sd", float("nan"))
        rows.append(entry)
    return rows

