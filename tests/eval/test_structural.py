"""Tests for brainfm_lite.eval.structural: structural classification through the shared probe/fine-tune code."""

import numpy as np
import pytest

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.eval.probe import summarise, task_kind
from brainfm_lite.eval.splits import evaluation_split
from brainfm_lite.eval.structural import evaluate_structural, structural_splits
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.train.pretrain import contrastive_encoder_config
from brainfm_lite.train.rng import seeded_init


@pytest.fixture(scope="module")
def profile():
    return load_profile("smoke", contrastive_subjects=9, n_sites=3, finetune_steps=2, contrastive_batch_size=4)


@pytest.fixture(scope="module")
def dataset(profile, tmp_path_factory):
    data = structural_dataset(profile, cache_dir=tmp_path_factory.mktemp("t1"))
    data.prepare()
    return data


def random_vit(profile, seed):
    def factory():
        with seeded_init(seed):
            return build_encoder(contrastive_encoder_config(profile))
    return factory


def test_structural_tasks_have_a_kind():
    assert task_kind("older") == task_kind("lesion") == "classification" and task_kind("age") == "regression"


def test_every_encoder_is_scored_on_the_same_subjects_in_and_out_of_distribution(profile, dataset):
    factories = {"a": random_vit(profile, 0), "b": random_vit(profile, 1)}
    rows = evaluate_structural(profile, factories, dataset=dataset, tasks=("older",), modes=("probe",))
    assert {row["test"] for row in rows} == {"in_site", "unseen_site"}
    assert {row["fraction"] for row in rows} == {1.0, 0.2}
    by_encoder = {name: [(r["fold"], r["test"], r["fraction"], r["n_train"], r["n_test"]) for r in rows
                         if r["encoder"] == name] for name in factories}
    assert by_encoder["a"] == by_encoder["b"]
    full = [r["n_train"] for r in rows if r["fraction"] == 1.0]
    fifth = [r["n_train"] for r in rows if r["fraction"] == 0.2]
    assert min(full) > max(fifth) >= 1
    (split,) = structural_splits(dataset, profile)  # the one split pretraining holds out
    assert split.to_dict() == evaluation_split(dataset.sites(), seed=profile.seed).to_dict()
    assert not set(dataset.sites()[split.train]) & set(dataset.sites()[split.test_unseen_site])
    assert {r["fold"] for r in rows} == {0}


def test_finetuning_runs_through_the_trainer_and_summarises(profile, dataset):
    rows = evaluate_structural(profile, {"random": random_vit(profile, 0)}, dataset=dataset, tasks=("age",),
                               fractions=(1.0,), modes=("finetune",))
    assert rows and all(np.isfinite(row["mae"]) for row in rows)
    table = summarise(rows)
    assert {entry["test"] for entry in table} == {"in_site", "unseen_site"}
