"""One comparison of every pretraining method on the same backbone, data, splits and seeds (chapters 6-7).

Methods: ``scratch`` (no pretraining), ``simclr`` (3D-Neuro-SimCLR), ``seqinv``, ``seqaug`` and ``baseline``
(Chalcroft et al.'s three variants) and ``mae`` (masked autoencoding of the same T1 images), each run by its
pretrainer of `~brainfm_lite.train.pretrain.PRETRAINERS` (`PRETRAINING`). Every method but the MAE pretrains the
backbone of `contrastive_encoder_config` (a 3D CNN at the book's profiles; ``scratch`` is that backbone untrained), the
MAE a ViT (masking needs tokens), all for the same number of steps (``contrastive_steps``); then each encoder is
scored on

- the structural classifications (`evaluate_structural`: in- and out-of-distribution, 100 % and 20 % labels);
- the dense tasks (`evaluate_dense`: tissue and lesion segmentation, denoising; 1 %, 10 %, 100 % of the training
  subjects; the training site and unseen sites),

with the mean and spread over ``profile.eval_seeds`` seeds. Every method pretrains on the same pool of subjects and
both evaluations test on subjects outside it: the structural cohort's ONE evaluation split (`pretraining_subjects`,
`structural_splits`, `dense_split`). Results go to ``out_dir/comparison.json``::

    >>> result = compare_methods(load_profile("colab"), "runs/comparison")          # doctest: +SKIP
    >>> plot_dense_comparison(result["dense"], task="tissue", metric="dice")          # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

from brainfm_lite.atomic import write_json
from brainfm_lite.config import Profile
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.dense import DENSE_FRACTIONS, DENSE_TASKS, evaluate_dense, summarise_dense
from brainfm_lite.eval.probe import summarise
from brainfm_lite.eval.structural import evaluate_structural
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train.pretrain import PRETRAINERS, contrastive_encoder_config, pretraining_subjects
from brainfm_lite.train.rng import seeded_init

COMPARISON_METHODS = ("scratch", "simclr", "seqinv", "seqaug", "baseline", "mae")
# Each pretrained method of the comparison: its pretrainer's name in `PRETRAINERS` and that pretrainer's options.
PRETRAINING = {"simclr": ("simclr", {}), "seqinv": ("seqinv", {"variant": "seqinv"}),
               "seqaug": ("seqinv", {"variant": "seqaug"}), "baseline": ("seqinv", {"variant": "baseline"}),
               "mae": ("mae_structural", {})}


def pretrain_method(method: str, profile: Profile, out_dir: str | Path, *, resume: bool = False, cache_dir=None,
                    n_jobs: int = 1, **train_overrides) -> Path | None:
    """Pretrain one method into ``out_dir/<method>``; returns its encoder folder (None for ``scratch``).
    With `resume`, a run continues from its last checkpoint (a finished run is not trained again)."""
    if method not in COMPARISON_METHODS:
        raise InputError(f"unknown method {method!r}: choose from {', '.join(COMPARISON_METHODS)}")
    if method == "scratch":
        return None
    name, options = PRETRAINING[method]
    return PRETRAINERS[name](profile, Path(out_dir) / method, resume=resume, cache_dir=cache_dir, n_jobs=n_jobs,
                             **options, **train_overrides)


def encoder_factory(profile: Profile, encoder_dir: str | Path | None):
    """``() -> Encoder``: a fresh copy of the pretrained encoder in `encoder_dir`, or for None the shared backbone
    freshly initialised from the profile seed (the same scratch weights in every run)."""
    if encoder_dir is not None:
        return lambda: from_pretrained(encoder_dir)

    def scratch():
        with seeded_init(profile.seed):
            return build_encoder(contrastive_encoder_config(profile))

    return scratch


def compare_methods(profile: Profile, out_dir: str | Path, *, methods=COMPARISON_METHODS, seeds=None,
                    dense_tasks=DENSE_TASKS, dense_fractions=DENSE_FRACTIONS, structural: bool = True, n_jobs: int = 1,
                    resume: bool = False, **train_overrides) -> dict:
    """Pretrain every method, evaluate all on the same splits and seeds, save ``out_dir/comparison.json``.

    Args:
        profile: a `Profile`.
        out_dir: run folder: one sub-folder per method, a shared ``t1_cache/`` and ``comparison.json``.
        methods: among `COMPARISON_METHODS`.
        seeds: evaluation seeds (default ``range(profile.eval_seeds)``).
        dense_tasks, dense_fractions: what `evaluate_dense` runs.
        structural: also run the structural classifications.
        n_jobs: processes simulating subjects into the caches.
        resume: continue each pretraining run from its last checkpoint in `out_dir` (after an interruption; a
            finished run is not trained again). The evaluations always run again.
        train_overrides: changes to every pretraining run's `contrastive_train_config` (e.g. ``progress=False``).

    Returns:
        ``{"profile", "methods", "seeds", "pretraining_pool": the pool's record (`pretraining_subjects`),
        "structural": summary table, "dense": summary table, "gains_over_scratch": rows of `gains_over_scratch`}``
        (also written, atomically, as JSON).
    """
    unknown = sorted(set(methods) - set(COMPARISON_METHODS))
    if unknown:
        raise InputError(f"unknown methods {unknown}: choose from {', '.join(COMPARISON_METHODS)}")
    out_dir = Path(out_dir)
    cache_dir = out_dir / "t1_cache"
    seeds = tuple(range(profile.eval_seeds)) if seeds is None else tuple(seeds)
    factories = {method: encoder_factory(profile, pretrain_method(method, profile, out_dir, resume=resume,
                                                                  cache_dir=cache_dir, n_jobs=n_jobs,
                                                                  **train_overrides))
                 for method in methods}
    structural_table = (summarise(evaluate_structural(profile, factories, cache_dir=cache_dir, seeds=seeds))
                        if structural else [])
    dense_table = summarise_dense(evaluate_dense(profile, factories, tasks=dense_tasks, fractions=dense_fractions,
                                                 seeds=seeds, cache_dir=cache_dir))
    result = {"profile": profile.to_dict(), "methods": list(methods), "seeds": list(seeds),
              "pretraining_pool": pretraining_subjects(structural_dataset(profile), profile)[1],
              "structural": structural_table, "dense": dense_table,
              "gains_over_scratch": gains_over_scratch(dense_table) if "scratch" in methods else []}
    save_json(result, out_dir / "comparison.json")
    return result


def gains_over_scratch(dense_table: list[dict]) -> list[dict]:
    """Per method, the gain over ``scratch`` at the smallest label fraction of each dense task, on each test set:
    Dice (segmentation) or PSNR in dB (denoising); positive = pretraining helped."""
    metric = {"tissue": "dice", "lesion": "dice", "denoise": "psnr"}
    smallest = {}
    for row in dense_table:
        key = row["task"]
        smallest[key] = min(smallest.get(key, math.inf), row["fraction"])
    at_smallest = [row for row in dense_table if row["fraction"] == smallest[row["task"]]]
    scratch = {(r["task"], r["test"]): r for r in at_smallest if r["encoder"] == "scratch"}
    gains = []
    for row in at_smallest:
        reference = scratch.get((row["task"], row["test"]))
        if row["encoder"] == "scratch" or reference is None:
            continue
        name = metric[row["task"]]
        gain = row[f"{name}_mean"] - reference[f"{name}_mean"]
        gains.append({"encoder": row["encoder"], "task": row["task"], "test": row["test"],
                      "fraction": row["fraction"], "metric": name, "gain": gain, "beats_scratch": bool(gain > 0)})
    return gains


def save_json(data, path: str | Path) -> Path:
    """Write `data` atomically as JSON, NaN and inf as null (JSON has neither); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json(path, _finite(data))


def _finite(value):
    """NaN and inf as None (JSON has neither), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
