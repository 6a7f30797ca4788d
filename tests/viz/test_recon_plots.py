"""Chapter 8's figures: one row per method with its error map, the reference on top when asked; every figure fits
the page, says what its colours mean, and marks the subject's sides only where the data say which they are."""

import numpy as np

from brainfm_lite.viz.recon_plots import plot_kspace_and_aliasing, plot_recon_grid, plot_trajectory

MAGNITUDE_LABEL, ERROR_LABEL = "magnitude (a.u.)", "|recon - truth| (a.u.)"  # what the colour bars must say
METHODS = ("zero-filled", "supervised U-Net", "diffusion, target only", "diffusion, pretrained",
           "diffusion, pretrained + fine-tuned on target (the stroke DPM paper)", "diffusion, many targets")


def panels(fig):
    """The image panels, without the colour bars."""
    return [ax for ax in fig.axes if ax.get_images() and ax.get_title()]


def row_labels(fig, columns):
    grid = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    return [ax.get_ylabel().replace("\n", " ") for ax in grid[::columns]]


def test_each_method_shows_its_image_and_its_error_against_the_truth():
    truth = np.ones((8, 8))
    recons = {"zero-filled": {4: 0.5 * truth}, "prior": {4: 0.9 * truth}}
    fig = plot_recon_grid(truth, recons)
    assert row_labels(fig, 2) == ["zero-filled", "prior"]
    errors = [ax.images[0].get_array() for ax in panels(fig)[1::2]]
    assert np.allclose(errors[0], 0.5) and np.allclose(errors[1], 0.1)


def test_a_truth_label_adds_the_reference_as_the_first_row():
    truth = np.arange(64.0).reshape(8, 8)
    fig = plot_recon_grid(truth, {"zero-filled": {4: truth}, "prior": {4: truth}}, truth_label="reference")
    assert row_labels(fig, 2) == ["reference", "zero-filled", "prior"]
    assert np.array_equal(fig.axes[0].images[0].get_array(), truth) and not fig.axes[1].images


def test_the_chapter_grid_fits_the_page_reads_off_two_colour_bars_and_marks_the_sides(colour_bars, scale,
                                                                                      side_marks):
    truth = np.random.default_rng(0).uniform(size=(16, 16))
    fig = plot_recon_grid(truth, {m: {r: truth for r in (2, 4, 8)} for m in METHODS}, sides=True)
    assert fig.get_size_inches()[0] <= 9
    bars = colour_bars(fig)
    assert set(bars) == {MAGNITUDE_LABEL, ERROR_LABEL}
    for k, ax in enumerate(panels(fig)):
        assert scale(ax.images[0]) == bars[ERROR_LABEL if k % 2 else MAGNITUDE_LABEL]
        assert side_marks(ax)["L"] < 0.5 < side_marks(ax)["R"]  # recon_slices: the subject's left on the left


def test_without_known_sides_the_image_axes_are_named_by_their_k_space_direction(side_marks):
    truth = np.ones((8, 8))
    fig = plot_recon_grid(truth, {"zero-filled": {4: truth}}, truth_label="reference")  # e.g. a fastMRI file
    assert not any(side_marks(ax) for ax in panels(fig))
    assert "phase encoding" in fig.get_supxlabel().replace("\n", " ")


def test_kspace_figure_fits_the_page_with_bars_for_magnitude_k_space_and_masks(colour_bars, scale, side_marks):
    image = np.random.default_rng(0).uniform(size=(16, 16))
    kspace = np.fft.fftshift(np.fft.fft2(image))
    masks = {r: np.tile(np.arange(16) % r == 0, (16, 1)) for r in (2, 4, 8)}
    fig = plot_kspace_and_aliasing(image, kspace, masks, {r: image for r in masks}, sides=True)
    assert fig.get_size_inches()[0] <= 9
    bars = colour_bars(fig)
    assert set(bars) == {MAGNITUDE_LABEL, "log(1 + 1000 |k| / max |k|)", "k-space column"}
    titled = {ax.get_title(): ax for ax in panels(fig)}
    assert scale(titled["zero-filled R=4"].images[0]) == bars[MAGNITUDE_LABEL]
    assert scale(titled["k-space"].images[0]) == bars["log(1 + 1000 |k| / max |k|)"]
    assert side_marks(titled["fully sampled"])["L"] < 0.5 and not side_marks(titled["k-space"])


def test_trajectory_wraps_to_the_page_width_with_a_magnitude_bar(colour_bars, scale, side_marks):
    truth = np.random.default_rng(0).uniform(size=(16, 16))
    fig = plot_trajectory([999, 750, 500, 250, 0], np.stack([truth] * 5), truth, sides=True)
    assert fig.get_size_inches()[0] <= 9
    assert [ax.get_title() for ax in panels(fig)][-1] == "truth" and len(panels(fig)) == 6
    bars = colour_bars(fig)
    assert list(bars) == [MAGNITUDE_LABEL]
    assert all(scale(ax.images[0]) == bars[MAGNITUDE_LABEL] and "R" in side_marks(ax) for ax in panels(fig))
