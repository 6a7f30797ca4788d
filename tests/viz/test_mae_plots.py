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
    assert len(fig.axes) == 4
    visible = fig.axes[1].get_images()[0].get_array()  # [y, x]: hidden columns are masked out
    assert visible.mask[:, :4].all() and not visible.mask[:, 4:].any()
    error = np.asarray(fig.axes[3].get_images()[0].get_array())
    assert np.all(error[:, 4:] == 0) and np.all(error[:, :4] > 0)
    assert len(fig.axes[0].get_lines()) == 2  # one grid line per inner patch edge, in x and in y


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
