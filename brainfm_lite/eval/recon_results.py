"""The recorded results of chapter 8, written by one resumable command (``brainfm results recon --profile
reference``): the stroke DPM paper's question, does a diffusion prior pretrained on many non-FLAIR brains and
fine-tuned on twenty FLAIR subjects reconstruct as well as one trained on many FLAIR subjects?

    >>> results = recon_reference_results(load_profile("reference"), "runs/recon_reference")  # doctest: +SKIP
    >>> [(claim["verdict"], claim["reason"]) for claim in results["claims"]]                  # doctest: +SKIP

Stages (the run folder keeps every trained model, so ``resume=True`` after an interruption trains nothing twice):

1. ``experiments``: `run_recon_experiments` (every model trained, the test volumes reconstructed at R = 2, 4, 8
   with one posterior sample each, the fine-tuning sweep);
2. ``sampling_spread``: the fine-tuned and the target-only priors sample the test volumes at R = 4 with
   ``profile.eval_seeds`` seeds (`sampling_spread`): how much a table entry moves with the sampler's seed, the margin
   the claims require;
3. ``samplers``: DDIM at several step counts against DDPM's every step, on the fine-tuned prior at R = 4 on the
   first slices of one test volume (`compare_samplers`): PSNR and sampling time per slice;
4. ``export_weights``: the fine-tuned prior as float16 weights with its model card (``weights/diffusion_flair``).

Sampling is the expensive part on a CPU (about 0.1 s per slice and network call on 2 cores for the reference prior),
so the table has one sample per entry and the spread is measured where the claims need it.

The results JSON (default ``book/results/<profile>/recon.json``) holds ``provenance`` (commit, command, device,
versions, date, time of each stage and whether it ran or was reused; when the training was reused, the record the
run folder keeps of the command and commit that trained it, as ``training_run``), ``seeds``, ``table``, ``sweep``,
``sampling_spread``, ``samplers``, ``claims`` (`recon_claims`) and ``settings``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from brainfm_lite.atomic import write_json
from brainfm_lite.config import Profile, load_profile
from brainfm_lite.datasets.recon_slices import TARGET_CONTRAST, recon_datasets, recon_subject_groups, subject_slices
from brainfm_lite.errors import InputError
from brainfm_lite.eval.asl_claim_rules import claim_verdict
from brainfm_lite.eval.recon import DDIM_ETA, reconstruct
from brainfm_lite.eval.recon_experiments import (
    RECON_METHODS,
    SWEEP_ACCELERATION,
    Acquisition,
    over_seeds,
    reconstruct_with,
    run_recon_experiments,
    simulate_test_acquisitions,
    test_acquisitions,
)
from brainfm_lite.eval.results_run import record_provenance, run_provenance, stage
from brainfm_lite.models.export import export_weights
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.provenance import environment, repo_root, resolve_device
from brainfm_lite.sim.cohort import make_cohort
from brainfm_lite.train.diffusion_training import PRIOR_DIR

RECON_RESULTS_NAME = "recon.json"
PRIOR_WEIGHTS = "diffusion_flair"  # the exported fine-tuned prior, beside the results
STARTED_FILE = "started.json"  # the run folder's record of the command and commit that trained its models
DDIM_STEPS = (10, 25, 50, 100)  # DDIM step counts compared with DDPM
SAMPLER_SLICES = 2  # slices of the first test volume the samplers are compared on (DDPM: T network calls each)
SPREAD_METHODS = ("diffusion_finetuned", "diffusion_target")  # the priors whose sampling spread the claims use
# "Comparable" in the paper's first claim: within this PSNR (dB) of the many-subject prior, or better.
COMPARABLE_DB = 0.5
_TRAINED = ("unet_target/unet", *(f"{m}/{PRIOR_DIR}" for m in RECON_METHODS if m.startswith("diffusion")))


def recon_reference_results(profile: Profile, run_dir: str | Path, *, resume: bool = False,
                            out: str | Path | None = None, n_jobs: int = -1, command: str | None = None) -> dict:
    """Train, reconstruct, compare samplers, judge the claims, write the results JSON and export the prior.

    Args:
        profile: a `~brainfm_lite.config.Profile` (the book records ``load_profile("reference")``).
        run_dir: folder of the slice cache, the trained models and the sweep (created).
        resume: keep the models `run_dir` holds (interrupted training continues); reconstruction runs again.
        out: the results JSON (default ``book/results/<profile>/recon.json``); the prior goes to
            ``weights/diffusion_flair`` beside it.
        n_jobs: processes simulating the slices (-1: one per core).
        command: the command line to record (default: the equivalent ``brainfm results recon`` call).

    Returns:
        The results written to `out`: ``provenance, seeds, table, sweep, samplers, claims, settings``.
    """
    start = time.perf_counter()
    device = resolve_device(profile.device)
    env = environment(device)  # now: before this run writes into the checkout
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else recon_results_path(profile.name)
    command = command or (f"brainfm results recon --profile {profile.name} --run-dir {run_dir} --out {out}"
                          + (" --resume" if resume else ""))
    trained_before = [name for name in _TRAINED if (run_dir / name / "config.json").is_file()] if resume else []
    stages: dict[str, dict] = {}
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / STARTED_FILE).is_file():
        write_json(run_dir / STARTED_FILE, {**env, "command": command})

    with stage(stages, "experiments") as current:
        experiments = run_recon_experiments(profile, run_dir, n_jobs=n_jobs, resume=resume, progress=False)
        current["status"] = "resumed" if trained_before else "ran"  # sampling and scoring always run
        current["trained_before"] = trained_before  # the models reused; the rest (and the sweep's) trained here

    groups = recon_datasets(profile, cache_dir=run_dir / "slices", n_jobs=1)  # the cache the experiments filled
    acquisition = test_acquisitions(profile, groups["test"])[SWEEP_ACCELERATION]
    with stage(stages, "sampling_spread") as current:
        spread = sampling_spread(profile, run_dir, acquisition, device)
        current["status"] = "ran"

    finetuned = run_dir / "diffusion_finetuned" / PRIOR_DIR
    with stage(stages, "samplers") as current:
        samplers = compare_samplers(from_pretrained(finetuned).to(device), _first_slices(acquisition),
                                    ddim_steps=(*DDIM_STEPS, profile.ddim_steps),
                                    deterministic_steps=profile.ddim_steps, seed=profile.seed)
        current["status"] = "ran"

    claims = recon_claims(experiments["table"], experiments["sweep"], pretraining_lr=profile.diffusion_lr,
                          sampling_sd=max(row["psnr_seed_sd"] for row in spread))
    out.parent.mkdir(parents=True, exist_ok=True)
    with stage(stages, "export_weights") as current:
        weights = _export(finetuned, out.parent / "weights", profile, experiments["table"], command, env)
        current["status"] = "ran"

    provenance = run_provenance(env, profile, command, stages, time.perf_counter() - start)
    if trained_before:
        provenance["training_run"] = json.loads((run_dir / STARTED_FILE).read_text())
    record_provenance(run_dir, provenance, profile, reused=bool(trained_before))
    settings = {key: experiments[key] for key in ("accelerations", "center_fraction", "n_coils", "noise_std",
                                                  "n_test_slices", "n_test_volumes", "metrics", "image_size",
                                                  "sampler", "consistency", "methods", "sampling_seeds")}
    settings.update(profile=profile.to_dict(), weights=weights.relative_to(out.parent).as_posix(),
                    seconds=experiments["seconds"],
                    seeds_note=f"one training seed ({profile.seed}) for every model; the table has one posterior "
                               f"sample (seed {profile.seed}) per entry; sampling_spread has {profile.eval_seeds} "
                               "sampling seeds for two priors at R = 4. The SD over seeds is the sampler's, not "
                               "the training's (training 3 seeds of every prior is beyond this profile's budget)",
                    held_out="test volumes are FLAIR subjects at a site no model trained on; neither the source "
                             "(pretraining) nor the target training subjects include them")
    results = {"provenance": provenance, "seeds": list(range(profile.seed, profile.seed + profile.eval_seeds)),
               "table": experiments["table"], "sweep": experiments["sweep"], "sampling_spread": spread,
               "samplers": samplers,
               "claims": claims, "settings": settings}
    write_json(out, results)
    return results


def recon_results_path(profile_name: str) -> Path:
    """``book/results/<profile>/recon.json`` of the checkout (of the working directory outside one)."""
    return (repo_root() or Path.cwd()) / "book" / "results" / profile_name / RECON_RESULTS_NAME


def load_recon_results(profile_name: str = "reference") -> dict | None:
    """The recorded chapter-8 results of a profile (None when none are recorded).

    Raises:
        InputError: the file exists but is not a results file of `recon_reference_results`.
    """
    path = recon_results_path(profile_name)
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not readable as JSON ({err})") from err
    missing = sorted({"provenance", "table", "sweep", "sampling_spread", "samplers", "claims", "settings"}
                     - set(results))
    if missing:
        raise InputError(f"{path}: not a recon results file; keys {missing} are missing")
    return results


def shipped_prior_at_work(results: dict, *, weights_root: str | Path | None = None, acceleration: float = 4,
                          seed: int = 0) -> dict:
    """The shipped prior reconstructs one held-out test volume at the geometry it was trained on (what chapter 8
    shows at every profile): the first test subject of the recorded run, simulated afresh with its own coils and
    noise, undersampled at `acceleration`, reconstructed with DDIM at the recorded step count.

    Args:
        results: recorded results (`load_recon_results`).
        weights_root: folder holding ``settings["weights"]`` (default: the recorded results' folder of the checkout).
        acceleration: R.
        seed: posterior sampling seed.

    Returns:
        {"truth", "zero_filled", "prior"} magnitudes [S, H, W] (numpy), {"zero_filled", "prior"} scores
        (`score_volumes`) under "scores", the subject and the seconds sampling took.
    """
    settings = results["settings"]
    recorded = settings["profile"]  # as recorded; fields added to profiles since then keep today's values
    profile = load_profile(recorded["name"], **{k: v for k, v in recorded.items() if k in Profile.__dataclass_fields__})
    root = Path(weights_root) if weights_root is not None else recon_results_path(profile.name).parent
    prior = from_pretrained(root / settings["weights"])
    subject = recon_subject_groups(profile)["test"][0]
    cohort = make_cohort(subject + 1, seed=profile.seed, spacing_mm=profile.recon_spacing_mm, n_sites=profile.n_sites)
    slices = subject_slices(cohort, subject, contrasts=(TARGET_CONTRAST,), size=profile.recon_image_size,
                            n_slices=profile.recon_slices_per_subject)
    truth = torch.from_numpy(slices["images"])
    acquisition = simulate_test_acquisitions(truth, profile.recon_coils, accelerations=(acceleration,),
                                             noise_std=settings["noise_std"], seed=seed)[acceleration]
    tic = time.perf_counter()
    image = reconstruct(prior, acquisition.kspace, acquisition.sens, acquisition.mask, sampler="ddim",
                        steps=profile.ddim_steps, seed=seed, progress=False).image
    seconds = time.perf_counter() - tic
    zero = acquisition.zero_filled()
    return {"truth": truth.abs().numpy(), "zero_filled": zero.abs().numpy(), "prior": image.abs().numpy(),
            "scores": {"zero_filled": acquisition.score(zero), "prior": acquisition.score(image)},
            "subject": subject, "seconds": seconds}


def compare_samplers(prior, acquisition: Acquisition, *, ddim_steps=DDIM_STEPS, deterministic_steps: int | None = None,
                     seed: int = 0) -> list[dict]:
    """DDPM (every training step) and DDIM (eta = `DDIM_ETA`) at each of `ddim_steps` below the prior's T, and the
    deterministic DDIM (eta = 0) at `deterministic_steps`, all with hard data consistency, on one acquisition.

    Returns:
        One row per sampler: ``{"sampler", "steps", "eta", "psnr", "ssim", "nmse", "seconds_per_slice"}``, scored
        per volume (`score_volumes`); time is the wall time of the whole reconstruction divided by the slices.
    """
    below_t = sorted({int(k) for k in ddim_steps if int(k) < prior.config.num_train_timesteps})
    runs = [("ddpm", None, None)] + [("ddim", k, DDIM_ETA) for k in below_t]
    if deterministic_steps is not None:
        runs.append(("ddim", int(deterministic_steps), 0.0))
    rows = []
    for sampler, steps, eta in runs:
        tic = time.perf_counter()
        result = reconstruct(prior, acquisition.kspace, acquisition.sens, acquisition.mask, sampler=sampler,
                             steps=steps, eta=DDIM_ETA if eta is None else eta, seed=seed, progress=False)
        seconds = time.perf_counter() - tic
        scores = acquisition.score(result.image)
        rows.append({"sampler": sampler, "steps": result.network_calls, "eta": eta, "psnr": scores["psnr_mean"],
                     "ssim": scores["ssim_mean"], "nmse": scores["nmse_mean"],
                     "seconds_per_slice": seconds / len(acquisition.truth)})
    return rows


def recon_claims(table: list[dict], sweep: dict, *, pretraining_lr: float, sampling_sd: float = 0.0) -> list[dict]:
    """The stroke DPM paper's claims, each with what we measured and a verdict (``reproduced`` when it holds at
    every acceleration, ``partly`` at some, ``not reproduced`` at none; `asl_claim_rules.claim_verdict`).

    Args:
        table: `run_recon_experiments` rows (method, R, PSNR mean and SDs).
        sweep: its fine-tuning sweep (PSNR [lr][steps] at R = 4).
        pretraining_lr: the learning rate of pretraining; "reduced" means below it.
        sampling_sd: how much a PSNR entry moves with the sampling seed (dB; `sampling_spread`): a lead must exceed
            it to count as a win.

    Returns:
        ``[{"claim", "measured", "verdict", "reason"}, ...]``.
    """
    psnr = {(row["method"], row["R"]): row for row in table}
    rs = sorted({row["R"] for row in table})

    def gap(ours: str, theirs: str, r) -> float:
        return psnr[(ours, r)]["psnr_mean"] - psnr[(theirs, r)]["psnr_mean"]

    comparable = [r for r in rs if gap("diffusion_finetuned", "diffusion_many", r) >= -COMPARABLE_DB]
    beats = [r for r in rs if gap("diffusion_finetuned", "diffusion_target", r) > sampling_sd]
    claims = [
        {"claim": "Pretrained on many non-FLAIR brains and fine-tuned on 20 FLAIR subjects, a prior reconstructs "
                  "comparably to one trained on many FLAIR subjects.",
         "measured": "; ".join(f"R={r}: {gap('diffusion_finetuned', 'diffusion_many', r):+.2f} dB" for r in rs)
                     + " (fine-tuned minus many-subject PSNR)",
         "verdict": claim_verdict(len(comparable), len(rs)),
         "reason": f"within {COMPARABLE_DB} dB or better at {len(comparable)} of {len(rs)} accelerations"},
        {"claim": "Pretraining then fine-tuning on the 20 beats training on the 20 alone.",
         "measured": "; ".join(f"R={r}: {gap('diffusion_finetuned', 'diffusion_target', r):+.2f} dB" for r in rs)
                     + " (fine-tuned minus target-only PSNR)",
         "verdict": claim_verdict(len(beats), len(rs)),
         "reason": f"ahead by more than the sampling spread ({sampling_sd:.2f} dB) at {len(beats)} of {len(rs)} "
                   "accelerations"},
        _sweep_claim(sweep, pretraining_lr),
    ]
    return claims


def _sweep_claim(sweep: dict, pretraining_lr: float) -> dict:
    """Moderate fine-tuning at a reduced learning rate is best; too little or too much degrades."""
    grid = np.asarray(sweep["psnr"])
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    best_lr, best_steps = sweep["lrs"][i], sweep["steps"][j]
    reduced = best_lr < pretraining_lr
    moderate = 0 < j < grid.shape[1] - 1  # both a shorter and a longer run at that rate did worse
    held = int(reduced) + int(moderate)
    at_best_rate = ", ".join(f"{steps} steps {value:.2f} dB" for steps, value in zip(sweep["steps"], grid[i]))
    return {"claim": "Moderate fine-tuning at a reduced learning rate is best; too little or too much degrades.",
            "measured": f"best PSNR {grid[i, j]:.2f} dB at lr {best_lr:g}, {best_steps} steps (R = "
                        f"{sweep['acceleration']}); at that rate " + at_best_rate,
            "verdict": claim_verdict(held, 2),
            "reason": f"the best rate is {'below' if reduced else 'not below'} pretraining's {pretraining_lr:g}; the "
                      f"best duration is {'between' if moderate else 'at an end of'} the durations tried"}


def _first_slices(acquisition: Acquisition, n: int = SAMPLER_SLICES) -> Acquisition:
    """The first `n` slices of the first test volume of `acquisition`, scored as one volume."""
    first = torch.nonzero(acquisition.subjects == acquisition.subjects[0]).flatten()[:n]
    return Acquisition(acquisition.truth[first], acquisition.kspace[first], acquisition.sens[first],
                       acquisition.mask, acquisition.acceleration, acquisition.subjects[first])


def sampling_spread(profile: Profile, run_dir: Path, acquisition: Acquisition, device,
                    methods=SPREAD_METHODS) -> list[dict]:
    """Each prior of `methods` samples `acquisition` with ``profile.eval_seeds`` seeds; one row per method:
    ``{"method", "R", **over_seeds(scores)}`` (``psnr_seed_sd``: the SD of the volume-mean PSNR over seeds)."""
    rows = []
    for method in methods:
        prior = from_pretrained(run_dir / method / PRIOR_DIR).to(device)
        scores = [acquisition.score(reconstruct_with(prior, acquisition, profile, seed=seed, progress=False))
                  for seed in range(profile.seed, profile.seed + profile.eval_seeds)]
        rows.append({"method": method, "R": acquisition.acceleration, **over_seeds(scores)})
    return rows


def _export(prior_dir: Path, weights_root: Path, profile: Profile, table: list[dict], command: str,
            env: dict) -> Path:
    """The fine-tuned prior as float16 weights with its model card, under the shipped-weights budget."""
    metadata = json.loads((prior_dir / "config.json").read_text()).get("metadata", {})
    metrics = {f"PSNR at R={row['R']} (dB), {row['n_volumes']} held-out volumes": round(row["psnr_mean"], 2)
               for row in table if row["method"] == "diffusion_finetuned"}
    card = {"name": PRIOR_WEIGHTS, "objective": "ddpm", "profile": profile.name,
            "steps": int(metadata.get("steps") or 0),
            "data": f"pretrained on {profile.recon_source_subjects} synthetic non-FLAIR subjects, fine-tuned on "
                    f"{profile.recon_target_subjects} FLAIR subjects; {profile.recon_image_size}^2 slices at "
                    f"{profile.recon_spacing_mm:g} mm",
            "metrics": metrics,
            "provenance": {"commit": env["git_commit"], "date": env["date_utc"], "command": command}}
    return export_weights(prior_dir, weights_root / PRIOR_WEIGHTS, card=card, budget_root=weights_root)
