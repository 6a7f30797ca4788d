"""The ASL results table: a pretrained encoder, the same network from random weights, and the regional-CBF
baseline, on the ASL cohort's ONE evaluation split (``brainfm evaluate asl``, chapter 5).

The split is `~brainfm_lite.datasets.splits.evaluation_split` of the profile seed, the one `pretrain_mae` holds out:
no pretraining run saw its in-site test subjects or its held-out sites, so "unseen site" means unseen by the
encoder too, and the random-init network is not handicapped by test maps the pretrained one has seen. There are
no leave-sites-out folds here: across folds every subject is tested once, so every fold but one would test on
pretrained subjects (the regional baseline of chapter 3, which pretrains nothing, keeps its folds).

    >>> profile = load_profile("smoke")                                                     # doctest: +SKIP
    >>> results = evaluate_asl(profile, "runs/mae_smoke/encoder", "runs/asl_results.json")  # doctest: +SKIP
    >>> results["table"][0]["auc_mean"]                                                    # doctest: +SKIP

Rows of ``table`` share one schema: ``encoder`` ("pretrained", "random_init", "regional_cbf"), ``mode`` ("probe",
"finetune", or "linear" for the baseline), ``task``, ``kind``, ``test`` ("in_site", "unseen_site"),
``fraction`` of training labels, ``n_seeds``, ``n_train``, ``n_test`` and ``<metric>_mean`` / ``<metric>_std``.
For the encoders the spread is over seeds; the regional baseline is deterministic, so on the one split its
``_std`` is 0 (``"spread": "none"``; on several folds, as in chapter 3, it is the spread across folds, ``"folds"``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from brainfm_lite.atomic import write_json
from brainfm_lite.config import Profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.eval.baselines import asl_baseline_table
from brainfm_lite.eval.probe import METRICS, MODES, TASKS, evaluate_encoder, summarise
from brainfm_lite.eval.splits import evaluation_split
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train.config import train_config_for
from brainfm_lite.train.distributed import process_device
from brainfm_lite.train.rng import seeded_init

FRACTIONS = (1.0, 0.2, 0.05)


def evaluate_asl(profile: Profile, encoder_path: str | Path, out_path: str | Path | None = None, *, modes=MODES,
                 tasks=TASKS, fractions=FRACTIONS, cache_dir: str | Path | None = None) -> dict:
    """Evaluate a pretrained encoder against random initialisation and the regional-CBF baseline, all on the
    cohort's evaluation split.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile`: its ASL cohort, ``eval_seeds`` seeds,
            ``finetune_steps`` / ``finetune_lr`` / ``mae_batch_size`` for fine-tuning, device, seed of the split
            (pretrain the encoder with the same cohort and seed, or its pool may hold test subjects).
        encoder_path: folder written by ``save_pretrained`` (e.g. ``pretrain_mae``'s ``encoder/``). Its
            ``img_size`` sets the crop size of the CBF maps.
        out_path: JSON file to write the results to (atomically); None: do not write.
        modes, tasks, fractions: what to run (default: probe and fine-tune, all four tasks, 100/20/5 % labels).
        cache_dir: preprocessed-map cache (default: none, simulate on the fly).

    Returns:
        ``{"table": [...], "rows": [...], "splits": [...], "settings": {...}}``: the summary table (module
        docstring), every row of the encoders, the split's subject indices (a list of one; ``settings["n_folds"]``
        is 1: ``site_splits(sites, n_folds=1, seed=profile.seed)`` gives it again), and what was run.
    """
    start = time.perf_counter()
    pretrained_config = from_pretrained(encoder_path).config
    # the saved encoder decides the input size it reads
    data_profile = dataclasses.replace(profile, cbf_image_size=pretrained_config.img_size[0])
    dataset = asl_cbf_dataset(data_profile, cache_dir=cache_dir)
    splits = [evaluation_split(dataset.sites(), seed=profile.seed)]
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
    baseline = asl_baseline_table(dataset.cohort, splits=splits, records=records, n_jobs=max(1, profile.num_workers))
    results = {
        "table": summarise(rows) + regional_baseline_rows(baseline, tasks),
        "rows": rows,
        "splits": [split.to_dict() for split in splits],
        "settings": {"profile": profile.to_dict(), "encoder": str(encoder_path), "modes": list(modes),
                     "tasks": list(tasks), "fractions": list(fractions), "n_folds": len(splits),
                     "held_out_sites": list(splits[0].test_sites),
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
                 "n_test": row["n_test"], "spread": "folds" if row.get("folds", 2) > 1 else "none"}
        for metric in METRICS[row["kind"]]:
            entry[f"{metric}_mean"] = row.get(metric, float("nan"))
            entry[f"{metric}_std"] = row.get(f"{metric}_sd", float("nan"))
        rows.append(entry)
    return rows

