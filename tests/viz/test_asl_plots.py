"""ASL figures fit the page (two panels a row where there are more) and their legends are legible at its width."""

import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.viz.asl_plots import (
    plot_by_site,
    plot_cbf_row,
    plot_kinetic_curves,
    plot_metric_vs_fraction,
    plot_qei_sweeps,
)


def rows(task: str, kind: str) -> list[dict]:
    metric = "auc" if kind == "classification" else "pearson_r"
    return [{"task": task, "kind": kind, "encoder": "pretrained", "test": test, "mode": "probe", "fraction": fraction,
             f"{metric}_mean": 0.6} for test in ("in_site", "unseen_site") for fraction in (0.05, 0.2, 1.0)]


def test_four_tasks_make_two_rows_of_two_panels_and_three_make_one_empty_panel():
    table = [row for task in ("alzheimers", "vascular", "ftd") for row in rows(task, "classification")]
    four = plot_metric_vs_fraction(table + rows("qei", "regression"), encoders=("pretrained",))
    assert [ax.get_title() for ax in four.axes] == ["alzheimers", "vascular", "ftd", "qei"]
    assert four.axes[3].get_ylabel() == "Pearson r" and four.get_size_inches()[0] <= 9
    three = plot_metric_vs_fraction(table, encoders=("pretrained",))
    assert len(three.axes) == 4 and not three.axes[3].axison


def test_four_qei_sweeps_make_two_rows_of_two_panels_each_with_its_axis_labels():
    sweeps = {name: ([0.0, 1.0, 2.0], [0.9, 0.7, 0.4], unit) for name, unit in
              (("motion", "mm"), ("labelling failure", "loss"), ("noise", "x site noise"), ("transit", ""))}
    fig = plot_qei_sweeps(sweeps)
    assert fig.get_size_inches()[0] <= 9 and len(fig.axes) == 4
    assert [ax.get_xlabel() for ax in fig.axes] == ["motion (mm)", "labelling failure (loss)", "noise (x site noise)",
                                                    "transit"]
    assert all(ax.get_ylabel() == "QEI" for ax in fig.axes)


def test_asl_legends_are_legible_and_the_kinetic_curves_fit_the_page(legend_sizes):
    kinetic = plot_kinetic_curves()
    assert kinetic.get_size_inches()[0] <= 9 and min(legend_sizes(kinetic)) >= 9
    by_site = plot_by_site([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 1], groups=[0, 1, 0, 1])
    assert min(legend_sizes(by_site)) >= 9
    metric = plot_metric_vs_fraction(rows("qei", "regression"), encoders=("pretrained",))
    assert min(legend_sizes(metric)) >= 9


def test_cbf_rows_wrap_four_panels_a_row_under_one_colour_bar_and_fit_the_page(colour_bars):
    volume = Volume(np.full((8, 8, 8), 50.0, np.float32), np.eye(4))
    # chapter 3: three maps of one subject; one per site at 4 (smoke), 8 (colab) and 14 (full) sites
    for n, rows_ in ((3, 1), (4, 1), (8, 2), (14, 4)):
        fig = plot_cbf_row([volume] * n, [f"site{k:02d}" for k in range(n)])
        slices = [ax for ax in fig.axes if ax.get_images()]
        assert len(slices) == n and fig.get_size_inches()[0] <= 9
        assert len({round(ax.get_position().y0, 3) for ax in slices}) == rows_
        assert list(colour_bars(fig)) == ["mL/100 g/min"]


def test_a_box_plot_of_many_sites_fits_the_page():
    sites = np.repeat(np.arange(14), 3)  # the full profile's 14 sites
    assert plot_by_site(np.arange(sites.size, dtype=float), sites).get_size_inches()[0] <= 9
