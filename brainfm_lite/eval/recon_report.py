"""Reading the results of `run_recon_experiments` (chapter 8): the table, the questions of the stroke DPM paper, a
recorded run.

    >>> results = run_recon_experiments(profile, "runs/recon")          # doctest: +SKIP
    >>> print(recon_markdown(results["table"]))                         # doctest: +SKIP
    >>> print("\\n".join(recon_findings(results)))                      # doctest: +SKIP

``book/results/<name>/recon_results.json`` holds runs longer than the book's smoke run, recorded with their
settings and environment (``book/results/reference/`` for the reference profile, ``brainfm evaluate recon
--profile reference``: 2 CPU cores, about an hour); `recorded_results` reads one and `provenance_line` says where
it came from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from brainfm_lite.errors import InputError
from brainfm_lite.eval.recon_experiments import RECON_METHODS, RESULTS_FILE
from brainfm_lite.provenance import repo_root


def recon_markdown(table: list[dict]) -> str:
    """Markdown table of the rows of `run_recon_experiments`: mean (SD) over test volumes of PSNR (dB), SSIM, NMSE,
    each scored per volume as fastMRI does (`~brainfm_lite.eval.recon_experiments.score_volumes`)."""
    lines = ["| method | R | PSNR (dB) | SSIM | NMSE |", "|---|---|---|---|---|"]
    for row in table:
        lines.append(f"| {RECON_METHODS.get(row['method'], row['method'])} | {row['R']} | "
                     f"{row['psnr_mean']:.2f} ({row['psnr_std']:.2f}) | "
                     f"{row['ssim_mean']:.3f} ({row['ssim_std']:.3f}) | "
                     f"{row['nmse_mean']:.4f} ({row['nmse_std']:.4f}) |")
    return "\n".join(lines)


def psnr_by_method(table: list[dict]) -> dict[tuple[str, float], float]:
    """{(method, R): mean PSNR in dB}."""
    return {(row["method"], row["R"]): row["psnr_mean"] for row in table}


def recon_findings(results: dict) -> list[str]:
    """The stroke DPM paper's questions answered from `results`, one line each: at every R, does pretrain + fine-tune
    on the target subjects beat training on them alone, and how far is it from the many-subject prior; where the sweep's
    best point lies; at how many R the fine-tuned prior beats zero-filling."""
    psnr = psnr_by_method(results["table"])
    lines = []
    for r in results["accelerations"]:
        tuned, alone = psnr[("diffusion_finetuned", r)], psnr[("diffusion_target", r)]
        many, zero, unet = psnr[("diffusion_many", r)], psnr[("zero_filled", r)], psnr[("unet_target", r)]
        lines.append(f"R={r}: fine-tuned {tuned:.2f} dB vs target-only {alone:.2f} ({tuned - alone:+.2f}), "
                     f"many-target {many:.2f} ({tuned - many:+.2f}), U-Net {unet:.2f}, zero-filled {zero:.2f}")
    sweep = results["sweep"]
    grid = np.array(sweep["psnr"])
    best = np.unravel_index(np.argmax(grid), grid.shape)
    lines.append(f"sweep at R={sweep['acceleration']}: best PSNR {grid[best]:.2f} dB at lr {sweep['lrs'][best[0]]:g}, "
                 f"{sweep['steps'][best[1]]} steps; worst {grid.min():.2f} dB")
    beats_zero = sum(psnr[("diffusion_finetuned", r)] > psnr[("zero_filled", r)] for r in results["accelerations"])
    lines.append(f"the fine-tuned prior beats zero-filling at {beats_zero} of {len(results['accelerations'])} "
                 "accelerations")
    return lines


def recorded_results(name: str, root: str | Path | None = None) -> dict | None:
    """The results recorded under ``book/results/<name>/recon_results.json`` of the repository (None if absent).

    Raises:
        InputError: the file exists but is not the JSON `run_recon_experiments` writes.
    """
    root = Path(root) if root is not None else repo_root()
    path = root / "book" / "results" / name / RESULTS_FILE if root is not None else None
    if path is None or not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not readable as JSON ({err})") from err
    missing = sorted({"table", "sweep", "accelerations", "environment", "settings"} - set(results))
    if missing:
        raise InputError(f"{path}: not a recon results file; keys {missing} are missing")
    return results


def provenance_line(results: dict) -> str:
    """Where a results file came from: profile, commit, device, date, data and sampler, and the time it took."""
    env, settings = results["environment"], results["settings"]
    return (f"profile {results['profile']} ({settings['diffusion_preset']} prior, {settings['diffusion_steps']} "
            f"training steps, {results['image_size']}^2 slices, {results['n_coils']} coils, "
            f"{_test_set(results)}, {results['sampler']}); commit {env.get('git_commit')}, "
            f"{env.get('device_name')}, {env.get('date_utc')} UTC; {results['seconds']['total'] / 60:.0f} min in all")


def _test_set(results: dict) -> str:
    """"N test slices" (older results, scored per slice) or "N test slices in V volumes"."""
    volumes = results.get("n_test_volumes")
    return f"{results['n_test_slices']} test slices" + (f" in {volumes} volumes" if volumes is not None else "")
