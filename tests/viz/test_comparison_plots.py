"""Comparison figures draw one line per encoder and one bar pair per encoder."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.viz.comparison_plots import plot_dense_scores, plot_feature_distances, plot_tissue_segmentation


def test_dense_scores_one_panel_per_test_and_one_line_per_encoder():
    table = [{"encoder": e, "task": "tissue", "test": t, "fraction": f, "dice_mean": 0.5, "dice_std": 0.1}
             for e in ("scratch", "seqinv") for t in ("in_site", "unseen_site") for f in (0.01, 1.0)]
    fig = plot_dense_scores(table, task="tissue", metric="dice")
    assert len(fig.axes) == 2 and all(len(ax.containers) == 2 for ax in fig.axes)
    with pytest.raises(InputError):
        plot_dense_scores(table, task="lesion")


def test_feature_distances_two_bars_per_encoder():
    fig = plot_feature_distances({"seqinv": {"same_subject": 0.2, "same_contrast": 0.6},
                                  "baseline": {"same_subject": 0.7, "same_contrast": 0.5}})
    assert len(fig.axes[0].patches) == 4


def test_tissue_segmentation_shows_image_prediction_and_truth_with_one_legend_entry_per_class():
    image = np.random.default_rng(0).normal(size=(6, 7, 8))
    truth = np.zeros((6, 7, 8), dtype=int)
    truth[2:4, 2:5, :] = 2
    predicted = np.where(truth == 2, 3, 0)
    fig = plot_tissue_segmentation(image, predicted, truth[None])
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert [a.shape for a in shown] == [(7, 6)] * 3
    assert shown[1].max() == 3 and shown[2].max() == 2
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["CSF", "GM", "WM"]
    with pytest.raises(InputError, match="share one shape"):
        plot_tissue_segmentation(image, predicted[:3], truth)


def test_legends_are_legible_at_the_page_width(legend_sizes):
    table = [{"encoder": e, "task": "tissue", "test": "in_site", "fraction": 1.0, "dice_mean": 0.5, "dice_std": 0.1}
             for e in ("scratch", "seqinv")]
    distances = {"seqinv": {"same_subject": 0.2, "same_contrast": 0.6}}
    labels = np.zeros((6, 7, 8), dtype=int)
    for fig in (plot_dense_scores(table, task="tissue"), plot_feature_distances(distances),
                plot_tissue_segmentation(labels, labels, labels)):
        assert min(legend_sizes(fig)) >= 9


def test_tissue_segmentation_marks_the_sides_of_the_image_with_mark_sides(side_marks):
    labels = np.zeros((6, 7, 8), dtype=int)
    image = plot_tissue_segmentation(labels, labels, labels).axes[0]
    marks = side_marks(image)
    assert marks["L"] < 0.5 < marks["R"]
    assert {text.get_fontsize() for text in image.texts} == {9}
