"""Tests for brainfm_lite.eval.splits: leave-sites-out folds with an in-site test set."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.eval.splits import site_splits


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
