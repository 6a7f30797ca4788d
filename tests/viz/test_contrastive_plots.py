"""Tests for brainfm_lite.viz.contrastive_plots: what each figure draws, and bad input."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.viz.contrastive_plots import (
    plot_embedding_by_site_and_age,
    plot_nearest_neighbours,
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


def test_nearest_neighbours_show_each_query_then_its_neighbours_with_age_and_site():
    images = np.stack([np.full((1, 4, 5, 6), float(k)) for k in range(5)])  # subject k is all k
    neighbours = np.array([[1, 2], [0, 2], [1, 3], [2, 4], [3, 2]])
    ages, sites = [30, 40, 50, 60, 70], [0, 1, 0, 1, 2]
    fig = plot_nearest_neighbours(images, neighbours, ages, sites, queries=(0, 3))
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    assert [int(image.max()) for image in shown] == [0, 1, 2, 3, 2, 4]  # rows: 0 then 1, 2; 3 then 2, 4
    assert shown[0].shape == (5, 4)
    assert fig.axes[4].get_title() == "neighbour 1\n50 y, site00"
    assert {t.get_text() for t in fig.axes[0].texts} == {"L", "R"}
    with pytest.raises(InputError, match="neighbours"):
        plot_nearest_neighbours(images, neighbours[:3], ages, sites)


def test_contrastive_legends_are_legible(legend_sizes):
    embedding = plot_embedding_by_site_and_age(np.arange(12, dtype=float).reshape(6, 2), [0, 1, 2, 0, 1, 2],
                                               [20, 30, 40, 50, 60, 70])
    table = [{"encoder": "simclr", "mode": "probe", "task": "older", "fraction": 1.0, "test": t, "auc_mean": 0.6,
              "auc_std": 0.1} for t in ("in_site", "unseen_site")]
    for fig in (embedding, plot_structural_scores(table, task="older", mode="probe")):
        assert min(legend_sizes(fig)) >= 9


def test_views_fit_the_page_in_one_row_or_in_rows_with_empty_panels():
    volume = np.random.default_rng(0).normal(size=(8, 8, 8))
    one_row = plot_views([volume] * 5, [f"view {k}" for k in range(5)], suptitle="x")  # chapter 6: five
    assert one_row.get_size_inches()[0] <= 9
    # chapter 7: the acquired image, an empty panel, then three pairs of views, four a row
    images, titles = [volume, None, *[volume] * 6], ["acquired", "", *[f"view {k}" for k in range(6)]]
    fig = plot_views(images, titles, ncols=4)
    assert fig.get_size_inches()[0] <= 9 and len(fig.axes) == 8
    assert [bool(ax.get_images()) for ax in fig.axes] == [True, False, *[True] * 6]


def test_views_mark_the_sides_of_the_original_only(side_marks):
    # a view may be flipped left-right, so only the original's sides are known
    volume = np.random.default_rng(0).normal(size=(8, 8, 8))
    fig = plot_views([volume] * 3, ["original", "view 1", "view 2"])
    marks = side_marks(fig.axes[0])
    assert set(marks) == {"L", "R"} and marks["L"] < marks["R"]
    assert not side_marks(fig.axes[1]) and not side_marks(fig.axes[2])


def test_nearest_neighbours_fit_the_page_with_9_pt_side_letters(side_marks):
    images = np.zeros((8, 1, 4, 5, 6))
    ages, sites = [30.0] * 8, [0] * 8
    for k in (3, 7):  # chapter 6 shows 3 neighbours; more make narrower panels
        neighbours = np.tile(np.arange(1, k + 1), (8, 1))
        fig = plot_nearest_neighbours(images, neighbours, ages, sites)
        assert fig.get_size_inches()[0] <= 9
    marks = side_marks(fig.axes[0])
    assert marks["L"] < 0.5 < marks["R"] and {text.get_fontsize() for text in fig.axes[0].texts} == {9}
