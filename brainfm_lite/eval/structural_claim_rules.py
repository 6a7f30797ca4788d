"""The claims of chapters 6-7's two papers judged from the structural results tables, by explicit rules (no number is
written by hand).

3D-Neuro-SimCLR (Kaczmarek et al., abstract 001) claims that SimCLR pretraining (i) beats the other pretraining (here
the structural MAE) and training from scratch on every downstream task, in and out of distribution, and (ii) that
fine-tuning with 20 % of the labels nearly matches 100 %. The sequence-invariant paper (Chalcroft et al., abstract
002) claims that SeqInv beats SeqAug, the MPRAGE-only baseline and scratch (iii) in the low-data regime (up to +8.3 %
Dice and +4.2 dB PSNR) and (iv) on unseen sites. `structural_claims` answers each with ``{"claim", "measured",
"verdict", "reason"}``:

- classification rows are `eval.probe.summarise` rows (headline metric: AUC, Pearson r for the age regression;
  `eval.results_table.headline_metric`), dense rows are `eval.dense.summarise_dense` rows (headline: Dice for tissue
  and lesion segmentation, PSNR in dB for denoising; `eval.seqinv_report.dense_metric`); higher is better for all;
- **beats**: better than a rival by more than the larger of the two seed SDs (`asl_claim_rules.wins_by_seed_sd`); a
  comparison wins when it beats every rival the table holds (none: not won);
- **nearly matches** (ii): the mean at 20 % labels is below that at 100 % by at most the larger seed SD or
  `NEAR_MATCH`, whichever is larger;
- (i) compares at every (task, test set, label fraction) of the classification table, in fine-tuning when it is
  complete for the compared encoders, else in the linear probe (`asl_claim_rules.claim_mode`); (iii) at the
  smallest label fraction of each dense task, in-site; (iv) at the held-out sites, every label fraction at which
  SeqInv and every rival ran;
- the **verdict** counts the comparisons won (`asl_claim_rules.claim_verdict`): all "reproduced", some "partly",
  none "not reproduced". A missing or NaN row counts as not won.

    >>> claims = structural_claims(results["table"]["classification"], results["table"]["dense"])  # doctest: +SKIP
"""

from __future__ import annotations

import math

from brainfm_lite.datasets.structural import STRUCTURAL_TASKS
from brainfm_lite.eval.asl_claim_rules import claim_mode, claim_verdict, wins_by_seed_sd
from brainfm_lite.eval.results_table import TESTS, headline_metric
from brainfm_lite.eval.seqinv_report import dense_metric

NEAR_MATCH = 0.05  # AUC or Pearson r: "nearly matches" when 20 % of the labels lose no more than this (or the SD)
_NAMES = {"simclr": "SimCLR", "mae": "MAE (ViT)", "scratch": "scratch", "seqinv": "SeqInv", "seqaug": "SeqAug",
          "baseline": "baseline"}
_UNITS = {"dice": "Dice", "psnr": "PSNR (dB)", "auc": "AUC", "pearson_r": "Pearson r"}


def classification_mean_sd(table: list[dict], encoder: str, mode: str, task: str, test: str,
                           fraction: float) -> tuple[float, float]:
    """(mean, SD over seeds) of the headline metric of one classification-table row; NaN when it is missing."""
    for row in table:
        if (row["encoder"], row["mode"], row["task"], row["test"]) == (encoder, mode, task, test) and \
                math.isclose(row["fraction"], fraction):
            metric = headline_metric(row)
            return float(row[f"{metric}_mean"]), float(row[f"{metric}_std"])
    return math.nan, math.nan


def dense_mean_sd(table: list[dict], encoder: str, task: str, test: str, fraction: float) -> tuple[float, float]:
    """(mean, SD over seeds) of the headline metric of one dense-table row (Dice or PSNR); NaN when it is missing."""
    metric = dense_metric(task)
    for row in table:
        if (row["encoder"], row["task"], row["test"]) == (encoder, task, test) and \
                math.isclose(row["fraction"], fraction):
            mean, sd = row.get(f"{metric}_mean"), row.get(f"{metric}_std")
            return (math.nan if mean is None else float(mean)), (math.nan if sd is None else float(sd))
    return math.nan, math.nan


def nearly_matches(full: tuple[float, float], fewer: tuple[float, float], *, tolerance: float = NEAR_MATCH) -> bool:
    """True when `fewer` (mean, SD) is below `full` by at most the larger SD or `tolerance` (NaN: False)."""
    drop = full[0] - fewer[0]
    allowed = max(full[1], fewer[1], tolerance)
    return bool(math.isfinite(drop) and math.isfinite(allowed) and drop <= allowed)


def beats_all_claim(claim: str, ours: str, rivals, items: list[tuple[str, dict]], lookup) -> dict:
    """Claim "`ours` beats every rival on every item": `items` are (label, lookup keywords), `lookup(encoder,
    **keywords)` gives (mean, SD); an item is won when `ours` beats every rival present by more than the SD."""
    rivals = [r for r in rivals if r != ours]
    won, parts = [], []
    for label, keys in items:
        values = {encoder: lookup(encoder, **keys) for encoder in (ours, *rivals)}
        parts.append(f"{label}: " + ", ".join(f"{_NAMES.get(e, e)} {_pm(v)}" for e, v in values.items()))
        if rivals and all(wins_by_seed_sd(values[ours], values[r]) for r in rivals):
            won.append(label)
    reason = (f"{_NAMES.get(ours, ours)} ahead of {', '.join(_NAMES.get(r, r) for r in rivals)} by more than the seed "
              f"SD in {len(won)} of {len(items)} comparisons" + (f" ({'; '.join(won)})" if won else ""))
    return {"claim": claim, "measured": "mean ± SD over seeds; " + " | ".join(parts),
            "verdict": claim_verdict(len(won), len(items)), "reason": reason}


def simclr_claims(table: list[dict], *, ours: str = "simclr", rivals=("mae", "scratch"),
                  fractions=(1.0, 0.2)) -> list[dict]:
    """Kaczmarek et al.'s two claims (module docstring) from the classification table."""
    tasks = [task for task in STRUCTURAL_TASKS if any(row["task"] == task for row in table)]
    rivals = _present(table, rivals)
    mode = claim_mode(table, (ours, *rivals), tasks=tasks)

    def lookup(encoder, **keys):
        return classification_mean_sd(table, encoder, mode, **keys)

    items = [(f"{task} {_metric_word(table, task)} {test.replace('_', ' ')} {fraction:.0%}",
              {"task": task, "test": test, "fraction": fraction})
             for task in tasks for test in TESTS for fraction in fractions]
    beats = beats_all_claim(f"SimCLR pretraining beats the other pretraining (here the structural MAE, a ViT: masking "
                            f"needs tokens) and training from scratch on every task, in and out of distribution "
                            f"({mode}).", ours, rivals, items, lookup)
    near, parts = [], []
    for task in tasks:
        for test in TESTS:
            full, fewer = lookup(ours, task=task, test=test, fraction=1.0), lookup(ours, task=task, test=test,
                                                                                   fraction=0.2)
            label = f"{task} {test.replace('_', ' ')}"
            parts.append(f"{label}: 100 % {_pm(full)}, 20 % {_pm(fewer)}")
            if nearly_matches(full, fewer):
                near.append(label)
    n_items = len(tasks) * len(TESTS)
    few_labels = {"claim": f"With 20 % of the labels, SimCLR nearly matches 100 % ({mode}).",
                  "measured": "SimCLR, mean ± SD over seeds; " + " | ".join(parts),
                  "verdict": claim_verdict(len(near), n_items),
                  "reason": f"20 % within max(seed SD, {NEAR_MATCH}) of 100 % in {len(near)} of {n_items} "
                            "comparisons" + (f" ({'; '.join(near)})" if near else "")}
    return [beats, few_labels]


def seqinv_claims(table: list[dict], *, ours: str = "seqinv", rivals=("seqaug", "baseline", "scratch")) -> list[dict]:
    """Chalcroft et al.'s two claims (module docstring) from the dense table, with SeqInv's gain over scratch (Dice
    points, dB) at the smallest label fraction beside the paper's "up to +8.3 % Dice and +4.2 dB PSNR"."""
    rivals = _present(table, rivals)
    compared = (ours, *rivals)
    fractions = {}  # per task, the label fractions at which every compared encoder ran (a sweep runs some only)
    for task in ("tissue", "lesion", "denoise"):
        common = [{row["fraction"] for row in table if row["task"] == task and row["encoder"] == e} for e in compared]
        if common and set.intersection(*common):
            fractions[task] = sorted(set.intersection(*common))
    tasks = list(fractions)

    def lookup(encoder, **keys):
        return dense_mean_sd(table, encoder, **keys)

    low = [(f"{task} {_UNITS[dense_metric(task)]} {fractions[task][0]:.0%} labels in-site",
            {"task": task, "test": "in_site", "fraction": fractions[task][0]}) for task in tasks]
    low_data = beats_all_claim("SeqInv pretraining beats SeqAug, the MPRAGE-only baseline and scratch in the low-data "
                               "regime (up to +8.3 % Dice and +4.2 dB PSNR).", ours, rivals, low, lookup)
    gains = [f"{task} {_gain(lookup(ours, **keys), lookup('scratch', **keys), dense_metric(task))}"
             for (_, keys), task in zip(low, tasks)]
    low_data["measured"] += " | SeqInv minus scratch: " + ", ".join(gains)
    unseen = [(f"{task} {_UNITS[dense_metric(task)]} {fraction:.0%} labels held-out sites",
               {"task": task, "test": "unseen_site", "fraction": fraction}) for task in tasks for fraction in
              fractions[task]]
    sites = beats_all_claim("SeqInv generalises better to unseen sites than SeqAug, the baseline and scratch.", ours,
                            rivals, unseen, lookup)
    return [low_data, sites]


def structural_claims(classification: list[dict], dense: list[dict], collapsed=()) -> list[dict]:
    """Every claim of chapters 6-7: `simclr_claims` of the classification table, then `seqinv_claims` of the dense
    table; each verdict is one of `asl_claim_rules.VERDICTS`. A method of `collapsed` (its pretraining learned
    nothing) is named in the reason of each claim that compares it, and only there."""
    families = ((simclr_claims(classification), ("simclr", "mae", "scratch")),
                (seqinv_claims(dense), ("seqinv", "seqaug", "baseline", "scratch")))
    claims = []
    for family, compared in families:
        failed = [m for m in compared if m in collapsed]
        for claim in family:
            if failed:
                claim["reason"] += (f"; collapsed in pretraining: {', '.join(_NAMES.get(m, m) for m in failed)} "
                                    "(contrastive loss at its chance value log(2B - 1) or embedding SD near 0)")
            claims.append(claim)
    return claims


def _present(table: list[dict], encoders) -> tuple[str, ...]:
    """The `encoders` the table holds rows of (a rival left out of the grid is not compared; the results record
    what was left out)."""
    return tuple(e for e in encoders if any(row["encoder"] == e for row in table))


def _metric_word(table: list[dict], task: str) -> str:
    row = next(row for row in table if row["task"] == task)
    return _UNITS[headline_metric(row)]


def _gain(ours: tuple[float, float], scratch: tuple[float, float], metric: str) -> str:
    gain = ours[0] - scratch[0]
    if not math.isfinite(gain):
        return "n/a"
    return f"{gain * 100:+.1f} Dice points" if metric == "dice" else f"{gain:+.2f} dB"


def _pm(value: tuple[float, float]) -> str:
    mean, sd = value
    return "n/a" if not math.isfinite(mean) else f"{mean:.3f} ± {sd:.3f}"
