"""Downstream evaluation of an encoder: linear probe and fine-tuning, label fractions, in-site and unseen-site tests.

Two ways to ask what pretraining gave an encoder, on the cohort's evaluation split
(:func:`~brainfm_lite.datasets.splits.evaluation_split`, whose test subjects pretraining never saw), as the
regional-CBF baseline beside it:

- **linear probe**: freeze the encoder, compute one feature vector per subject once, fit a standardised
  logistic regression (diagnoses, balanced class weights) or ridge regression (quality) on the training subjects;
- **fine-tune**: the encoder plus a linear head trained end to end by the shared
  :class:`~brainfm_lite.train.loop.Trainer` (weighted BCE for diagnoses, MSE on the standardised target for
  quality).

Each runs on 100 %, 20 % and 5 % of the training labels (a stratified subset drawn per seed) and is scored on the
fold's in-site and unseen-site test subjects: AUC and balanced accuracy, or MAE and Pearson r. The same
``encoder_factory`` without pretrained weights is the random-initialisation baseline::

    >>> rows = evaluate_encoder(lambda: from_pretrained("runs/mae/encoder"), dataset, name="mae")  # doctest: +SKIP
    >>> table = summarise(rows)              # mean and spread over seeds                           # doctest: +SKIP

Throughout, item k of the dataset is subject k of the cohort, so split indices index the dataset directly.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import defaultdict

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, Subset

from brainfm_lite.datasets.structural import STRUCTURAL_TASKS
from brainfm_lite.errors import InputError
from brainfm_lite.eval.baselines import CLASSIFICATION_TASKS, REGRESSION_TASKS, TEST_SETS
from brainfm_lite.eval.metrics import auc, balanced_accuracy, mae, pearson_r
from brainfm_lite.eval.splits import SiteSplit, evaluation_split
from brainfm_lite.models.heads import LinearHead, ProbeModel
from brainfm_lite.sim.streams import Stream, stream_rng
from brainfm_lite.train.config import TrainConfig
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.rng import seeded_init

TASKS = CLASSIFICATION_TASKS + REGRESSION_TASKS
MODES = ("probe", "finetune")
METRICS = {"classification": ("auc", "balanced_accuracy"), "regression": ("mae", "pearson_r")}


def task_kind(task: str) -> str:
    """ "classification" or "regression": the ASL diagnoses and quality score, or a structural-cohort task
    (``datasets.structural.STRUCTURAL_TASKS``: older, lesion, age)."""
    if task in CLASSIFICATION_TASKS:
        return "classification"
    if task in REGRESSION_TASKS:
        return "regression"
    if task in STRUCTURAL_TASKS:
        return STRUCTURAL_TASKS[task]
    raise InputError(f"unknown task {task!r}: choose from {', '.join(TASKS + tuple(STRUCTURAL_TASKS))}")


def score(kind: str, truth, prediction) -> dict:
    """Metrics of one test set: prediction is P(positive) for classification, the target's value for regression."""
    truth, prediction = np.asarray(truth, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    if kind == "classification":
        return {"auc": auc(truth, prediction), "balanced_accuracy": balanced_accuracy(truth, prediction >= 0.5)}
    return {"mae": mae(truth, prediction), "pearson_r": pearson_r(truth, prediction)}


@torch.no_grad()
def extract_features(encoder: nn.Module, dataset, *, batch_size: int = 8, device: str | torch.device = "cpu",
                     num_workers: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Run a frozen encoder (eval mode) over a dataset (read by `num_workers` DataLoader processes).

    Returns:
        features: [N, F] float64, row k from item k.
        targets: task -> [N] from the items' ``targets``.
        sites: [N] int site of each item.
    """
    encoder = encoder.to(device).eval()
    features, targets, sites = [], defaultdict(list), []
    for batch in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
        features.append(encoder(batch["image"].to(device)).double().cpu().numpy())
        for task, values in batch["targets"].items():
            targets[task].append(values.numpy())
        sites.append(batch["site"].numpy())
    return (np.concatenate(features), {task: np.concatenate(v) for task, v in targets.items()},
            np.concatenate(sites))


def label_subset(train_indices, fraction: float, seed: int, stratify=None) -> np.ndarray:
    """The training subjects whose labels a low-data run may use: `fraction` of them, drawn per class.

    Args:
        train_indices: subject indices [N] of a fold's training set.
        fraction: share to keep, in (0, 1]; 1 keeps all.
        seed: same seed, same subset.
        stratify: class of each of the N subjects (e.g. the diagnosis); every class present keeps at least one
            subject, so a classifier still sees both. None: draw from all subjects together.

    Returns:
        The kept indices, sorted.
    """
    train_indices = np.asarray(train_indices)
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"label fraction must lie in (0, 1]; got {fraction}")
    groups = np.zeros(train_indices.size) if stratify is None else np.asarray(stratify)
    if groups.shape != train_indices.shape:
        raise InputError(f"stratify needs one class per training subject; got {groups.shape} for "
                         f"{train_indices.shape}")
    if fraction == 1.0:
        return np.sort(train_indices)
    rng = stream_rng(seed, Stream.LABEL_SUBSET)
    kept = []
    for group in np.unique(groups):
        members = rng.permutation(train_indices[groups == group])
        kept.append(members[: max(1, int(round(fraction * members.size)))])
    return np.sort(np.concatenate(kept))


def linear_probe(features, y, split: SiteSplit, kind: str, *, train_indices=None, C: float = 1.0,
                 alpha: float = 1.0) -> dict:
    """Fit a linear model on frozen features of the training subjects; score both test sets of `split`.

    Args:
        features: [N, F] of every subject of the cohort (row k = subject k).
        y: [N] targets.
        split: the fold.
        kind: "classification" (standardised logistic regression, balanced class weights, inverse strength `C`)
            or "regression" (standardised ridge, strength `alpha`).
        train_indices: subjects to train on (default ``split.train``; pass a `label_subset` of it).

    Returns:
        ``{"n_train": ..., "in_site": {"n_test", metrics}, "unseen_site": {...}}``. Classification with one
        class in training returns NaN metrics.
    """
    X, y = np.asarray(features, dtype=np.float64), np.asarray(y, dtype=np.float64)
    train = split.train if train_indices is None else np.asarray(train_indices)
    if kind == "classification":
        if np.unique(y[train]).size < 2:
            return _nan_result(train.size, split, kind)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))
        model.fit(X[train], y[train].astype(int))
    else:
        model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(X[train], y[train])

    def predict(rows):
        return model.predict_proba(X[rows])[:, 1] if kind == "classification" else model.predict(X[rows])

    result = {"n_train": int(train.size)}
    for test, rows in _test_sets(split):
        metrics = score(kind, y[rows], predict(rows)) if rows.size else _nan_metrics(kind)
        result[test] = {"n_test": int(rows.size), **metrics}
    return result


class SupervisedObjective(nn.Module):
    """A `ProbeModel` with its loss, as the Trainer wants it: ``forward(batch) -> {"loss"}``.

    Classification: binary cross-entropy on the logit, positives weighted by `pos_weight` (n_negative /
    n_positive of the training labels: the balanced weighting of the baselines). Regression: mean squared error
    of the standardised target ``(y - target_mean) / target_std``.
    """

    def __init__(self, model: ProbeModel, task: str, *, pos_weight: float = 1.0, target_mean: float = 0.0,
                 target_std: float = 1.0):
        super().__init__()
        self.model, self.task, self.kind = model, task, task_kind(task)
        self.pos_weight, self.target_mean, self.target_std = pos_weight, target_mean, target_std

    def forward(self, batch) -> dict[str, torch.Tensor]:
        output = self.model(batch["image"])[:, 0]
        target = batch["targets"][self.task].float()
        if self.kind == "classification":
            weight = torch.tensor(self.pos_weight, device=output.device, dtype=output.dtype)
            loss = nn.functional.binary_cross_entropy_with_logits(output.float(), target, pos_weight=weight)
        else:
            loss = nn.functional.mse_loss(output.float(), (target - self.target_mean) / self.target_std)
        return {"loss": loss}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """P(positive) [B] for classification, the target in its own unit [B] for regression."""
        output = self.model(images)[:, 0].float()
        return torch.sigmoid(output) if self.kind == "classification" else output * self.target_std + self.target_mean


def finetune(encoder: nn.Module, dataset, split: SiteSplit, task: str, *, train_config: TrainConfig,
             label_fraction: float = 1.0, seed: int = 0, y=None, freeze_encoder: bool = False,
             out_dir=None) -> dict:
    """Train `encoder` + a linear head on one task of one fold with the shared Trainer; score both test sets.

    Args:
        encoder: an `Encoder`; it is trained in place (pass a fresh one per run).
        dataset: item k is subject k; items carry ``image`` and ``targets[task]``.
        split: the fold.
        task: "alzheimers", "vascular", "ftd" or "qei".
        train_config: optimisation settings; its ``seed`` is replaced by `seed`, its ``batch_size`` capped at the
            number of training subjects.
        label_fraction: share of the fold's training labels used (`label_subset`, stratified by class).
        seed: seeds the label subset, the head's initialisation and the Trainer.
        y: [N] targets of every subject, when already known (else read from ``dataset.targets()``).
        freeze_encoder: train the head only (a probe through the Trainer) instead of everything.
        out_dir: where the Trainer writes metrics and its checkpoint (default: a temporary folder, removed).

    Returns:
        Like :func:`linear_probe`: ``{"n_train", "in_site": {...}, "unseen_site": {...}}``.
    """
    kind = task_kind(task)
    y = np.asarray(dataset.targets()[task] if y is None else y, dtype=np.float64)
    train = label_subset(split.train, label_fraction, seed, stratify=y[split.train] if kind == "classification"
                         else None)
    labels = y[train]
    if kind == "classification" and np.unique(labels).size < 2:
        return _nan_result(train.size, split, kind)
    with seeded_init(seed):  # the head's initial weights
        model = ProbeModel(encoder, LinearHead(encoder.feature_dim, 1), freeze_encoder=freeze_encoder)
    if kind == "classification":
        objective = SupervisedObjective(model, task, pos_weight=float((labels == 0).sum() / (labels == 1).sum()))
    else:
        objective = SupervisedObjective(model, task, target_mean=float(labels.mean()),
                                        target_std=float(labels.std()) or 1.0)
    config = dataclasses.replace(train_config, seed=seed, batch_size=min(train_config.batch_size, train.size))
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(objective, Subset(dataset, train.tolist()), config, out_dir=out_dir or scratch)
        trainer.fit()
    objective.eval()
    result = {"n_train": int(train.size)}
    for test, rows in _test_sets(split):
        result[test] = {"n_test": int(rows.size), **_nan_metrics(kind)}
        if rows.size:
            prediction = _predict(objective, Subset(dataset, rows.tolist()), config.batch_size, trainer.device)
            result[test].update(score(kind, y[rows], prediction))
    return result


def evaluate_encoder(encoder_factory, dataset, *, name: str = "encoder", splits: list[SiteSplit] | None = None,
                     tasks=TASKS, fractions=(1.0, 0.2, 0.05), seeds=(0, 1, 2), modes=MODES,
                     train_config: TrainConfig | None = None, batch_size: int = 8,
                     device: str | torch.device = "cpu", num_workers: int = 0) -> list[dict]:
    """Every (mode, task, label fraction, seed, fold, test set) of one encoder, as flat result rows.

    Args:
        encoder_factory: ``() -> Encoder``, called for a fresh encoder each time (load pretrained weights in it;
            the same factory without them is the random-initialisation baseline).
        dataset: item k is subject k of the cohort (e.g. a `CbfDataset` of the whole cohort).
        name: the encoder's name in the rows (e.g. "mae", "random_init").
        splits: the folds (default: the one `evaluation_split` of ``dataset.sites()`` at seed 0, the split the
            pretrainers hold out at profile seed 0).
        tasks, fractions, seeds, modes: what to run ("probe", "finetune").
        train_config: fine-tuning settings (required with mode "finetune").
        batch_size, device, num_workers: of the probe's feature extraction.

    Returns:
        One dict per (mode, task, fraction, seed, fold, test) with keys ``encoder, mode, task, kind, fraction,
        seed, fold, test, n_train, n_test`` and the task's metrics (``auc, balanced_accuracy`` or
        ``mae, pearson_r``; NaN where undefined).
    """
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise InputError(f"unknown evaluation modes {unknown}: choose from {MODES}")
    if "finetune" in modes and train_config is None:
        raise InputError("fine-tuning needs a train_config")
    kinds = {task: task_kind(task) for task in tasks}
    splits = [evaluation_split(dataset.sites(), seed=0)] if splits is None else splits
    rows = []

    def add(mode, task, fraction, seed, split, result):
        for test in TEST_SETS:
            rows.append({"encoder": name, "mode": mode, "task": task, "kind": kinds[task], "fraction": fraction,
                         "seed": seed, "fold": split.fold, "test": test, "n_train": result["n_train"],
                         **result[test]})

    if "probe" in modes:
        features, targets, _ = extract_features(encoder_factory(), dataset, batch_size=batch_size, device=device,
                                               num_workers=num_workers)
    else:
        targets = dataset.targets()
    for task in tasks:
        y = targets[task]
        for fraction in fractions:
            for seed in seeds:
                for split in splits:
                    stratify = y[split.train] if kinds[task] == "classification" else None
                    if "probe" in modes:
                        train = label_subset(split.train, fraction, seed, stratify=stratify)
                        add("probe", task, fraction, seed, split,
                            linear_probe(features, y, split, kinds[task], train_indices=train))
                    if "finetune" in modes:
                        result = finetune(encoder_factory(), dataset, split, task, train_config=train_config,
                                          label_fraction=fraction, seed=seed, y=y)
                        add("finetune", task, fraction, seed, split, result)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and spread over seeds of every (encoder, mode, task, test, fraction).

    Each seed's score is first averaged over folds (ignoring NaN folds); then ``<metric>_mean`` and
    ``<metric>_std`` (population standard deviation, ddof=0) are taken over seeds. ``n_seeds`` counts seeds,
    ``n_train`` and ``n_test`` are means over folds and seeds.
    """
    groups = defaultdict(lambda: defaultdict(list))
    for row in rows:
        key = (row["encoder"], row["mode"], row["task"], row["kind"], row["test"], row["fraction"])
        groups[key][row["seed"]].append(row)
    table = []
    for (encoder, mode, task, kind, test, fraction), by_seed in groups.items():
        entry = {"encoder": encoder, "mode": mode, "task": task, "kind": kind, "test": test, "fraction": fraction,
                 "n_seeds": len(by_seed),
                 "n_train": float(np.mean([r["n_train"] for runs in by_seed.values() for r in runs])),
                 "n_test": float(np.mean([r["n_test"] for runs in by_seed.values() for r in runs]))}
        for metric in METRICS[kind]:
            per_seed = np.array([_nanmean([r.get(metric, np.nan) for r in runs]) for runs in by_seed.values()])
            finite = per_seed[np.isfinite(per_seed)]
            entry[f"{metric}_mean"] = float(finite.mean()) if finite.size else float("nan")
            entry[f"{metric}_std"] = float(finite.std()) if finite.size else float("nan")
        table.append(entry)
    return table


def _predict(objective: SupervisedObjective, dataset, batch_size: int, device) -> np.ndarray:
    predictions = [objective.predict(batch["image"].to(device)).cpu().numpy()
                   for batch in DataLoader(dataset, batch_size=batch_size)]
    return np.concatenate(predictions).astype(np.float64)


def _test_sets(split: SiteSplit):
    return (("in_site", np.asarray(split.test_in_site)), ("unseen_site", np.asarray(split.test_unseen_site)))


def _nan_result(n_train: int, split: SiteSplit, kind: str) -> dict:
    """The result of a run that cannot train (one class only): every metric NaN."""
    return {"n_train": int(n_train),
            **{test: {"n_test": int(rows.size), **_nan_metrics(kind)} for test, rows in _test_sets(split)}}


def _nan_metrics(kind: str) -> dict:
    """Every metric of ``kind`` as NaN: a test set that is empty, or a run that could not train."""
    return {metric: float("nan") for metric in METRICS[kind]}


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")
