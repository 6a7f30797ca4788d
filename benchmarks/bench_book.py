"""Each chapter's smoke time on this machine, idle and beside one other CPU-bound job, against the chapter budget.

The book states how long a chapter takes at smoke (``book/intro.md``, the README). This script measures it the way a
reader meets it: `brainfm book --profile smoke --no-render` in a fresh build folder, whole processes, once with the
machine otherwise idle and once beside one busy process (``python3 -c "while True: pass"``, what a second job does
to a 2-core laptop). It prints each chapter's wall time in both runs, the ratio loaded / idle, and the
chapters over the budget (90 s idle, twice that loaded). A chapter sets torch's threads from the cores left free
(`brainfm_lite.threads`), so the ratio should stay near 2 on 2 cores (one core instead of two), not the 5x of
oversubscribed threads.

Run from the repository root with nothing else running (about 15 minutes on 2 cores)::

    .venv/bin/python benchmarks/bench_book.py
    .venv/bin/python benchmarks/bench_book.py --chapters 05_downstream 08_recon --runs idle
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 90  # a chapter at smoke on 2 idle cores (shared/DESIGN.md); CI runs every chapter in `make test`
CHAPTER_LINE = re.compile(r"^(\d\d_\w+)\s+([\d.]+) s\s+(.*)$")


def run_chapters(chapters: list[str], loaded: bool) -> tuple[dict[str, float], float]:
    """Wall time of each chapter (the runner's, s) and of the whole command, in a fresh build folder."""
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
    try:
        with tempfile.TemporaryDirectory() as folder:
            command = [sys.executable, str(ROOT / "data_scripts" / "run_book.py"), "--profile", "smoke",
                       "--no-render", "--build-dir", str(Path(folder) / "_build"), "--chapters", *chapters]
            start = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            total = time.perf_counter() - start
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    times = {}
    for line in done.stdout.splitlines():
        match = CHAPTER_LINE.match(line.strip())
        if match:
            if match.group(3) != "ok":
                sys.exit(f"{match.group(1)} failed: {match.group(3)}")
            times[match.group(1)] = float(match.group(2))
    if done.returncode or not times:
        sys.exit(f"the book run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return times, total


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="+", default=sorted(p.stem for p in (ROOT / "book").glob("0*.ipynb")))
    parser.add_argument("--runs", nargs="+", choices=("idle", "loaded"), default=["idle", "loaded"])
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds a chapter may take idle")
    args = parser.parse_args(argv)

    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {platform.platform(terse=True)}, {os.cpu_count()} CPUs; load average before: "
          f"{os.getloadavg()[0]:.2f}")
    results = {run: run_chapters(args.chapters, loaded=run == "loaded") for run in args.runs}

    print(f"\n{'chapter':<16}" + "".join(f"{run + ' (s)':>12}" for run in args.runs)
          + ("  loaded / idle" if len(args.runs) == 2 else ""))
    for chapter in args.chapters:
        row = f"{chapter:<16}" + "".join(f"{results[run][0][chapter]:>12.1f}" for run in args.runs)
        if len(args.runs) == 2:
            row += f"  {results['loaded'][0][chapter] / results['idle'][0][chapter]:>13.2f}"
        print(row)
    for run in args.runs:
        times, total = results[run]
        limit = args.budget * (2 if run == "loaded" else 1)  # one core of two: twice the idle budget
        over = [f"{c} ({s:.0f} s)" for c, s in times.items() if s > limit]
        print(f"{run}: chapters {sum(times.values()):.0f} s, whole command {total:.0f} s; "
              f"over {limit:.0f} s: {', '.join(over) or 'none'}")


if __name__ == "__main__":
    main()
