"""ICHOR's headline claims judged from an ASL results table, by explicit rules (no number is written by hand).

ICHOR (abstract 000) claims that its 3D masked autoencoder (i) outperforms other self-supervised pretraining methods
adapted to ASL on three diagnoses and one CBF-quality regression, (ii) learns transferable, general-purpose
representations, and (iii) generalises markedly better across centres. `asl_claims` reads the rows of a table in
the schema of `eval.asl_evaluation` (``encoder, mode, task, kind, test, fraction, <metric>_mean, <metric>_std``)
and answers each claim with ``{"claim", "measured", "verdict", "reason"}``:

- the comparison is made on the book's headline metric of each task (`eval.results_table.headline_metric`: AUC
  for the diagnoses, Pearson's r for the QEI regression; higher is better for both), at ``fraction`` (100 %) of the
  training labels, in fine-tuning when the table holds fine-tuning rows of every encoder and task compared, else in
  the linear probe (`claim_mode`);
- **beats** (claims i and ii): on a task the MAE wins when it is better than the rival at the held-out sites by more
  than the larger of the two seed SDs (`wins_by_seed_sd`);
- **generalises** (claim iii): the gap of an encoder on a task is its in-site minus its held-out-site score
  (`site_gap`; positive: worse at the held-out sites); the MAE wins the task when its gap is smaller than every
  rival's;
- the **verdict** counts the tasks won (`claim_verdict`): all of them "reproduced", some "partly", none "not
  reproduced". A task whose rows are missing or NaN counts as not won.

    >>> claims = asl_claims(results["table"])                                        # doctest: +SKIP
    >>> [(c["verdict"], c["reason"]) for c in claims]                                 # doctest: +SKIP
"""

from __future__ import annotations

import math

from brainfm_lite.eval.baselines import CLASSIFICATION_TASKS, REGRESSION_TASKS
from brainfm_lite.eval.results_table import headline_metric

VERDICTS = ("reproduced", "partly", "not reproduced")
CLAIM_TASKS = CLASSIFICATION_TASKS + REGRESSION_TASKS
_NAMES = {"mae": "MAE", "simclr_cbf": "SimCLR-CBF", "random_init": "random init", "regional_cbf": "regional CBF"}


def claim_verdict(n_won: int, n_tasks: int) -> str:
    """"reproduced" when every task is won, "partly" when some are, "not reproduced" when none is (or none ran)."""
    if n_tasks > 0 and n_won == n_tasks:
        return "reproduced"
    return "partly" if n_won > 0 else "not reproduced"


def _find_row(table: list[dict], encoder: str, mode: str, task: str, test: str, fraction: float) -> dict | None:
    """The table row of (encoder, mode, task, test set, label fraction), or None."""
    for row in table:
        if (row["encoder"], row["mode"], row["task"], row["test"]) == (encoder, mode, task, test) and \
                math.isclose(row["fraction"], fraction):
            return row
    return None


def _mean_sd(row: dict | None) -> tuple[float, float]:
    """(mean, SD over seeds) of the headline metric of `row` (`headline_metric`); NaN when the row is missing."""
    if row is None:
        return math.nan, math.nan
    metric = headline_metric(row)
    return float(row[f"{metric}_mean"]), float(row[f"{metric}_std"])


def wins_by_seed_sd(ours: tuple[float, float], theirs: tuple[float, float]) -> bool:
    """True when `ours` (mean, SD) is higher than `theirs` by more than the larger of the two SDs (NaN: False)."""
    margin = ours[0] - theirs[0]
    spread = max(ours[1], theirs[1])
    return bool(math.isfinite(margin) and math.isfinite(spread) and margin > spread)


def claim_mode(table: list[dict], encoders, *, tasks=CLAIM_TASKS, fraction: float = 1.0) -> str:
    """"finetune" when the table has fine-tuning rows of every encoder and task at `fraction` on both test sets,
    else "probe"."""
    complete = all(_find_row(table, encoder, "finetune", task, test, fraction) is not None
                   for encoder in encoders for task in tasks for test in ("in_site", "unseen_site"))
    return "finetune" if complete else "probe"


def beats_claim(table: list[dict], claim: str, rival: str, *, ours: str = "mae", mode: str, tasks=CLAIM_TASKS,
                fraction: float = 1.0) -> dict:
    """Claim "`ours` beats `rival` on every task at the held-out sites", judged by `wins_by_seed_sd` and
    `claim_verdict`."""
    won, parts = [], []
    for task in tasks:
        a = _mean_sd(_find_row(table, ours, mode, task, "unseen_site", fraction))
        b = _mean_sd(_find_row(table, rival, mode, task, "unseen_site", fraction))
        parts.append(f"{task} {_metric_name(task)} {_pm(a)} vs {_pm(b)}")
        if wins_by_seed_sd(a, b):
            won.append(task)
    measured = (f"held-out sites, {mode}, {fraction:.0%} labels, {_NAMES.get(ours, ours)} vs "
                f"{_NAMES.get(rival, rival)} (mean ± SD over seeds): " + "; ".join(parts))
    reason = (f"{_NAMES.get(ours, ours)} ahead by more than the seed SD on {len(won)} of {len(tasks)} tasks"
              + (f" ({', '.join(won)})" if won else ""))
    return {"claim": claim, "measured": measured, "verdict": claim_verdict(len(won), len(tasks)), "reason": reason}


def generalisation_claim(table: list[dict], claim: str, rivals, *, ours: str = "mae", mode: str, tasks=CLAIM_TASKS,
                         fraction: float = 1.0) -> dict:
    """Claim "`ours` loses less from in-site to held-out sites than every rival" on every task (see the module)."""
    won, parts = [], []
    for task in tasks:
        gaps = {encoder: site_gap(table, encoder, mode, task, fraction) for encoder in (ours, *rivals)}
        parts.append(f"{task} " + ", ".join(f"{_NAMES.get(e, e)} {_signed(g)}" for e, g in gaps.items()))
        if math.isfinite(gaps[ours]) and all(math.isfinite(gaps[r]) and gaps[ours] < gaps[r] for r in rivals):
            won.append(task)
    measured = (f"in-site minus held-out-site AUC (diagnoses) or Pearson r (qei), positive: worse at held-out sites, "
                f"{mode}, {fraction:.0%} labels: " + "; ".join(parts))
    reason = (f"{_NAMES.get(ours, ours)}'s site gap smallest on {len(won)} of {len(tasks)} tasks"
              + (f" ({', '.join(won)})" if won else ""))
    return {"claim": claim, "measured": measured, "verdict": claim_verdict(len(won), len(tasks)), "reason": reason}


def site_gap(table: list[dict], encoder: str, mode: str, task: str, fraction: float = 1.0) -> float:
    """How much worse `encoder` does at held-out sites than in-site on `task`: in-site minus held-out-site mean of
    the headline metric (positive = worse at held-out sites); NaN when a row is missing."""
    in_site = _mean_sd(_find_row(table, encoder, mode, task, "in_site", fraction))[0]
    unseen = _mean_sd(_find_row(table, encoder, mode, task, "unseen_site", fraction))[0]
    return in_site - unseen


def asl_claims(table: list[dict], *, ours: str = "mae", rival: str = "simclr_cbf", baseline: str = "random_init",
               fraction: float = 1.0) -> list[dict]:
    """ICHOR's three headline claims, each with what we measured and a verdict computed by the module's rules.

    Args:
        table: summary rows (`eval.probe.summarise` schema) of `ours`, `rival` and `baseline`.
        ours: the MAE's encoder name; rival: the other self-supervised method adapted to ASL; baseline: the same
            network from random initialisation.
        fraction: label fraction the claims are judged at.

    Returns:
        ``[{"claim", "measured", "verdict", "reason"}, ...]``; every verdict is one of `VERDICTS`.
    """
    mode = claim_mode(table, (ours, rival, baseline), fraction=fraction)
    return [
        beats_claim(table, "The 3D MAE outperforms other self-supervised pretraining adapted to ASL (here SimCLR on "
                    "the same CBF maps, on its own kind of backbone, a 3D CNN) on the 3 diagnoses and the "
                    "CBF-quality regression.", rival, ours=ours, mode=mode, fraction=fraction),
        beats_claim(table, "The MAE-pretrained encoder transfers: it beats the same ViT trained from random "
                    "initialisation on every downstream task.", baseline, ours=ours, mode=mode, fraction=fraction),
        generalisation_claim(table, "Markedly improved cross-centre generalisation: the MAE loses less from in-site "
                             "to held-out sites than the other encoders.", (rival, baseline), ours=ours, mode=mode,
                             fraction=fraction),
    ]


def _metric_name(task: str) -> str:
    return "AUC" if task in CLASSIFICATION_TASKS else "Pearson r"


def _pm(value: tuple[float, float]) -> str:
    mean, sd = value
    return "n/a" if not math.isfinite(mean) else f"{mean:.3f} ± {sd:.3f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}" if math.isfinite(value) else "n/a"
