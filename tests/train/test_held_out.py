"""Held-out pretraining: every pretrainer of PRETRAINERS trains only on its cohort's pretraining pool, which holds
none of the subjects the evaluations test on (the evaluation split's in-site tests and held-out sites, and the
dense tasks' tests), and records that pool beside the saved encoder."""

import json

import numpy as np
import pytest
from torch.utils.data import Dataset

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import CbfDataset, asl_cbf_dataset
from brainfm_lite.datasets.structural import StructuralDataset, structural_dataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.dense import dense_dataset, dense_split
from brainfm_lite.eval.splits import evaluation_split
from brainfm_lite.eval.structural import structural_splits
from brainfm_lite.train import pretrain

# 16 CBF maps at 3 sites and 12 T1 images at 3 sites: pools of 6 subjects, a few seconds a run
TINY = dict(n_asl_subjects=16, n_asl_sites=3, cbf_image_size=32, mae_batch_size=2, contrastive_subjects=12,
            n_sites=3, contrastive_batch_size=2, device="cpu")


class Recording(Dataset):
    """A dataset that notes the cohort subject (``index``) of every item the Trainer reads."""

    def __init__(self, dataset):
        self.dataset, self.seen = dataset, set()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        item = self.dataset[position]
        self.seen.add(int(item["index"]))
        return item


@pytest.fixture(scope="module")
def profile():
    return load_profile("smoke", **TINY)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # CBF maps and T1 images side by side (their file names differ)


@pytest.fixture
def recorded(monkeypatch):
    """The datasets every pretraining run in the test hands to the Trainer, recording what it reads."""
    runs = []
    trainer = pretrain.Trainer

    def recording_trainer(objective, dataset, config, **options):
        runs.append(Recording(dataset))
        return trainer(objective, runs[-1], config, **options)

    monkeypatch.setattr(pretrain, "Trainer", recording_trainer)
    return runs


def subjects_of(dataset):
    """The CbfDataset or StructuralDataset inside the views a pretrainer trains on."""
    while not isinstance(dataset, (CbfDataset, StructuralDataset)):
        dataset = dataset.dataset
    return dataset


def evaluation_tests(subjects, profile) -> tuple[np.ndarray, tuple[int, ...]]:
    """Every subject an evaluation of this cohort tests on, as the evaluations split it; the held-out sites."""
    if isinstance(subjects, CbfDataset):  # evaluate_asl
        cohort = asl_cbf_dataset(profile)
        split = evaluation_split(cohort.sites(), seed=profile.seed)
        tests = [split.test_in_site, split.test_unseen_site]
    else:  # evaluate_structural and evaluate_dense (tissue, denoising, lesions)
        cohort = structural_dataset(profile)
        (split,) = structural_splits(cohort, profile)
        tests = [split.test_in_site, split.test_unseen_site]
        for lesions in (False, True):
            dense = dense_dataset(profile, lesions=lesions)
            assert len(dense) == len(cohort)  # the same subjects, numbered alike
            tests += list(dense_split(dense.sites(), seed=profile.seed).tests().values())
    assert len(subjects.cohort) == len(cohort)  # pretraining numbers subjects as the evaluation does
    return np.unique(np.concatenate(tests)), split.test_sites


@pytest.mark.parametrize("name", list(pretrain.PRETRAINERS))
def test_pretraining_never_sees_an_evaluation_test_subject(name, profile, cache, recorded, tmp_path):
    folder = pretrain.PRETRAINERS[name](profile, tmp_path, cache_dir=cache, max_steps=2, log_every=1,
                                        progress=False)
    (run,) = recorded
    subjects = subjects_of(run.dataset)
    tests, held_out_sites = evaluation_tests(subjects, profile)
    pool = set(subjects.indices.tolist())
    assert run.seen and run.seen <= pool                       # it trained, on pool subjects only
    assert pool and not pool & set(tests.tolist())             # no in-site test, no held-out site, no dense test
    assert not set(subjects.sites().tolist()) & set(held_out_sites)
    record = json.loads((folder / "config.json").read_text())["metadata"]["pretraining_pool"]
    assert record["subjects"] == len(pool) and record["held_out_sites"] == list(held_out_sites)
    assert record["cohort_subjects"] == len(subjects.cohort) == record["subjects"] + record["held_out_subjects"]


def test_structural_pretrainers_share_one_pool(profile, cache, recorded, tmp_path):
    for name, options in (("simclr", {}), ("seqinv", {"variant": "baseline"}), ("mae_structural", {})):
        pretrain.PRETRAINERS[name](profile, tmp_path / name, cache_dir=cache, max_steps=1, progress=False, **options)
    pools = [subjects_of(run.dataset).indices.tolist() for run in recorded]
    assert pools[0] == pools[1] == pools[2]


def test_a_cohort_too_small_for_the_split_is_refused_before_training(cache, recorded, tmp_path):
    tiny = load_profile("smoke", **{**TINY, "contrastive_subjects": 3})  # one subject a site
    with pytest.raises(InputError, match="too small for an evaluation split"):
        pretrain.pretrain_simclr(tiny, tmp_path, cache_dir=cache, max_steps=1, progress=False)
    assert not recorded
