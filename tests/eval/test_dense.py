"""Dense-task splits train on one site and test on held-out and unseen-site subjects; summaries average seeds."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.eval.dense import check_task, dense_split, summarise_dense


def test_split_trains_on_one_site_and_tests_on_the_rest():
    sites = np.arange(24) % 3
    split = dense_split(sites, train_sites=(0,), seed=0)
    assert set(sites[split.train]) == {0} and set(sites[split.in_site]) == {0}
    assert set(split.unseen_site) == set(np.flatnonzero(sites != 0))
    assert split.in_site.size == 2 and split.train.size == 6           # a quarter of site 0's 8 held out
    assert not set(split.train) & set(split.in_site)


def test_split_is_reproducible_and_depends_on_the_seed():
    sites = np.arange(40) % 2
    assert np.array_equal(dense_split(sites, seed=1).train, dense_split(sites, seed=1).train)
    assert not np.array_equal(dense_split(sites, seed=1).train, dense_split(sites, seed=2).train)


def test_split_without_enough_subjects_raises():
    with pytest.raises(InputError):
        dense_split(np.array([0, 1, 1]), train_sites=(0,))


def test_unknown_task_raises():
    with pytest.raises(InputError):
        check_task("registration")


def test_summary_takes_mean_and_spread_over_seeds():
    rows = [{"encoder": "e", "task": "denoise", "fraction": 1.0, "seed": s, "test": "in_site", "n_train": 3,
             "n_test": 2, "psnr": p, "psnr_noisy": 20.0} for s, p in enumerate([30.0, 32.0])]
    (entry,) = summarise_dense(rows)
    assert entry["psnr_mean"] == 31.0 and entry["psnr_std"] == 1.0 and entry["n_seeds"] == 2
