"""Shared by the view benchmarks (``bench_seqinv_collapse.py``, ``bench_simclr_views.py``): pretrain one contrastive
objective on a profile's structural pretraining pool with several kinds of views, and print how each run ends.

Each run uses the profile's Trainer settings (`contrastive_train_config`) at a given number of steps, one seed, the
same initial weights; the printed row gives the NT-Xent at five steps against chance log(2B - 1), the partner and
negative cosine similarity and the embedding's per-dimension SD against an even spread's 1/sqrt(D) at the end, and
seconds a step.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Callable

from brainfm_lite.config import Profile
from brainfm_lite.datasets.structural import StructuralDataset, structural_dataset
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.pretrain import contrastive_train_config, pretraining_subjects
from brainfm_lite.train.rng import seeded_init


def pretraining_pool(profile: Profile, cache_dir: Path) -> tuple[StructuralDataset, dict]:
    """The profile's structural pretraining pool (no test subject, no held-out site), simulated into `cache_dir`."""
    pool, record = pretraining_subjects(structural_dataset(profile), profile)
    dataset = structural_dataset(profile, cache_dir=cache_dir, indices=pool)
    dataset.prepare(n_jobs=-1)
    return dataset, record


def compare_views(profile: Profile, name: str, make_objective: Callable, runs: dict[str, Callable], steps: int) -> None:
    """Pretrain ``make_objective()`` (built under the profile's seed) once per entry of `runs`, a name -> function
    ``dataset -> dataset of view pairs``, for `steps` steps, and print a row for each."""
    chance = math.log(2 * profile.contrastive_batch_size - 1)
    marks = {max(10, steps // 5 // 10 * 10) * k for k in (1, 2, 3, 4)} | {steps}
    shown = sorted(s for s in marks if s <= steps)
    with tempfile.TemporaryDirectory() as tmp:
        dataset, record = pretraining_pool(profile, Path(tmp) / "t1_cache")
        print(f"{name} on {record['subjects']} pretraining subjects of profile {profile.name} "
              f"({profile.contrastive_image_size}^3 at {profile.spacing_mm:g} mm), {steps} steps of batch "
              f"{profile.contrastive_batch_size}, lr {profile.contrastive_lr}, temperature "
              f"{profile.contrastive_temperature}; chance NT-Xent log(2B - 1) = {chance:.3f}")
        print(f"{'views':14} {'NT-Xent at steps ' + ', '.join(map(str, shown)):>40} {'partner':>8} {'negative':>9} "
              f"{'SD':>6} {'(even)':>7} {'s/step':>7}")
        for view_name, make_pairs in runs.items():
            with seeded_init(profile.seed):
                objective = make_objective()
            config = contrastive_train_config(profile, max_steps=steps, warmup_steps=steps // 10, progress=False,
                                              log_every=10, checkpoint_every=None)
            out = Path(tmp) / view_name.replace(" ", "_")
            Trainer(objective, make_pairs(dataset), config, out_dir=out).fit()
            lines = map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
            logged = {line["step"]: line for line in lines if "positive_similarity" in line}
            last = logged[max(logged)]
            even = 1 / math.sqrt(objective.config.projection_widths[-1])
            # SeqInv logs its NT-Xent apart from its reconstruction term; SimCLR's loss is the NT-Xent
            losses = ", ".join(f"{logged[s].get('contrastive', logged[s]['loss']):.2f}" if s in logged else "-"
                               for s in shown)
            print(f"{view_name:14} {losses:>40} {last['positive_similarity']:8.2f} {last['negative_similarity']:9.2f} "
                  f"{last['embedding_std']:6.3f} {even:7.3f} {last['seconds'] / last['step']:7.2f}", flush=True)
