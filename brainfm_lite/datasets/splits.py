"""Train/test splits that measure both generalisation to new subjects and to new sites, and the subjects
pretraining may see.

Each :class:`SiteSplit` holds some sites out entirely. One model is trained on part of the other sites' subjects
and tested twice: on the rest of those sites' subjects (**in-site**) and on the held-out sites (**unseen-site**).
The gap between the two is the site shift.

A cohort has ONE evaluation split (`evaluation_split`: a third of its sites held out, a quarter of every other
site's subjects kept for the in-site test). Every pretraining run of the cohort sees only its `pretraining_pool`,
the split's training subjects, and every evaluation scores on the split's test sets: so "unseen site" means unseen
by the pretrained encoder too, and a random initialisation is not handicapped by test subjects the pretrained
encoder has already seen. `site_splits` gives leave-sites-out folds (every site unseen once) for models that were
not pretrained on the cohort, such as the regional-CBF baseline of chapter 3.

    >>> split = evaluation_split(np.arange(24) % 3, seed=0)
    >>> pool = pretraining_pool(split)
    >>> bool(np.intersect1d(pool, np.concatenate([split.test_in_site, split.test_unseen_site])).size)
    False

The splits live here, below ``train`` and ``eval``, because pretraining needs them; ``brainfm_lite.eval`` exports
them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.sim.streams import Stream, stream_rng

HELD_OUT_FRACTION = 1 / 3  # share of a cohort's sites the evaluation split holds out (at least one)
IN_SITE_TEST_FRACTION = 0.25  # share of each training site's subjects kept for the in-site test


@dataclass(frozen=True)
class SiteSplit:
    """Subject indices (into the cohort's order) of one fold.

    Attributes:
        fold: fold number.
        test_sites: site numbers held out of training.
        train: subjects to train on (from the other sites).
        test_in_site: other subjects of the training sites.
        test_unseen_site: every subject of the held-out sites.
    """

    fold: int
    test_sites: tuple[int, ...]
    train: np.ndarray
    test_in_site: np.ndarray
    test_unseen_site: np.ndarray

    def to_dict(self) -> dict:
        return {"fold": self.fold, "test_sites": list(self.test_sites), "train": self.train.tolist(),
                "test_in_site": self.test_in_site.tolist(), "test_unseen_site": self.test_unseen_site.tolist()}


def site_splits(sites, *, n_folds: int = 3, in_site_test_fraction: float = IN_SITE_TEST_FRACTION,
                seed: int = 0) -> list[SiteSplit]:
    """Leave-sites-out folds with an in-site test set inside each.

    Across the folds every subject is tested once, so an encoder pretrained on the cohort has seen some test
    subjects of every fold but one: evaluate pretrained encoders on `evaluation_split` instead.

    Args:
        sites (array_like of int [N]): Site of each subject.
        n_folds (int): Number of site groups; fold f holds group f out. At most the number of sites (and at least 2
            sites must be present, so that something is left to train on). One fold is `evaluation_split`.
        in_site_test_fraction (float): Share of each training site's subjects kept for the in-site test (stratified by
            site).
        seed (int): Same seed, same splits.

    Returns:
        list of SiteSplit, one per fold. Within a fold the three index sets are disjoint and sorted.
    """
    sites, unique = _check(sites, in_site_test_fraction)
    if not 1 <= n_folds <= unique.size:
        raise InputError(f"n_folds must lie in [1, {unique.size}] (the number of sites); got {n_folds}")
    if n_folds == 1:
        return [evaluation_split(sites, seed=seed, in_site_test_fraction=in_site_test_fraction)]
    rng = stream_rng(seed, Stream.SITE_FOLDS)
    groups = np.array_split(rng.permutation(unique), n_folds)
    return [_split(sites, held_out, in_site_test_fraction, rng, fold) for fold, held_out in enumerate(groups)]


def evaluation_split(sites, *, seed: int = 0, held_out_fraction: float = HELD_OUT_FRACTION,
                     in_site_test_fraction: float = IN_SITE_TEST_FRACTION) -> SiteSplit:
    """The ONE split of a cohort that its pretraining runs and its evaluations share.

    ``held_out_fraction`` of the sites (rounded down; at least one, at most all but one) are held out entirely
    (``test_unseen_site``); ``in_site_test_fraction`` of every other site's subjects form ``test_in_site``; the
    rest are ``train``. Pretraining sees ``train`` only (`pretraining_pool`). Same sites and seed, same split; it
    is ``site_splits(sites, n_folds=1, seed=seed)[0]``.

    Args:
        sites (array_like of int [N]): Site of each subject of the WHOLE cohort (indices are cohort subject numbers).
        seed (int): The profile seed.
        held_out_fraction (float): Share of the sites held out, in (0, 1).
        in_site_test_fraction (float): Share of each training site's subjects kept for the in-site test, in (0, 1).

    Returns:
        SiteSplit with fold 0; its three index sets are disjoint, sorted and non-empty.

    Raises:
        InputError: fewer than 2 sites, a fraction out of range, or a cohort so small that a set would be empty.
    """
    sites, unique = _check(sites, in_site_test_fraction)
    if not 0.0 < held_out_fraction < 1.0:
        raise InputError(f"held_out_fraction must lie in (0, 1); got {held_out_fraction}")
    rng = stream_rng(seed, Stream.SITE_FOLDS)
    n_held_out = min(unique.size - 1, max(1, int(held_out_fraction * unique.size + 1e-9)))
    split = _split(sites, rng.permutation(unique)[:n_held_out], in_site_test_fraction, rng, fold=0)
    for name in ("train", "test_in_site", "test_unseen_site"):
        if getattr(split, name).size == 0:
            raise InputError(f"a cohort of {sites.size} subjects at {unique.size} sites is too small for an "
                             f"evaluation split: {name} would be empty ({n_held_out} site(s) held out, "
                             f"{in_site_test_fraction:.0%} of each other site's subjects tested); use more subjects")
    return split


def pretraining_pool(split: SiteSplit) -> np.ndarray:
    """Subjects a pretraining run may see [M], sorted: the split's training subjects.

    Self-supervised pretraining reads no labels, so the subjects whose labels train the downstream heads may be
    in it; neither test set ever is.
    """
    return split.train.copy()


def _check(sites, in_site_test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    sites = np.asarray(sites)
    unique = np.unique(sites)
    if unique.size < 2:
        raise InputError(f"site splits need subjects from at least 2 sites; got sites {unique.tolist()}")
    if not 0.0 < in_site_test_fraction < 1.0:
        raise InputError(f"in_site_test_fraction must lie in (0, 1); got {in_site_test_fraction}")
    return sites, unique


def _split(sites: np.ndarray, held_out, in_site_test_fraction: float, rng: np.random.Generator,
           fold: int) -> SiteSplit:
    """Hold the sites `held_out` out; split every other site's subjects (in site order) into train and test (a
    site of two or more subjects keeps at least one for each)."""
    train, in_site = [], []
    for site in np.setdiff1d(np.unique(sites), held_out):
        members = rng.permutation(np.flatnonzero(sites == site))
        n_test = int(round(in_site_test_fraction * members.size))
        if members.size >= 2:
            n_test = min(members.size - 1, max(1, n_test))
        in_site.append(members[:n_test])
        train.append(members[n_test:])
    return SiteSplit(fold, tuple(int(s) for s in sorted(held_out)), np.sort(np.concatenate(train)),
                     np.sort(np.concatenate(in_site)), np.flatnonzero(np.isin(sites, held_out)))
