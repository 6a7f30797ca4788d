"""Reading the results of `run_recon_experiments` (chapter 8): the table, the questions of the stroke DPM paper, a
recorded run.

    >>> results = run_recon_experiments(profile, "runs/recon")          # doctest: +SKIP
    >>> print(recon_markdown(results["table"]))                         # doctest: +SKIP
    >>> print("\\n".join(recon_findings(results)))                      # doctest: +SKIP

The book's recorded run (``brainfm results recon --profile reference``) is written and read by
`~brainfm_lite.eval.recon_results`; its tables are drawn by `recon_markdown` and `samplers_markdown`.
"""

from __future__ import annotations

import numpy as np

from brainfm_lite.eval.recon_experiments import RECON_METHODS


def recon_markdown(table: list[dict]) -> str:
    """Markdown table of the rows of `run_recon_experiments`: mean (SD) over test volumes of PSNR (dB), SSIM, NMSE,
    each scored per volume as fastMRI does (`~brainfm_lite.eval.recon_experiments.score_volumes`); with several
    sampling seeds, the SD over seeds follows as ``± sd`` (a deterministic method has none)."""
    lines = ["| method | R | PSNR (dB) | SSIM | NMSE |", "|---|---|---|---|---|"]
    for row in table:
        lines.append(f"| {RECON_METHODS.get(row['method'], row['method'])} | {row['R']} | "
                     f"{_cell(row, 'psnr', 2)} | {_cell(row, 'ssim', 3)} | {_cell(row, 'nmse', 4)} |")
    return "\n".join(lines)


def samplers_markdown(rows: list[dict]) -> str:
    """Markdown table of `~brainfm_lite.eval.recon_results.compare_samplers`: sampler, network calls, eta, PSNR,
    SSIM and seconds per slice, with each row's time as a share of DDPM's."""
    ddpm = next((row["seconds_per_slice"] for row in rows if row["sampler"] == "ddpm"), None)
    lines = ["| sampler | network calls | eta | PSNR (dB) | SSIM | s per slice | time vs DDPM |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        eta = "—" if row["eta"] is None else f"{row['eta']:g}"
        share = f"1/{ddpm / row['seconds_per_slice']:.0f}" if ddpm and row["sampler"] != "ddpm" else "1"
        lines.append(f"| {row['sampler'].upper()} | {row['steps']} | {eta} | {row['psnr']:.2f} | {row['ssim']:.3f} "
                     f"| {row['seconds_per_slice']:.2f} | {share} |")
    return "\n".join(lines)


def _cell(row: dict, metric: str, digits: int) -> str:
    """"mean (SD over volumes)", plus " ± SD over seeds" when the row was sampled with several seeds."""
    text = f"{row[f'{metric}_mean']:.{digits}f} ({row[f'{metric}_std']:.{digits}f})"
    return text + (f" ± {row[f'{metric}_seed_sd']:.{digits}f}" if row.get("n_seeds", 1) > 1 else "")


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
