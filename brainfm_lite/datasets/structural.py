"""Structural T1 images (and qMRI maps) of the embedded cohort as a cached torch dataset (chapters 6-7).

Each subject of a :func:`~brainfm_lite.sim.cohort.make_cohort` cohort is simulated once, cropped or padded to a
cube around its brain and written to a small ``.npz`` (named by a hash of everything it depends on, written
atomically), as :class:`~brainfm_lite.datasets.cbf.CbfDataset` does for CBF maps. Alongside the z-scored T1 the
file holds the brain mask, the labels and the subject's voxelwise qMRI maps (PD, R1, R2, R2*, MT), from which the
sequence-invariant views simulate new contrasts without re-simulating the subject.

    >>> data = StructuralDataset(make_cohort(12, spacing_mm=4.0), size=(32,) * 3,
    ...                          cache_dir="cache/t1")                                # doctest: +SKIP
    >>> item = data[0]; item["image"].shape, item["targets"]["older"]                  # doctest: +SKIP
    (torch.Size([1, 32, 32, 32]), tensor(1.))

`structural_dataset` gives the profile's cohort of chapters 6-7, as `~brainfm_lite.datasets.cbf.asl_cbf_dataset`
gives its ASL cohort::

    >>> data = structural_dataset(load_profile("smoke"), cache_dir="cache/t1")                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from brainfm_lite.config import Profile
from brainfm_lite.datasets.base import SubjectDataset
from brainfm_lite.errors import InputError
from brainfm_lite.features.recipe import read_recipe
from brainfm_lite.preprocess.crop import crop_or_pad
from brainfm_lite.preprocess.intensity import zscore
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.sim.qmri import qmri_maps

# Downstream tasks of the structural cohort and their kind (see eval.probe.task_kind).
STRUCTURAL_TASKS = {"older": "classification", "lesion": "classification", "age": "regression"}
MAP_NAMES = ("pd", "r1", "r2", "r2s", "mt")


class StructuralDataset(SubjectDataset):
    """Preprocessed T1-weighted images of a cohort with their targets.

    Args:
        cohort: from :func:`brainfm_lite.sim.cohort.make_cohort`.
        indices: subjects to include, in this order (default: all).
        size: voxel shape (X, Y, Z) every image is cropped or padded to, centred on the brain.
        cache_dir: folder of preprocessed subjects (None: simulate at every access).

    Items are dicts: ``image`` float32 [1, X, Y, Z], the T1 z-scored inside the brain (0 outside); ``targets``
    {"older": 1 when older than the middle of the cohort's age range, "lesion": 1 with any lesion, "age":
    years}, float32 scalars; ``site`` and ``index`` (int64 scalars; index = subject number in the cohort).
    """

    cache_prefix = "t1"
    target_names = STRUCTURAL_TASKS

    def __init__(self, cohort, indices=None, *, size=(32, 32, 32), cache_dir: str | Path | None = None):
        super().__init__(cohort, indices, size=size, cache_dir=cache_dir)

    def sites(self) -> np.ndarray:
        """Site of every item [N] (subject k is scanned at site k mod n_sites; no simulation)."""
        return np.array([int(k) % len(self.cohort.sites) for k in self.indices], dtype=int)

    def cache_key(self, index: int) -> list:
        c = self.cohort
        return [c.seed, len(c.sites), c.spacing_mm, c.lesion_prob, list(c.age_range), index, self.size]

    def load(self, index: int) -> dict:
        """Subject `index` as arrays: ``image`` [X, Y, Z] z-scored T1, ``brain`` bool mask, ``labels`` uint8,
        ``maps`` float16 [5, X, Y, Z] (PD, R1, R2, R2*, MT; background 0 PD), ``targets`` [3], ``site``."""
        return super().load(index)

    def simulate(self, index: int) -> dict:
        subject = self.cohort[index]
        brain = sum(subject.tissue[t] for t in ("csf", "gm", "wm", "lesion")) > 0.5
        mask_volume = subject.t1w.with_data(brain.astype(np.float32))

        def fit(data: np.ndarray) -> np.ndarray:
            return crop_or_pad(subject.t1w.with_data(data.astype(np.float32)), self.size, mask=brain).data

        cropped_brain = fit(mask_volume.data) > 0.5
        image = zscore(crop_or_pad(subject.t1w, self.size, mask=brain), mask=cropped_brain).data
        maps = qmri_maps(subject)
        middle_age = 0.5 * sum(self.cohort.age_range)
        targets = [float(subject.age > middle_age), float(subject.lesion_mask.any()), subject.age]
        return {"image": image.astype(np.float32), "brain": cropped_brain,
                "labels": fit(subject.labels).round().astype(np.uint8),
                "maps": np.stack([fit(maps[name]) for name in MAP_NAMES]).astype(np.float16),  # halves the cache
                "targets": np.array(targets, dtype=np.float32), "site": np.array(index % len(self.cohort.sites))}


def structural_cohort(profile: Profile):
    """The structural cohort of chapters 6-7: ``contrastive_subjects`` from ``n_sites`` sites at ``spacing_mm``."""
    return make_cohort(profile.contrastive_subjects, seed=profile.seed, spacing_mm=profile.spacing_mm,
                       n_sites=profile.n_sites)


def structural_dataset(profile: Profile, *, cache_dir: str | Path | None = None, indices=None) -> StructuralDataset:
    """Every T1 of the profile's cohort (or the subjects `indices`), z-scored in the brain, cropped or padded to
    (``contrastive_image_size``)^3: what contrastive pretraining (its `~brainfm_lite.datasets.splits.pretraining_pool`)
    and the structural tasks (all) read."""
    return StructuralDataset(structural_cohort(profile), indices, size=(profile.contrastive_image_size,) * 3,
                             cache_dir=cache_dir)


def structural_dataset_for_encoder(profile: Profile, encoder_dir: str | Path, *,
                                   cache_dir: str | Path | None = None) -> StructuralDataset:
    """The profile's structural cohort (its subjects, sites and seed) simulated at the grid a saved T1 encoder was
    pretrained on: the voxel size and input shape of the preprocessing recipe in its config.json
    (`features.recipe.read_recipe`). The book's chapters give a shipped reference encoder (3 mm, 48^3) the smoke
    cohort this way, rather than the 4 mm, 32^3 images it never saw.

    Raises:
        InputError: the folder has no recipe (named by `read_recipe`), or its encoder is not a T1 encoder.
    """
    recipe = read_recipe(encoder_dir)
    if recipe.modality != "T1w":
        raise InputError(f"{Path(encoder_dir) / 'config.json'}: preprocessing modality {recipe.modality!r}; the "
                         "structural cohort is T1-weighted (an encoder pretrained on T1w images)")
    if len(set(recipe.shape)) != 1:
        raise InputError(f"{Path(encoder_dir) / 'config.json'}: preprocessing shape {list(recipe.shape)} is not a "
                         "cube; the structural cohort is cropped to cubes")
    at_grid = dataclasses.replace(profile, spacing_mm=recipe.spacing_mm, contrastive_image_size=recipe.shape[0])
    return structural_dataset(at_grid, cache_dir=cache_dir)
