"""One fastMRI file to a reconstruction scored against ``reconstruction_rss``: `reconstruct_fastmri`.

Steps, each in its own module:

1. read and check the file (`~brainfm_lite.fastmri.h5file.read_fastmri`) and the prior
   (`~brainfm_lite.fastmri.prior.prior_settings`) before any heavy work;
2. bring each slice's k-space to the prior's pixel size (`~brainfm_lite.fastmri.grid.ReconGrid`);
3. undersample retrospectively at R, or take the file's acquired mask (`~brainfm_lite.fastmri.undersampling`);
4. estimate coil sensitivities from the autocalibration columns of the measured k-space
   (`~brainfm_lite.fastmri.sensitivities`);
5. sample the posterior with the prior and hard data consistency (`~brainfm_lite.eval.recon.reconstruct`), which
   divides each slice's k-space by its `~brainfm_lite.physics.kspace.acs_scale` (from the central columns alone,
   never from a fully sampled image) and multiplies the image back, so the result is in the file's units;
   pixels outside the coil support are set to zero (no measurement constrains them);
6. score, when the file has ``reconstruction_rss``: the reference brought to the grid
   (`~brainfm_lite.fastmri.grid.reference_to_grid`), and fastMRI's volume metrics (`~brainfm_lite.eval.metrics`:
   data range = the volume's maximum, PSNR and NMSE over the volume, SSIM per slice averaged) over the region the
   reference covers, for the zero-filled image (RSS of the zero-filled coil images, fastMRI's baseline), the prior's
   reconstruction and, for fully sampled files, the fully sampled RSS on the grid (the best any reconstruction on
   this grid can match the reference).

    >>> result = reconstruct_fastmri("file_brain_AXFLAIR_200_6002425.h5", acceleration=4)    # doctest: +SKIP
    >>> result.scores["zero_filled"]["psnr"], result.scores["prior"]["psnr"]                 # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.metrics import nmse, psnr, ssim
from brainfm_lite.fastmri.grid import ReconGrid, recon_grid, reference_to_grid
from brainfm_lite.fastmri.h5file import FastMRIFile, read_fastmri
from brainfm_lite.fastmri.prior import PriorSettings, prior_settings
from brainfm_lite.fastmri.sensitivities import acs_block, estimate_sensitivities
from brainfm_lite.fastmri.undersampling import (
    MASK_MODES,
    acquired_mask,
    effective_acceleration,
    retrospective_mask,
)
from brainfm_lite.physics.kspace import ifft2c, rss

SAMPLERS = ("ddim", "ddpm")


@dataclass
class FastMRIReconstruction:
    """What `reconstruct_fastmri` returns; images are magnitudes [S, n_rows, n_cols] in the file's units.

    Attributes:
        scan: the file read (`FastMRIFile`).
        grid: the `ReconGrid`.
        prior: the `PriorSettings` used.
        recon: the prior's reconstruction.
        zero_filled: RSS of the zero-filled coil images.
        reference: ``reconstruction_rss`` on the grid (None when the file has none).
        fully_sampled: RSS of the fully sampled coil images on the grid (None with an acquired mask).
        covered: (rows, columns) slices of the grid the reference covers: where scores are computed.
        mask: the sampled columns on the grid, bool [n_cols].
        support: the coils' support, bool [S, n_rows, n_cols].
        scores: {"zero_filled", "prior"[, "fully_sampled"]} -> {"psnr", "ssim", "nmse"}; empty without a reference.
        settings: what was asked and what it became (JSON-ready).
    """

    scan: FastMRIFile
    grid: ReconGrid
    prior: PriorSettings
    recon: np.ndarray
    zero_filled: np.ndarray
    reference: np.ndarray | None
    fully_sampled: np.ndarray | None
    covered: tuple[slice, slice]
    mask: torch.Tensor
    support: torch.Tensor
    scores: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def reconstruct_fastmri(path: str | Path, prior_dir: str | Path | None = None, *, acceleration: float | None = 4,
                        mask: str = "retrospective", sampler: str = "ddim", steps: int | None = None,
                        slices: slice | None = None, seed: int = 0, spacing_mm: float | None = None,
                        device: str = "auto", progress: bool = False) -> FastMRIReconstruction:
    """Reconstruct (some slices of) a fastMRI multi-coil brain file with a diffusion prior and score it.

    Args:
        path: the ``.h5`` file.
        prior_dir: the prior folder (None: the shipped one, `~brainfm_lite.fastmri.prior.default_prior_dir`).
        acceleration: R of the retrospective mask (None with ``mask="acquired"``).
        mask: "retrospective" (the file must be fully sampled) or "acquired" (the file's ``mask``).
        sampler: "ddim" or "ddpm" (every training step).
        steps: DDIM steps (default: the prior's recorded ones); None with "ddpm".
        slices: the file's slices to reconstruct (None: all).
        seed: seeds the retrospective mask and the sampler.
        spacing_mm: the prior's training pixel size when its folder does not say it.
        device: "auto", "cpu", "cuda" ...
        progress: a tqdm bar over the sampling steps.

    Returns:
        A `FastMRIReconstruction`.

    Raises:
        InputError: a malformed file (`read_fastmri`), a missing prior, an unknown mask mode or sampler, ``--R``
            with an acquired mask, retrospective undersampling of an already undersampled file, an acquired mask
            requested from a file without one, or a mask that misses the autocalibration columns.
    """
    from brainfm_lite.eval.recon import reconstruct
    from brainfm_lite.models.hub import from_pretrained
    from brainfm_lite.provenance import resolve_device

    _check_choices(mask, sampler, steps, acceleration)
    scan = read_fastmri(path, slices=slices)
    if mask == "acquired" and scan.mask is None:
        raise InputError(f"{scan.path}: no 'mask' dataset (its k-space is fully sampled); use --mask retrospective "
                         "with --R")
    if mask == "retrospective" and scan.mask is not None and not bool(scan.mask.all()):
        raise InputError(f"{scan.path}: its 'mask' dataset says the k-space is already undersampled "
                         f"({int(scan.mask.sum())} of {scan.mask.size} columns); use --mask acquired")
    settings = prior_settings(prior_dir, spacing_mm=spacing_mm, ddim_steps=steps if sampler == "ddim" else None)
    prior = from_pretrained(settings.path)
    grid = recon_grid(scan.geometry, spacing_mm=settings.spacing_mm, multiple=prior.config.size_multiple)
    acquired = np.asarray(scan.geometry.acquired_columns(scan.shape[3]))
    acquired_on_grid = grid.columns_to_grid(acquired)
    if mask == "retrospective":
        columns = retrospective_mask(grid, acceleration, seed=seed, acquired=acquired)
    else:
        columns = acquired_mask(grid, scan.mask) & acquired_on_grid

    full = torch.stack([grid.kspace_to_grid(scan.kspace(i)) for i in range(len(scan.slices))])  # [S, C, n_r, n_c]
    measured = full * columns
    sens, support = estimate_sensitivities(measured, acs_block(columns))
    device = resolve_device(device)
    tic = time.perf_counter()
    result = reconstruct(prior.to(device), measured, sens, columns, sampler=sampler,
                         steps=settings.ddim_steps if sampler == "ddim" else None, seed=seed, progress=progress)
    seconds = time.perf_counter() - tic
    recon = (result.magnitude * support).numpy().astype(np.float32)
    zero_filled = rss(ifft2c(measured)).numpy().astype(np.float32)
    fully_sampled = rss(ifft2c(full)).numpy().astype(np.float32) if mask == "retrospective" else None

    reference, covered = None, (slice(None), slice(None))
    if scan.reference is not None:
        reference, covered = reference_to_grid(scan.reference, scan.reference_pixel_mm, grid)
    images = {"zero_filled": zero_filled, "prior": recon, "fully_sampled": fully_sampled}
    scores = {} if reference is None else {
        name: score_volume(reference[:, covered[0], covered[1]], image[:, covered[0], covered[1]])
        for name, image in images.items() if image is not None}
    record = {"file": str(scan.path), "slices": scan.slices, "mask": mask,
              "acceleration": None if mask == "acquired" else float(acceleration),
              "effective_acceleration": round(effective_acceleration(columns, acquired_on_grid), 3),
              "sampled_columns": int(columns.sum()), "acs_columns": int(acs_block(columns).sum()),
              "sampler": sampler, "steps": result.network_calls, "seed": seed, "device": str(device),
              "sampling_seconds": round(seconds, 2), "grid": grid.to_dict(), "prior": settings.to_dict(),
              "support_fraction": float(support.float().mean()),
              "scored_region": [[covered[0].start, covered[0].stop], [covered[1].start, covered[1].stop]]
              if reference is not None else None}
    return FastMRIReconstruction(scan=scan, grid=grid, prior=settings, recon=recon, zero_filled=zero_filled,
                                 reference=reference, fully_sampled=fully_sampled, covered=covered, mask=columns,
                                 support=support, scores=scores, settings=record)


def score_volume(reference: np.ndarray, image: np.ndarray) -> dict[str, float]:
    """fastMRI's ``evaluate.py`` metrics of one volume [S, H, W] of magnitudes: {"psnr" (dB), "ssim", "nmse"}."""
    return {"psnr": psnr(reference, image), "ssim": ssim(reference, image), "nmse": nmse(reference, image)}


def _check_choices(mask: str, sampler: str, steps: int | None, acceleration: float | None) -> None:
    if mask not in MASK_MODES:
        raise InputError(f"--mask must be one of {', '.join(MASK_MODES)}; got {mask!r}")
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    if sampler == "ddpm" and steps is not None:
        raise InputError("--steps applies to DDIM; DDPM walks every training step of the prior")
    if steps is not None and steps < 1:
        raise InputError(f"--steps must be >= 1; got {steps}")
    if mask == "acquired" and acceleration is not None:
        raise InputError("--R applies to retrospective undersampling; with --mask acquired the file's mask sets R")
    if mask == "retrospective" and (acceleration is None or not acceleration >= 1):
        raise InputError(f"--R must be >= 1 for retrospective undersampling; got {acceleration}")
