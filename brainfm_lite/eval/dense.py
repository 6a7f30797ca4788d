"""Dense downstream tasks of Chalcroft et al. on the embedded cohort: tissue and lesion segmentation, denoising.

Input is the subject's acquired T1-weighted image (its site's scanner: noise, bias field, resolution), z-scored in
the brain and cropped or padded to (``profile.dense_volume_size``)^3 around it; the encoder sees windows of its own
input size (training: one random window a step; testing: sliding windows over the whole volume).

- ``"tissue"``: CSF / GM / WM (lesions count as WM), trained on the subjects of ONE site, tested on held-out
  subjects of that site (``in_site``) and on the held-out sites (``unseen_site``) of the structural cohort's
  evaluation split (`dense_split`), none of which pretraining saw; Dice per tissue and HD95 (mm).
- ``"lesion"``: lesion against the rest, on a cohort of the same size in which every subject has lesions (white
  matter hyperintensities or a stroke), same sites and splits; Dice and HD95 of the lesion.
- ``"denoise"``: Gaussian noise of SD 0.2 on the z-scored image, the network predicts the clean image; PSNR (dB)
  of the prediction and of the noisy input, on the same splits as ``"tissue"``.

Label fractions are of the training *subjects* (1 % of a small cohort is one subject; at least one is kept)::

    >>> rows = evaluate_dense(load_profile("smoke"), {"scratch": lambda: build_encoder(config)})  # doctest: +SKIP
    >>> table = summarise_dense(rows)                                                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from brainfm_lite.config import Profile
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.datasets.structural import StructuralDataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.metrics import dice, hd95, psnr
from brainfm_lite.eval.probe import label_subset
from brainfm_lite.eval.segmentation import (
    LESION_LABEL_MAP,
    TISSUE_LABEL_MAP,
    DenoisingObjective,
    SegmentationObjective,
    predict_labels,
    sliding_window_predict,
)
from brainfm_lite.models.decoders import SegmentationModel
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.rng import seeded_init

DENSE_TASKS = ("tissue", "lesion", "denoise")
DENSE_FRACTIONS = (0.01, 0.1, 1.0)
DENOISE_SIGMA = 0.2  # in units of the z-scored image, as Chalcroft et al.
TISSUE_NAMES = {1: "csf", 2: "gm", 3: "wm"}
DENSE_METRICS = {"tissue": ("dice", "dice_csf", "dice_gm", "dice_wm", "hd95"), "lesion": ("dice", "hd95"),
                 "denoise": ("psnr", "psnr_noisy")}


class DenseDataset(Dataset):
    """Image and label map of each subject of a
    :class:`~brainfm_lite.datasets.structural.StructuralDataset` (its cache, its crop).

    Items: ``image`` float32 [1, X, Y, Z] (z-scored T1), ``labels`` int64 [1, X, Y, Z] (cohort labels 0-4),
    ``site`` and ``index`` (int64 scalars). Item k is subject k of the structural dataset.
    """

    def __init__(self, structural: StructuralDataset):
        self.structural = structural

    def __len__(self) -> int:
        return len(self.structural)

    def __getitem__(self, position: int) -> dict:
        index = int(self.structural.indices[position])
        arrays = self.structural.load(index)
        return {"image": torch.from_numpy(arrays["image"][None]),
                "labels": torch.from_numpy(arrays["labels"][None].astype(np.int64)),
                "site": torch.tensor(int(arrays["site"])), "index": torch.tensor(index)}

    def sites(self) -> np.ndarray:
        """Site of every item [N]."""
        return self.structural.sites()

    def prepare(self, n_jobs: int = 1) -> int:
        """Simulate and cache every subject not cached yet (see `StructuralDataset.prepare`)."""
        return self.structural.prepare(n_jobs=n_jobs)


def dense_dataset(profile: Profile, *, lesions: bool = False, cache_dir: str | Path | None = None) -> DenseDataset:
    """The profile's structural cohort (``contrastive_subjects`` at ``n_sites`` sites, ``spacing_mm``, seed ``seed``:
    the subjects, sites and evaluation split that pretraining uses) cropped or padded to (``dense_volume_size``)^3
    voxels for the dense tasks; with `lesions`, the same subjects with lesions each (the cohort's default gives a
    third of them lesions: too few for a small cohort)."""
    cohort = make_cohort(profile.contrastive_subjects, seed=profile.seed, spacing_mm=profile.spacing_mm,
                         n_sites=profile.n_sites, lesion_prob=1.0 if lesions else 0.3)
    return DenseDataset(StructuralDataset(cohort, size=(profile.dense_volume_size,) * 3, cache_dir=cache_dir))


@dataclass(frozen=True)
class DenseSplit:
    """Dataset positions (= cohort subjects) of the dense tasks' training and test subjects, and the site trained on."""

    train: np.ndarray
    in_site: np.ndarray
    unseen_site: np.ndarray
    train_site: int

    def tests(self) -> dict[str, np.ndarray]:
        """The non-empty test sets by name."""
        return {name: rows for name, rows in (("in_site", self.in_site), ("unseen_site", self.unseen_site))
                if rows.size}


def dense_split(sites, *, seed: int = 0, train_site: int | None = None) -> DenseSplit:
    """The dense tasks' share of the cohort's `evaluation_split`: train on ONE site (as Chalcroft et al.), test on
    that site's in-site test subjects and on every subject of the held-out sites.

    The training set is the split's training subjects at `train_site`; the other training sites' subjects are not
    used here. Pretraining sees only the split's training subjects, so it saw neither test set.

    Args:
        sites: site of each subject of the WHOLE cohort [N] (dataset positions are cohort subjects).
        seed: the profile seed (the split pretraining held out).
        train_site: the site to train on, one the split does not hold out (default: the lowest-numbered one).

    Raises:
        InputError: `train_site` is held out or absent, or the cohort is too small for the split or for one
            training and one in-site test subject at the training site.
    """
    sites = np.asarray(sites)
    split = evaluation_split(sites, seed=seed)
    training_sites = np.setdiff1d(np.unique(sites), split.test_sites).tolist()
    site = training_sites[0] if train_site is None else int(train_site)
    if site not in training_sites:
        raise InputError(f"train_site {site} is not a training site of the evaluation split (held out: "
                         f"{list(split.test_sites)}); choose from {training_sites}")
    train = split.train[sites[split.train] == site]
    in_site = split.test_in_site[sites[split.test_in_site] == site]
    if train.size == 0 or in_site.size == 0:
        raise InputError(f"site {site} has {train.size} training and {in_site.size} in-site test subjects in the "
                         "evaluation split; the dense tasks need one of each (use more subjects)")
    return DenseSplit(train=train, in_site=in_site, unseen_site=split.test_unseen_site, train_site=int(site))


def train_dense(encoder, dataset, train_indices, task: str, *, train_config: TrainConfig, seed: int = 0,
                freeze_encoder: bool = False, feature_size: int = 16) -> SegmentationModel:
    """Train encoder + decoder on one dense task with the shared Trainer; returns the trained model (eval mode).

    Args:
        encoder: an `Encoder` (trained in place unless frozen: pass a fresh one per run); its ``img_size`` is the
            training window.
        dataset: a `DenseDataset` (or anything with its items).
        train_indices: dataset positions to train on.
        task: "tissue", "lesion" or "denoise".
        train_config: its ``seed`` is replaced by `seed`, its ``batch_size`` capped at the number of subjects.
        seed: seeds the decoder's initialisation, the windows, the noise and the data order.
        freeze_encoder: train the decoder only.
        feature_size: decoder width at full resolution.
    """
    check_task(task)
    n_out = {"tissue": max(TISSUE_LABEL_MAP) + 1, "lesion": max(LESION_LABEL_MAP) + 1, "denoise": 1}[task]
    with seeded_init(seed):  # the decoder's initial weights
        model = SegmentationModel(encoder, n_out, freeze_encoder=freeze_encoder, feature_size=feature_size)
    roi = encoder.config.img_size
    if task == "denoise":
        objective = DenoisingObjective(model, roi, sigma=DENOISE_SIGMA)
    else:
        objective = SegmentationObjective(model, roi, TISSUE_LABEL_MAP if task == "tissue" else LESION_LABEL_MAP)
    train_indices = [int(k) for k in train_indices]
    config = dataclasses.replace(train_config, seed=seed, batch_size=min(train_config.batch_size, len(train_indices)))
    with tempfile.TemporaryDirectory() as scratch:
        Trainer(objective, Subset(dataset, train_indices), config, out_dir=scratch).fit()
    return model.eval()


def score_dense(model: SegmentationModel, dataset, indices, task: str, *, spacing_mm: float,
                seed: int = 0) -> dict[str, float]:
    """Mean over the subjects `indices` of the task's metrics (`DENSE_METRICS`), from sliding-window predictions
    over each whole volume. NaN entries (e.g. HD95 of a missed lesion) are skipped in the mean."""
    check_task(task)
    device = next(model.parameters()).device
    roi = model.encoder.config.img_size
    per_subject = defaultdict(list)
    for position in indices:
        item = dataset[int(position)]
        image = item["image"][None].to(device)
        if task == "denoise":
            generator = torch.Generator().manual_seed(int(seed) * 100_003 + int(item["index"]))
            noisy = image + DENOISE_SIGMA * torch.randn(image.shape, generator=generator).to(device)
            clean = image[0, 0].cpu().numpy()
            denoised = sliding_window_predict(model, noisy, roi)[0, 0].cpu().numpy()
            per_subject["psnr"].append(psnr(clean, denoised))
            per_subject["psnr_noisy"].append(psnr(clean, noisy[0, 0].cpu().numpy()))
            continue
        predicted, truth = segment(model, item, task)
        classes = tuple(TISSUE_NAMES) if task == "tissue" else (1,)
        dices, distances = dice(predicted, truth, classes), hd95(predicted, truth, classes, spacing_mm=spacing_mm)
        per_subject["dice"].append(np.mean(list(dices.values())))
        per_subject["hd95"].append(_nanmean(list(distances.values())))
        if task == "tissue":
            for label, name in TISSUE_NAMES.items():
                per_subject[f"dice_{name}"].append(dices[label])
    return {metric: _nanmean(values) for metric, values in per_subject.items()}


def segment(model: SegmentationModel, item: dict, task: str = "tissue") -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true class maps, int64 [X, Y, Z] each, of one `DenseDataset` item (``image`` [1, X, Y, Z],
    ``labels`` [1, X, Y, Z] cohort labels) for a segmentation `task` ("tissue": 0 background, 1 CSF, 2 GM, 3 WM;
    "lesion": 0 or 1), predicted over the whole volume by sliding windows of the encoder's input size."""
    if task not in ("tissue", "lesion"):
        raise InputError(f"segment() takes the segmentation tasks 'tissue' or 'lesion'; got {task!r}")
    device = next(model.parameters()).device
    image = torch.as_tensor(item["image"], dtype=torch.float32)[None].to(device)
    label_map = torch.as_tensor(TISSUE_LABEL_MAP if task == "tissue" else LESION_LABEL_MAP)
    truth = label_map[torch.as_tensor(item["labels"])[0]].numpy()
    predicted = predict_labels(model, image, model.encoder.config.img_size)[0].cpu().numpy()
    return predicted, truth


def dense_train_config(profile: Profile) -> TrainConfig:
    """A dense run's training: ``dense_steps`` of ``dense_batch_size`` at ``dense_lr`` (`train_config_for`), a
    metrics line every fifth of the run, no intermediate checkpoints (each run trains in a scratch folder)."""
    return train_config_for(profile, steps=profile.dense_steps, batch_size=profile.dense_batch_size,
                            lr=profile.dense_lr, log_every=max(1, profile.dense_steps // 5), checkpoint_every=None,
                            progress=False)


def evaluate_dense(profile: Profile, encoder_factories: dict, *, datasets: dict | None = None, tasks=DENSE_TASKS,
                   fractions=DENSE_FRACTIONS, seeds=None, freeze_encoder: bool = False,
                   train_config: TrainConfig | None = None, cache_dir: str | Path | None = None) -> list[dict]:
    """Every (encoder, task, label fraction, seed, test set) of the dense tasks, as flat result rows.

    Args:
        profile: a `Profile` (cohort, volume size, steps, spacing, seeds).
        encoder_factories: name -> ``() -> Encoder``, called for a fresh encoder every run (load pretrained
            weights inside; a factory without them is the from-scratch baseline).
        datasets: task -> `DenseDataset` of the whole structural cohort; default `dense_dataset` of the profile
            (with ``lesions=True`` for the lesion task), cached in `cache_dir`. Each is split by `dense_split`.
        tasks: among "tissue", "lesion", "denoise".
        fractions: shares of the training subjects whose labels are used (at least one subject).
        seeds: default ``range(profile.eval_seeds)``; each seeds the label subset and the training run.
        freeze_encoder: train the decoders only (a dense probe) instead of fine-tuning everything.
        train_config: default `dense_train_config`.

    Returns:
        One dict per run and test set: ``encoder, task, fraction, seed, test, n_train, n_test`` and the task's
        metrics (`DENSE_METRICS`).
    """
    for task in tasks:
        check_task(task)
    datasets = {} if datasets is None else dict(datasets)
    for task in tasks:
        if task not in datasets:
            datasets[task] = dense_dataset(profile, lesions=task == "lesion", cache_dir=cache_dir)
    train_config = dense_train_config(profile) if train_config is None else train_config
    seeds = range(profile.eval_seeds) if seeds is None else seeds
    splits = {task: dense_split(datasets[task].sites(), seed=profile.seed) for task in tasks}
    rows = []
    for name, factory in encoder_factories.items():
        for task in tasks:
            split, dataset = splits[task], datasets[task]
            for fraction in fractions:
                for seed in seeds:
                    train = label_subset(split.train, fraction, seed)
                    model = train_dense(factory(), dataset, train, task, train_config=train_config, seed=seed,
                                        freeze_encoder=freeze_encoder, feature_size=profile.dense_feature_size)
                    for test, rows_of_test in split.tests().items():
                        metrics = score_dense(model, dataset, rows_of_test, task, spacing_mm=profile.spacing_mm,
                                              seed=seed)
                        rows.append({"encoder": name, "task": task, "fraction": float(fraction), "seed": int(seed),
                                     "test": test, "n_train": int(train.size), "n_test": int(rows_of_test.size),
                                     **metrics})
    return rows


def summarise_dense(rows: list[dict]) -> list[dict]:
    """Mean and spread (population SD over seeds) of every metric per (encoder, task, test, fraction):
    ``<metric>_mean``, ``<metric>_std``, ``n_seeds``, ``n_train`` (mean over seeds), ``n_test``."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["encoder"], row["task"], row["test"], row["fraction"])].append(row)
    table = []
    for (encoder, task, test, fraction), runs in groups.items():
        entry = {"encoder": encoder, "task": task, "test": test, "fraction": fraction, "n_seeds": len(runs),
                 "n_train": float(np.mean([r["n_train"] for r in runs])), "n_test": runs[0]["n_test"]}
        for metric in DENSE_METRICS[task]:
            values = np.array([r.get(metric, np.nan) for r in runs], dtype=np.float64)
            finite = values[np.isfinite(values)]
            entry[f"{metric}_mean"] = float(finite.mean()) if finite.size else float("nan")
            entry[f"{metric}_std"] = float(finite.std()) if finite.size else float("nan")
        table.append(entry)
    return table


def check_task(task: str) -> None:
    """Raise InputError unless `task` is a dense task."""
    if task not in DENSE_TASKS:
        raise InputError(f"unknown dense task {task!r}: choose from {', '.join(DENSE_TASKS)}")


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("nan")
