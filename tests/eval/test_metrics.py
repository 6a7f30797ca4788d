"""Downstream metrics agree with scikit-learn / numpy and return NaN where undefined."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error, roc_auc_score

from brainfm_lite.errors import InputError
from brainfm_lite.eval.metrics import auc, balanced_accuracy, mae, nmse, pearson_r, psnr, ssim


@pytest.fixture
def draws():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = y + rng.normal(0, 1.5, 200)
    score[:20] = np.round(score[:20])  # some ties
    return y, score


def test_auc_matches_sklearn_with_ties(draws):
    y, score = draws
    assert auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert auc(y, -score) == pytest.approx(1 - auc(y, score))
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0


def test_balanced_accuracy_matches_sklearn(draws):
    y, score = draws
    predicted = (score > 0.5).astype(int)
    assert balanced_accuracy(y, predicted) == pytest.approx(balanced_accuracy_score(y, predicted))
    assert balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0]) == 0.5  # always "healthy" is chance, not 75 %


def test_regression_metrics_match_sklearn_and_numpy():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=50)
    prediction = truth + rng.normal(0, 0.3, 50)
    assert mae(truth, prediction) == pytest.approx(mean_absolute_error(truth, prediction))
    assert pearson_r(truth, prediction) == pytest.approx(np.corrcoef(truth, prediction)[0, 1])
    assert pearson_r(torch.tensor(truth), torch.tensor(2 * truth + 1)) == pytest.approx(1.0)


def test_undefined_scores_are_nan_and_bad_shapes_raise():
    assert np.isnan(auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert np.isnan(pearson_r([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    with pytest.raises(InputError, match="equal length"):
        mae([1.0, 2.0], [1.0])


@pytest.fixture
def slices():
    """A smooth ground-truth stack [3, 40, 36] and a noisy, slightly biased reconstruction of it."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:36]
    gt = np.stack([np.sin(x / (4 + s)) * np.cos(y / 5) + 1.5 for s in range(3)])
    return gt, gt * 0.95 + rng.normal(0, 0.1, gt.shape)


def test_ssim_is_the_mean_of_scikit_image_ssim_over_slices(slices):
    gt, pred = slices
    expected = np.mean([structural_similarity(g, p, data_range=gt.max()) for g, p in zip(gt, pred)])
    assert abs(ssim(gt, pred) - expected) < 1e-4
    assert abs(ssim(gt[1], pred[1], data_range=2.0) - structural_similarity(gt[1], pred[1], data_range=2.0)) < 1e-4
    assert abs(ssim(torch.from_numpy(gt).float(), torch.from_numpy(pred).float()) - expected) < 1e-4
    assert ssim(gt, gt) == pytest.approx(1.0)


def test_psnr_and_nmse_follow_their_definitions(slices):
    gt, pred = slices
    mse = np.mean((gt - pred) ** 2)
    assert psnr(gt, pred) == pytest.approx(10 * np.log10(gt.max() ** 2 / mse))
    assert psnr(gt, pred, data_range=1.0) == pytest.approx(-10 * np.log10(mse))
    assert nmse(gt, pred) == pytest.approx(np.sum((gt - pred) ** 2) / np.sum(gt**2))
    assert psnr(gt, gt) == np.inf and nmse(gt, gt) == 0.0


def test_image_metrics_reject_complex_and_mismatched_input(slices):
    gt, pred = slices
    with pytest.raises(InputError, match="complex"):
        psnr(gt, pred * np.exp(1j))
    with pytest.raises(InputError, match="same shape"):
        nmse(gt, pred[:2])
    with pytest.raises(InputError, match="win_size"):
        ssim(gt[:, :5, :5], pred[:, :5, :5])
