"""ASL figures fit the page (two panels a row where there are more) and their legends are legible at its width."""

from brainfm_lite.viz.asl_plots import plot_by_site, plot_kinetic_curves, plot_metric_vs_fraction, plot_qei_sweeps


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
