"""Reading the results of chapter 7 (sequence-invariant pretraining): the dense-task table, the numbers a run
records, and what they show.

    >>> table = summarise_dense(evaluate_dense(profile, factories, ...))             # doctest: +SKIP
    >>> print(dense_markdown(table))                                                  # doctest: +SKIP
    >>> numbers = seqinv_key_numbers(distances, table)                                # doctest: +SKIP
    >>> print("\\n".join(seqinv_findings(distances, table, profile=profile)))          # doctest: +SKIP

`distances` is ``{encoder: contrast_subject_distances(...)}`` for the encoders ``scratch`` (untrained),
``baseline``, ``seqaug`` and ``seqinv``; `table` holds the rows of `summarise_dense`. Every headline metric is the
first of ``DENSE_METRICS`` (:mod:`brainfm_lite.eval.dense`) for its task: Dice for tissue and lesion segmentation, PSNR
(dB) for denoising.
"""

from __future__ import annotations

import math

import numpy as np

from brainfm_lite.config import Profile
from brainfm_lite.eval.dense import DENSE_METRICS
from brainfm_lite.eval.results_table import TESTS

_PRETRAINED = ("baseline", "seqaug", "seqinv")  # the variants, in the order the findings compare them


def dense_metric(task: str) -> str:
    """The headline metric of a dense task: ``"dice"`` for tissue and lesion, ``"psnr"`` for denoising."""
    return DENSE_METRICS[task][0]


def dense_score(table: list[dict], encoder: str, task: str, test: str, fraction: float,
                metric: str | None = None) -> float:
    """Mean over seeds of `metric` (default: the task's headline) for one (encoder, task, test, label fraction);
    NaN when the table does not hold that combination."""
    metric = metric or dense_metric(task)
    for row in table:
        if (row["encoder"], row["task"], row["test"]) == (encoder, task, test) \
                and math.isclose(row["fraction"], fraction):
            return float(row[f"{metric}_mean"])
    return float("nan")


def lowest_fraction(table: list[dict], task: str = "tissue") -> float:
    """The smallest label fraction `table` holds for `task` (every encoder runs at it); NaN if the task is absent."""
    fractions = [row["fraction"] for row in table if row["task"] == task]
    return min(fractions) if fractions else float("nan")


def dense_markdown(table: list[dict]) -> str:
    """A Markdown table with one line per row of `summarise_dense`: its headline metric as ``mean ± SD`` over seeds."""
    lines = ["| encoder | task | test | labelled subjects | metric | mean ± SD over seeds |",
             "|---|---|---|---|---|---|"]
    for row in table:
        metric = dense_metric(row["task"])
        lines.append(f"| {row['encoder']} | {row['task']} | {row['test']} | {row['n_train']:.0f} | {metric} | "
                     f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_std']:.3f} |")
    return "\n".join(lines)


def seqinv_key_numbers(distances: dict[str, dict], table: list[dict]) -> dict[str, float]:
    """The numbers chapter 7 records and sets beside the reference run.

    - ``<encoder>_same_subject_distance``, ``<encoder>_same_contrast_distance``, ``<encoder>_distance_ratio`` for
      every encoder of `distances`;
    - ``<encoder>_tissue_dice_<fraction>_<test>`` for every tissue row of `table` (fraction as a percentage:
      ``seqinv_tissue_dice_1%_unseen_site``);
    - ``<encoder>_denoise_psnr_<test>`` and ``<encoder>_lesion_dice_<test>`` at the smallest label fraction of
      each task;
    - ``denoise_noisy_psnr``: the PSNR of the noisy input itself (mean over the denoising rows), the level a
      denoiser has to beat.
    """
    numbers = {}
    for encoder, d in distances.items():
        numbers[f"{encoder}_same_subject_distance"] = d["same_subject"]
        numbers[f"{encoder}_same_contrast_distance"] = d["same_contrast"]
        numbers[f"{encoder}_distance_ratio"] = d["ratio"]
    for row in table:
        if row["task"] == "tissue":
            numbers[f"{row['encoder']}_tissue_dice_{row['fraction']:.0%}_{row['test']}"] = row["dice_mean"]
    for task in ("denoise", "lesion"):
        low = lowest_fraction(table, task)
        for row in table:
            if row["task"] == task and math.isclose(row["fraction"], low):
                metric = dense_metric(task)
                numbers[f"{row['encoder']}_{task}_{metric}_{row['test']}"] = row[f"{metric}_mean"]
    numbers["denoise_noisy_psnr"] = _noisy_psnr(table)
    return numbers


def _seed_sd(table: list[dict], encoder: str, test: str, fraction: float) -> float:
    """The seed SD of the tissue Dice of one (encoder, test, fraction); 0 when unknown (one seed)."""
    for row in table:
        if (row["encoder"], row["task"], row["test"]) == (encoder, "tissue", test) \
                and math.isclose(row["fraction"], fraction):
            sd = row.get("dice_std")
            return float(sd) if sd is not None and math.isfinite(sd) else 0.0
    return 0.0


def _versus(gain: float, spread: float) -> str:
    """How a gain compares with the seed spread: a difference within one seed SD is no difference."""
    if abs(gain) <= spread:
        return "is within the seed SD of"
    return "beats" if gain > 0 else "does not beat"


def _noisy_psnr(table: list[dict]) -> float:
    noisy = np.array([row["psnr_noisy_mean"] for row in table if row["task"] == "denoise"], dtype=np.float64)
    return float(noisy[np.isfinite(noisy)].mean()) if np.isfinite(noisy).any() else float("nan")


def seqinv_findings(distances: dict[str, dict], table: list[dict], *, profile: Profile | None = None) -> list[str]:
    """What the run shows, one Markdown bullet each: whether baseline and SeqInv features follow the subject more
    than the contrast; whether each pretrained variant beats training from scratch on tissue Dice with the fewest
    labels, in-site and on unseen sites (by more than the larger seed SD; within it, the two are not told apart);
    denoising and lesion segmentation on unseen sites beside scratch; and, at the smoke profile (a `Profile` named
    ``smoke``), that these numbers check the pipeline and measure nothing."""
    lines = []
    scratch_ratio = distances["scratch"]["ratio"] if "scratch" in distances else float("nan")
    for name in ("seqinv", "baseline"):
        if name not in distances:
            continue
        d = distances[name]
        closer = "closer" if d["ratio"] < 1 else "NOT closer"
        lines.append(f"- **{name}**: features of two contrasts of one subject are {closer} than those of two "
                     f"subjects in one contrast (distance {d['same_subject']:.3f} vs {d['same_contrast']:.3f}, ratio "
                     f"{d['ratio']:.2f}; untrained scratch network: {scratch_ratio:.2f}).")
    low = lowest_fraction(table, "tissue")
    encoders = {row["encoder"] for row in table}
    for name in (v for v in _PRETRAINED if v in encoders):
        for test in TESTS:
            gain = dense_score(table, name, "tissue", test, low) - dense_score(table, "scratch", "tissue", test, low)
            spread = max(_seed_sd(table, name, test, low), _seed_sd(table, "scratch", test, low))
            lines.append(f"- tissue Dice with {low:.0%} of the labels, {test.replace('_', ' ')}: {name} "
                         f"{_versus(gain, spread)} scratch ({gain:+.3f}; larger seed SD {spread:.3f}).")
    if any(row["task"] == "denoise" for row in table):
        denoise_low = lowest_fraction(table, "denoise")
        lines.append(f"- denoising: the noisy input scores {_noisy_psnr(table):.1f} dB; scratch "
                     f"{dense_score(table, 'scratch', 'denoise', 'unseen_site', denoise_low):.1f} dB and SeqInv "
                     f"{dense_score(table, 'seqinv', 'denoise', 'unseen_site', denoise_low):.1f} dB on unseen sites "
                     "(a network below the noisy input has not yet learned to denoise).")
    if any(row["task"] == "lesion" for row in table):
        lesion_low = lowest_fraction(table, "lesion")
        lines.append(f"- lesion Dice (unseen sites): scratch "
                     f"{dense_score(table, 'scratch', 'lesion', 'unseen_site', lesion_low):.3f}, SeqInv "
                     f"{dense_score(table, 'seqinv', 'lesion', 'unseen_site', lesion_low):.3f}.")
    if profile is not None and profile.name == "smoke":
        lines.append(f"- At smoke every encoder saw {profile.seqinv_steps} pretraining steps and every decoder "
                     f"{profile.dense_steps} steps on 1-3 subjects, with {profile.eval_seeds} seed: differences of "
                     "this size are noise. Read these numbers as a check that the pipeline runs, and the reference "
                     "run (`brainfm results structural --profile reference`, section 7.6) for what the method does.")
    return lines
