"""Tests for brainfm_lite.models.recon_unet: the supervised baseline's training inputs carry the k-space noise it is
tested with, and its reconstruction does not depend on the k-space's units."""

import torch

from brainfm_lite.models.recon_unet import ReconUNetConfig, SupervisedRecon
from brainfm_lite.physics import kspace

FEATURES = (8, 8, 16, 32, 64, 8)


def constant_images(n=8, size=32):
    """Fully sampled images of magnitude 1 everywhere, [n, 2, size, size]: their acs_scale is about 1."""
    return kspace.to_channels(torch.ones(n, size, size, dtype=torch.complex64))


def test_training_inputs_carry_the_configured_kspace_noise():
    """R = 1, so the zero-filled input is the image plus the noise alone: its spread is the configured noise."""
    spreads = {}
    for noise_std in (0.0, 0.01):
        torch.manual_seed(0)
        model = SupervisedRecon(ReconUNetConfig(features=FEATURES, accelerations=(1,), n_coils=4, noise_std=noise_std))
        inputs, target = model.training_pair(constant_images())
        spreads[noise_std] = (inputs - target).std().item()
    assert spreads[0.0] < 1e-5
    assert 0.008 < spreads[0.01] < 0.012


def test_reconstruction_scales_with_the_kspace():
    torch.manual_seed(0)
    model = SupervisedRecon(ReconUNetConfig(features=FEATURES, n_coils=4)).eval()
    image = torch.randn(2, 32, 32, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    sens = kspace.coil_sensitivities((32, 32), 4, seed=2)
    measured = kspace.simulate_acquisition(image, sens, kspace.cartesian_mask((32, 32), 4, 0.08, seed=3))
    with torch.no_grad():
        small, large = model.reconstruct_kspace(measured, sens), model.reconstruct_kspace(1000 * measured, sens)
    torch.testing.assert_close(large, 1000 * small, rtol=1e-4, atol=1e-3)
