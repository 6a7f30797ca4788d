"""Tests for brainfm_lite.eval.recon_report: the chapter 8 table, its reading, and recorded runs."""

import json

import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.eval.recon_experiments import RECON_METHODS
from brainfm_lite.eval.recon_report import provenance_line, recon_findings, recon_markdown, recorded_results

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


def test_recorded_results_are_read_with_their_provenance(tmp_path):
    assert recorded_results("reference", root=tmp_path) is None
    folder = tmp_path / "book" / "results" / "reference"
    folder.mkdir(parents=True)
    (folder / "recon_results.json").write_text(json.dumps(results()))
    recorded = recorded_results("reference", root=tmp_path)
    assert "commit abc1234, cpu (2 threads), 2026-11-22 UTC; 60 min in all" in provenance_line(recorded)


def test_a_recorded_file_of_another_kind_is_an_input_error_naming_it(tmp_path):
    folder = tmp_path / "book" / "results" / "colab"
    folder.mkdir(parents=True)
    (folder / "recon_results.json").write_text(json.dumps({"table": []}))
    with pytest.raises(InputError, match="recon_results.json.*missing"):
        recorded_results("colab", root=tmp_path)
