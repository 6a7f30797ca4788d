"""Tests for brainfm_lite.eval.seqinv_report: chapter 7's table, recorded numbers and reading of the results."""

import math
from types import SimpleNamespace

from brainfm_lite.eval.seqinv_report import (
    dense_markdown,
    dense_score,
    lowest_fraction,
    seqinv_findings,
    seqinv_key_numbers,
)

# Features: SeqInv follows the subject (ratio < 1), the baseline does not.
DISTANCES = {"scratch": {"same_subject": 0.50, "same_contrast": 0.50, "ratio": 1.00},
             "baseline": {"same_subject": 0.60, "same_contrast": 0.40, "ratio": 1.50},
             "seqaug": {"same_subject": 0.45, "same_contrast": 0.50, "ratio": 0.90},
             "seqinv": {"same_subject": 0.20, "same_contrast": 0.50, "ratio": 0.40}}

# Tissue Dice at 1 % (every encoder) and 100 % (scratch and SeqInv): SeqInv beats scratch on unseen sites only.
TESTS = ("in_site", "unseen_site")
DICE_1 = {"scratch": (0.70, 0.50), "baseline": (0.65, 0.45), "seqaug": (0.70, 0.55), "seqinv": (0.68, 0.60)}


def row(encoder, task, test, fraction, **metrics):
    means = {f"{k}_mean": v for k, v in metrics.items()}
    spreads = {f"{k}_std": 0.01 for k in metrics}
    return {"encoder": encoder, "task": task, "test": test, "fraction": fraction, "n_seeds": 1, "n_train": 3.0,
            "n_test": 2, **means, **spreads}


def table():
    rows = [row(e, "tissue", t, 0.01, dice=DICE_1[e][i]) for e in DICE_1 for i, t in enumerate(TESTS)]
    rows += [row(e, "tissue", t, 1.0, dice=0.9) for e in ("scratch", "seqinv") for t in TESTS]
    rows += [row(e, "denoise", t, 0.01, psnr=p, psnr_noisy=20.0) for e, p in (("scratch", 18.0), ("seqinv", 22.5))
             for t in TESTS]
    rows += [row(e, "lesion", t, 0.01, dice=d) for e, d in (("scratch", 0.1), ("seqinv", 0.25)) for t in TESTS]
    return rows


def test_scores_are_looked_up_by_encoder_task_test_and_fraction():
    assert dense_score(table(), "seqinv", "tissue", "unseen_site", 0.01) == 0.60
    assert dense_score(table(), "seqinv", "denoise", "in_site", 0.01) == 22.5  # PSNR, the denoising headline
    assert dense_score(table(), "seqinv", "denoise", "in_site", 0.01, "psnr_noisy") == 20.0
    assert math.isnan(dense_score(table(), "baseline", "tissue", "in_site", 1.0))  # not run
    assert lowest_fraction(table()) == 0.01 and math.isnan(lowest_fraction([], "lesion"))


def test_table_gives_each_row_its_headline_metric_with_its_spread():
    lines = dense_markdown(table()).splitlines()
    assert len(lines) == 2 + len(table())
    assert "| seqinv | tissue | unseen_site | 3 | dice | 0.600 ± 0.010 |" in lines
    assert "| scratch | denoise | in_site | 3 | psnr | 18.000 ± 0.010 |" in lines


def test_key_numbers_hold_distances_every_tissue_row_and_the_other_tasks_at_the_fewest_labels():
    numbers = seqinv_key_numbers(DISTANCES, table())
    assert numbers["seqinv_distance_ratio"] == 0.40 and numbers["baseline_same_contrast_distance"] == 0.40
    assert numbers["seqinv_tissue_dice_1%_unseen_site"] == 0.60
    assert numbers["scratch_tissue_dice_100%_in_site"] == 0.9
    assert "baseline_tissue_dice_100%_in_site" not in numbers
    assert numbers["seqinv_denoise_psnr_unseen_site"] == 22.5 and numbers["scratch_lesion_dice_in_site"] == 0.1
    assert numbers["denoise_noisy_psnr"] == 20.0


def test_findings_compare_features_and_every_variant_with_scratch():
    lines = seqinv_findings(DISTANCES, table())
    assert lines[0] == ("- **seqinv**: features of two contrasts of one subject are closer than those of two "
                        "subjects in one contrast (distance 0.200 vs 0.500, ratio 0.40; untrained scratch network: "
                        "1.00).")
    assert "**baseline**: features of two contrasts of one subject are NOT closer" in lines[1]
    assert ("- tissue Dice with 1% of the labels, in site: baseline does not beat scratch (-0.050; larger seed SD "
            "0.010).") in lines
    assert ("- tissue Dice with 1% of the labels, unseen site: seqinv beats scratch (+0.100; larger seed SD "
            "0.010).") in lines
    assert ("- tissue Dice with 1% of the labels, in site: seqinv does not beat scratch (-0.020; larger seed SD "
            "0.010).") in lines
    assert any(line.startswith("- denoising: the noisy input scores 20.0 dB; scratch 18.0 dB and SeqInv 22.5 dB")
               for line in lines)
    assert "- lesion Dice (unseen sites): scratch 0.100, SeqInv 0.250." in lines
    assert not any("At smoke" in line for line in lines)


def test_a_tissue_gain_within_the_seed_sd_is_no_gain():
    noisy = [r | {"dice_std": 0.06} if r["task"] == "tissue" else r for r in table()]
    lines = seqinv_findings(DISTANCES, noisy)
    assert ("- tissue Dice with 1% of the labels, in site: seqinv is within the seed SD of scratch (-0.020; larger "
            "seed SD 0.060).") in lines
    assert ("- tissue Dice with 1% of the labels, unseen site: seqinv beats scratch (+0.100; larger seed SD "
            "0.060).") in lines


def test_findings_at_smoke_say_the_numbers_only_check_the_pipeline():
    smoke = SimpleNamespace(name="smoke", seqinv_steps=4, dense_steps=6, eval_seeds=1)
    last = seqinv_findings(DISTANCES, table(), profile=smoke)[-1]
    assert last.startswith("- At smoke every encoder saw 4 pretraining steps and every decoder 6 steps")
    colab = SimpleNamespace(name="colab", seqinv_steps=400, dense_steps=300, eval_seeds=3)
    assert not seqinv_findings(DISTANCES, table(), profile=colab)[-1].startswith("- At smoke")


def test_findings_leave_out_what_the_run_did_not_do():
    only_tissue = [r for r in table() if r["task"] == "tissue" and r["encoder"] in ("scratch", "seqinv")]
    lines = seqinv_findings({"scratch": DISTANCES["scratch"], "seqinv": DISTANCES["seqinv"]}, only_tissue)
    assert len(lines) == 1 + 2  # the seqinv distance line, then seqinv vs scratch in site and on unseen sites
    assert not any("denoising" in line or "lesion" in line or "baseline" in line for line in lines)
