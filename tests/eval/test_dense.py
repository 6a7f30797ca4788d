"""Dense-task splits train on one site of the evaluation split and test on its in-site and held-out-site
subjects; summaries average seeds; `segment` predicts a whole volume and maps the cohort labels to the task."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.dense import check_task, dense_split, segment, summarise_dense
from brainfm_lite.eval.segmentation import TISSUE_LABEL_MAP
from brainfm_lite.eval.splits import evaluation_split


def test_split_trains_on_one_site_and_tests_on_the_evaluation_splits_test_subjects():
    sites = np.arange(24) % 3
    split, evaluation = dense_split(sites, seed=0), evaluation_split(sites, seed=0)
    site = split.train_site
    assert site not in evaluation.test_sites and set(sites[split.train]) == set(sites[split.in_site]) == {site}
    assert np.array_equal(split.unseen_site, evaluation.test_unseen_site)
    assert set(split.train) <= set(evaluation.train) and set(split.in_site) <= set(evaluation.test_in_site)
    assert split.in_site.size == 2 and split.train.size == 6           # a quarter of the site's 8 held out
    assert not set(split.train) & set(split.in_site)
    other = next(s for s in range(3) if s != site and s not in evaluation.test_sites)
    assert set(sites[dense_split(sites, seed=0, train_site=other).train]) == {other}


def test_split_is_reproducible_and_depends_on_the_seed():
    sites = np.arange(40) % 2
    assert np.array_equal(dense_split(sites, seed=1).train, dense_split(sites, seed=1).train)
    assert not np.array_equal(dense_split(sites, seed=1).train, dense_split(sites, seed=2).train)


def test_split_without_enough_subjects_or_on_a_held_out_site_raises():
    with pytest.raises(InputError, match="too small"):
        dense_split(np.array([0, 1, 1]))
    sites = np.arange(24) % 3
    with pytest.raises(InputError, match="not a training site"):
        dense_split(sites, train_site=evaluation_split(sites, seed=0).test_sites[0])


def test_unknown_task_raises():
    with pytest.raises(InputError):
        check_task("registration")


def test_summary_takes_mean_and_spread_over_seeds():
    rows = [{"encoder": "e", "task": "denoise", "fraction": 1.0, "seed": s, "test": "in_site", "n_train": 3,
             "n_test": 2, "psnr": p, "psnr_noisy": 20.0} for s, p in enumerate([30.0, 32.0])]
    (entry,) = summarise_dense(rows)
    assert entry["psnr_mean"] == 31.0 and entry["psnr_std"] == 1.0 and entry["n_seeds"] == 2


class _ReadsClassesFromTheImage(torch.nn.Module):
    """A stand-in segmenter whose logits are the one-hot of the rounded image: its labels must come back exactly,
    window by window, from `segment`'s sliding-window prediction."""

    def __init__(self, img_size=(8, 8, 8), n_classes=4):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))  # gives the model a device
        self.encoder = SimpleNamespace(config=SimpleNamespace(img_size=img_size))
        self.n_classes = n_classes

    def forward(self, x):
        classes = x[:, 0].round().long().clamp(0, self.n_classes - 1)
        return torch.nn.functional.one_hot(classes, self.n_classes).permute(0, 4, 1, 2, 3).float() + self.weight


def test_segment_predicts_the_whole_volume_and_maps_the_cohort_labels_to_the_task():
    labels = torch.randint(0, 5, (1, 12, 10, 14))  # cohort labels 0 bg, 1 CSF, 2 GM, 3 WM, 4 lesion
    tissue = torch.as_tensor(TISSUE_LABEL_MAP)[labels]
    item = {"image": tissue.float(), "labels": labels}
    predicted, truth = segment(_ReadsClassesFromTheImage(), item, "tissue")
    assert predicted.shape == truth.shape == (12, 10, 14)
    assert np.array_equal(truth, tissue[0].numpy()) and set(np.unique(truth)) <= {0, 1, 2, 3}  # lesion -> WM
    assert np.array_equal(predicted, truth)  # every window's prediction lands where it belongs
    _, lesion_truth = segment(_ReadsClassesFromTheImage(), item, "lesion")
    assert np.array_equal(lesion_truth, (labels[0] == 4).numpy())


def test_segment_refuses_a_task_that_is_not_a_segmentation():
    item = {"image": torch.zeros(1, 8, 8, 8), "labels": torch.zeros(1, 8, 8, 8, dtype=torch.long)}
    with pytest.raises(InputError, match="denoise"):
        segment(_ReadsClassesFromTheImage(), item, "denoise")
