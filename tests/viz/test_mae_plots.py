"""Tests for brainfm_lite.viz.mae_plots: loss curve, masked reconstructions, and the feature embedding."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.viz.mae_plots import (
    diagnosis_names,
    plot_embedding,
    plot_loss_curve,
    plot_mae_reconstructions,
)


def test_loss_curve_plots_every_logged_step():
    history = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 5)]
    line = plot_loss_curve(history).axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 5])
    np.testing.assert_allclose(line.get_ydata(), [1.0, 0.5, 0.2])


def test_loss_curve_refuses_an_empty_history():
    with pytest.raises(InputError, match="no"):
        plot_loss_curve([])


def test_reconstruction_grid_hides_masked_patches_and_shows_error_only_there():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(8, 8, 4)).astype(np.float32)
    mask = np.zeros_like(image)
    mask[:4] = 1.0  # the first half along x is hidden
    recon = np.where(mask > 0, 0.0, image)
    fig = plot_mae_reconstructions(image, [(0.5, mask, recon)], patch_size=4)
    assert len([ax for ax in fig.axes if ax.get_images()]) == 4
    visible = fig.axes[1].get_images()[0].get_array()  # [y, x]: hidden columns are masked out
    assert visible.mask[:, :4].all() and not visible.mask[:, 4:].any()
    error = np.asarray(fig.axes[3].get_images()[0].get_array())
    assert np.all(error[:, 4:] == 0) and np.all(error[:, :4] > 0)
    assert len(fig.axes[0].get_lines()) == 2  # one grid line per inner patch edge, in x and in y


def test_reconstruction_panels_read_off_colour_bars_in_cbf_units_have_sides_marked_and_fit_the_page(
        colour_bars, scale, side_marks):
    image = np.random.default_rng(0).normal(size=(8, 8, 4)).astype(np.float32)
    mask = np.ones_like(image)
    rows = [(ratio, mask, image) for ratio in (0.5, 0.75, 0.9)]
    fig = plot_mae_reconstructions(image, rows, patch_size=4)
    bars = colour_bars(fig)
    assert list(bars) == ["CBF (SD units, z-scored)", "|error| (SD units, z-scored)"]
    panels = [ax for ax in fig.axes if ax.get_images() and ax.get_title()]
    assert len(panels) == 12
    for k, ax in enumerate(panels):
        wanted = "|error| (SD units, z-scored)" if k % 4 == 3 else "CBF (SD units, z-scored)"
        assert scale(ax.images[0]) == bars[wanted]  # every panel's colours read off its bar
        marks = side_marks(ax)
        assert marks["L"] < 0.5 < marks["R"]  # RAS axial slice: the subject's right on the right
    assert fig.get_size_inches()[0] <= 9
    quantified = plot_mae_reconstructions(image, rows[:1], patch_size=4, unit="mL/100 g/min", sides=False)
    assert "CBF (mL/100 g/min)" in colour_bars(quantified)
    assert not quantified.axes[0].texts


def test_reconstruction_needs_a_3d_volume():
    with pytest.raises(InputError, match="3D"):
        plot_mae_reconstructions(np.zeros((8, 8)), [], patch_size=4)


def test_diagnosis_names_single_several_and_healthy():
    targets = {"alzheimers": np.array([0, 1, 1, 0]), "vascular": np.array([0, 0, 1, 0]),
               "ftd": np.array([0, 0, 0, 1])}
    assert list(diagnosis_names(targets)) == ["healthy", "alzheimers", "several", "ftd"]


def test_embedding_colours_by_site_and_lists_sites_and_diagnoses_in_legend():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    fig = plot_embedding(points, [0, 1, 1], np.array(["healthy", "ftd", "healthy"]), site_names=["A", "B"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["A", "B", "healthy", "ftd"]
    drawn = np.concatenate([c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets())])
    assert sorted(map(tuple, drawn)) == sorted(map(tuple, points))  # every subject drawn exactly once


def test_embedding_refuses_mismatched_inputs_and_unknown_diagnoses():
    with pytest.raises(InputError, match="N sites"):
        plot_embedding(np.zeros((3, 2)), [0, 1], ["healthy"] * 3)
    with pytest.raises(InputError, match="unknown diagnosis"):
        plot_embedding(np.zeros((1, 2)), [0], ["flu"])


def test_embedding_legend_is_legible_at_the_page_width(legend_sizes):
    fig = plot_embedding(np.zeros((2, 2)), [0, 1], np.array(["healthy", "ftd"]))
    assert min(legend_sizes(fig)) >= 9 and fig.get_size_inches()[0] <= 9
