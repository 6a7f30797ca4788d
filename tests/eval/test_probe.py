"""Downstream evaluation: label subsets, linear probe, fine-tuning through the Trainer, result rows and summaries."""

import json
import math

import numpy as np
import pytest
import torch

from brainfm_lite.datasets.cbf import CbfDataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.probe import evaluate_encoder, extract_features, finetune, label_subset, linear_probe, summarise
from brainfm_lite.eval.splits import SiteSplit, site_splits
from brainfm_lite.models.encoders import EncoderConfig, build_encoder
from brainfm_lite.sim.asl.cohort import make_asl_cohort
from brainfm_lite.train.config import TrainConfig

SIZE = (32, 32, 32)
ROW_KEYS = {"encoder", "mode", "task", "kind", "fraction", "seed", "fold", "test", "n_train", "n_test"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """12 subjects from 3 sites, diagnoses made common so that small folds hold both classes; cached once."""
    cohort = make_asl_cohort(12, n_sites=3, seed=0, spacing_mm=4.0, prevalence_scale=3.0)
    return CbfDataset(cohort, size=SIZE, cache_dir=tmp_path_factory.mktemp("cbf_cache"))


def tiny_cnn():
    torch.manual_seed(0)
    return build_encoder(EncoderConfig(kind="cnn", img_size=SIZE, widths=(4, 8)))


def quick_config(**overrides):
    return TrainConfig(**{"max_steps": 3, "batch_size": 4, "lr": 1e-2, "progress": False, "device": "cpu",
                          **overrides})


def test_label_subset_is_deterministic_and_stratified():
    train = np.arange(100, 200)
    y = (np.arange(100) < 20).astype(int)  # 20 positives
    subset = label_subset(train, 0.2, seed=3, stratify=y)
    assert np.array_equal(subset, label_subset(train, 0.2, seed=3, stratify=y))
    assert not np.array_equal(subset, label_subset(train, 0.2, seed=4, stratify=y))
    assert set(subset) <= set(train) and subset.size == 20
    assert np.sum(subset < 120) == 4  # 20 % of the positives, 20 % of the negatives
    rare = label_subset(train, 0.05, seed=0, stratify=(np.arange(100) < 3).astype(int))
    assert np.sum(rare < 103) == 1  # a rare class keeps one subject
    assert np.array_equal(label_subset(train[::-1], 1.0, seed=0), train)
    with pytest.raises(InputError, match="fraction"):
        label_subset(train, 0.0, seed=0)


def test_linear_probe_beats_chance_on_easy_features():
    rng = np.random.default_rng(0)
    n = 120
    y_class = rng.integers(0, 2, n)
    y_value = rng.normal(size=n)
    features = np.column_stack([y_class + 0.3 * rng.normal(size=n), y_value + 0.1 * rng.normal(size=n),
                                rng.normal(size=(n, 6))])
    split = SiteSplit(0, (2,), np.arange(60), np.arange(60, 90), np.arange(90, 120))
    classification = linear_probe(features, y_class, split, "classification")
    assert classification["n_train"] == 60 and classification["unseen_site"]["n_test"] == 30
    assert classification["in_site"]["auc"] > 0.9 and classification["unseen_site"]["balanced_accuracy"] > 0.8
    regression = linear_probe(features, y_value, split, "regression")
    assert regression["unseen_site"]["pearson_r"] > 0.9
    shuffled = linear_probe(rng.normal(size=(n, 8)), y_class, split, "classification")
    assert shuffled["in_site"]["auc"] < 0.8  # no signal, no good score


def test_extract_features_returns_rows_targets_and_sites(dataset):
    features, targets, sites = extract_features(tiny_cnn(), dataset, batch_size=5)
    assert features.shape == (12, 8) and np.all(np.isfinite(features))
    assert set(targets) == {"alzheimers", "vascular", "ftd", "qei"} and targets["qei"].shape == (12,)
    assert sites.tolist() == dataset.sites().tolist()


def test_finetune_trains_through_the_trainer_and_scores_both_test_sets(dataset, tmp_path):
    split = site_splits(dataset.sites(), n_folds=3, seed=0)[2]
    encoder = tiny_cnn()
    before = [p.detach().clone() for p in encoder.parameters()]
    result = finetune(encoder, dataset, split, "qei", train_config=quick_config(), seed=1, out_dir=tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 3  # the shared Trainer ran the steps
    assert result["n_train"] == split.train.size
    for test in ("in_site", "unseen_site"):
        assert math.isfinite(result[test]["mae"]) and result[test]["n_test"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, encoder.parameters()))  # the encoder trained too


def test_frozen_finetune_leaves_the_encoder_unchanged(dataset):
    split = site_splits(dataset.sites(), n_folds=3, seed=0)[2]
    encoder = tiny_cnn()
    before = [p.detach().clone() for p in encoder.parameters()]
    result = finetune(encoder, dataset, split, "ftd", train_config=quick_config(), freeze_encoder=True)
    assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))
    assert 0.0 <= result["in_site"]["balanced_accuracy"] <= 1.0


def test_evaluate_encoder_rows_and_summary(dataset):
    splits = site_splits(dataset.sites(), n_folds=3, seed=0)
    rows = evaluate_encoder(tiny_cnn, dataset, name="random_init", splits=splits, fractions=(1.0, 0.5),
                            seeds=(0, 1), modes=("probe",))
    assert len(rows) == 4 * 2 * 2 * 3 * 2  # tasks x fractions x seeds x folds x test sets
    for row in rows:
        metrics = {"auc", "balanced_accuracy"} if row["kind"] == "classification" else {"mae", "pearson_r"}
        assert set(row) == ROW_KEYS | metrics
    table = summarise(rows)
    assert len(table) == 4 * 2 * 2  # tasks x test sets x fractions
    qei = next(r for r in table if r["task"] == "qei" and r["test"] == "unseen_site" and r["fraction"] == 1.0)
    assert qei["n_seeds"] == 2 and qei["mae_std"] == 0.0  # all labels: the seed changes nothing in a probe
    assert math.isfinite(qei["mae_mean"]) and "pearson_r_mean" in qei


def test_evaluate_encoder_finetune_mode_adds_finetune_rows(dataset):
    splits = site_splits(dataset.sites(), n_folds=3, seed=0)[:1]
    rows = evaluate_encoder(tiny_cnn, dataset, splits=splits, tasks=("qei",), fractions=(1.0,), seeds=(0,),
                            modes=("finetune",), train_config=quick_config(max_steps=2))
    assert [(r["mode"], r["test"]) for r in rows] == [("finetune", "in_site"), ("finetune", "unseen_site")]
    with pytest.raises(InputError, match="train_config"):
        evaluate_encoder(tiny_cnn, dataset, splits=splits, modes=("finetune",))
    with pytest.raises(InputError, match="modes"):
        evaluate_encoder(tiny_cnn, dataset, splits=splits, modes=("knn",))
