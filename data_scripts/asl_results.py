#!/usr/bin/env python
"""The Chapter 5 results table at a profile, outside the book: probe everything, fine-tune what the machine affords.

    python data_scripts/asl_results.py --profile colab --encoder runs/pretrain_mae_colab/encoder \\
        --finetune-tasks alzheimers --finetune-fractions 0.2 0.05

The encoder comes from ``brainfm pretrain mae --profile P`` (its run folder's ``cbf_cache`` is reused, so no map is
simulated twice). Linear probes run for every task and label fraction (100, 20, 5 %) and ``eval_seeds`` seeds; full
fine-tuning, which costs ``finetune_steps`` steps per seed and fraction, runs on the tasks and fractions given
(all of them by default). Pretrained and randomly initialised encoders and the regional-CBF baseline share the
cohort's one evaluation split, whose test subjects pretraining held out. The summary table, the settings and the
environment go to ``book/results/<profile>/asl_results.json`` (``--out`` to change), small enough to commit as a
reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from brainfm_lite.atomic import write_json
from brainfm_lite.config import load_profile
from brainfm_lite.eval.asl_evaluation import FRACTIONS, evaluate_asl
from brainfm_lite.eval.probe import TASKS
from brainfm_lite.eval.results_table import results_markdown
from brainfm_lite.provenance import environment, resolve_device

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="smoke", help="smoke, colab, full or a YAML path")
    parser.add_argument("--encoder", type=Path, required=True, help="saved encoder folder (pretrain_mae's encoder/)")
    parser.add_argument("--finetune-tasks", nargs="*", default=list(TASKS), help="tasks to fine-tune on (none: skip)")
    parser.add_argument("--finetune-fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--out", type=Path, help="JSON (default book/results/<profile>/asl_results.json)")
    args = parser.parse_args(argv)

    cfg = load_profile(args.profile)
    cache = args.encoder.parent / "cbf_cache"
    cache_dir = cache if cache.is_dir() else None
    start = time.perf_counter()
    probe = evaluate_asl(cfg, args.encoder, modes=("probe",), cache_dir=cache_dir)
    probe_s = time.perf_counter() - start
    table = probe["table"]
    finetune_s = 0.0
    if args.finetune_tasks:
        start = time.perf_counter()
        tuned = evaluate_asl(cfg, args.encoder, modes=("finetune",), tasks=args.finetune_tasks,
                             fractions=args.finetune_fractions, cache_dir=cache_dir)
        finetune_s = time.perf_counter() - start
        table += [row for row in tuned["table"] if row["mode"] == "finetune"]
    out = args.out or ROOT / "book" / "results" / cfg.name / "asl_results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, {
        "table": table,
        "settings": {**probe["settings"], "modes": ["probe", "finetune"], "finetune_tasks": args.finetune_tasks,
                     "finetune_fractions": args.finetune_fractions},
        "command": " ".join(["python", "data_scripts/asl_results.py", *(argv if argv is not None else sys.argv[1:])]),
        "wall_time_s": {"probe": round(probe_s, 1), "finetune": round(finetune_s, 1)},
        "environment": environment(resolve_device(cfg.device)),
    })
    print(results_markdown(table))
    print(f"probe {probe_s:.0f} s, fine-tune {finetune_s:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
