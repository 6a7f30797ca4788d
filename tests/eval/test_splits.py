"""Tests for brainfm_lite.eval.splits (defined in brainfm_lite.datasets.splits): leave-sites-out folds with an
in-site test set, the one evaluation split of a cohort and the pretraining pool it leaves."""

import numpy as np
import pytest

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.dense import dense_split
from brainfm_lite.eval.splits import evaluation_split, pretraining_pool, site_splits


@pytest.fixture
def sites():
    return np.random.default_rng(0).integers(0, 6, size=300)


def test_splits_are_deterministic_and_depend_on_the_seed(sites):
    first = [s.to_dict() for s in site_splits(sites, seed=3)]
    assert first == [s.to_dict() for s in site_splits(sites, seed=3)]
    assert first != [s.to_dict() for s in site_splits(sites, seed=4)]


def test_no_subject_is_in_two_sets_and_unseen_sites_never_train(sites):
    for split in site_splits(sites, n_folds=3, seed=0):
        train, in_site, unseen = set(split.train), set(split.test_in_site), set(split.test_unseen_site)
        assert not (train & in_site or train & unseen or in_site & unseen)
        assert train | in_site | unseen == set(range(sites.size))
        assert not set(sites[split.train]) & set(split.test_sites)
        assert set(sites[split.test_unseen_site]) == set(split.test_sites)
        assert set(sites[split.test_in_site]) <= set(sites[split.train])


def test_every_site_is_unseen_in_exactly_one_fold(sites):
    held_out = [site for split in site_splits(sites, n_folds=3, seed=0) for site in split.test_sites]
    assert sorted(held_out) == list(range(6))


def test_in_site_test_is_stratified_by_site(sites):
    split = site_splits(sites, n_folds=2, in_site_test_fraction=0.25, seed=0)[0]
    for site in set(sites[split.train]):
        members = np.sum(sites == site)
        assert np.sum(sites[split.test_in_site] == site) == round(0.25 * members)


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="at least 2 sites"):
        site_splits([1, 1, 1])
    with pytest.raises(InputError, match="n_folds"):
        site_splits([0, 1, 2], n_folds=4)
    with pytest.raises(InputError, match="in_site_test_fraction"):
        site_splits([0, 1, 2], in_site_test_fraction=1.0)


def test_the_evaluation_split_holds_a_third_of_the_sites_out_and_is_the_one_fold_split(sites):
    split = evaluation_split(sites, seed=3)
    assert split.fold == 0 and len(split.test_sites) == 2                  # a third of 6 sites
    assert split.to_dict() == site_splits(sites, n_folds=1, seed=3)[0].to_dict()
    assert split.to_dict() == evaluation_split(sites, seed=3).to_dict()
    assert split.to_dict() != evaluation_split(sites, seed=4).to_dict()
    train, in_site, unseen = set(split.train), set(split.test_in_site), set(split.test_unseen_site)
    assert not (train & in_site or train & unseen or in_site & unseen)
    assert train | in_site | unseen == set(range(sites.size))
    assert set(sites[split.test_unseen_site]) == set(split.test_sites)


def test_the_pretraining_pool_is_the_training_subjects_and_never_a_test_subject(sites):
    split = evaluation_split(sites, seed=0)
    pool = pretraining_pool(split)
    assert np.array_equal(pool, split.train) and pool is not split.train
    tests = np.concatenate([split.test_in_site, split.test_unseen_site])
    assert not np.intersect1d(pool, tests).size
    assert not set(sites[pool]) & set(split.test_sites)


@pytest.mark.parametrize("profile_name", ["smoke", "reference", "colab", "full"])
def test_every_profile_cohort_has_every_set_of_its_evaluation_split(profile_name):
    profile = load_profile(profile_name)
    structural = np.arange(profile.contrastive_subjects) % profile.n_sites   # subject k is scanned at site k mod n
    for cohort_sites in (structural, asl_cbf_dataset(profile).sites()):
        split = evaluation_split(cohort_sites, seed=profile.seed)
        assert min(split.train.size, split.test_in_site.size, split.test_unseen_site.size) >= 1
    dense = dense_split(structural, seed=profile.seed)
    assert min(dense.train.size, dense.in_site.size, dense.unseen_site.size) >= 1


def test_the_structural_pool_excludes_the_dense_and_structural_tests():
    profile = load_profile("smoke")
    sites = structural_dataset(profile).sites()
    pool = pretraining_pool(evaluation_split(sites, seed=profile.seed))
    dense = dense_split(sites, seed=profile.seed)
    assert not np.intersect1d(pool, np.concatenate([dense.in_site, dense.unseen_site])).size
    assert set(dense.train) <= set(pool)                  # the dense heads train on pretraining subjects only


def test_a_cohort_too_small_for_the_split_is_refused():
    with pytest.raises(InputError, match="too small for an evaluation split: test_in_site"):
        evaluation_split([0, 1, 2])                       # one subject per site: nothing left for an in-site test
    with pytest.raises(InputError, match="at least 2 sites"):
        evaluation_split([4, 4, 4, 4])
    with pytest.raises(InputError, match="held_out_fraction"):
        evaluation_split([0, 1, 2], held_out_fraction=1.0)
