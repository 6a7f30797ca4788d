"""The machinery every recorded-results command shares (``brainfm results asl | structural``): timed stages, cached
evaluation parts, finished-pretraining checks, the pretraining summary that shows collapse, and the provenance.

A results command runs in a run folder and times each stage into one dict, ``{name: {"status", "seconds"}}``,
"ran" or "cached"; a resumed run (``--resume``) reads each finished part back instead of computing it again::

    >>> stages = {}
    >>> with stage(stages, "maps") as current:                                     # doctest: +SKIP
    ...     current["status"] = "ran" if dataset.prepare() else "cached"
    >>> rows, status = cached_part(run_dir / "parts" / "probe_mae.json", key, compute, resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path

from brainfm_lite.atomic import write_json
from brainfm_lite.config import Profile
from brainfm_lite.models.hub import CONFIG_NAME
from brainfm_lite.models.seqinv import SeqInvConfig
from brainfm_lite.models.simclr import SimCLRConfig

CONTRASTIVE_OBJECTIVES = ("simclr", "seqinv", "seqaug", "baseline")  # saved objectives with an NT-Xent loss


@contextmanager
def stage(stages: dict, name: str):
    """Time one stage into ``stages[name] = {"status", "seconds"}``; the body sets the status ("ran", "cached")."""
    current = stages[name] = {"status": "running", "seconds": 0.0}
    start = time.perf_counter()
    try:
        yield current
    finally:
        current["seconds"] = round(time.perf_counter() - start, 1)


def cached_part(path: Path, key: dict, compute, *, resume: bool) -> tuple[list[dict], str]:
    """The rows of one evaluation part: read from `path` when resuming and it was computed under `key`, else
    computed and saved there (atomically). Returns (rows, "cached" or "ran")."""
    key = json.loads(json.dumps(key))  # as it reads back (tuples become lists)
    if resume and path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["rows"], "cached"
    rows = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"key": key, "rows": rows})
    return rows, "ran"


def finished_pretraining(encoder: Path, profile: Profile, steps: int) -> bool:
    """True when `encoder` holds an encoder pretrained to the end (`steps`) at this very profile."""
    config = encoder / CONFIG_NAME
    if not config.is_file():
        return False
    metadata = json.loads(config.read_text()).get("metadata", {})
    same_profile = metadata.get("profile") == json.loads(json.dumps(profile.to_dict()))
    return same_profile and metadata.get("steps") == steps


def pretraining_summary(encoder: Path, batch_size: int) -> dict:
    """Objective, steps, last loss and data of a saved encoder's pretraining (from its config.json).

    For a contrastive objective (`CONTRASTIVE_OBJECTIVES`) also the chance loss ``log(2B - 1)`` of `batch_size`
    pairs (all embeddings alike), the last logged partner and negative similarity and embedding SD
    (`models.losses.contrastive_diagnostics`; for SeqInv the loss is NT-Xent plus its L1 reconstruction, and its
    NT-Xent part ``contrastive`` is compared with chance) beside the SD of evenly spread unit vectors,
    ``1 / sqrt(D)``, and whether the run collapsed: a contrastive loss at chance or an SD below a tenth of the
    even one.
    """
    metadata = json.loads((encoder / CONFIG_NAME).read_text()).get("metadata", {})
    summary = {key: metadata.get(key) for key in ("objective", "steps", "last_loss", "data")}
    if summary["objective"] not in CONTRASTIVE_OBJECTIVES or summary["last_loss"] is None:
        return summary
    summary["chance_loss"] = round(math.log(2 * batch_size - 1), 4)
    last = last_logged(encoder.parent / "metrics.jsonl")
    for key in ("contrastive", "positive_similarity", "negative_similarity", "embedding_std"):
        if key in last:
            summary[key] = round(float(last[key]), 4)
    even_std = 1 / math.sqrt(_embedding_width(summary["objective"]))
    summary["even_spread_std"] = round(even_std, 4)
    contrastive_loss = summary.get("contrastive", summary["last_loss"])
    summary["collapsed"] = bool(contrastive_loss >= 0.99 * summary["chance_loss"]
                                or summary.get("embedding_std", even_std) < 0.1 * even_std)
    return summary


def _embedding_width(objective: str) -> int:
    """D, the width of the projection head's output of a contrastive objective (its default config)."""
    return (SimCLRConfig() if objective == "simclr" else SeqInvConfig()).projection_widths[-1]


def last_logged(metrics_file: Path) -> dict:
    """The last line of a Trainer's metrics.jsonl that holds a loss ({} when there is none)."""
    if not metrics_file.is_file():
        return {}
    lines = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    return next((line for line in reversed(lines) if "loss" in line), {})


def run_provenance(env: dict, profile: Profile, command: str, stages: dict, seconds: float) -> dict:
    """The provenance of a results JSON; `env` (`provenance.environment`) is taken when the run starts: the run's own
    outputs make the checkout dirty."""
    return {"commit": env["git_commit"], "command": command, "profile": profile.name, "device": env["device"],
            "device_name": env["device_name"], "versions": {**env["versions"], "python": env["python"]},
            "platform": env["platform"], "date_utc": env["date_utc"],
            "wall_time_s": {"total": round(seconds, 1), "stages": stages}}


RUN_PROVENANCE = "provenance.json"  # in a run folder: the provenance of the last results run that finished there


def earlier_provenance(run_dir: Path, profile: Profile) -> dict | None:
    """The provenance of the last results run that finished in `run_dir` for this profile (None if none did).

    Read from the run folder, not from the results JSON: the folder's cached stages are what a resumed run reuses,
    and a results JSON at the same place may come from a run in another folder.
    """
    path = Path(run_dir) / RUN_PROVENANCE
    if not path.is_file():
        return None
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return earlier if isinstance(earlier, dict) and earlier.get("profile") == profile.name else None


def record_provenance(run_dir: Path, provenance: dict, profile: Profile, *, reused: bool) -> dict:
    """Add ``resumed_from`` (the `earlier_provenance` of `run_dir`) to `provenance` when the run `reused` stages
    of an earlier one, so the commit and time that computed them stay on record; then keep `provenance` in the run
    folder for the next resumed run. Returns `provenance`."""
    earlier = earlier_provenance(run_dir, profile) if reused else None
    if earlier is not None:
        provenance["resumed_from"] = earlier
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(run_dir) / RUN_PROVENANCE, provenance)
    return provenance
