"""Chapter 8's experiments: does pretraining on many non-FLAIR brains help a prior fine-tuned on 20 FLAIR subjects?

`run_recon_experiments` trains every model, reconstructs the same undersampled test slices with each and scores
them (``brainfm evaluate recon --profile P`` runs it):

- test volumes: whole test subjects (FLAIR, unseen subjects at an unseen site), as many as fit in
  ``recon_eval_slices`` slices (at least one; `select_test_volumes`);
- acquisitions: each test slice gets its own smooth coil sensitivities (``recon_coils``); at every R in
  `ACCELERATIONS` one random Cartesian column mask with a fully sampled centre of `CENTER_FRACTION` of the columns
  (the stroke DPM paper keeps 26 ACS lines, about 8% of a fastMRI brain k-space, at every R); complex Gaussian noise
  of `KSPACE_NOISE_STD` on every sample (the slices also carry their site's noise);
- methods (`RECON_METHODS`): zero-filled; a supervised U-Net trained on the target subjects (with the test noise);
  diffusion priors trained on the target subjects only, on the source only (pretrained, no fine-tuning), pretrained
  then fine-tuned on the target subjects (the stroke DPM paper's method), and on many target subjects (the upper
  reference). Every prior is sampled with DDIM (``ddim_steps``) and hard k-space projection, the same seed for
  every method; the U-Net and the priors see the measured k-space divided by its
  `~brainfm_lite.physics.kspace.acs_scale`, as their training slices were;
- scores (`score_volumes`): PSNR, SSIM and NMSE of the magnitude per test volume, as fastMRI's ``evaluate.py``
  computes them (data range = the volume's maximum; PSNR and NMSE over the whole volume, SSIM per slice with that
  range, averaged over the volume's slices), then mean and standard deviation over volumes;
- the sweep: fine-tuning learning rate x duration (``diffusion_sweep_lrs`` x ``diffusion_sweep_steps``), PSNR and
  SSIM at R = `SWEEP_ACCELERATION` (4, the stroke DPM paper's FLAIR setting).

The run folder holds every model, ``recon_results.json`` (written atomically; what this function returns) and
``figures.npz`` (example slices, masks, a sampling trajectory and the sweep grid, for `viz.recon_plots`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainfm_lite.atomic import atomic_path, write_json
from brainfm_lite.config import Profile
from brainfm_lite.datasets.recon_slices import recon_datasets
from brainfm_lite.errors import InputError
from brainfm_lite.eval.metrics import nmse, psnr, ssim
from brainfm_lite.eval.recon import reconstruct
from brainfm_lite.models.hub import from_pretrained, save_pretrained
from brainfm_lite.models.presets import UNET_FEATURES
from brainfm_lite.models.recon_unet import ReconUNetConfig, SupervisedRecon
from brainfm_lite.physics.kspace import cartesian_mask, coil_sensitivities, simulate_acquisition, zero_filled
from brainfm_lite.provenance import environment, resolve_device
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.diffusion_training import SLICE_LOADER_WORKERS, finetune_sweep, new_prior, train_prior
from brainfm_lite.train.loop import Trainer
from brainfm_lite.train.rng import seeded_init

ACCELERATIONS = (2, 4, 8)
CENTER_FRACTION = 0.08
SWEEP_ACCELERATION = 4
# Complex k-space noise per real/imaginary part (images are about 1 in the brain, coil images about 0.5): without
# it, 4+ coils at R = 2 determine the image completely and every method with data consistency would be exact.
KSPACE_NOISE_STD = 0.01
RECON_METHODS = {
    "zero_filled": "zero-filled",
    "unet_target": "supervised U-Net, target subjects",
    "diffusion_target": "diffusion, target subjects only",
    "diffusion_pretrained": "diffusion, pretrained on source, no fine-tuning",
    "diffusion_finetuned": "diffusion, pretrained + fine-tuned on target (the stroke DPM paper)",
    "diffusion_many": "diffusion, many target subjects (upper reference)",
}
RESULTS_FILE = "recon_results.json"
FIGURES_FILE = "figures.npz"
N_EXAMPLES = 2  # test slices kept for figures
N_SNAPSHOTS = 5  # x0_hat images kept along the sampling trajectory


@dataclass
class Acquisition:
    """Undersampled multi-coil measurements of a stack of slices.

    Attributes:
        truth: fully sampled complex slices [S, H, W].
        kspace: measured k-space [S, C, H, W] (zero off the mask).
        sens: coil sensitivities [S, C, H, W].
        mask: column mask [H, W] (bool).
        acceleration: R.
        subjects: the test volume (subject number) of every slice [S]; None: the slices form one volume.
    """

    truth: torch.Tensor
    kspace: torch.Tensor
    sens: torch.Tensor
    mask: torch.Tensor
    acceleration: float
    subjects: torch.Tensor | None = None

    def score(self, recon: torch.Tensor) -> dict[str, float]:
        """`score_volumes` of a reconstruction [S, H, W] of these slices against the truth, volume by volume."""
        return score_volumes(self.truth, recon, self.subjects)

    def zero_filled(self) -> torch.Tensor:
        """The sensitivity-combined zero-filled reconstruction, complex [S, H, W]."""
        return zero_filled(self.kspace, self.sens)


def simulate_test_acquisitions(truth: torch.Tensor, n_coils: int, *, accelerations=ACCELERATIONS,
                               center_fraction: float = CENTER_FRACTION, noise_std: float = 0.0,
                               seed: int = 0, subjects=None) -> dict[float, Acquisition]:
    """One `Acquisition` of the complex slices `truth` [S, H, W] per acceleration (coils per slice, one mask per R);
    `subjects` [S] names the volume of each slice for scoring (None: one volume)."""
    if truth.ndim != 3 or not truth.is_complex():
        raise InputError(f"truth must be complex slices [S, H, W]; got {truth.dtype} {tuple(truth.shape)}")
    if subjects is not None:
        subjects = torch.as_tensor(np.asarray(subjects), dtype=torch.int64)
        if subjects.shape != truth.shape[:1]:
            raise InputError(f"subjects needs one entry per slice ({len(truth)}); got {tuple(subjects.shape)}")
    shape = tuple(truth.shape[-2:])
    sens = torch.stack([coil_sensitivities(shape, n_coils, seed=seed + i) for i in range(len(truth))])
    acquisitions = {}
    for acceleration in accelerations:
        mask = cartesian_mask(shape, acceleration, center_fraction, seed=seed + int(acceleration))
        kspace = simulate_acquisition(truth, sens, mask, noise_std=noise_std, seed=seed)
        acquisitions[acceleration] = Acquisition(truth, kspace, sens, mask, acceleration, subjects)
    return acquisitions


def select_test_volumes(dataset, max_slices: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The slices of whole test subjects: the first subjects of `dataset` whose slices, together, number at most
    `max_slices` (always at least the first subject), so every volume is scored complete.

    Args:
        dataset: a `~brainfm_lite.datasets.recon_slices.SliceDataset` (``images()`` and ``subjects`` per slice).
        max_slices: the slice budget (the profile's ``recon_eval_slices``).

    Returns:
        (complex slices [S, H, W], subject number of each [S]).
    """
    subjects = dataset.subjects
    if len(subjects) == 0 or max_slices < 1:
        raise InputError(f"need test slices and a budget of at least one; got {len(subjects)} and {max_slices}")
    order = list(dict.fromkeys(subjects.tolist()))  # subjects in the order of their first slice
    chosen, total = [], 0
    for subject in order:
        count = int((subjects == subject).sum())
        if chosen and total + count > max_slices:
            break
        chosen.append(subject)
        total += count
    keep = torch.isin(subjects, torch.tensor(chosen))
    return dataset.images()[keep], subjects[keep]


def test_acquisitions(profile: Profile, test_dataset, *, noise_std: float = KSPACE_NOISE_STD) -> dict:
    """The experiments' test acquisitions: the whole test volumes that fit in ``recon_eval_slices``
    (`select_test_volumes`), simulated at every R of `ACCELERATIONS` with the profile's coils and seed."""
    truth, subjects = select_test_volumes(test_dataset, profile.recon_eval_slices)
    return simulate_test_acquisitions(truth, profile.recon_coils, noise_std=noise_std, seed=profile.seed,
                                      subjects=subjects)


def score_volumes(truth: torch.Tensor, recon: torch.Tensor, subjects=None) -> dict[str, float]:
    """PSNR (dB), SSIM and NMSE of magnitudes as fastMRI's ``evaluate.py`` scores them, one value per volume; then the
    mean and standard deviation over volumes.

    Per volume (the slices of one subject, [s, H, W]): the data range is the truth's maximum over the volume; PSNR
    and NMSE are computed over the whole volume; SSIM on each slice with that range (scikit-image's defaults),
    averaged over the volume's slices (`brainfm_lite.eval.metrics`).

    Args:
        truth: fully sampled slices [S, H, W] (complex or magnitude; the magnitude is scored).
        recon: reconstructions [S, H, W].
        subjects: the volume of every slice [S] (e.g. ``SliceDataset.subjects``); None: all slices form one volume.

    Returns:
        {"psnr_mean", "psnr_std", "ssim_mean", "ssim_std", "nmse_mean", "nmse_std", "n_volumes"}; the standard
        deviation is over volumes (0 with one volume).
    """
    truth, recon = torch.as_tensor(truth).detach().cpu().abs(), torch.as_tensor(recon).detach().cpu().abs()
    if truth.ndim != 3 or truth.shape != recon.shape:
        raise InputError(f"need truth and recon [S, H, W] of one shape; got {tuple(truth.shape)}, {tuple(recon.shape)}")
    subjects = torch.zeros(len(truth), dtype=torch.int64) if subjects is None else torch.as_tensor(np.asarray(subjects))
    if subjects.shape != truth.shape[:1]:
        raise InputError(f"subjects needs one entry per slice ({len(truth)}); got {tuple(subjects.shape)}")
    per_volume = {"psnr": [], "ssim": [], "nmse": []}
    for subject in dict.fromkeys(subjects.tolist()):
        chosen = subjects == subject
        gt, pred = truth[chosen].numpy(), recon[chosen].numpy()
        per_volume["psnr"].append(psnr(gt, pred))
        per_volume["ssim"].append(ssim(gt, pred))
        per_volume["nmse"].append(nmse(gt, pred))
    return {**_mean_and_sd(per_volume), "n_volumes": len(per_volume["psnr"])}


def over_seeds(scores: list[dict]) -> dict:
    """`score_volumes` results of one reconstruction task sampled with several seeds -> one table row: each metric's
    mean over seeds (``*_mean``), the SD over volumes averaged over seeds (``*_std``), the SD of the mean over seeds
    (``*_seed_sd``, population; 0 with one seed), ``n_volumes`` and ``n_seeds``."""
    if not scores:
        raise InputError("over_seeds needs the scores of at least one seed")
    row = {}
    for metric in ("psnr", "ssim", "nmse"):
        means = [score[f"{metric}_mean"] for score in scores]
        row[f"{metric}_mean"] = float(np.mean(means))
        row[f"{metric}_std"] = float(np.mean([score[f"{metric}_std"] for score in scores]))
        row[f"{metric}_seed_sd"] = float(np.std(means))
    return {**row, "n_volumes": scores[0]["n_volumes"], "n_seeds": len(scores)}


def _mean_and_sd(scores: dict[str, list[float]]) -> dict[str, float]:
    """{"psnr": [...], ...} -> {"psnr_mean", "psnr_std", ...} (population SD)."""
    return {f"{name}_{stat}": float(fn(values)) for name, values in scores.items()
            for stat, fn in (("mean", np.mean), ("std", np.std))}


def new_supervised_unet(profile: Profile, *, noise_std: float = KSPACE_NOISE_STD) -> SupervisedRecon:
    """The supervised U-Net baseline at a profile, freshly initialised from the profile seed: ``diffusion_preset``'s
    `UNET_FEATURES`, trained on acquisitions simulated as the test ones are (`ACCELERATIONS`, `CENTER_FRACTION`, the
    profile's coils, k-space noise `noise_std`)."""
    with seeded_init(profile.seed):
        return SupervisedRecon(ReconUNetConfig(features=UNET_FEATURES[profile.diffusion_preset],
                                               accelerations=ACCELERATIONS, center_fraction=CENTER_FRACTION,
                                               n_coils=profile.recon_coils, noise_std=noise_std))


def supervised_unet_train_config(profile: Profile, **overrides) -> TrainConfig:
    """The U-Net's Trainer settings: a diffusion prior's from scratch (``diffusion_steps`` of
    ``diffusion_batch_size`` slices at ``diffusion_lr``, cosine to a tenth), no weight decay, fp32; keyword
    overrides change any field."""
    steps = profile.diffusion_steps
    settings = dict(min_lr_ratio=0.1, weight_decay=0.0, num_workers=SLICE_LOADER_WORKERS,
                    log_every=max(1, steps // 10))
    return train_config_for(profile, steps=steps, batch_size=profile.diffusion_batch_size, lr=profile.diffusion_lr,
                            **{**settings, **overrides})


def train_supervised_unet(profile: Profile, dataset, out_dir: str | Path, *, noise_std: float = KSPACE_NOISE_STD,
                          resume: bool = False, **train_overrides) -> Path:
    """Train the supervised U-Net baseline on `dataset` (the target slices), with the same steps, batch and rate as
    a diffusion prior trained from scratch, on acquisitions simulated as the test ones are (`ACCELERATIONS`,
    `CENTER_FRACTION`, the profile's coils, k-space noise `noise_std`); returns the saved model's folder
    (``out_dir/unet``). With `resume`, the run continues from its last checkpoint."""
    model = new_supervised_unet(profile, noise_std=noise_std)
    config = supervised_unet_train_config(profile, **train_overrides)
    result = Trainer(model, dataset, config, out_dir=out_dir).fit(resume=resume)
    metadata = {"objective": "supervised L1", "steps": result.step, "last_loss": result.last_loss,
                "noise_std": noise_std, "data": repr(dataset)}
    return save_pretrained(model, Path(out_dir) / "unet", metadata=metadata)


def train_models(profile: Profile, groups: dict, out_dir: str | Path, *, noise_std: float = KSPACE_NOISE_STD,
                 **train_overrides) -> dict[str, Path]:
    """Train the U-Net (on k-space with noise `noise_std`, the test noise) and the four priors of `RECON_METHODS`;
    returns {method: saved folder}. Keyword overrides (and ``resume``) go to every run."""
    out_dir = Path(out_dir)
    models = {"unet_target": train_supervised_unet(profile, groups["target_train"], out_dir / "unet_target",
                                                   noise_std=noise_std, **train_overrides)}
    models["diffusion_pretrained"] = train_prior(profile, groups["source"], out_dir / "diffusion_pretrained",
                                                 **train_overrides)
    models["diffusion_finetuned"] = train_prior(profile, groups["target_train"], out_dir / "diffusion_finetuned",
                                                init=models["diffusion_pretrained"], **train_overrides)
    models["diffusion_target"] = train_prior(profile, groups["target_train"], out_dir / "diffusion_target",
                                             **train_overrides)
    models["diffusion_many"] = train_prior(profile, groups["target_many"], out_dir / "diffusion_many",
                                           **train_overrides)
    return models


def reconstruct_with(model, acquisition: Acquisition, profile: Profile, *, seed: int | None = None,
                     **sampling) -> torch.Tensor:
    """Complex reconstructions [S, H, W] of `acquisition` by a loaded U-Net or prior (None: zero-filled), in the units
    of its k-space (both networks see it divided by its `acs_scale`). A prior samples with `seed` (default the
    profile's); other keywords go to `reconstruct` (priors only), e.g. ``progress=False``."""
    if model is None:
        return acquisition.zero_filled()
    device = next(model.parameters()).device
    if isinstance(model, SupervisedRecon):
        model.eval()
        with torch.no_grad():
            return model.reconstruct_kspace(acquisition.kspace.to(device), acquisition.sens.to(device)).cpu()
    result = reconstruct(model, acquisition.kspace, acquisition.sens, acquisition.mask, sampler="ddim",
                         steps=profile.ddim_steps, seed=profile.seed if seed is None else seed, **sampling)
    return result.image


def run_recon_experiments(profile: Profile, out_dir: str | Path, *, n_jobs: int = 1,
                          noise_std: float = KSPACE_NOISE_STD, cache_dir: str | Path | None = None,
                          resume: bool = False, sampling_seeds: int = 1, **train_overrides) -> dict:
    """Train every model, reconstruct the test slices at every R, run the fine-tuning sweep; save and return.

    Args:
        profile: a `Profile` (data, prior and sampling knobs: ``recon_*``, ``diffusion_*``, ``ddim_steps``).
        out_dir: run folder (created).
        n_jobs: processes simulating the slices (-1: one per core).
        noise_std: complex k-space noise per real/imaginary part (images have magnitude about 1 in the brain).
        cache_dir: simulated slice cache (default ``out_dir/slices``).
        resume: continue every training run from its last checkpoint in `out_dir` (after an interruption, e.g. a
            Colab session that ended; finished runs are not trained again). Reconstruction and scoring run again.
        sampling_seeds: posterior samples drawn per prior and acceleration (seeds ``profile.seed + i``); each is
            scored, and the table gives their mean and the SD over seeds (``*_seed_sd``; 0 for the deterministic
            zero-filled and U-Net reconstructions, which are computed once). The training seed is the profile's.
        train_overrides: changes to every run's `TrainConfig` (e.g. ``progress=False``, which also silences the
            posterior sampling's progress bars).

    Returns:
        The JSON-able results (also in ``out_dir/recon_results.json``): ``table`` rows (method, R, PSNR/SSIM/NMSE
        mean and std over test volumes, their SD over sampling seeds, ``n_volumes``, ``n_seeds``), ``sweep`` (PSNR
        and SSIM [lr][steps] at R = 4), the timings in seconds, the profile's ``settings`` and the ``environment``
        (versions, device, commit, date).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(profile.device)
    groups = recon_datasets(profile, cache_dir=out_dir / "slices" if cache_dir is None else cache_dir, n_jobs=n_jobs)
    acquisitions = test_acquisitions(profile, groups["test"], noise_std=noise_std)
    truth, subjects = acquisitions[ACCELERATIONS[0]].truth, acquisitions[ACCELERATIONS[0]].subjects
    progress = train_overrides.get("progress", True)  # one switch for training and sampling bars
    seconds = {"data": time.perf_counter() - started}

    tic = time.perf_counter()
    folders = train_models(profile, groups, out_dir, noise_std=noise_std, resume=resume, **train_overrides)
    seconds["training"] = time.perf_counter() - tic

    tic = time.perf_counter()
    table, examples = [], {}
    for method in RECON_METHODS:
        model = None if method == "zero_filled" else from_pretrained(folders[method]).to(device)
        seeds = range(profile.seed, profile.seed + (sampling_seeds if model is not None and
                                                       not isinstance(model, SupervisedRecon) else 1))
        for acceleration, acquisition in acquisitions.items():
            scores = []
            for seed in seeds:
                recon = reconstruct_with(model, acquisition, profile, progress=progress, seed=seed)
                scores.append(acquisition.score(recon))
                if seed == profile.seed:
                    examples[f"{method}_R{acceleration}"] = recon[:N_EXAMPLES].abs().numpy()
            table.append({"method": method, "R": acceleration, **over_seeds(scores)})
    seconds["reconstruction"] = time.perf_counter() - tic

    tic = time.perf_counter()
    sweep = run_sweep(profile, folders["diffusion_pretrained"], groups["target_train"], acquisitions, out_dir, device,
                      resume=resume, **train_overrides)
    seconds["sweep"] = time.perf_counter() - tic

    finetuned = from_pretrained(folders["diffusion_finetuned"]).to(device)
    trajectory = reconstruct(finetuned, *_measurements(acquisitions[SWEEP_ACCELERATION], N_EXAMPLES), sampler="ddim",
                             steps=profile.ddim_steps, seed=profile.seed, n_snapshots=N_SNAPSHOTS,
                             progress=progress).trajectory
    _save_figures(out_dir / FIGURES_FILE, acquisitions, examples, trajectory, sweep)

    seconds["total"] = time.perf_counter() - started
    results = {"profile": profile.name, "accelerations": list(ACCELERATIONS), "center_fraction": CENTER_FRACTION,
               "n_coils": profile.recon_coils, "noise_std": noise_std, "n_test_slices": len(truth),
               "n_test_volumes": len(set(subjects.tolist())),
               "metrics": "fastMRI evaluate.py: per test volume (data range = its maximum), mean and SD over volumes",
               "image_size": profile.recon_image_size, "sampler": f"DDIM {profile.ddim_steps} steps",
               "sampling_seeds": sampling_seeds,
               "consistency": "projection", "methods": RECON_METHODS, "table": table, "sweep": sweep,
               "seconds": {name: round(value, 1) for name, value in seconds.items()},
               "figures": FIGURES_FILE, "settings": profile.to_dict(), "environment": environment(device)}
    write_json(out_dir / RESULTS_FILE, results)
    return results


def run_sweep(profile: Profile, pretrained: Path, dataset, acquisitions: dict, out_dir: Path, device,
              **train_overrides) -> dict:
    """The fine-tuning learning rate x duration grid at R = `SWEEP_ACCELERATION`: {"lrs", "steps", "psnr", "ssim"}."""
    weights = finetune_sweep(profile, pretrained, dataset, out_dir / "sweep", **train_overrides)
    lrs = sorted({lr for lr, _ in weights}, reverse=True)
    durations = sorted({steps for _, steps in weights})
    acquisition = acquisitions[SWEEP_ACCELERATION]
    progress = train_overrides.get("progress", True)
    grid = {"psnr": np.zeros((len(lrs), len(durations))), "ssim": np.zeros((len(lrs), len(durations)))}
    for i, lr in enumerate(lrs):
        for j, steps in enumerate(durations):
            prior = new_prior(profile, weights[(lr, steps)]).to(device)
            scores = acquisition.score(reconstruct_with(prior, acquisition, profile, progress=progress))
            grid["psnr"][i, j], grid["ssim"][i, j] = scores["psnr_mean"], scores["ssim_mean"]
    return {"acceleration": SWEEP_ACCELERATION, "lrs": lrs, "steps": durations,
            "psnr": grid["psnr"].tolist(), "ssim": grid["ssim"].tolist()}


def _measurements(acquisition: Acquisition, n: int):
    return acquisition.kspace[:n], acquisition.sens[:n], acquisition.mask


def _save_figures(path: Path, acquisitions: dict, examples: dict, trajectory, sweep: dict) -> None:
    """Example slices, masks, the sampling trajectory and the sweep grid, as arrays (figures are drawn from them)."""
    first = next(iter(acquisitions.values()))
    arrays = {"truth": first.truth[:N_EXAMPLES].abs().numpy(),
              "trajectory_t": np.array([t for t, _ in trajectory]),
              "trajectory": np.stack([image.numpy() for _, image in trajectory]),
              "sweep_psnr": np.array(sweep["psnr"]), "sweep_lrs": np.array(sweep["lrs"]),
              "sweep_steps": np.array(sweep["steps"])}
    for acceleration, acquisition in acquisitions.items():
        arrays[f"mask_R{acceleration}"] = acquisition.mask.numpy()
    arrays.update(examples)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
