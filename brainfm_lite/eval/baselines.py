"""Linear baselines on regional mean CBF: what a deep model must beat, in-site and on unseen sites.

Features are the grey-matter-weighted mean CBF of each region of two approximate MNI parcellations (lobes and
arterial territories, :mod:`brainfm_lite.preprocess.regions`) and the left-right asymmetry of each paired region.
Diagnoses use a standardised logistic regression
(balanced class weights), the quality target a standardised ridge regression. Scores:

- classification: area under the ROC curve (AUC, 0.5 = chance) and balanced accuracy (0.5 = chance);
- regression: mean absolute error (beside that of predicting the training mean) and Pearson correlation.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brainfm_lite.errors import InputError
from brainfm_lite.eval.splits import SiteSplit, site_splits
from brainfm_lite.preprocess.regions import regional_means

CLASSIFICATION_TASKS = ("alzheimers", "vascular", "ftd")
REGRESSION_TASKS = ("qei",)
TEST_SETS = ("in_site", "unseen_site")


def regional_features(source, masks: dict | None = None, *, weights=None) -> tuple[np.ndarray, list[str]]:
    """Regional mean CBF of many maps as a feature matrix.

    Args:
        source (list of dict, or numpy.ndarray [N, X, Y, Z]): Either per-subject records with a ``"regional_cbf"`` dict
            (from :meth:`brainfm_lite.sim.asl.cohort.AslCohort.records`), or the CBF maps themselves.
        masks (dict, optional): Region name -> bool mask [X, Y, Z]; needed with maps, ignored with records.
        weights (numpy.ndarray [X, Y, Z], optional): Voxel weights (e.g. grey-matter probability) for maps.

    Returns:
        X : numpy.ndarray [N, R]: Mean CBF (mL/100 g/min) of each region.
        names : list of str: The R region names, in column order.
    """
    if isinstance(source, np.ndarray):
        if masks is None:
            raise InputError("regional_features needs region masks to average CBF maps")
        if source.ndim != 4:
            raise InputError(f"CBF maps must be stacked as [N, X, Y, Z]; got shape {source.shape}")
        rows = [regional_means(cbf, masks, weights=weights) for cbf in source]
    else:
        rows = [record["regional_cbf"] for record in source]
    if not rows:
        raise InputError("no subjects to compute features of")
    names = list(rows[0])
    return np.array([[row[name] for name in names] for row in rows], dtype=np.float64), names


def asymmetry_features(X, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Left-right asymmetry ``|L - R| / (L + R)`` of every region that has both a ``_l`` and an ``_r`` column.

    A one-sided deficit lowers the left region in some patients and the right in others: a linear model on the
    regional means alone cannot see "one side is lower", an asymmetry index can (clinical ASL reads use it).
    """
    X = np.asarray(X, dtype=np.float64)
    columns = {name: i for i, name in enumerate(names)}
    pairs = [name[:-2] for name in names if name.endswith("_l") and f"{name[:-2]}_r" in columns]
    left = X[:, [columns[f"{p}_l"] for p in pairs]]
    right = X[:, [columns[f"{p}_r"] for p in pairs]]
    total = np.where(np.abs(left + right) > 0, left + right, 1.0)
    return np.abs(left - right) / np.abs(total), [f"{p}_asymmetry" for p in pairs]


def logistic_baseline(X, y, splits: list[SiteSplit], *, C: float = 1.0) -> dict:
    """Standardised logistic regression (balanced class weights) trained on each fold's training subjects.

    Returns:
        dict: ``{"n_train": ..., "in_site": {...}, "unseen_site": {...}}``; each test set has ``n_test`` (predictions
            over all folds), ``auc`` and ``balanced_accuracy`` computed on the predictions of all folds together (stable
            with few patients per fold), and ``auc_sd``, ``balanced_accuracy_sd``: their spread across folds.
    """
    X, y = _check_xy(X, y)

    def fit(train):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))
        model.fit(X[train], y[train])
        return lambda test: model.predict_proba(X[test])[:, 1]

    def metrics(truth, probability, _):
        if np.unique(truth).size < 2:
            return {}  # AUC needs both classes
        return {"auc": float(roc_auc_score(truth, probability)),
                "balanced_accuracy": float(balanced_accuracy_score(truth, probability >= 0.5))}

    return _evaluate(y, splits, fit, metrics, needs_two_classes=True)


def ridge_baseline(X, y, splits: list[SiteSplit], *, alpha: float = 1.0) -> dict:
    """Standardised ridge regression per fold: MAE, the MAE of predicting the training mean, and Pearson r.

    Pooled over folds as in :func:`logistic_baseline`, with the spread across folds as ``*_sd``.
    """
    X, y = _check_xy(X, y)
    y = y.astype(np.float64)

    def fit(train):
        model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(X[train], y[train])
        return lambda test: model.predict(X[test])

    def metrics(truth, prediction, train_mean):
        varies = np.std(prediction) > 0 and np.std(truth) > 0
        return {"mae": float(np.mean(np.abs(prediction - truth))),
                "mae_predicting_mean": float(np.mean(np.abs(train_mean - truth))),
                "pearson_r": float(np.corrcoef(prediction, truth)[0, 1]) if varies else float("nan")}

    return _evaluate(y, splits, fit, metrics, needs_two_classes=False)


def asl_baseline_table(cohort, *, seed: int = 0, n_folds: int = 3, records: list[dict] | None = None,
                       n_jobs: int = 1, splits: list[SiteSplit] | None = None) -> list[dict]:
    """The baseline of every target of the ASL cohort, in-site and on unseen sites.

    Args:
        cohort (AslCohort): From :func:`brainfm_lite.sim.asl.cohort.make_asl_cohort`.
        seed (int): Seed of the splits.
        n_folds (int): Site folds (capped at the number of sites).
        splits (list of SiteSplit, optional): Score on these instead of `seed` and `n_folds`'s folds (e.g. the
            cohort's one `evaluation_split`, to sit beside encoders evaluated on it); indices are cohort subjects.
        records (list of dict, optional): ``cohort.records()`` when already computed (it simulates every subject, the
            slow part).
        n_jobs (int): Worker processes for simulating the cohort.

    Returns:
        list of dict: One row per task and test set: ``{"task", "kind", "test", "n_train", "n_test", metric: value,
            ...}``, JSON-serialisable.
    """
    records = cohort.records(n_jobs=n_jobs) if records is None else records
    means, names = regional_features(records)
    asymmetry, _ = asymmetry_features(means, names)
    X = np.concatenate([means, asymmetry], axis=1)
    sites = np.array([r["site"] for r in records])
    if splits is None:
        splits = site_splits(sites, n_folds=min(n_folds, np.unique(sites).size), seed=seed)
    rows = []
    for task in CLASSIFICATION_TASKS + REGRESSION_TASKS:
        if task in CLASSIFICATION_TASKS:
            y = np.array([r["labels"][task] for r in records])
            result, kind = logistic_baseline(X, y, splits), "classification"
        else:
            y = np.array([r["quality"][task] for r in records])
            result, kind = ridge_baseline(X, y, splits), "regression"
        for test in TEST_SETS:
            rows.append({"task": task, "kind": kind, "test": test, "n_train": result["n_train"], **result[test]})
    return rows


def _check_xy(X, y):
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise InputError(f"need X [N, R] and y [N]; got X {X.shape} and y {y.shape}")
    if not np.all(np.isfinite(X)):
        raise InputError("features contain NaN or inf (an empty region?)")
    return X, y


def _evaluate(y, splits, fit, metrics, *, needs_two_classes: bool) -> dict:
    """Fit on each fold, predict both test sets, score the pooled predictions and each fold's own."""
    pooled = {test: {"truth": [], "prediction": [], "train_mean": []} for test in TEST_SETS}
    per_fold = {test: [] for test in TEST_SETS}
    n_train = []
    for split in splits:
        if needs_two_classes and np.unique(y[split.train]).size < 2:
            continue  # nothing to learn from in this fold
        n_train.append(split.train.size)
        predict = fit(split.train)
        train_mean = np.full(y.size, y[split.train].mean())
        for test, indices in (("in_site", split.test_in_site), ("unseen_site", split.test_unseen_site)):
            if indices.size == 0:
                continue
            prediction = predict(indices)
            for key, values in (("truth", y[indices]), ("prediction", prediction), ("train_mean", train_mean[indices])):
                pooled[test][key].append(values)
            per_fold[test].append(metrics(y[indices], prediction, train_mean[indices]))
    result = {"n_train": int(np.mean(n_train)) if n_train else 0}
    for test in TEST_SETS:
        parts = {key: np.concatenate(values) if values else np.array([]) for key, values in pooled[test].items()}
        result[test] = {"n_test": int(parts["truth"].size), "folds": len(per_fold[test])}
        if parts["truth"].size:
            result[test].update(metrics(parts["truth"], parts["prediction"], parts["train_mean"]))
        for key in [k for k in result[test] if k not in ("n_test", "folds")]:
            values = [fold[key] for fold in per_fold[test] if key in fold]
            result[test][f"{key}_sd"] = float(np.nanstd(values)) if values else float("nan")
    return result
