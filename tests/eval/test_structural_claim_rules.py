"""The claims of chapters 6-7 judged from made-up tables: verdicts follow the means and seed SDs, nothing else."""

import math

from brainfm_lite.eval.structural_claim_rules import nearly_matches, seqinv_claims, simclr_claims, structural_claims

TESTS = ("in_site", "unseen_site")


def classification(scores: dict, sd: float = 0.01) -> list[dict]:
    """Summary rows (probe) of {(encoder, fraction): AUC}, the same for every task and test set."""
    return [{"encoder": e, "mode": "probe", "task": task, "kind": kind, "test": test, "fraction": f,
             f"{metric}_mean": value, f"{metric}_std": sd}
            for (e, f), value in scores.items() for test in TESTS
            for task, kind, metric in (("older", "classification", "auc"), ("age", "regression", "pearson_r"))]


def dense(scores: dict, sd: float = 0.01) -> list[dict]:
    """Dense summary rows of {(encoder, task, fraction): headline value} on both test sets."""
    metric = {"tissue": "dice", "lesion": "dice", "denoise": "psnr"}
    return [{"encoder": e, "task": t, "test": test, "fraction": f, f"{metric[t]}_mean": value,
             f"{metric[t]}_std": sd} for (e, t, f), value in scores.items() for test in TESTS]


def test_simclr_ahead_of_both_rivals_with_20_percent_close_to_100_is_reproduced():
    table = classification({("simclr", 1.0): 0.9, ("simclr", 0.2): 0.88, ("mae", 1.0): 0.7, ("mae", 0.2): 0.6,
                            ("scratch", 1.0): 0.75, ("scratch", 0.2): 0.65})
    beats, few_labels = simclr_claims(table)
    assert (beats["verdict"], few_labels["verdict"]) == ("reproduced", "reproduced")
    assert "MAE (ViT)" in beats["measured"] and "(probe)" in beats["claim"]


def test_a_lead_within_the_seed_sd_or_behind_one_rival_is_not_a_win():
    table = classification({("simclr", 1.0): 0.9, ("simclr", 0.2): 0.6, ("mae", 1.0): 0.95, ("mae", 0.2): 0.5,
                            ("scratch", 1.0): 0.5, ("scratch", 0.2): 0.5}, sd=0.02)
    beats, few_labels = simclr_claims(table)
    assert beats["verdict"] == "partly"  # behind the MAE at 100 %, ahead of both at 20 %
    assert few_labels["verdict"] == "not reproduced"  # 0.3 lost with a fifth of the labels


def test_seqinv_claims_compare_only_where_every_rival_ran():
    scores = {(e, t, 0.01): v for e, v in (("seqinv", 0.8), ("seqaug", 0.7), ("baseline", 0.6), ("scratch", 0.5))
              for t in ("tissue", "lesion")}
    scores |= {("seqinv", "denoise", 0.01): 30.0, ("seqaug", "denoise", 0.01): 31.0,
               ("baseline", "denoise", 0.01): 25.0, ("scratch", "denoise", 0.01): 26.0}
    scores |= {("seqinv", "tissue", 1.0): 0.7, ("scratch", "tissue", 1.0): 0.9}  # a sweep of two encoders only
    low_data, sites = seqinv_claims(dense(scores))
    assert low_data["verdict"] == "partly" and "2 of 3" in low_data["reason"]  # SeqAug denoises better
    assert "+30.0 Dice points" in low_data["measured"] and "+4.00 dB" in low_data["measured"]
    assert sites["verdict"] == "partly" and "2 of 3" in sites["reason"]  # the sweep's 100 % row is not compared


def test_missing_rows_are_not_won_and_near_matches_need_numbers():
    assert seqinv_claims([])[0]["verdict"] == "not reproduced"
    assert nearly_matches((0.9, 0.01), (0.86, 0.01)) and not nearly_matches((0.9, 0.01), (0.8, 0.01))
    assert not nearly_matches((0.9, 0.01), (math.nan, 0.01))


def test_a_collapsed_method_is_named_only_beside_the_claims_that_compare_it():
    table = classification({("simclr", 1.0): 0.9, ("simclr", 0.2): 0.88, ("mae", 1.0): 0.7, ("mae", 0.2): 0.6,
                            ("scratch", 1.0): 0.75, ("scratch", 0.2): 0.65})
    claims = structural_claims(table, [], collapsed=["seqinv"])
    simclr_reasons = [c["reason"] for c in claims if c["claim"].startswith(("SimCLR", "With 20 %"))]
    seqinv_reasons = [c["reason"] for c in claims if c["claim"].startswith("SeqInv")]
    assert len(simclr_reasons) == 2 and not any("collapsed" in r for r in simclr_reasons)
    assert len(seqinv_reasons) == 2 and all("collapsed in pretraining: SeqInv" in r for r in seqinv_reasons)
