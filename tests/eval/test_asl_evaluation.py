"""The ASL results table: the regional baseline joins the encoders' rows in one schema."""

import json
import math

import torch

from brainfm_lite.eval.asl_evaluation import regional_baseline_rows
from brainfm_lite.eval.probe import summarise

BASELINE = [
    {"task": "ftd", "kind": "classification", "test": "in_site", "n_train": 40, "n_test": 12, "folds": 3,
     "auc": 0.7, "balanced_accuracy": 0.6, "auc_sd": 0.1, "balanced_accuracy_sd": 0.05},
    {"task": "qei", "kind": "regression", "test": "unseen_site", "n_train": 40, "n_test": 30, "folds": 3,
     "mae": 0.05, "mae_predicting_mean": 0.08, "pearson_r": 0.8, "mae_sd": 0.01, "pearson_r_sd": 0.02},
]


def test_baseline_rows_use_the_table_schema():
    rows = regional_baseline_rows(BASELINE)
    assert rows[0]["encoder"] == "regional_cbf" and rows[0]["fraction"] == 1.0 and rows[0]["spread"] == "folds"
    assert rows[0]["auc_mean"] == 0.7 and rows[0]["auc_std"] == 0.1
    assert rows[1]["pearson_r_mean"] == 0.8 and rows[1]["mae_std"] == 0.01
    encoder_row = summarise([{"encoder": "mae", "mode": "probe", "task": "qei", "kind": "regression", "fraction": 1.0,
                              "seed": 0, "fold": 0, "test": "unseen_site", "n_train": 40, "n_test": 30,
                              "mae": 0.04, "pearson_r": 0.9}])[0]
    assert set(rows[1]) - {"spread"} == set(encoder_row)  # one table, one set of columns per task kind


def test_baseline_rows_keep_only_the_asked_tasks_and_mark_missing_metrics():
    rows = regional_baseline_rows(BASELINE + [{"task": "ftd", "kind": "classification", "test": "unseen_site",
                                               "n_train": 0, "n_test": 0, "folds": 0}], tasks=("ftd",))
    assert [row["test"] for row in rows] == ["in_site", "unseen_site"]
    assert math.isnan(rows[1]["auc_mean"])


def test_encoders_and_the_baseline_are_scored_on_the_split_pretraining_held_out(tmp_path):
    from brainfm_lite.cli import main
    from brainfm_lite.config import load_profile
    from brainfm_lite.eval.asl_evaluation import evaluate_asl

    tiny = dict(n_asl_subjects=9, n_asl_sites=3, cbf_image_size=32, mae_steps=2, mae_batch_size=2, finetune_steps=2,
                device="cpu")
    sets = [arg for key, value in tiny.items() for arg in ("--set", f"{key}={value}")]
    assert main(["pretrain", "mae", "--out", str(tmp_path / "mae"), *sets]) == 0
    pool = json.loads((tmp_path / "mae" / "encoder" / "config.json").read_text())["metadata"]["pretraining_pool"]
    results = evaluate_asl(load_profile("smoke", **tiny), tmp_path / "mae" / "encoder", modes=("finetune",),
                           tasks=("qei",), fractions=(1.0,), cache_dir=tmp_path / "mae" / "cbf_cache")
    (split,) = results["splits"]
    assert {row["fold"] for row in results["rows"]} == {0} and results["settings"]["n_folds"] == 1
    assert split["test_sites"] == pool["held_out_sites"] == results["settings"]["held_out_sites"]
    assert len(split["train"]) == pool["subjects"]
    baseline = {row["test"]: row for row in results["table"] if row["encoder"] == "regional_cbf"}
    assert baseline["in_site"]["n_test"] == len(split["test_in_site"]) and baseline["in_site"]["spread"] == "none"
    assert baseline["unseen_site"]["n_test"] == len(split["test_unseen_site"])
    assert baseline["in_site"]["n_train"] == len(split["train"])  # the baseline learns from the same subjects

    torch.manual_seed(123)  # whatever the global generator holds, the random-init baseline is the same network
    again = evaluate_asl(load_profile("smoke", **tiny), tmp_path / "mae" / "encoder", modes=("finetune",),
                         tasks=("qei",), fractions=(1.0,), cache_dir=tmp_path / "mae" / "cbf_cache")
    assert json.dumps(again["rows"]) == json.dumps(results["rows"])  # as text: an empty test set's NaN equals itself
