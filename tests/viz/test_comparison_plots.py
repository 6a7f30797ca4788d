"""Comparison figures draw one line per encoder and one bar pair per encoder."""

import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.viz.comparison_plots import plot_dense_scores, plot_feature_distances


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
