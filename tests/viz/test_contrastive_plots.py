"""Tests for brainfm_lite.viz.contrastive_plots: what each figure draws, and bad input."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.viz.contrastive_plots import (
    plot_embedding_by_site_and_age,
    plot_similarity_matrix,
    plot_structural_scores,
    plot_views,
)


def test_views_show_the_middle_axial_slice_of_each_volume():
    volume = np.zeros((4, 5, 6))
    volume[:, :, 3] = 1.0  # only the middle slice along z is bright
    fig = plot_views([volume, volume[None]], ["a", "b"])
    for ax in fig.axes:
        shown = ax.get_images()[0].get_array()
        assert shown.shape == (5, 4) and shown.min() == 1.0
    with pytest.raises(InputError):
        plot_views([volume], ["a", "b"])


def test_similarity_matrix_writes_every_off_diagonal_value():
    similarity = np.array([[1.0, 0.25], [0.25, 1.0]])
    fig = plot_similarity_matrix(similarity, ["x1", "x2"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["-", "0.25", "0.25", "-"]
    with pytest.raises(InputError):
        plot_similarity_matrix(similarity, ["x1"])


def test_embedding_has_one_legend_entry_per_site_and_an_age_colour_scale():
    points = np.arange(12, dtype=float).reshape(6, 2)
    fig = plot_embedding_by_site_and_age(points, [0, 1, 2, 0, 1, 2], [20, 30, 40, 50, 60, 70])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["site00", "site01", "site02"]
    np.testing.assert_allclose(fig.axes[1].collections[0].get_array(), [20, 30, 40, 50, 60, 70])
    with pytest.raises(InputError):
        plot_embedding_by_site_and_age(points, [0, 1], [20, 30])


def test_structural_scores_draw_a_bar_per_encoder_fraction_and_test():
    table = [{"encoder": e, "mode": "probe", "task": "older", "fraction": f, "test": t, "auc_mean": 0.6,
              "auc_std": 0.1}
             for e in ("simclr", "random_init") for f in (1.0, 0.2) for t in ("in_site", "unseen_site")]
    fig = plot_structural_scores(table, task="older", mode="probe")
    assert len(fig.axes[0].patches) == 8 and all(p.get_height() == 0.6 for p in fig.axes[0].patches)
    with pytest.raises(InputError):
        plot_structural_scores(table, task="lesion", mode="probe")
