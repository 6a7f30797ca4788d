"""The recorded results of chapters 6-7, written by one resumable command (``brainfm results structural --profile
reference``): the comparison of `eval.comparison` (every method pretrained on the structural cohort's held-out pool,
scored on its one evaluation split) with 3D-Neuro-SimCLR's and Chalcroft et al.'s claims judged.

    >>> results = structural_reference_results(load_profile("reference"), "runs/structural")  # doctest: +SKIP
    >>> [(claim["verdict"], claim["reason"]) for claim in results["claims"]]                 # doctest: +SKIP

Methods (`STRUCTURAL_METHODS`): ``simclr`` (3D-Neuro-SimCLR), ``seqinv``, ``seqaug``, ``baseline`` (Chalcroft et al.'s
variants) and ``scratch`` share the backbone of `contrastive_encoder_config`: at the book's profiles the papers' kind
of backbone, a compact channels-last 3D CNN (``contrastive_backbone: vit`` runs the ViT variant); ``mae`` (masked
autoencoding of the same T1 images) needs tokens to mask and is a ViT (`structural_mae_encoder_config`), as its
description in the results says. Every method pretrains for ``contrastive_steps`` steps of ``contrastive_batch_size``.

The run folder keeps every finished stage, so that ``resume=True`` (``--resume``) after an interruption redoes
nothing that finished:

1. ``cohort``: the structural cohort's T1 images (``contrastive_image_size``^3) and the dense tasks' volumes (tissue
   and lesion cohorts at ``dense_volume_size``^3) simulated into ``run_dir/t1_cache``;
2. ``pretrain_<method>``: `eval.comparison.pretrain_method` in ``run_dir/<method>`` (an interrupted run continues
   from its last checkpoint, a finished one is not trained again);
3. evaluation parts, each kept in ``run_dir/parts/<part>.json`` with the settings it was computed under: the linear
   probe of every method on the structural tasks (older, lesion, age; 100 % and 20 % of the labels; in-site and
   held-out sites), the fine-tuning of `StructuralGrid`'s encoders and tasks, the dense tasks of its encoders
   (tissue and lesion segmentation, denoising, at its label fractions: `eval.dense`), and the feature distances of
   two contrasts of one subject against two subjects in one contrast (`eval.feature_distance`, on held-out test
   subjects), ``eval_seeds`` seeds for everything trained downstream.

Then the results JSON is written (atomically; default ``book/results/<profile>/structural.json``) with exactly the
keys ``provenance`` (as ``brainfm results asl``: commit, command, device, versions, date, wall time of each stage and
whether it ran or was cached, ``resumed_from``), ``seeds``, ``table`` (``classification``: mean and SD over seeds,
`eval.probe.summarise`; ``dense``: `eval.dense.summarise_dense`; ``distances``: per method the same-subject and
same-contrast distance and their ratio, below 1 = anatomy wins), ``claims`` (`eval.structural_claim_rules`) and
``settings`` (what ran and what was left out, the pretraining summaries with loss against chance and embedding SD,
the shipped encoders' check, the shipped segmenter's scores), and the SimCLR and SeqInv encoders are exported as
float16 weights with model cards to ``weights/simclr_t1/`` and ``weights/seqinv_t1/`` beside the JSON
(`models.export.export_weights`, within the budget of every shipped weight together), with SeqInv's encoder and its
U-Net decoder fine-tuned on tissue segmentation in ``weights/seqinv_t1_tissue/`` (`SEGMENTER_NAME`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.config import Profile
from brainfm_lite.datasets.structural import STRUCTURAL_TASKS, structural_cohort, structural_dataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.comparison import COMPARISON_METHODS, encoder_factory, pretrain_method, save_json
from brainfm_lite.eval.dense import (
    DENSE_FRACTIONS,
    DENSE_TASKS,
    TISSUE_NAMES,
    dense_dataset,
    dense_split,
    dense_train_config,
    evaluate_dense,
    score_dense,
    summarise_dense,
    train_dense,
)
from brainfm_lite.eval.feature_distance import contrast_images, contrast_subject_distances, encode_contrasts
from brainfm_lite.eval.probe import summarise
from brainfm_lite.eval.results_run import (
    cached_part,
    finished_pretraining,
    pretraining_summary,
    record_provenance,
    run_provenance,
    stage,
)
from brainfm_lite.eval.results_table import headline_metric
from brainfm_lite.eval.seqinv_report import dense_metric
from brainfm_lite.eval.structural import STRUCTURAL_FRACTIONS, evaluate_structural, structural_splits
from brainfm_lite.eval.structural_claim_rules import structural_claims
from brainfm_lite.models.export import export_weights
from brainfm_lite.models.hub import CONFIG_NAME, from_pretrained, save_pretrained
from brainfm_lite.provenance import environment, repo_root, resolve_device
from brainfm_lite.train.pretrain import (
    ENCODER_DIR,
    contrastive_encoder_config,
    pretraining_subjects,
    structural_mae_encoder_config,
)

STRUCTURAL_METHODS = COMPARISON_METHODS  # scratch, simclr, seqinv, seqaug, baseline, mae
_PRETRAINED = tuple(m for m in STRUCTURAL_METHODS if m != "scratch")
_WEIGHT_NAMES = {"simclr": "simclr_t1", "seqinv": "seqinv_t1"}  # exported folder of each shipped encoder
SEGMENTER_ENCODER = "seqinv"  # the encoder of the shipped tissue segmenter
SEGMENTER_NAME = "seqinv_t1_tissue"  # its exported folder
DISTANCE_KINDS = ("t1w", "t2w", "pdw", "flair")  # the clinical presets of chapter 7's distance ratio
DISTANCE_SUBJECTS = 8  # held-out test subjects the distances are measured on
_RESULTS_NAME = "structural.json"


SWEEP_TASK = "tissue"  # the dense task of the label-fraction sweep


@dataclass(frozen=True)
class StructuralGrid:
    """What is fine-tuned and which dense tasks run (the linear probe always covers every method, structural task
    and label fraction).

    The default is what the reference profile affords on 2 CPU cores (``benchmarks/bench_structural_reference.py``):
    the three encoders of 3D-Neuro-SimCLR's claims fine-tuned on every structural task; Chalcroft et al.'s three
    variants and scratch on every dense task at the smallest label fraction (their low-data claim, in-site and at
    held-out sites); and SeqInv and scratch on tissue segmentation with all the labels too (how the gain changes
    with labels). A dense run costs ``dense_steps`` steps plus scoring every test subject, so the whole grid (every
    method, task and fraction) is for a GPU; what a grid leaves out is recorded.

    Attributes:
        finetune_encoders: of `STRUCTURAL_METHODS`.
        finetune_tasks: of ``datasets.structural.STRUCTURAL_TASKS``.
        dense_encoders: of `STRUCTURAL_METHODS`, run on every task of `dense_tasks` at `dense_fractions`.
        dense_tasks: of ``eval.dense.DENSE_TASKS``.
        dense_fractions: of ``eval.dense.DENSE_FRACTIONS``.
        sweep_encoders: of `STRUCTURAL_METHODS`, also run on `SWEEP_TASK` at `sweep_fractions`.
        sweep_fractions: of ``eval.dense.DENSE_FRACTIONS``.
    """

    finetune_encoders: tuple[str, ...] = ("simclr", "mae", "scratch")
    finetune_tasks: tuple[str, ...] = tuple(STRUCTURAL_TASKS)
    dense_encoders: tuple[str, ...] = ("seqinv", "seqaug", "baseline", "scratch")
    dense_tasks: tuple[str, ...] = DENSE_TASKS
    dense_fractions: tuple[float, ...] = (min(DENSE_FRACTIONS),)
    sweep_encoders: tuple[str, ...] = ("seqinv", "scratch")
    sweep_fractions: tuple[float, ...] = (max(DENSE_FRACTIONS),)

    def __post_init__(self):
        for name, known in (("finetune_encoders", STRUCTURAL_METHODS), ("finetune_tasks", tuple(STRUCTURAL_TASKS)),
                            ("dense_encoders", STRUCTURAL_METHODS), ("dense_tasks", DENSE_TASKS),
                            ("dense_fractions", DENSE_FRACTIONS), ("sweep_encoders", STRUCTURAL_METHODS),
                            ("sweep_fractions", DENSE_FRACTIONS)):
            unknown = sorted(map(str, set(getattr(self, name)) - set(known)))
            if unknown:
                raise InputError(f"{name} {unknown} unknown: choose from {', '.join(map(str, known))}")

    def dense_runs(self) -> list[tuple[str, str, tuple[float, ...]]]:
        """Every dense part: (encoder, task, label fractions), the sweep's extra fractions included."""
        runs = []
        for encoder in dict.fromkeys((*self.dense_encoders, *self.sweep_encoders)):
            for task in DENSE_TASKS:
                fractions = [f for f in DENSE_FRACTIONS if self.runs_dense(encoder, task, f)]
                if fractions:
                    runs.append((encoder, task, tuple(fractions)))
        return runs

    def runs_dense(self, encoder: str, task: str, fraction: float) -> bool:
        """Whether the grid runs the dense `task` of `encoder` at `fraction`."""
        main = encoder in self.dense_encoders and task in self.dense_tasks and fraction in self.dense_fractions
        return main or (encoder in self.sweep_encoders and task == SWEEP_TASK and fraction in self.sweep_fractions)

    def left_out(self) -> list[dict]:
        """Every fine-tuning (encoder, task) and dense (encoder, task, fraction) of the full grid that does not run."""
        finetune = [{"mode": "finetune", "encoder": e, "task": t} for e in STRUCTURAL_METHODS for t in STRUCTURAL_TASKS
                    if not (e in self.finetune_encoders and t in self.finetune_tasks)]
        dense = [{"mode": "dense", "encoder": e, "task": t, "fraction": f} for e in STRUCTURAL_METHODS
                 for t in DENSE_TASKS for f in DENSE_FRACTIONS if not self.runs_dense(e, t, f)]
        return finetune + dense


def structural_reference_results(profile: Profile, run_dir: str | Path, *, resume: bool = False,
                                 out: str | Path | None = None, grid: StructuralGrid = StructuralGrid(),
                                 n_jobs: int = -1, command: str | None = None) -> dict:
    """Pretrain every method, evaluate, judge the claims, write the results JSON and export the weights (module
    docstring).

    Args:
        profile: a :class:`~brainfm_lite.config.Profile` (the book records ``load_profile("reference")``).
        run_dir: folder of the cache, the pretraining runs and the finished evaluation parts (created).
        resume: keep what `run_dir` holds: finished stages are skipped, interrupted pretraining continues.
            False: every stage runs again (the subject cache is always reused).
        out: the results JSON (default ``book/results/<profile name>/structural.json`` of the checkout, else of the
            working directory); the weights go to ``weights/`` beside it.
        grid: what is fine-tuned and which dense tasks run (`StructuralGrid`); what is not is listed in
            ``settings["left_out"]``.
        n_jobs: processes simulating the subjects (-1: one per core).
        command: the command line to record (default: the equivalent ``brainfm results structural`` call).

    Returns:
        The results dict written to `out`: ``provenance, seeds, table, claims, settings``.
    """
    start = time.perf_counter()
    env = environment(resolve_device(profile.device))  # now: the commit before this run writes into the checkout
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else structural_results_path(profile.name)
    command = command or _default_command(profile, run_dir, out, resume)
    cache_dir = run_dir / "t1_cache"
    stages: dict[str, dict] = {}  # stage -> {"status": "ran" | "cached", "seconds"}

    dataset = structural_dataset(profile, cache_dir=cache_dir)
    dense_data = {task: dense_dataset(profile, lesions=task == "lesion", cache_dir=cache_dir)
                  for task in dict.fromkeys(task for _, task, _ in grid.dense_runs())}
    with stage(stages, "cohort") as current:
        simulated = dataset.prepare(n_jobs=n_jobs) + sum(data.prepare(n_jobs=n_jobs) for data in dense_data.values())
        current["status"] = "ran" if simulated else "cached"
    encoder_dirs = {}
    for method in _PRETRAINED:
        with stage(stages, f"pretrain_{method}") as current:
            encoder_dirs[method], current["status"] = _pretrain(method, profile, run_dir, resume=resume, n_jobs=n_jobs)

    tables = _evaluate(profile, dataset, dense_data, encoder_dirs, grid, run_dir / "parts", resume=resume,
                       stages=stages)
    settings = _settings(profile, dataset, dense_data, encoder_dirs, grid)
    collapsed = [m for m, s in settings["pretraining"].items() if s.get("collapsed")]
    claims = structural_claims(tables["classification"], tables["dense"], collapsed)  # collapse named where compared

    out.parent.mkdir(parents=True, exist_ok=True)
    with stage(stages, "export_weights") as current:
        weights = {method: _export(method, encoder_dirs[method], out.parent / "weights", profile, tables, command,
                                   env) for method in _WEIGHT_NAMES}
        settings["weights"] = {method: path.relative_to(out.parent).as_posix() for method, path in weights.items()}
        settings["weights_check"] = shipped_encoder_check(weights, profile, settings["distances"]["subjects"])
        current["status"] = "ran"
    if "tissue" in dense_data:
        with stage(stages, "export_segmenter") as current:
            settings["segmenter"], current["status"] = _export_segmenter(
                profile, encoder_dirs[SEGMENTER_ENCODER], dense_data["tissue"], run_dir, out.parent / "weights",
                resume=resume, command=command, env=env)
            settings["segmenter"]["weights"] = Path(settings["segmenter"]["weights"]).relative_to(out.parent).as_posix()
    provenance = run_provenance(env, profile, command, stages, time.perf_counter() - start)
    # stages computed by an earlier run in this folder: its provenance says where, when and how long
    record_provenance(run_dir, provenance, profile,
                      reused=resume and any(done["status"] == "cached" for done in stages.values()))
    results = {"provenance": provenance, "seeds": list(range(profile.eval_seeds)), "table": tables,
               "claims": claims, "settings": settings}
    save_json(results, out)  # NaN (a metric undefined on a small test set) as null
    return json.loads(out.read_text())


def _pretrain(method: str, profile: Profile, run_dir: Path, *, resume: bool, n_jobs: int) -> tuple[Path, str]:
    """Pretrain `method` in ``run_dir/<method>`` (sharing ``run_dir/t1_cache``); with `resume`, an encoder already
    saved there for this profile and ``contrastive_steps`` is kept. Returns (encoder folder, "ran" or "cached")."""
    encoder = run_dir / method / ENCODER_DIR
    if resume and finished_pretraining(encoder, profile, profile.contrastive_steps):
        return encoder, "cached"
    path = pretrain_method(method, profile, run_dir, resume=resume, cache_dir=run_dir / "t1_cache", n_jobs=n_jobs)
    return Path(path), "ran"


def _evaluate(profile: Profile, dataset, dense_data: dict, encoder_dirs: dict, grid: StructuralGrid,
              parts_dir: Path, *, resume: bool, stages: dict) -> dict:
    """Every evaluation part, each read from ``parts_dir`` when resuming and computed under the same settings.

    Returns:
        ``{"classification": summary rows, "dense": summary rows, "distances": {method: distances}}``.
    """
    seeds = tuple(range(profile.eval_seeds))
    factories = {method: encoder_factory(profile, encoder_dirs.get(method)) for method in STRUCTURAL_METHODS}
    # a part of a pretrained encoder is valid for that very save of it (retrained: evaluated again)
    versions = {m: json.loads((path / CONFIG_NAME).read_text())["created"] for m, path in encoder_dirs.items()}
    splits = structural_splits(dataset, profile)

    def part(name: str, encoder: str, compute, **settings):
        key = {"part": name, "profile": profile.to_dict(), "encoder": versions.get(encoder, encoder), **settings}
        with stage(stages, f"part {name}") as current:
            rows, current["status"] = cached_part(parts_dir / f"{name}.json", key, compute, resume=resume)
        return rows

    classification = []
    for method in STRUCTURAL_METHODS:
        classification += part(f"probe_{method}", method, lambda m=method: evaluate_structural(
            profile, {m: factories[m]}, dataset=dataset, tasks=tuple(STRUCTURAL_TASKS), modes=("probe",),
            seeds=seeds, splits=splits), fractions=STRUCTURAL_FRACTIONS)
    for method in grid.finetune_encoders:
        for task in grid.finetune_tasks:
            classification += part(f"finetune_{method}_{task}", method, lambda m=method, t=task: evaluate_structural(
                profile, {m: factories[m]}, dataset=dataset, tasks=(t,), modes=("finetune",), seeds=seeds,
                splits=splits), fractions=STRUCTURAL_FRACTIONS)
    dense = []
    for method, task, fractions in grid.dense_runs():
        dense += part(f"dense_{method}_{task}", method, lambda m=method, t=task, f=fractions: evaluate_dense(
            profile, {m: factories[m]}, datasets={t: dense_data[t]}, tasks=(t,), fractions=f, seeds=seeds),
            fractions=fractions)
    subjects = distance_subjects(dataset, profile)
    images = []  # simulated once, when the first distance part is computed

    def distances_of(method: str) -> list[dict]:
        images[:] = images or [distance_images(profile, subjects)]
        return [contrast_subject_distances(encode_contrasts(factories[method](), images[0]))]

    distances = {}
    for method in STRUCTURAL_METHODS:
        (distances[method],) = part(f"distances_{method}", method, lambda m=method: distances_of(m),
                                    subjects=subjects, kinds=DISTANCE_KINDS)
    return {"classification": summarise(classification), "dense": summarise_dense(dense), "distances": distances}


def distance_subjects(dataset, profile: Profile, n: int = DISTANCE_SUBJECTS) -> list[int]:
    """The cohort subjects chapter 7's distance ratio is measured on: the first `n` test subjects of the evaluation
    split (in-site, then held-out sites), none of which pretraining saw."""
    (split,) = structural_splits(dataset, profile)
    tests = [int(k) for k in np.concatenate([split.test_in_site, split.test_unseen_site])]
    return tests[:n]


def distance_images(profile: Profile, subjects: list[int]):
    """The cohort `subjects` imaged with each clinical preset of `DISTANCE_KINDS`, at the encoders' input size:
    [S, K, 1, X, Y, Z] (`eval.feature_distance.contrast_images`)."""
    cohort = structural_cohort(profile)
    return contrast_images([cohort[k] for k in subjects], DISTANCE_KINDS, size=(profile.contrastive_image_size,) * 3)


def shipped_encoder_check(weights: dict, profile: Profile, subjects: list[int]) -> dict:
    """The feature distances of each shipped float16 encoder (``weights``: method -> exported folder) on the distance
    subjects, recomputable from the shipped weights alone (chapter 7 shows the ratio; a test checks it)."""
    images = distance_images(profile, subjects)
    return {method: {"subjects": list(subjects), "kinds": list(DISTANCE_KINDS),
                     **{key: round(value, 6) for key, value in
                        contrast_subject_distances(encode_contrasts(from_pretrained(path), images)).items()}}
            for method, path in weights.items()}


def _settings(profile: Profile, dataset, dense_data: dict, encoder_dirs: dict, grid: StructuralGrid) -> dict:
    """What ran (profile, methods and backbones, splits, pretraining, grids) and what was left out."""
    pool, pool_record = pretraining_subjects(dataset, profile)
    (split,) = structural_splits(dataset, profile)
    dense_splits = {task: dense_split(data.sites(), seed=profile.seed) for task, data in dense_data.items()}
    backbone = contrastive_encoder_config(profile)
    if backbone.kind == "cnn":
        shared = (f"3D CNN, stage widths {list(backbone.widths)}, channels-last, {profile.contrastive_image_size}^3 "
                  f"at {profile.spacing_mm:g} mm")
    else:
        shared = f"ViT preset {profile.contrastive_encoder} (the vit variant), {profile.contrastive_image_size}^3"
    mae = structural_mae_encoder_config(profile)
    return {
        "profile": profile.to_dict(),
        "methods": {
            "simclr": f"SimCLR (3D-Neuro-SimCLR's views and NT-Xent) on the {shared}",
            "seqinv": f"sequence-invariant (two contrasts of one subject's qMRI maps), on the {shared}",
            "seqaug": f"SeqAug (one random contrast in both views), on the {shared}",
            "baseline": f"baseline contrastive (MPRAGE-like preset in both views), on the {shared}",
            "scratch": f"no pretraining: the {shared} from random weights (profile seed)",
            "mae": f"masked autoencoder on the same T1 images; a ViT (preset {profile.contrastive_encoder}, "
                   f"{mae.num_layers} blocks, width {mae.hidden_size}, patch {mae.patch_size[0]}): masking needs "
                   "tokens, so it does not share the others' backbone",
        },
        "backbone": dataclasses.asdict(backbone),
        "split": {"held_out_sites": list(split.test_sites), "train": split.train.tolist(),
                  "test_in_site": split.test_in_site.tolist(), "test_unseen_site": split.test_unseen_site.tolist()},
        "dense_split": {task: {"train_site": s.train_site, "train": s.train.tolist(), "in_site": s.in_site.tolist(),
                               "unseen_site": s.unseen_site.tolist()} for task, s in dense_splits.items()},
        "pretraining_pool": {**pool_record, "subject_ids": pool.tolist()},
        "pretraining": {m: pretraining_summary(path, profile.contrastive_batch_size)
                        for m, path in encoder_dirs.items()},
        "probe": {"encoders": list(STRUCTURAL_METHODS), "tasks": list(STRUCTURAL_TASKS),
                  "fractions": list(STRUCTURAL_FRACTIONS)},
        "grid": {k: list(v) for k, v in dataclasses.asdict(grid).items()},
        "left_out": grid.left_out(),
        "distances": {"subjects": distance_subjects(dataset, profile), "kinds": list(DISTANCE_KINDS),
                      "measure": "mean cosine distance (after removing the mean feature) of two contrasts of one "
                                 "subject over that of two subjects in one contrast; below 1 = anatomy wins"},
        "claim_rules": "eval.structural_claim_rules: headline metric (AUC, Pearson r for age; Dice, PSNR for the dense "
                       "tasks); 'beats' = better than every rival by more than the larger seed SD; SimCLR judged in "
                       "fine-tuning when complete else the probe, every task, test set and label fraction; 20 % "
                       "'nearly matches' 100 % within max(seed SD, 0.05); SeqInv at the smallest label fraction "
                       "in-site and at held-out sites for every fraction; all won reproduced, some partly, none not "
                       "reproduced",
    }


def _export(method: str, encoder: Path, weights_root: Path, profile: Profile, tables: dict, command: str,
            env: dict) -> Path:
    """Export one pretrained encoder as float16 weights with its model card to ``weights_root/<weights name>``."""
    metadata = json.loads((encoder / CONFIG_NAME).read_text()).get("metadata", {})
    metrics = {}
    for row in tables["classification"]:  # the headline metric of each task at held-out sites with all labels
        if row["encoder"] == method and row["test"] == "unseen_site" and row["fraction"] == 1.0:
            metric = headline_metric(row)
            metrics[f"{row['mode']} {row['task']} {metric}, held-out sites"] = {"mean": row[f"{metric}_mean"],
                                                                               "sd": row[f"{metric}_std"]}
    for row in tables["dense"]:
        if row["encoder"] == method and row["test"] == "unseen_site":
            metric = dense_metric(row["task"])
            metrics[f"{row['task']} {metric}, {row['fraction']:.0%} labels, held-out sites"] = {
                "mean": row[f"{metric}_mean"], "sd": row[f"{metric}_std"]}
    metrics["distance ratio (two contrasts of one subject / two subjects in one contrast)"] = \
        tables["distances"][method]["ratio"]
    card = {"name": _WEIGHT_NAMES[method], "objective": method, "profile": profile.name,
            "steps": int(metadata.get("steps") or 0),
            "data": f"{metadata.get('data', 'synthetic structural cohort')}, {profile.contrastive_image_size}^3 at "
                    f"{profile.spacing_mm:g} mm",
            "metrics": {k: v for k, v in metrics.items() if _finite(v)},
            "provenance": {"commit": env["git_commit"], "date": env["date_utc"], "command": command}}
    return export_weights(encoder, weights_root / _WEIGHT_NAMES[method], card=card, budget_root=weights_root)


def _export_segmenter(profile: Profile, encoder_dir: Path, data, run_dir: Path, weights_root: Path, *, resume: bool,
                      command: str, env: dict) -> tuple[dict, str]:
    """The `SEGMENTER_ENCODER`'s encoder fine-tuned with its U-Net decoder on tissue segmentation with every label
    of the dense split's training site (the sweep's run of seed 0, trained again the same way), saved in
    ``run_dir/segmenter`` and exported as float16 with a model card to ``weights_root/<SEGMENTER_NAME>``, so that
    chapter 7 can show a segmentation from the reference encoder. With `resume`, a segmenter already saved from this
    very encoder is exported again without training.

    Returns:
        ({"encoder", "task", "steps", "train_site", "n_train", "scores" (test -> Dice and HD95 means), "weights"},
        "ran" or "cached").
    """
    saved = run_dir / "segmenter"
    encoder_created = json.loads((encoder_dir / CONFIG_NAME).read_text())["created"]
    split = dense_split(data.sites(), seed=profile.seed)
    previous = json.loads((saved / CONFIG_NAME).read_text()).get("metadata", {}) \
        if (saved / CONFIG_NAME).is_file() else {}
    if resume and previous.get("encoder_created") == encoder_created and previous.get("steps") == profile.dense_steps:
        metadata, status = previous, "cached"
    else:
        model = train_dense(encoder_factory(profile, encoder_dir)(), data, split.train, "tissue",
                            train_config=dense_train_config(profile), seed=0, feature_size=profile.dense_feature_size)
        scores = {test: {k: round(float(v), 4) for k, v in score_dense(model, data, rows, "tissue",
                                                                          spacing_mm=profile.spacing_mm).items()}
                  for test, rows in split.tests().items()}
        encoder_metadata = json.loads((encoder_dir / CONFIG_NAME).read_text()).get("metadata", {})
        metadata = {"objective": "tissue segmentation", "encoder": SEGMENTER_ENCODER,
                    "encoder_created": encoder_created, "steps": profile.dense_steps, "train_site": split.train_site,
                    "n_train": int(split.train.size), "classes": {"0": "background", **{str(k): v for k, v in
                                                                                      TISSUE_NAMES.items()}},
                    "scores": scores, "preprocessing": encoder_metadata.get("preprocessing")}
        save_pretrained(model, saved, metadata=metadata)
        status = "ran"
    card = {"name": SEGMENTER_NAME, "objective": "tissue segmentation", "profile": profile.name,
            "steps": profile.dense_steps,
            "data": f"the SeqInv encoder of this run fine-tuned with a U-Net decoder on the {metadata['n_train']} "
                    f"subjects of site {metadata['train_site']} (every label), {profile.dense_volume_size}^3 at "
                    f"{profile.spacing_mm:g} mm; classes {', '.join(metadata['classes'].values())}",
            "metrics": {f"Dice, {test.replace('_', ' ')}": value["dice"] for test, value in metadata["scores"].items()},
            "provenance": {"commit": env["git_commit"], "date": env["date_utc"], "command": command}}
    path = export_weights(saved, weights_root / SEGMENTER_NAME, card=card, budget_root=weights_root)
    summary = {key: metadata[key] for key in ("encoder", "steps", "train_site", "n_train", "scores")}
    return {"task": "tissue", **summary, "weights": str(path)}, status


def structural_results_path(profile_name: str) -> Path:
    """Where the results of a profile are recorded: ``book/results/<profile_name>/structural.json`` of the checkout
    (of the working directory outside one)."""
    return (repo_root() or Path.cwd()) / "book" / "results" / profile_name / _RESULTS_NAME


def load_recorded_structural_results(profile_name: str = "reference") -> dict:
    """The recorded chapters 6-7 results of a profile (`structural_results_path`).

    Raises:
        InputError: no such file (record it with ``brainfm results structural --profile NAME``).
    """
    path = structural_results_path(profile_name)
    if not path.is_file():
        raise InputError(f"{path}: no recorded results; make them with `brainfm results structural --profile "
                         f"{profile_name}`")
    return json.loads(path.read_text())


def _finite(value) -> bool:
    numbers = [value["mean"], value["sd"]] if isinstance(value, dict) else [value]
    return all(isinstance(v, (int, float)) and np.isfinite(v) for v in numbers)


def _default_command(profile: Profile, run_dir: Path, out: Path, resume: bool) -> str:
    return (f"brainfm results structural --profile {profile.name} --run-dir {run_dir} --out {out}"
            + (" --resume" if resume else ""))
