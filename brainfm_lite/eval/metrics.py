"""Scores of downstream predictions: AUC and balanced accuracy for diagnoses, MAE and Pearson r for regression,
Dice and HD95 (mm) for segmentations (label maps in, one score per label out); NMSE, PSNR and SSIM (fastMRI
conventions) for reconstructions, which take images [S, H, W] or [H, W] instead.

Every function takes array-likes [N] (numpy or torch on the CPU) and returns a float. Where a score is undefined
(one class only, a constant vector) it returns NaN rather than raising, so one bad test fold does not stop a
table; the summaries skip NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance
from scipy.ndimage import uniform_filter
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


def dice(pred_labels, true_labels, labels=(1, 2, 3)) -> dict[int, float]:
    """Dice overlap ``2|P & T| / (|P| + |T|)`` of each label between two label maps (MONAI ``compute_dice``).

    Args:
        pred_labels: predicted integer labels [X, Y, Z] (or any shape), numpy or torch.
        true_labels: reference labels, the same shape.
        labels: the label values to score (e.g. 1 CSF, 2 GM, 3 WM of the cohort).

    Returns:
        {label: Dice in [0, 1]}. Empty-mask convention (MONAI's ``ignore_empty=False``): a label absent from both
        maps scores 1 (nothing to find, nothing found), absent from the truth only 0.
    """
    pred, truth = _one_hot_pair(pred_labels, true_labels, labels)
    scores = compute_dice(pred, truth, include_background=True, ignore_empty=False)[0]
    return {int(label): float(value) for label, value in zip(labels, scores)}


def hd95(pred_labels, true_labels, labels=(1, 2, 3), spacing_mm=(1.0, 1.0, 1.0)) -> dict[int, float]:
    """95th-percentile symmetric Hausdorff distance of each label's boundary, in mm (MONAI
    ``compute_hausdorff_distance``, Euclidean, ``percentile=95``).

    Args:
        pred_labels: predicted integer labels [X, Y, Z], numpy or torch.
        true_labels: reference labels [X, Y, Z].
        labels: the label values to score.
        spacing_mm: voxel size (x, y, z), mm (a number for isotropic voxels).

    Returns:
        {label: HD95 in mm}. Empty-mask convention: 0 when the label is absent from both maps, NaN when it is
        absent from exactly one (no boundary to measure to; summaries skip NaN).
    """
    pred, truth = _one_hot_pair(pred_labels, true_labels, labels)
    spacing = [float(spacing_mm)] * 3 if np.isscalar(spacing_mm) else [float(s) for s in spacing_mm]
    result = {}
    for channel, label in enumerate(labels):
        p, t = pred[:, channel : channel + 1], truth[:, channel : channel + 1]
        if not p.any() or not t.any():
            result[int(label)] = 0.0 if not p.any() and not t.any() else float("nan")
            continue
        with warnings.catch_warnings():  # MONAI 1.5-1.6 pass their own deprecated argument internally
            warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
            distance = compute_hausdorff_distance(p, t, include_background=True, percentile=95, spacing=spacing)
        result[int(label)] = float(distance[0, 0])
    return result


def _one_hot_pair(pred_labels, true_labels, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """Two label maps as one-hot [1, L, ...] float tensors over `labels`."""
    pred, truth = torch.as_tensor(np.asarray(pred_labels)), torch.as_tensor(np.asarray(true_labels))
    if pred.shape != truth.shape or pred.numel() == 0:
        raise InputError(f"need two non-empty label maps of one shape; got {tuple(pred.shape)} and "
                         f"{tuple(truth.shape)}")
    if len(labels) == 0:
        raise InputError("name at least one label to score")
    values = torch.as_tensor(list(labels)).view(-1, *([1] * pred.ndim))
    return (pred[None] == values).float()[None], (truth[None] == values).float()[None]


def nmse(gt, pred) -> float:
    """Normalised mean squared error ``||gt - pred||^2 / ||gt||^2`` over the whole volume (fastMRI ``evaluate``).

    Args:
        gt, pred: magnitude images [S, H, W] or one slice [H, W] (real; complex input raises InputError: pass
            ``abs(x)``).

    Returns:
        NMSE (0 is perfect); NaN when ``gt`` is all zero.
    """
    gt, pred = _image_pair(gt, pred)
    energy = np.sum(gt * gt)
    return float(np.sum((gt - pred) ** 2) / energy) if energy > 0 else float("nan")


def psnr(gt, pred, data_range=None) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / mean((gt - pred)^2))`` in dB (fastMRI ``evaluate``).

    Args:
        gt, pred: magnitude images [S, H, W] or [H, W] (real).
        data_range: the peak; default ``gt.max()`` over the whole volume, as fastMRI.

    Returns:
        PSNR in dB; inf when ``pred == gt``.
    """
    gt, pred = _image_pair(gt, pred)
    data_range = _data_range(gt, data_range)
    mse = np.mean((gt - pred) ** 2)
    return float(10 * np.log10(data_range**2 / mse)) if mse > 0 else float("inf")


def ssim(gt, pred, data_range=None, *, win_size: int = 7) -> float:
    """Structural similarity: the mean over slices of scikit-image's ``structural_similarity`` (fastMRI ``evaluate``).

    Per slice: local means, variances and covariance (sample estimates, N - 1) in a ``win_size`` x ``win_size``
    uniform window (edges reflected), ``SSIM = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)
    (var_x + var_y + C2))`` with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, averaged over the pixels at least
    ``win_size // 2`` from the border. Computed in float64.

    Args:
        gt, pred: magnitude images [S, H, W] or [H, W] (real), each side at least ``win_size``.
        data_range: L; default ``gt.max()`` over the whole volume, as fastMRI.
        win_size: odd window width in pixels.

    Returns:
        mean SSIM over slices, at most 1.
    """
    gt, pred = _image_pair(gt, pred)
    if win_size % 2 != 1 or min(gt.shape[-2:]) < win_size:
        raise InputError(f"ssim needs an odd win_size no larger than the slices; got {win_size} for {gt.shape}")
    data_range = _data_range(gt, data_range)
    gt, pred = gt.reshape(-1, *gt.shape[-2:]), pred.reshape(-1, *pred.shape[-2:])

    def local_mean(image):
        return uniform_filter(image, size=(1, win_size, win_size))  # in-plane only: each slice on its own

    n_pixels = win_size * win_size
    unbiased = n_pixels / (n_pixels - 1)  # skimage's default use_sample_covariance=True
    mu_x, mu_y = local_mean(gt), local_mean(pred)
    var_x = unbiased * (local_mean(gt * gt) - mu_x * mu_x)
    var_y = unbiased * (local_mean(pred * pred) - mu_y * mu_y)
    cov_xy = unbiased * (local_mean(gt * pred) - mu_x * mu_y)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    border = win_size // 2  # skimage discards the pixels whose window leaves the image
    per_slice = ssim_map[:, border:-border, border:-border].mean(axis=(1, 2))
    return float(per_slice.mean())


def _image_pair(gt, pred) -> tuple[np.ndarray, np.ndarray]:
    """Two real images of the same shape, [S, H, W] or [H, W], as float64 numpy arrays."""
    gt, pred = _to_numpy(gt), _to_numpy(pred)
    if np.iscomplexobj(gt) or np.iscomplexobj(pred):
        raise InputError("image metrics take magnitude images; got complex input (pass abs(x))")
    if gt.shape != pred.shape or gt.ndim not in (2, 3) or gt.size == 0:
        raise InputError(f"need two images of the same shape [S, H, W] or [H, W]; got {gt.shape} and {pred.shape}")
    return gt.astype(np.float64), pred.astype(np.float64)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return (x.to(torch.float64) if x.dtype in (torch.bfloat16, torch.float16) else x).numpy()
    return np.asarray(x)


def _data_range(gt: np.ndarray, data_range) -> float:
    data_range = float(gt.max()) if data_range is None else float(data_range)
    if not data_range > 0:
        raise InputError(f"data_range must be > 0 (default gt.max()); got {data_range}")
    return data_range


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size == 0:
        raise InputError(f"need two non-empty arrays of equal length; got {a.size} and {b.size}")
    return a, b
