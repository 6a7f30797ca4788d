"""`brainfm recon` on hand-made fastMRI files: at R = 4 a briefly trained prior with data consistency beats
zero-filling against reconstruction_rss; the outputs, the acquired mask, and a missing prior."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.recon_slices import SliceDataset
from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.pipeline import reconstruct_fastmri
from brainfm_lite.models.export import export_weights
from brainfm_lite.physics.kspace import acs_scale, fft2c, ifft2c
from brainfm_lite.train.diffusion_training import train_prior

GRID = 48  # 192 mm at the prior's 4 mm (the smoke profile's recon_spacing_mm)
TRAIN_STEPS = 300  # about 25 s of CPU; PSNR on the test file beats zero-filling from about 200 steps on
STEPS = 20  # DDIM steps; at 5 this briefly trained prior does not yet beat zero-filling


def training_slices(fm) -> SliceDataset:
    """Other slices of the template, cut to the central 48 x 48 of their k-space (4 mm) and divided by their
    autocalibration scale, as the package's training slices are."""
    images = torch.from_numpy(fm.brain_slices(fm.TRAIN_Z)).to(torch.complex64)
    kspace = fft2c(images)
    start = fm.RECON // 2 - GRID // 2
    low = ifft2c(kspace[:, start:start + GRID, start:start + GRID]) * GRID / fm.RECON
    low = low / acs_scale(fft2c(low)[:, None]).view(-1, 1, 1)
    n = len(low)
    return SliceDataset(low, torch.ones(low.shape, dtype=torch.bool), np.arange(n), np.zeros(n), ["flair"] * n)


@pytest.fixture(scope="module")
def priors(fm, tmp_path_factory):
    """A tiny prior trained briefly at 4 mm: its training folder (no pixel size recorded) and the same weights
    exported with a model card naming the smoke profile (4 mm)."""
    root = tmp_path_factory.mktemp("fastmri_prior")
    profile = load_profile("smoke", device="cpu", diffusion_timesteps=100, diffusion_batch_size=4, diffusion_lr=2e-3)
    trained = train_prior(profile, training_slices(fm), root / "run", steps=TRAIN_STEPS, progress=False)
    card = {"name": "diffusion_flair", "objective": "ddpm", "profile": "smoke", "steps": TRAIN_STEPS}
    exported = export_weights(trained, root / "weights" / "diffusion_flair", card=card)
    return {"trained": trained, "exported": exported}


def test_the_command_beats_zero_filling_at_r4_and_writes_its_outputs(fm, fastmri_file, priors, tmp_path, capsys):
    out = tmp_path / "out"
    code = fm.run_recon(fastmri_file, "--R", 4, "--prior", priors["exported"], "--steps", STEPS, "--out", out)
    assert code == 0
    stem = fastmri_file.name.removesuffix(".h5")
    record = json.loads((out / f"{stem}_recon.json").read_text())
    scores = record["scores"]
    assert scores["prior"]["psnr"] > scores["zero_filled"]["psnr"]
    assert scores["prior"]["nmse"] < scores["zero_filled"]["nmse"]
    assert scores["fully_sampled"]["psnr"] > 40  # the reference on the grid is what the grid's full data give
    settings = record["settings"]
    assert settings["grid"]["shape"] == [GRID, GRID] and settings["grid"]["pixel_mm"] == [4.0, 4.0]
    assert settings["prior"]["settings_from"] == "profile smoke" and settings["steps"] == STEPS
    assert settings["acceleration"] == 4 and 1 < settings["effective_acceleration"] < 4  # the centre is dense
    assert settings["slices"] == [0, 1, 2]
    assert record["provenance"]["command"].startswith("brainfm recon") and "torch" in record["provenance"]["versions"]
    assert record["input"]["attributes"]["acquisition"] == "AXFLAIR" and len(record["input"]["sha256"]) == 64
    for kind in ("recon", "zerofilled", "reference"):
        image = nib.load(out / f"{stem}_{kind}.nii.gz")
        assert image.shape == (GRID, GRID, 3)
        assert np.allclose(image.header.get_zooms(), (4.0, 4.0, 5.0))
    assert "prior: PSNR" in capsys.readouterr().out


def test_the_python_api_takes_a_training_folder_with_its_pixel_size(fastmri_file, priors):
    with pytest.raises(InputError, match="--spacing-mm"):
        reconstruct_fastmri(fastmri_file, priors["trained"], acceleration=4)
    result = reconstruct_fastmri(fastmri_file, priors["trained"], acceleration=4, spacing_mm=4.0, steps=STEPS,
                                 slices=slice(1, 2))
    assert result.recon.shape == result.zero_filled.shape == result.reference.shape == (1, GRID, GRID)
    assert result.settings["prior"]["settings_from"] == "given"
    assert not result.recon[~result.support.numpy()].any()  # nothing measured there: zero


def test_an_acquired_mask_is_used_as_the_file_gives_it(fm, priors, tmp_path):
    full = fm.multicoil_kspace(fm.brain_slices(fm.TEST_Z[:2]))
    mask = np.zeros(fm.ENCODED[1], np.uint8)  # equispaced every 4th column plus 16 central lines, as fastMRI's
    mask[::4] = 1
    mask[fm.ENCODED[1] // 2 - 8:fm.ENCODED[1] // 2 + 8] = 1
    path = fm.write_file(tmp_path / "file_brain_AXT2_test.h5", kspace=full * mask.astype(bool), reference=False,
                         mask=mask)
    out = tmp_path / "out"
    assert fm.run_recon(path, "--mask", "acquired", "--prior", priors["exported"], "--steps", 3, "--out", out) == 0
    record = json.loads((out / "file_brain_AXT2_test_recon.json").read_text())
    assert record["scores"] == {} and "no reconstruction_rss" in record["reference"]
    assert record["settings"]["mask"] == "acquired" and record["settings"]["acceleration"] is None
    on_grid = mask[fm.ENCODED[1] // 2 - GRID // 2:fm.ENCODED[1] // 2 + GRID // 2]
    assert record["settings"]["sampled_columns"] == int(on_grid.sum())
    assert sorted(p.name for p in out.iterdir()) == ["file_brain_AXT2_test_recon.json",
                                                     "file_brain_AXT2_test_recon.nii.gz",
                                                     "file_brain_AXT2_test_zerofilled.nii.gz"]


def test_without_the_shipped_prior_the_error_says_how_to_record_it(fm, fastmri_file, tmp_path, monkeypatch):
    monkeypatch.setattr("brainfm_lite.fastmri.prior.default_prior_dir", lambda: tmp_path / "weights" / "absent")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="brainfm results recon --profile reference"):
        fm.run_recon(fastmri_file, "--R", 4, "--out", out)
    assert not out.exists()


@pytest.mark.parametrize(("options", "message"), [
    (["--mask", "acquired", "--R", "4"], "--R applies to retrospective"),
    (["--sampler", "ddpm", "--steps", "5"], "--steps applies to DDIM"),
    (["--R", "40"], "--R 40 does not fit"),
])
def test_options_that_do_not_fit_are_refused_before_any_work(fm, fastmri_file, priors, tmp_path, options, message):
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message):
        fm.run_recon(fastmri_file, "--prior", priors["exported"], "--out", out, *options)
    assert not out.exists()
