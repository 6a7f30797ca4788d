"""Tests for brainfm_lite.eval.recon_report: the chapter 8 tables and their reading."""

from brainfm_lite.eval.recon_experiments import RECON_METHODS
from brainfm_lite.eval.recon_report import recon_findings, recon_markdown, samplers_markdown

# PSNR per method at R = 2 and 4: fine-tuning beats target-only at R = 2 only and zero-filling at both
PSNR = {"zero_filled": (20.0, 18.0), "unet_target": (25.0, 22.0), "diffusion_target": (26.0, 24.5),
        "diffusion_pretrained": (24.0, 21.0), "diffusion_finetuned": (27.5, 24.0), "diffusion_many": (28.0, 25.0)}


def results():
    table = [{"method": m, "R": r, "psnr_mean": PSNR[m][i], "psnr_std": 1.0, "ssim_mean": 0.8, "ssim_std": 0.01,
              "nmse_mean": 0.02, "nmse_std": 0.001} for m in RECON_METHODS for i, r in enumerate((2, 4))]
    sweep = {"acceleration": 4, "lrs": [1e-3, 1e-4], "steps": [10, 100], "psnr": [[20.0, 19.0], [23.0, 21.0]]}
    return {"profile": "reference", "accelerations": [2, 4], "table": table, "sweep": sweep, "image_size": 64,
            "n_coils": 8, "n_test_slices": 32, "sampler": "DDIM 25 steps", "seconds": {"total": 3600.0},
            "settings": {"diffusion_preset": "small", "diffusion_steps": 1200},
            "environment": {"git_commit": "abc1234", "device_name": "cpu (2 threads)", "date_utc": "2026-11-22"}}


def test_findings_compare_fine_tuning_with_training_on_the_target_alone_and_the_many_subject_prior():
    lines = recon_findings(results())
    assert lines[0].startswith("R=2: fine-tuned 27.50 dB vs target-only 26.00 (+1.50), many-target 28.00 (-0.50)")
    assert lines[1].startswith("R=4: fine-tuned 24.00 dB vs target-only 24.50 (-0.50)")
    assert lines[2] == "sweep at R=4: best PSNR 23.00 dB at lr 0.0001, 10 steps; worst 19.00 dB"
    assert lines[3] == "the fine-tuned prior beats zero-filling at 2 of 2 accelerations"


def test_table_names_every_method_with_mean_and_spread():
    text = recon_markdown(results()["table"])
    assert len(text.splitlines()) == 2 + len(RECON_METHODS) * 2
    assert f"| {RECON_METHODS['diffusion_finetuned']} | 2 | 27.50 (1.00) | 0.800 (0.010) | 0.0200 (0.0010) |" in text


def test_sampling_seeds_add_their_spread_and_deterministic_rows_do_not():
    table = results()["table"][:2]
    table[0].update(n_seeds=3, psnr_seed_sd=0.25, ssim_seed_sd=0.002, nmse_seed_sd=0.0003)
    lines = recon_markdown(table).splitlines()
    assert "| 20.00 (1.00) ± 0.25 | 0.800 (0.010) ± 0.002 |" in lines[2]
    assert "±" not in lines[3]


def test_samplers_table_gives_each_time_as_a_share_of_ddpm():
    rows = [{"sampler": "ddpm", "steps": 1000, "eta": None, "psnr": 25.0, "ssim": 0.8, "seconds_per_slice": 20.0},
            {"sampler": "ddim", "steps": 25, "eta": 1.0, "psnr": 24.8, "ssim": 0.79, "seconds_per_slice": 0.5},
            {"sampler": "ddim", "steps": 25, "eta": 0.0, "psnr": 17.0, "ssim": 0.4, "seconds_per_slice": 0.5}]
    lines = samplers_markdown(rows).splitlines()
    assert lines[2] == "| DDPM | 1000 | — | 25.00 | 0.800 | 20.00 | 1 |"
    assert lines[3] == "| DDIM | 25 | 1 | 24.80 | 0.790 | 0.50 | 1/40 |"
    assert lines[4].startswith("| DDIM | 25 | 0 | 17.00 |")
