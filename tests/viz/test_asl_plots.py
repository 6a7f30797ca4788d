"""ASL figures: the metric against the label fraction fits the page, two task panels a row."""

from brainfm_lite.viz.asl_plots import plot_metric_vs_fraction


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
