"""Scores of downstream predictions: AUC and balanced accuracy for diagnoses, MAE and Pearson r for regression.

Every function takes array-likes [N] (numpy or torch on the CPU) and returns a float. Where a score is undefined
(one class only, a constant vector) it returns NaN rather than raising, so one bad test fold does not stop a
table; the summaries skip NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from brainfm_lite.errors import InputError


def auc(y_true, score) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative.

    Computed from ranks (Mann-Whitney U / (n_pos * n_neg)); tied scores count one half. 0.5 is chance.

    Args:
        y_true: 0/1 labels [N].
        score: any monotone score [N] (probability, logit).

    Returns:
        AUC in [0, 1]; NaN when only one class is present.
    """
    y, s = _pair(y_true, score)
    positive = y == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean of the recall of each class present in `y_true` (0.5 is chance for two classes).

    Args:
        y_true: class labels [N].
        y_pred: predicted class labels [N] (threshold probabilities first, e.g. ``p >= 0.5``).
    """
    y, p = _pair(y_true, y_pred)
    recalls = [np.mean(p[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls))


def mae(y_true, y_pred) -> float:
    """Mean absolute error, in the targets' unit."""
    y, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - y)))


def pearson_r(y_true, y_pred) -> float:
    """Pearson correlation of predictions and truth; NaN when either is constant."""
    y, p = _pair(y_true, y_pred)
    y, p = y - y.mean(), p - p.mean()
    denominator = np.sqrt(np.sum(y * y) * np.sum(p * p))
    return float(np.sum(y * p) / denominator) if denominator > 0 else float("nan")


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size == 0:
        raise InputError(f"need two non-empty arrays of equal length; got {a.size} and {b.size}")
    return a, b
