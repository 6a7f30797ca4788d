"""Tests for brainfm_lite.eval.recon_experiments: fastMRI's volume scores, whole test volumes, the U-Net baseline
trained with the test noise."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.recon_slices import SliceDataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.recon_experiments import (
    KSPACE_NOISE_STD,
    score_volumes,
    select_test_volumes,
    simulate_test_acquisitions,
    train_supervised_unet,
)
from brainfm_lite.models.hub import from_pretrained


# fastMRI's fastmri/evaluate.py, written out independently: one call per volume [S, H, W] of magnitudes.
def fastmri_nmse(gt, pred):
    return np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2


def fastmri_psnr(gt, pred):
    return peak_signal_noise_ratio(gt, pred, data_range=gt.max())


def fastmri_ssim(gt, pred):
    maxval = gt.max()
    return np.mean([structural_similarity(g, p, data_range=maxval) for g, p in zip(gt, pred)])


def two_volumes(seed=0):
    """Truth and a noisy reconstruction of two subjects (3 and 2 slices), with slices and volumes of different
    brightness, so a slice's maximum is not its volume's."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0, 1, size=(5, 24, 24)) * np.array([1.0, 0.4, 0.7, 3.0, 1.5])[:, None, None]
    recon = np.abs(truth + rng.normal(0, 0.05, size=truth.shape))
    return truth, recon, np.array([7, 7, 7, 2, 2])


def test_volume_scores_are_fastmri_evaluate_per_volume_then_averaged():
    truth, recon, subjects = two_volumes()
    scores = score_volumes(torch.from_numpy(truth), torch.from_numpy(recon), subjects)
    volumes = [subjects == 7, subjects == 2]
    for name, reference in [("psnr", fastmri_psnr), ("ssim", fastmri_ssim), ("nmse", fastmri_nmse)]:
        per_volume = [reference(truth[v], recon[v]) for v in volumes]
        assert scores[f"{name}_mean"] == pytest.approx(np.mean(per_volume), rel=1e-6)
        assert scores[f"{name}_std"] == pytest.approx(np.std(per_volume), rel=1e-6, abs=1e-12)
    assert scores["n_volumes"] == 2


def test_complex_slices_are_scored_by_magnitude_and_no_subjects_means_one_volume():
    truth, recon, _ = two_volumes(seed=1)
    phase = torch.exp(1j * torch.rand(truth.shape, generator=torch.Generator().manual_seed(0)))
    scores = score_volumes(torch.from_numpy(truth) * phase, torch.from_numpy(recon) * phase)
    assert scores["n_volumes"] == 1 and scores["psnr_std"] == 0.0
    assert scores["psnr_mean"] == pytest.approx(fastmri_psnr(truth, recon), rel=1e-6)
    with pytest.raises(InputError, match="one entry per slice"):
        score_volumes(torch.from_numpy(truth), torch.from_numpy(recon), [1, 2])


def slice_dataset(subjects, size=16, seed=0):
    n = len(subjects)
    images = torch.randn(n, size, size, dtype=torch.complex64, generator=torch.Generator().manual_seed(seed))
    return SliceDataset(images, torch.ones(n, size, size, dtype=torch.bool), subjects, [0] * n, ["flair"] * n)


def test_test_volumes_are_whole_subjects_within_the_slice_budget():
    dataset = slice_dataset([4, 4, 4, 9, 9, 9, 11, 11, 11])
    images, subjects = select_test_volumes(dataset, 7)
    assert subjects.tolist() == [4, 4, 4, 9, 9, 9]
    torch.testing.assert_close(images, dataset.images()[:6])
    assert select_test_volumes(dataset, 2)[1].tolist() == [4, 4, 4]  # never less than one whole volume
    acquisitions = simulate_test_acquisitions(images, 2, accelerations=(4,), subjects=subjects)
    assert acquisitions[4].subjects.tolist() == subjects.tolist()
    assert acquisitions[4].score(acquisitions[4].zero_filled())["n_volumes"] == 2


def test_the_unet_baseline_is_trained_with_the_test_noise(tmp_path):
    profile = load_profile("smoke", device="cpu", diffusion_steps=1, diffusion_batch_size=2)
    dataset = slice_dataset([0, 0, 1, 1], size=32)
    folder = train_supervised_unet(profile, dataset, tmp_path, progress=False)
    assert from_pretrained(folder).config.noise_std == KSPACE_NOISE_STD > 0
