"""The ASL results table helpers: the right metric per task, lookups, and the Markdown the chapters print."""

import math

import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.eval.results_table import baseline_markdown, headline, headline_metric, results_markdown


def row(encoder, mode, task, fraction, test, value, kind="classification"):
    metric = "auc" if kind == "classification" else "pearson_r"
    return {"encoder": encoder, "mode": mode, "task": task, "kind": kind, "fraction": fraction, "test": test,
            "n_train": 40, f"{metric}_mean": value, f"{metric}_std": 0.01}


TABLE = [row("pretrained", "probe", "alzheimers", 1.0, "in_site", 0.8),
         row("pretrained", "probe", "alzheimers", 1.0, "unseen_site", 0.7),
         row("pretrained", "probe", "alzheimers", 0.2, "unseen_site", 0.65),
         row("random_init", "probe", "qei", 1.0, "in_site", 0.3, kind="regression")]


def test_headline_metric_is_auc_for_diagnoses_and_r_for_quality():
    assert headline_metric(TABLE[0]) == "auc" and headline_metric(TABLE[3]) == "pearson_r"
    with pytest.raises(InputError, match="kind"):
        headline_metric({"kind": "dense"})


def test_headline_finds_the_combination_and_nan_when_absent():
    assert headline(TABLE, "pretrained", "probe", "alzheimers", 0.2, "unseen_site") == 0.65
    assert headline(TABLE, "random_init", "probe", "qei", 1.0, "in_site") == 0.3
    assert math.isnan(headline(TABLE, "pretrained", "finetune", "alzheimers", 1.0, "in_site"))


def test_results_markdown_pairs_in_site_and_unseen_site_on_one_line():
    lines = results_markdown(TABLE).splitlines()
    assert "| alzheimers (auc) | pretrained | probe | 100% | 40 | 0.80 ± 0.01 | 0.70 ± 0.01 |" in lines
    assert "| alzheimers (auc) | pretrained | probe | 20% | 40 | — | 0.65 ± 0.01 |" in lines
    assert lines.index("| alzheimers (auc) | pretrained | probe | 100% | 40 | 0.80 ± 0.01 | 0.70 ± 0.01 |") < \
        lines.index("| alzheimers (auc) | pretrained | probe | 20% | 40 | — | 0.65 ± 0.01 |")  # falling fraction
    assert len(lines) == 2 + 3


def test_results_markdown_shows_an_undefined_metric_as_n_a_as_a_recorded_json_stores_it():
    # a test set of one class has no AUC: NaN in memory, null (None) once written to a results JSON
    table = [row("scratch", "probe", "lesion", 1.0, "in_site", None), row("scratch", "probe", "lesion", 1.0,
                                                                          "unseen_site", math.nan)]
    table[0]["auc_std"] = None
    assert results_markdown(table).splitlines()[-1] == "| lesion (auc) | scratch | probe | 100% | 40 | n/a | n/a |"


def test_baseline_markdown_shows_fold_spread_and_the_mean_predictor():
    rows = [{"task": "qei", "test": "in_site", "n_test": 50, "mae": 0.07, "mae_sd": 0.01,
             "mae_predicting_mean": 0.1, "pearson_r": 0.6, "pearson_r_sd": 0.05}]
    text = baseline_markdown(rows)
    assert "| qei | in_site | 50 | — | — | 0.070 (0.100) | 0.600 ± 0.050 |" in text
