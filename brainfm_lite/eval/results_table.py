"""Reading and printing the ASL results tables (chapters 3 and 5, ``brainfm evaluate asl``).

Rows follow :mod:`brainfm_lite.eval.asl_evaluation`'s schema: ``encoder, mode, task, kind, test, fraction,
n_train`` and ``<metric>_mean`` / ``<metric>_std``. The *headline* metric of a row is the AUC for a diagnosis and
Pearson's r for the quality regression.

    >>> table = evaluate_asl(profile, encoder_dir)["table"]                          # doctest: +SKIP
    >>> headline(table, "pretrained", "probe", "alzheimers", 0.2, "unseen_site")     # doctest: +SKIP
    0.71
"""

from __future__ import annotations

import math

from brainfm_lite.errors import InputError

TESTS = ("in_site", "unseen_site")


def headline_metric(row: dict) -> str:
    """``"auc"`` for a classification row, ``"pearson_r"`` for a regression row."""
    if row.get("kind") not in ("classification", "regression"):
        raise InputError(f"a results row needs kind 'classification' or 'regression'; got {row.get('kind')!r}")
    return "auc" if row["kind"] == "classification" else "pearson_r"


def headline(table: list[dict], encoder: str, mode: str, task: str, fraction: float, test: str) -> float:
    """The headline metric (mean over seeds) of one combination; NaN when the table does not hold it."""
    for row in table:
        if (row["encoder"], row["mode"], row["task"], row["test"]) == (encoder, mode, task, test) \
                and math.isclose(row["fraction"], fraction):
            return float(row[f"{headline_metric(row)}_mean"])
    return float("nan")


def results_markdown(table: list[dict]) -> str:
    """A Markdown table with one line per (task, encoder, mode, label fraction) and the in-site and unseen-site
    headline metric as ``mean ± std`` side by side; sorted by task, mode, encoder, then falling fraction."""
    paired: dict[tuple, dict] = {}
    for row in table:
        paired.setdefault((row["task"], row["encoder"], row["mode"], row["fraction"]), {})[row["test"]] = row
    lines = ["| task | encoder | mode | labels | n_train | in-site | unseen site |",
             "|---|---|---|---|---|---|---|"]
    for (task, encoder, mode, fraction), tests in sorted(paired.items(),
                                                          key=lambda item: (item[0][0], item[0][2], item[0][1],
                                                                            -item[0][3])):
        first = next(iter(tests.values()))
        metric = headline_metric(first)
        cells = [_mean_std(tests[test], metric) if test in tests else "—" for test in TESTS]
        lines.append(f"| {task} ({metric}) | {encoder} | {mode} | {fraction:.0%} | {first['n_train']:.0f} | "
                     f"{cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def baseline_markdown(rows: list[dict]) -> str:
    """Chapter 3's table of :func:`~brainfm_lite.eval.baselines.asl_baseline_table` rows: every metric as
    ``value ± fold SD``, and the regression's error beside that of predicting the training mean."""
    lines = ["| target | test | n test | AUC | balanced accuracy | MAE (mean predictor) | Pearson r |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        mae = f"{row['mae']:.3f} ({row['mae_predicting_mean']:.3f})" if "mae" in row else "—"
        lines.append(f"| {row['task']} | {row['test']} | {row['n_test']} | {_value_sd(row, 'auc')} | "
                     f"{_value_sd(row, 'balanced_accuracy')} | {mae} | {_value_sd(row, 'pearson_r')} |")
    return "\n".join(lines)


def claims_markdown(claims: list[dict]) -> str:
    """The ``claims`` list of a recorded-results JSON as a Markdown table: claim, what we measured, verdict, why."""
    lines = ["| the paper's claim | what we measured | verdict | why |", "|---|---|---|---|"]
    for claim in claims:
        cells = [str(claim[key]).replace("|", "/") for key in ("claim", "measured", "verdict", "reason")]
        lines.append(f"| {cells[0]} | {cells[1]} | **{cells[2]}** | {cells[3]} |")
    return "\n".join(lines)


def recorded_by(provenance: dict) -> str:
    """One Markdown line saying where recorded numbers come from (the ``provenance`` of a recorded-results JSON):
    command, commit, device, date, wall time and profile."""
    commit = (provenance.get("commit") or "uncommitted")[:10]
    device = provenance.get("device_name") or provenance["device"]
    line = (f"Recorded by `{provenance['command']}` at commit `{commit}` on {device}, "
            f"{provenance['date_utc'][:10]}, in {_duration(provenance['wall_time_s']['total'])} "
            f"(profile `{provenance['profile']}`).")
    earlier = provenance.get("resumed_from")
    while earlier:  # stages reused from earlier runs: say which commit computed them and how long it took
        line += (f" Stages reused from the run at commit `{(earlier.get('commit') or 'uncommitted')[:10]}`, "
                 f"{earlier['date_utc'][:10]}, {_duration(earlier['wall_time_s']['total'])}.")
        earlier = earlier.get("resumed_from")
    return line


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _mean_std(row: dict, metric: str) -> str:
    mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
    if mean is None or not math.isfinite(mean):  # undefined (a test set of one class), null in a recorded JSON
        return "n/a"
    return f"{mean:.2f} ± {std:.2f}" if std is not None and math.isfinite(std) else f"{mean:.2f}"


def _value_sd(row: dict, key: str) -> str:
    return f"{row[key]:.3f} ± {row[key + '_sd']:.3f}" if key in row else "—"
