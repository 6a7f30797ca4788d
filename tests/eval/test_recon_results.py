"""Chapter 8's recorded results: claims judged from the numbers, seeds summarised, one resumable command."""

import json

import pytest
import torch

from brainfm_lite.cli import main
from brainfm_lite.config import load_profile
from brainfm_lite.datasets.recon_slices import recon_subject_groups
from brainfm_lite.errors import InputError
from brainfm_lite.eval.asl_claim_rules import VERDICTS
from brainfm_lite.eval.recon_experiments import over_seeds
from brainfm_lite.eval.recon_results import COMPARABLE_DB, recon_claims, recon_reference_results, shipped_prior_at_work
from brainfm_lite.models.hub import from_pretrained


def _row(method, r, psnr, seed_sd=0.0):
    return {"method": method, "R": r, "psnr_mean": psnr, "psnr_std": 0.5, "psnr_seed_sd": seed_sd}


def _table(finetuned, many, target):
    rows = []
    for r, (f, m, t) in enumerate(zip(finetuned, many, target), start=2):
        rows += [_row("diffusion_finetuned", r, f, 0.1), _row("diffusion_many", r, m, 0.1),
                 _row("diffusion_target", r, t, 0.1)]
    return rows


SWEEP = {"acceleration": 4, "lrs": [2e-4, 5e-5, 1e-5], "steps": [25, 100, 300],
         "psnr": [[20.0, 19.0, 18.0], [20.5, 22.0, 21.0], [20.1, 20.4, 20.9]]}


def test_claims_hold_where_the_numbers_say_so():
    claims = recon_claims(_table([30.0, 27.0], [30.2, 26.0], [29.0, 26.5]), SWEEP, pretraining_lr=2e-4)
    assert [claim["verdict"] for claim in claims] == ["reproduced", "reproduced", "reproduced"]
    assert "+1.00 dB" in claims[1]["measured"] and "lr 5e-05, 100 steps" in claims[2]["measured"]


def test_claims_fail_where_the_numbers_say_so():
    worse = 1.0 + COMPARABLE_DB
    table = _table([30.0 - worse, 27.0], [30.0, 27.5], [29.95, 27.05])  # one R comparable; never ahead of target
    sweep = {**SWEEP, "psnr": [[20.0, 21.0, 23.0], [19.0, 19.0, 19.0], [18.0, 18.0, 18.0]]}  # the end, full rate
    claims = recon_claims(table, sweep, pretraining_lr=2e-4)
    assert [claim["verdict"] for claim in claims] == ["partly", "not reproduced", "not reproduced"]
    assert all(claim["verdict"] in VERDICTS for claim in claims)


def test_a_lead_within_the_sampling_spread_is_not_a_win():
    table = _table([30.05], [30.0], [30.0])
    assert recon_claims(table, SWEEP, pretraining_lr=2e-4)[1]["verdict"] == "reproduced"
    assert recon_claims(table, SWEEP, pretraining_lr=2e-4, sampling_sd=0.2)[1]["verdict"] == "not reproduced"


def test_seeds_are_summarised_as_mean_volume_sd_and_seed_sd():
    scores = [{"psnr_mean": 20.0, "psnr_std": 1.0, "ssim_mean": 0.5, "ssim_std": 0.1, "nmse_mean": 0.1,
               "nmse_std": 0.0, "n_volumes": 3},
              {"psnr_mean": 22.0, "psnr_std": 3.0, "ssim_mean": 0.7, "ssim_std": 0.1, "nmse_mean": 0.1,
               "nmse_std": 0.0, "n_volumes": 3}]
    row = over_seeds(scores)
    assert row["psnr_mean"] == pytest.approx(21.0) and row["psnr_std"] == pytest.approx(2.0)
    assert row["psnr_seed_sd"] == pytest.approx(1.0) and row["n_seeds"] == 2 and row["n_volumes"] == 3
    with pytest.raises(InputError):
        over_seeds([])


TINY = dict(device="cpu", recon_image_size=32, recon_source_subjects=3, recon_target_subjects=2,
            recon_many_subjects=3, recon_test_subjects=1, recon_slices_per_subject=2, recon_coils=2,
            diffusion_timesteps=10, diffusion_steps=2, diffusion_batch_size=2, diffusion_finetune_steps=1,
            diffusion_sweep_lrs=[1e-3, 1e-4], diffusion_sweep_steps=[1, 2, 3], ddim_steps=2, recon_eval_slices=2,
            eval_seeds=2)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("recon_results")
    profile = load_profile("smoke", **TINY)
    out = root / "results" / "recon.json"
    first = recon_reference_results(profile, root / "run", out=out, n_jobs=1)
    return profile, root, out, first


def test_the_command_records_every_part_with_provenance(recorded):
    _, root, out, results = recorded
    assert json.loads(out.read_text()) == json.loads(json.dumps(results))
    assert set(results) == {"provenance", "seeds", "table", "sweep", "sampling_spread", "samplers", "claims",
                            "settings"}
    assert results["seeds"] == [0, 1] and {row["n_seeds"] for row in results["table"]} == {1}
    assert [(row["method"], row["n_seeds"]) for row in results["sampling_spread"]] == [
        ("diffusion_finetuned", 2), ("diffusion_target", 2)]
    assert results["provenance"]["wall_time_s"]["stages"]["experiments"]["status"] == "ran"
    samplers = {(row["sampler"], row["steps"]) for row in results["samplers"]}
    assert ("ddpm", 10) in samplers and ("ddim", 2) in samplers  # DDPM walks every training step
    assert sorted(row["eta"] for row in results["samplers"] if row["steps"] == 2) == [0.0, 1.0]
    assert all(claim["verdict"] in VERDICTS for claim in results["claims"])


def test_the_shipped_prior_loads_and_reconstructs_a_held_out_volume(recorded):
    _, _, out, results = recorded
    prior = from_pretrained(out.parent / results["settings"]["weights"])
    assert next(prior.parameters()).dtype == torch.float32  # float16 on disk, float32 when loaded
    assert "Not for clinical use" in (out.parent / results["settings"]["weights"] / "README.md").read_text()
    shown = shipped_prior_at_work(results, weights_root=out.parent)
    assert shown["prior"].shape == shown["truth"].shape == (TINY["recon_slices_per_subject"], 32, 32)
    assert shown["subject"] in recon_subject_groups(load_profile("smoke", **TINY))["test"]
    assert set(shown["scores"]) == {"zero_filled", "prior"}


def test_a_resumed_run_reuses_the_training_and_says_so(recorded, capsys):
    _, root, out, _ = recorded
    code = main(["results", "recon", "--profile", "smoke", *[f"--set={k}={v}" for k, v in TINY.items()],
                 "--run-dir", str(root / "run"), "--out", str(out), "--resume", "--jobs", "1"])
    assert code == 0
    results = json.loads(out.read_text())
    experiments = results["provenance"]["wall_time_s"]["stages"]["experiments"]
    assert experiments["status"] == "resumed" and len(experiments["trained_before"]) == 5  # U-Net and 4 priors
    assert results["provenance"]["training_run"]["git_commit"] == results["provenance"]["resumed_from"]["commit"]
    assert "wrote" in capsys.readouterr().out
