"""Chapters 6-7's tables of a recorded structural-results JSON (`eval.structural_results`): how each method's
pretraining ended, and the anatomy-versus-contrast distances.

    >>> recorded = load_recorded_structural_results("reference")                     # doctest: +SKIP
    >>> print(pretraining_markdown(recorded["settings"]["pretraining"]))             # doctest: +SKIP
    >>> print(distances_markdown(recorded["table"]["distances"]))                   # doctest: +SKIP
"""

from __future__ import annotations

import math

_NAMES = {"simclr": "SimCLR", "mae": "MAE (ViT)", "scratch": "scratch", "seqinv": "SeqInv", "seqaug": "SeqAug",
          "baseline": "baseline"}


def pretraining_markdown(pretraining: dict[str, dict]) -> str:
    """One line per pretrained method of ``settings["pretraining"]`` (`eval.results_run.pretraining_summary`):
    steps, last loss and, for a contrastive method, its NT-Xent against the chance value log(2B - 1), the partner and
    negative cosine similarity, the embedding's SD per dimension against that of evenly spread unit vectors, and
    whether it collapsed. A method without a value shows a dash."""
    lines = ["| method | steps | last loss | NT-Xent (chance) | partner / negative similarity | embedding SD "
             "(even spread) | collapsed |", "|---|---|---|---|---|---|---|"]
    for method, summary in pretraining.items():
        contrastive = "chance_loss" in summary
        nt_xent = summary.get("contrastive", summary.get("last_loss"))
        cells = [
            _NAMES.get(method, method), f"{summary.get('steps') or 0:,}", _number(summary.get("last_loss")),
            f"{_number(nt_xent)} ({summary['chance_loss']:.3f})" if contrastive else "—",
            (f"{_number(summary.get('positive_similarity'), 2)} / {_number(summary.get('negative_similarity'), 2)}"
             if contrastive else "—"),
            (f"{_number(summary.get('embedding_std'))} ({summary['even_spread_std']:.3f})" if contrastive else "—"),
            ("**yes**" if summary.get("collapsed") else "no") if contrastive else "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def distances_markdown(distances: dict[str, dict]) -> str:
    """One line per method of ``tables["distances"]`` (`eval.feature_distance.contrast_subject_distances`): the mean
    cosine distance of two contrasts of one subject, of two subjects in one contrast, and their ratio (below 1:
    the features follow the subject more than the sequence), lowest ratio first."""
    lines = ["| method | two contrasts, one subject | two subjects, one contrast | ratio |", "|---|---|---|---|"]
    for method, d in sorted(distances.items(), key=lambda item: _sort_key(item[1]["ratio"])):
        lines.append(f"| {_NAMES.get(method, method)} | {d['same_subject']:.3f} | {d['same_contrast']:.3f} | "
                     f"{d['ratio']:.2f} |")
    return "\n".join(lines)


def _sort_key(value) -> float:
    return math.inf if value is None or not math.isfinite(value) else value


def _number(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
