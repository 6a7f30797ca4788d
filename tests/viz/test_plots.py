"""Tests for brainfm_lite.viz.plots: signal curves against a sequence parameter, and the qMRI map panels."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import PRESETS, Sequence
from brainfm_lite.viz.plots import plot_qmri_maps, plot_signal_curves, sequence_label


def test_one_curve_per_tissue_and_a_marker_at_the_sequence_value():
    fig = plot_signal_curves("flair", "ti", tissue_names=("gm", "wm", "csf", "lesion"))
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_label().isupper()]
    assert [line.get_label() for line in curves] == ["GM", "WM", "CSF", "LESION"]
    marker = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert marker[0].get_xdata()[0] == pytest.approx(PRESETS["flair"].params["ti"])


def test_signal_curve_legend_is_legible_at_the_page_width(legend_sizes):
    assert min(legend_sizes(plot_signal_curves("t1w", "ti"))) >= 9


def test_flair_curve_nulls_csf_near_ln2_t1():
    fig = plot_signal_curves("flair", "ti", tissue_names=("csf",))
    x, y = fig.axes[0].get_lines()[0].get_data()
    assert 2.2 < x[np.argmin(y)] < 3.0  # ln(2) * 4 s = 2.8 s, shortened by the finite TR of 9 s


def test_given_values_are_plotted_in_display_units():
    gre = Sequence("gre", {"tr": 0.025, "te": 0.005, "flip_deg": 20.0})
    fig = plot_signal_curves(gre, "te", values=[0.002, 0.01, 0.02])
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), [2, 10, 20])  # ms
    assert "ms" in fig.axes[0].get_xlabel()


def test_a_parameter_the_kind_does_not_take_is_rejected():
    with pytest.raises(InputError, match="ti"):
        plot_signal_curves("t2w", "ti")


def test_qmri_panels_have_one_image_per_map():
    maps = {name: np.random.default_rng(0).uniform(0.5, 1, (6, 7, 5)).astype(np.float32)
            for name in ("pd", "r1", "r2s", "mt")}
    fig = plot_qmri_maps(maps, np.diag([2.0, 2.0, 2.0, 1.0]))
    images = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in images] == ["proton density, axial", "R1 = 1/T1, axial", "R2* = 1/T2*, axial",
                                                 "magnetisation transfer, axial"]


def test_qmri_colour_bars_name_each_unit_the_sides_are_marked_and_the_figure_fits_the_page(colour_bars, scale,
                                                                                           side_marks):
    maps = {name: np.random.default_rng(0).uniform(0.5, 1, (6, 7, 5)).astype(np.float32)
            for name in ("pd", "r1", "r2s", "mt")}
    fig = plot_qmri_maps(maps, np.diag([2.0, 2.0, 2.0, 1.0]))
    bars = colour_bars(fig)
    assert list(bars) == ["PD (fraction)", "R1 (1/s)", "R2* (1/s)", "MT (%)"]
    assert bars["MT (%)"][1] > 1  # the MT fraction is shown in percent, as its bar says
    for ax, label in zip([ax for ax in fig.axes if ax.get_title()], bars):
        assert scale(ax.images[0]) == bars[label]
        assert side_marks(ax)["L"] < 0.5 < side_marks(ax)["R"]
    assert fig.get_size_inches()[0] <= 9


def test_sequence_label_shows_times_in_readable_units():
    label = sequence_label(Sequence("flair", {"tr": 9.0, "te": 0.12, "ti": 2.5, "receive_scale": 2.0}))
    assert label == "flair\nTR 9 s TE 120 ms TI 2.5 s"
    assert sequence_label(Sequence("gre", {"tr": 0.025, "te": 0.005, "flip_deg": 20.0})).endswith("20°")
