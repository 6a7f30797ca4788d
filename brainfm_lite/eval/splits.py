"""Train/test splits that measure both generalisation to new subjects and to new sites.

Each :class:`SiteSplit` holds some sites out entirely. One model is trained on part of the other sites' subjects
and tested twice: on the rest of those sites' subjects (**in-site**) and on the held-out sites (**unseen-site**).
The gap between the two is the site shift. Folds hold out different site groups, so every site is unseen once.
The same splits serve the linear baselines here and the deep models of later chapters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.sim.streams import Stream, stream_rng


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


def site_splits(sites, *, n_folds: int = 3, in_site_test_fraction: float = 0.25, seed: int = 0) -> list[SiteSplit]:
    """Leave-sites-out folds with an in-site test set inside each.

    Args:
        sites (array_like of int [N]): Site of each subject.
        n_folds (int): Number of site groups; fold f holds group f out. At most the number of sites (and at least 2
            sites must be present, so that something is left to train on).
        in_site_test_fraction (float): Share of each training site's subjects kept for the in-site test (stratified by
            site).
        seed (int): Same seed, same splits.

    Returns:
        list of SiteSplit, one per fold. Within a fold the three index sets are disjoint and sorted.
    """
    sites = np.asarray(sites)
    unique = np.unique(sites)
    if unique.size < 2:
        raise InputError(f"site splits need subjects from at least 2 sites; got sites {unique.tolist()}")
    if not 1 <= n_folds <= unique.size:
        raise InputError(f"n_folds must lie in [1, {unique.size}] (the number of sites); got {n_folds}")
    if not 0.0 < in_site_test_fraction < 1.0:
        raise InputError(f"in_site_test_fraction must lie in (0, 1); got {in_site_test_fraction}")
    rng = stream_rng(seed, Stream.SITE_FOLDS)
    groups = np.array_split(rng.permutation(unique), n_folds)
    if n_folds == 1:  # one fold: hold out a third of the sites (at least one)
        groups = [groups[0][: max(1, unique.size // 3)]]

    splits = []
    for fold, held_out in enumerate(groups):
        unseen = np.flatnonzero(np.isin(sites, held_out))
        train, in_site = [], []
        for site in np.setdiff1d(unique, held_out):
            members = rng.permutation(np.flatnonzero(sites == site))
            n_test = int(round(in_site_test_fraction * members.size))
            in_site.append(members[:n_test])
            train.append(members[n_test:])
        splits.append(SiteSplit(fold, tuple(int(s) for s in sorted(held_out)), np.sort(np.concatenate(train)),
                                np.sort(np.concatenate(in_site)), unseen))
    return splits
