"""The reconstruction grid: one row per method with its error map, and the reference itself on top when asked."""

import numpy as np

from brainfm_lite.viz.recon_plots import plot_recon_grid


def row_labels(fig, columns):
    return [t.get_text() for ax in fig.axes[::columns] for t in ax.texts]


def test_each_method_shows_its_image_and_its_error_against_the_truth():
    truth = np.ones((8, 8))
    recons = {"zero-filled": {4: 0.5 * truth}, "prior": {4: 0.9 * truth}}
    fig = plot_recon_grid(truth, recons)
    assert row_labels(fig, 2) == ["zero-filled", "prior"]
    errors = [ax.images[0].get_array() for ax in fig.axes[1::2]]
    assert np.allclose(errors[0], 0.5) and np.allclose(errors[1], 0.1)


def test_a_truth_label_adds_the_reference_as_the_first_row():
    truth = np.arange(64.0).reshape(8, 8)
    fig = plot_recon_grid(truth, {"zero-filled": {4: truth}, "prior": {4: truth}}, truth_label="reference")
    assert row_labels(fig, 2) == ["reference", "zero-filled", "prior"]
    assert np.array_equal(fig.axes[0].images[0].get_array(), truth) and not fig.axes[1].images
