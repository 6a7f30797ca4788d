"""ICHOR's claims judged from hand-built tables: each rule gives each verdict where it should."""

import math

import pytest

from brainfm_lite.eval.asl_claim_rules import (
    CLAIM_TASKS,
    VERDICTS,
    asl_claims,
    claim_mode,
    claim_verdict,
    site_gap,
    wins_by_seed_sd,
)


def row(encoder, task, test, mean, sd=0.01, mode="probe", fraction=1.0):
    kind = "regression" if task == "qei" else "classification"
    metric = "pearson_r" if kind == "regression" else "auc"
    return {"encoder": encoder, "mode": mode, "task": task, "kind": kind, "test": test, "fraction": fraction,
            f"{metric}_mean": mean, f"{metric}_std": sd}


def table(scores, mode="probe", sd=0.01):
    """scores: {encoder: {task: (in-site, held-out)}} -> rows."""
    return [row(encoder, task, test, value, sd, mode) for encoder, by_task in scores.items()
            for task, pair in by_task.items() for test, value in zip(("in_site", "unseen_site"), pair)]


def scores(mae, simclr, random):
    """The same (in-site, held-out) pair for every task, per encoder."""
    return {"mae": dict.fromkeys(CLAIM_TASKS, mae), "simclr_cbf": dict.fromkeys(CLAIM_TASKS, simclr),
            "random_init": dict.fromkeys(CLAIM_TASKS, random)}


def test_verdict_counts_tasks():
    assert [claim_verdict(4, 4), claim_verdict(1, 4), claim_verdict(0, 4), claim_verdict(0, 0)] == \
           ["reproduced", "partly", "not reproduced", "not reproduced"]


def test_a_win_needs_more_than_the_larger_seed_sd():
    assert wins_by_seed_sd((0.80, 0.01), (0.70, 0.02))
    assert not wins_by_seed_sd((0.80, 0.05), (0.78, 0.01))  # ahead, but within the noise
    assert not wins_by_seed_sd((0.70, 0.01), (0.80, 0.01))
    assert not wins_by_seed_sd((math.nan, 0.01), (0.70, 0.01))


def test_every_claim_reproduced_when_the_mae_wins_everywhere_and_generalises_best():
    claims = asl_claims(table(scores(mae=(0.85, 0.83), simclr=(0.80, 0.70), random=(0.75, 0.60))))
    assert [c["verdict"] for c in claims] == ["reproduced"] * 3
    assert "0.830 ± 0.010 vs 0.700 ± 0.010" in claims[0]["measured"]  # the numbers come from the table
    assert all(set(c) == {"claim", "measured", "verdict", "reason"} for c in claims)


def test_none_reproduced_when_the_mae_is_worst():
    claims = asl_claims(table(scores(mae=(0.80, 0.60), simclr=(0.85, 0.83), random=(0.84, 0.80))))
    assert [c["verdict"] for c in claims] == ["not reproduced"] * 3


def test_partly_when_some_tasks_are_won():
    by_task = scores(mae=(0.85, 0.83), simclr=(0.80, 0.70), random=(0.75, 0.60))
    by_task["mae"]["alzheimers"] = by_task["mae"]["qei"] = (0.70, 0.50)  # loses two tasks, with a large gap
    claims = asl_claims(table(by_task))
    assert [c["verdict"] for c in claims] == ["partly"] * 3
    assert "2 of 4" in claims[0]["reason"] and "ftd" in claims[0]["reason"]


def test_missing_rows_count_as_not_won():
    rows = [r for r in table(scores(mae=(0.85, 0.83), simclr=(0.80, 0.70), random=(0.75, 0.60)))
            if not (r["encoder"] == "simclr_cbf" and r["task"] == "qei")]
    claims = asl_claims(rows)
    assert [c["verdict"] for c in claims] == ["partly", "reproduced", "partly"]
    assert "n/a" in claims[0]["measured"]
    assert all(c["verdict"] in VERDICTS for c in claims)


def test_fine_tuning_rows_decide_when_complete():
    probe = table(scores(mae=(0.80, 0.60), simclr=(0.85, 0.83), random=(0.84, 0.80)))  # probe: MAE worst
    tuned = table(scores(mae=(0.85, 0.83), simclr=(0.80, 0.70), random=(0.75, 0.60)), mode="finetune")
    assert claim_mode(probe + tuned, ("mae", "simclr_cbf", "random_init")) == "finetune"
    assert [c["verdict"] for c in asl_claims(probe + tuned)] == ["reproduced"] * 3
    partial = [r for r in tuned if r["encoder"] != "random_init"]  # fine-tuning left out for one encoder
    assert claim_mode(probe + partial, ("mae", "simclr_cbf", "random_init")) == "probe"
    assert asl_claims(probe + partial)[0]["measured"].startswith("held-out sites, probe")


@pytest.mark.parametrize("task", ["alzheimers", "qei"])
def test_site_gap_is_in_site_minus_held_out(task):
    rows = [row("mae", task, "in_site", 0.9), row("mae", task, "unseen_site", 0.7)]
    assert site_gap(rows, "mae", "probe", task) == pytest.approx(0.2)
    assert math.isnan(site_gap(rows, "simclr_cbf", "probe", task))
