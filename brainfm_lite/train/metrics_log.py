"""``metrics.jsonl``: one JSON object per logged training step, appended as the run goes (easy to plot or tail)."""

from __future__ import annotations

import json
from pathlib import Path

from brainfm_lite.atomic import atomic_path


class MetricsLog:
    """The metrics file of a run, written by the first process only.

    Args:
        path: the ``metrics.jsonl`` file.
        enabled: False on every process but rank 0: nothing is read or written.
    """

    def __init__(self, path: Path, *, enabled: bool):
        self.path = Path(path)
        self.enabled = enabled

    def start(self, resumed_step: int | None) -> list[dict]:
        """Prepare the file for a run; returns the records kept.

        A fresh run (`resumed_step` None) starts an empty file. A resumed run keeps the lines up to the checkpoint's
        step and drops later ones, which the run will log again, so the file never holds a step twice. A line cut
        short by a crash is dropped too.
        """
        if not self.enabled:
            return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [] if resumed_step is None else [r for r in self.read() if r["step"] <= resumed_step]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(record) + "\n" for record in kept))
        return kept

    def write(self, record: dict) -> None:
        """Append one record (a dict with at least ``step``) as a line, flushed at once."""
        if self.enabled:
            with self.path.open("a") as file:
                file.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        """The records in the file (skipping a last line cut short by a crash)."""
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records
