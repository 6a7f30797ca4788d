"""The recorded results of chapters 4-5, written by one resumable command (``brainfm results asl --profile
reference``): ICHOR's 3D MAE against SimCLR adapted to the same CBF maps (3D-Neuro-SimCLR's views and kind of
backbone, a 3D CNN), the MAE's ViT from random initialisation and the regional-CBF baseline, on the ASL cohort's one
evaluation split.

    >>> results = asl_reference_results(load_profile("reference"), "runs/results_asl_reference")  # doctest: +SKIP
    >>> [(claim["verdict"], claim["reason"]) for claim in results["claims"]]                       # doctest: +SKIP

The run folder keeps every finished stage, so that ``resume=True`` (``--resume``) after an interruption redoes
nothing that finished:

1. ``maps``: every CBF map of the profile's ASL cohort simulated into ``run_dir/cbf_cache`` (pretraining reads its
   pool, the evaluation all of them);
2. ``pretrain_mae``, ``pretrain_simclr_cbf``: `pretrain_mae` and `pretrain_simclr_cbf` in ``run_dir/<method>`` (the
   same pool, steps, batch and learning rate; SimCLR on its authors' kind of backbone, a 3D CNN, on which it learns
   where a small ViT collapses); an interrupted run continues from its last checkpoint, a finished one (its
   ``encoder/`` saved with this profile) is not trained again;
3. ``parts``: the linear probe of each encoder (every task, label fraction and seed), the fine-tuning of the
   `FinetuneGrid` (one part per encoder and task) and the regional-CBF baseline, each kept in
   ``run_dir/parts/<part>.json`` with the settings it was computed under.

Then the results JSON is written (atomically; default ``book/results/<profile>/asl.json``) with exactly the keys
``provenance`` (commit, command, profile, device, versions, date, wall time of each stage and whether it ran or was
cached; a resumed run that reuses stages keeps the provenance of the results it replaces as ``resumed_from``),
``seeds``, ``table`` (mean and SD over seeds, `eval.probe.summarise`; the baseline's rows as in
`eval.asl_evaluation`), ``claims`` (`eval.asl_claim_rules.asl_claims`: ICHOR's claims, what we measured, a computed
verdict) and ``settings`` (what ran and what was left out, the shipped MAE's `hidden_patch_check`), and the two
encoders are exported as float16 weights with model cards to ``weights/mae_cbf/`` (the whole MAE, decoder included)
and ``weights/simclr_cbf/`` beside it (`models.export.export_weights`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainfm_lite.atomic import write_json
from brainfm_lite.config import Profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.errors import InputError
from brainfm_lite.eval.asl_claim_rules import asl_claims
from brainfm_lite.eval.asl_evaluation import FRACTIONS, regional_baseline_rows
from brainfm_lite.eval.baselines import asl_baseline_table
from brainfm_lite.eval.hidden_patches import hidden_patch_errors
from brainfm_lite.eval.probe import TASKS, evaluate_encoder, summarise
from brainfm_lite.eval.results_run import (
    cached_part,
    finished_pretraining,
    pretraining_summary,
    record_provenance,
    run_provenance,
    stage,
)
from brainfm_lite.eval.results_table import headline_metric
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.export import export_weights
from brainfm_lite.models.hub import CONFIG_NAME, from_pretrained
from brainfm_lite.provenance import environment, repo_root, resolve_device
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.distributed import process_device, simulation_device
from brainfm_lite.train.pretrain import (
    ENCODER_DIR,
    OBJECTIVE_DIR,
    PRETRAINERS,
    mae_encoder_config,
    pretraining_subjects,
)
from brainfm_lite.train.rng import seeded_init

_PRETRAINED = ("mae", "simclr_cbf")  # encoders pretrained here, each by the pretrainer of that name
ASL_ENCODERS = (*_PRETRAINED, "random_init")  # the encoders compared (beside the regional-CBF baseline)
_ENCODER_DESCRIPTIONS = {
    "mae": "3D masked autoencoder (ICHOR's objective), pretrain_mae",
    "simclr_cbf": "SimCLR (3D-Neuro-SimCLR's views, NT-Xent and kind of backbone, a 3D CNN) on the same CBF maps, "
                  "pretrain_simclr_cbf",
    "random_init": "the same ViT from random weights (profile seed)",
    "regional_cbf": "linear models on regional mean CBF and left-right asymmetry (chapter 3's baseline)",
}
_WEIGHT_NAMES = {"mae": "mae_cbf", "simclr_cbf": "simclr_cbf"}  # exported folder of each pretrained encoder
_CARD_OBJECTIVES = {"mae": "mae", "simclr_cbf": "simclr"}  # `models.model_card.OBJECTIVES` key of each
_RESULTS_NAME = "asl.json"
HIDDEN_PATCH_MAPS = 8  # held-out maps on which the shipped MAE's hidden-patch error is recorded


@dataclass(frozen=True)
class FinetuneGrid:
    """The part of the evaluation grid that is fine-tuned (the linear probe always covers all of it).

    Fine-tuning costs ``finetune_steps`` Trainer steps per encoder, task, label fraction and seed (108 runs for the
    whole grid at 3 seeds). The default is the whole grid, which the reference profile affords on 2 CPU cores
    (``benchmarks/bench_reference.py``); a smaller grid is for slower machines or larger profiles, and what it
    leaves out is recorded.

    Attributes:
        encoders: of `ASL_ENCODERS`.
        tasks: of ``eval.probe.TASKS``.
        fractions: of ``eval.asl_evaluation.FRACTIONS``.
    """

    encoders: tuple[str, ...] = ASL_ENCODERS
    tasks: tuple[str, ...] = TASKS
    fractions: tuple[float, ...] = FRACTIONS

    def __post_init__(self):
        for name, chosen, known in (("encoders", self.encoders, ASL_ENCODERS), ("tasks", self.tasks, TASKS),
                                    ("fractions", self.fractions, FRACTIONS)):
            unknown = sorted(set(chosen) - set(known))
            if unknown:
                raise InputError(f"fine-tuning {name} {unknown} unknown: choose from {', '.join(map(str, known))}")

    def left_out(self) -> list[dict]:
        """Every (encoder, task, fraction) of the full grid that is not fine-tuned."""
        return [{"encoder": e, "task": t, "fraction": f} for e in ASL_ENCODERS for t in TASKS for f in FRACTIONS
                if not (e in self.encoders and t in self.tasks and f in self.fractions)]


def asl_reference_results(profile: Profile, run_dir: str | Path, *, resume: bool = False,
                          out: str | Path | None = None, finetune: FinetuneGrid = FinetuneGrid(), n_jobs: int = -1,
                          command: str | None = None) -> dict:
    """Pretrain, evaluate, judge the claims, write the results JSON and export the weights (module docstring).

    Args:
        profile: a :class:`~brainfm_lite.config.Profile` (the book records ``load_profile("reference")``).
        run_dir: folder of the cache, the pretraining runs and the finished evaluation parts (created).
        resume: keep what `run_dir` holds: finished stages are skipped, interrupted pretraining continues.
            False: every stage runs again (the map cache is always reused).
        out: the results JSON (default ``book/results/<profile name>/asl.json`` of the checkout, else of the
            working directory); the weights go to ``weights/`` beside it.
        finetune: what is fine-tuned (`FinetuneGrid`); what is not is listed in ``settings["left_out"]``.
        n_jobs: processes simulating the maps (-1: one per core).
        command: the command line to record (default: the equivalent ``brainfm results asl`` call).

    Returns:
        The results dict written to `out`: ``provenance, seeds, table, claims, settings``.
    """
    start = time.perf_counter()
    env = environment(resolve_device(profile.device))  # now: the commit before this run writes into the checkout
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else asl_results_path(profile.name)
    command = command or _default_command(profile, run_dir, out, resume)
    stages: dict[str, dict] = {}  # stage -> {"status": "ran" | "cached", "seconds"}

    dataset = asl_cbf_dataset(profile, cache_dir=run_dir / "cbf_cache")
    with stage(stages, "maps") as current:
        simulated = dataset.prepare(n_jobs=n_jobs, device=simulation_device(profile.device))
        current["status"] = "ran" if simulated else "cached"
    split = evaluation_split(dataset.sites(), seed=profile.seed)
    encoder_dirs = {}
    for name in _PRETRAINED:
        with stage(stages, f"pretrain_{name}") as current:
            encoder_dirs[name], current["status"] = _pretrain(name, profile, run_dir, resume=resume, n_jobs=n_jobs)

    rows, baseline = _evaluate(profile, dataset, split, encoder_dirs, finetune, run_dir / "parts", resume=resume,
                               stages=stages)
    table = summarise(rows) + baseline
    settings = _settings(profile, dataset, split, encoder_dirs, finetune)
    claims = asl_claims(table)
    if settings["pretraining"]["simclr_cbf"].get("collapsed"):  # the rival learned nothing: say so beside the verdict
        claims[0]["reason"] += "; SimCLR-CBF collapsed (loss at its chance value log(2B - 1) or embedding SD near 0)"

    out.parent.mkdir(parents=True, exist_ok=True)
    with stage(stages, "export_weights") as current:
        weights = {name: _export(name, path, out.parent / "weights", profile, table, command, env)
                   for name, path in encoder_dirs.items()}
        settings["weights"] = {name: path.relative_to(out.parent).as_posix() for name, path in weights.items()}
        settings["hidden_patch_check"] = hidden_patch_check(weights["mae"], dataset, split)
        current["status"] = "ran"
    provenance = run_provenance(env, profile, command, stages, time.perf_counter() - start)
    # stages computed by an earlier run in this folder: its provenance says where, when and how long
    record_provenance(run_dir, provenance, profile,
                      reused=resume and any(done["status"] == "cached" for done in stages.values()))
    results = {"provenance": provenance, "seeds": list(range(profile.eval_seeds)), "table": table, "claims": claims,
               "settings": settings}
    write_json(out, results)
    return results


def _evaluate(profile: Profile, dataset, split, encoder_dirs: dict, finetune: FinetuneGrid, parts_dir: Path, *,
              resume: bool, stages: dict) -> tuple[list[dict], list[dict]]:
    """Every evaluation part (probe of each encoder, fine-tuning of each encoder and task of `finetune`, the
    regional baseline), each read from ``parts_dir`` when resuming and computed under the same settings.

    Returns:
        (rows of the encoders, one per mode, task, fraction, seed and test set; summary rows of the baseline).
    """
    seeds = tuple(range(profile.eval_seeds))
    factories = {name: _loader(path) for name, path in encoder_dirs.items()} | {"random_init": _random_init(profile)}
    finetune_config = _finetune_config(profile)
    common = dict(splits=[split], seeds=seeds, batch_size=profile.mae_batch_size,
                  device=process_device(profile.device), num_workers=profile.num_workers)
    # a part of a pretrained encoder is valid for that very save of it (retrained: evaluated again)
    versions = {name: json.loads((path / CONFIG_NAME).read_text())["created"] for name, path in encoder_dirs.items()}

    def part(name: str, encoder: str, compute, **settings) -> list[dict]:
        key = {"part": name, "profile": profile.to_dict(), "encoder": versions.get(encoder, encoder), **settings}
        with stage(stages, f"part {name}") as current:
            rows, current["status"] = cached_part(parts_dir / f"{name}.json", key, compute, resume=resume)
        return rows

    rows = []
    for encoder in ASL_ENCODERS:
        rows += part(f"probe_{encoder}", encoder, lambda e=encoder: evaluate_encoder(
            factories[e], dataset, name=e, tasks=TASKS, fractions=FRACTIONS, modes=("probe",), **common),
            fractions=FRACTIONS)
    for encoder in finetune.encoders:
        for task in finetune.tasks:
            rows += part(f"finetune_{encoder}_{task}", encoder, lambda e=encoder, t=task: evaluate_encoder(
                factories[e], dataset, name=e, tasks=(t,), fractions=finetune.fractions, modes=("finetune",),
                train_config=finetune_config, **common), fractions=finetune.fractions)
    baseline = part("baseline_regional_cbf", "regional_cbf", lambda: regional_baseline_rows(asl_baseline_table(
        dataset.cohort, splits=[split], records=dataset.records(), n_jobs=max(1, profile.num_workers))))
    return rows, baseline


def _finetune_config(profile: Profile) -> TrainConfig:
    """Each fine-tuning run's settings, those of `evaluate_asl`: ``finetune_steps`` of ``mae_batch_size`` maps at
    ``finetune_lr``, trained in a scratch folder (no intermediate checkpoints)."""
    return train_config_for(profile, steps=profile.finetune_steps, batch_size=profile.mae_batch_size,
                            lr=profile.finetune_lr, checkpoint_every=None, progress=False)


def _settings(profile: Profile, dataset, split, encoder_dirs: dict, finetune: FinetuneGrid) -> dict:
    """What ran (profile, encoders, split, pretraining, probe and fine-tuning grids) and what was left out."""
    _, pool_record = pretraining_subjects(dataset, profile)
    return {
        "profile": profile.to_dict(),
        "encoders": {name: _ENCODER_DESCRIPTIONS[name] for name in (*ASL_ENCODERS, "regional_cbf")},
        "split": {"held_out_sites": list(split.test_sites), "train": int(split.train.size),
                  "test_in_site": int(split.test_in_site.size), "test_unseen_site": int(split.test_unseen_site.size)},
        "pretraining_pool": pool_record,
        "pretraining": {name: pretraining_summary(path, profile.mae_batch_size)
                        for name, path in encoder_dirs.items()},
        "probe": {"encoders": list(ASL_ENCODERS), "tasks": list(TASKS), "fractions": list(FRACTIONS)},
        "finetune": {**{k: list(v) for k, v in dataclasses.asdict(finetune).items()},
                     "train_config": _finetune_config(profile).to_dict()},
        "left_out": [{**item, "mode": "finetune"} for item in finetune.left_out()],
        "claim_rules": "eval.asl_claim_rules: headline metric (AUC; Pearson r for qei) at 100 % labels, fine-tune rows "
                       "when complete else probe; 'beats' = better at held-out sites by more than the larger seed SD; "
                       "'generalises' = smaller in-site minus held-out gap than every rival; all tasks reproduced, "
                       "some partly, none not reproduced",
    }


def asl_results_path(profile_name: str) -> Path:
    """Where the results of a profile are recorded: ``book/results/<profile_name>/asl.json`` of the checkout (of the
    working directory outside one)."""
    return (repo_root() or Path.cwd()) / "book" / "results" / profile_name / _RESULTS_NAME


def load_recorded_results(profile_name: str = "reference") -> dict:
    """The recorded chapters 4-5 results of a profile (`asl_results_path`), as written by `asl_reference_results`.

    Raises:
        InputError: no such file (record it with ``brainfm results asl --profile NAME``).
    """
    path = asl_results_path(profile_name)
    if not path.is_file():
        raise InputError(f"{path}: no recorded results; make them with `brainfm results asl --profile {profile_name}`")
    return json.loads(path.read_text())


def _pretrain(name: str, profile: Profile, run_dir: Path, *, resume: bool, n_jobs: int) -> tuple[Path, str]:
    """Pretrain `name` in ``run_dir/<name>`` (sharing ``run_dir/cbf_cache``); with `resume`, an encoder already
    saved there for this profile and step count is kept as it is. Returns (encoder folder, "ran" or "cached")."""
    folder = run_dir / name
    encoder = folder / ENCODER_DIR
    if resume and finished_pretraining(encoder, profile, profile.mae_steps):
        return encoder, "cached"
    path = PRETRAINERS[name](profile, folder, resume=resume, cache_dir=run_dir / "cbf_cache", n_jobs=n_jobs)
    return Path(path), "ran"


def _loader(path: Path):
    return lambda: from_pretrained(path)


def _random_init(profile: Profile):
    def build():
        with seeded_init(profile.seed):  # the same random weights every time
            return build_encoder(mae_encoder_config(profile))
    return build


def _export(name: str, encoder: Path, weights_root: Path, profile: Profile, table: list[dict], command: str,
            env: dict) -> Path:
    """Export one pretrained encoder as float16 weights with its model card to ``weights_root/<weights name>``; the
    MAE is exported whole (encoder and decoder, its run's ``objective/``), so that it can show reconstructions."""
    if name == "mae":
        encoder = encoder.parent / OBJECTIVE_DIR
    metadata = json.loads((encoder / CONFIG_NAME).read_text()).get("metadata", {})
    metrics = {}
    for row in table:  # the headline metric of each task at held-out sites with all labels, probe and fine-tune
        if row["encoder"] == name and row["test"] == "unseen_site" and row["fraction"] == 1.0:
            metric = headline_metric(row)
            metrics[f"{row['mode']} {row['task']} {metric}, held-out sites"] = {"mean": row[f"{metric}_mean"],
                                                                               "sd": row[f"{metric}_std"]}
    card = {"name": _WEIGHT_NAMES[name], "objective": _CARD_OBJECTIVES[name], "profile": profile.name,
            "steps": int(metadata.get("steps") or 0),
            "data": f"{metadata.get('data', 'synthetic ASL CBF maps')}, {profile.cbf_image_size}^3 at "
                    f"{profile.spacing_mm:g} mm",
            "metrics": metrics,
            "provenance": {"commit": env["git_commit"], "date": env["date_utc"], "command": command}}
    return export_weights(encoder, weights_root / _WEIGHT_NAMES[name], card=card, budget_root=weights_root)


def hidden_patch_check(mae_weights: Path, dataset, split, *, maps: int = HIDDEN_PATCH_MAPS,
                       masking_ratio: float = 0.75, seed: int = 0) -> dict:
    """The shipped MAE's hidden-patch error (`eval.hidden_patches`) on the first `maps` in-site test subjects of
    the split (never in the pretraining pool), recomputable from the float16 weights: chapter 4 shows it and
    ``tests/test_book_results.py`` checks it.

    Returns:
        {"subjects": [...], "masking_ratio", "seed", "mse": {"mae", "zero", "visible_mean"}}.
    """
    subjects = sorted(int(k) for k in split.test_in_site)[:maps]
    volumes = torch.stack([dataset[int(np.flatnonzero(dataset.indices == k)[0])]["image"] for k in subjects])
    errors = hidden_patch_errors(from_pretrained(mae_weights), volumes, masking_ratio=masking_ratio, seed=seed)
    return {"subjects": subjects, "masking_ratio": masking_ratio, "seed": seed,
            "mse": {name: round(value, 6) for name, value in errors.items()}}


def _default_command(profile: Profile, run_dir: Path, out: Path, resume: bool) -> str:
    return (f"brainfm results asl --profile {profile.name} --run-dir {run_dir} --out {out}"
            + (" --resume" if resume else ""))
