"""Tests for brainfm_lite.eval.baselines: regional features and the linear baselines."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.eval.baselines import asymmetry_features, logistic_baseline, regional_features, ridge_baseline
from brainfm_lite.eval.splits import site_splits


def synthetic_task(n=400, seed=0):
    """Six sites; the label moves two of ten features by 1.5 standard deviations (best AUC about 0.93)."""
    rng = np.random.default_rng(seed)
    sites = rng.integers(0, 6, size=n)
    y = rng.integers(0, 2, size=n)
    X = rng.standard_normal((n, 10))
    X[:, :2] += 1.5 * y[:, None]
    return X, y, sites


def test_logistic_baseline_beats_chance_on_a_learnable_task():
    X, y, sites = synthetic_task()
    result = logistic_baseline(X, y, site_splits(sites, seed=0))
    for test in ("in_site", "unseen_site"):
        assert result[test]["auc"] > 0.85
        assert result[test]["balanced_accuracy"] > 0.75
    assert result["unseen_site"]["n_test"] == len(y)  # every subject is unseen once over the folds


def test_logistic_baseline_is_at_chance_on_shuffled_labels():
    X, y, sites = synthetic_task(n=600)
    shuffled = np.random.default_rng(1).permutation(y)
    result = logistic_baseline(X, shuffled, site_splits(sites, seed=0))
    for test in ("in_site", "unseen_site"):
        assert abs(result[test]["auc"] - 0.5) < 0.1


def test_ridge_baseline_beats_the_mean_predictor_only_when_there_is_signal():
    X, _, sites = synthetic_task()
    target = X[:, 3] * 2.0 + 0.3 * np.random.default_rng(2).standard_normal(len(X))
    splits = site_splits(sites, seed=0)
    learnable = ridge_baseline(X, target, splits)["unseen_site"]
    assert learnable["pearson_r"] > 0.9 and learnable["mae"] < 0.5 * learnable["mae_predicting_mean"]
    noise = ridge_baseline(X, np.random.default_rng(3).standard_normal(len(X)), splits)["unseen_site"]
    assert abs(noise["pearson_r"]) < 0.15 and noise["mae"] > 0.9 * noise["mae_predicting_mean"]


def test_regional_features_from_maps_and_from_records_agree():
    maps = np.stack([np.full((4, 4, 4), value) for value in (10.0, 20.0, 30.0)])
    maps[:, :2] *= 2  # the first half of each map is twice as bright
    masks = {"front": np.zeros((4, 4, 4), bool), "back": np.zeros((4, 4, 4), bool)}
    masks["front"][:2], masks["back"][2:] = True, True
    X, names = regional_features(maps, masks)
    assert names == ["front", "back"]
    np.testing.assert_allclose(X, [[20, 10], [40, 20], [60, 30]])
    records = [{"regional_cbf": dict(zip(names, row))} for row in X]
    np.testing.assert_array_equal(regional_features(records)[0], X)
    with pytest.raises(InputError, match="region masks"):
        regional_features(maps)


def test_asymmetry_features_pair_left_and_right_regions():
    X = np.array([[30.0, 60.0, 50.0], [45.0, 45.0, 50.0]])
    A, names = asymmetry_features(X, ["mca_l", "mca_r", "precuneus"])
    assert names == ["mca_asymmetry"]
    np.testing.assert_allclose(A[:, 0], [30 / 90, 0.0])


def test_baselines_refuse_features_with_nan():
    X, y, sites = synthetic_task(n=60)
    X[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        logistic_baseline(X, y, site_splits(sites, seed=0))
