"""Tests for brainfm_lite.eval.hidden_patches: the MAE's error on what it did not see, beside two untrained guesses."""

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.hidden_patches import errors_on_hidden, hidden_patch_errors, masked_reconstruction
from brainfm_lite.models.mae import MAE, MAEConfig


@pytest.fixture(scope="module")
def mae():
    torch.manual_seed(0)
    return MAE(MAEConfig(img_size=(16, 16, 16), patch_size=(8, 8, 8), hidden_size=24, mlp_dim=48, num_layers=1,
                         num_heads=2, decoder_hidden_size=24, decoder_mlp_dim=48, decoder_num_layers=1,
                         decoder_num_heads=2))


def test_errors_are_taken_on_hidden_voxels_only():
    volumes = torch.zeros(1, 1, 4, 4, 4)
    volumes[..., :2] = 2.0  # the hidden half holds 2, the visible half 0
    hidden = torch.zeros(1, 1, 4, 4, 4)
    hidden[..., :2] = 1
    recon = volumes.clone()
    recon[..., :2] = 1.0
    errors = errors_on_hidden(volumes, recon, hidden)
    assert errors == {"mae": 1.0, "zero": 4.0, "visible_mean": 4.0}  # visible mean 0 guesses 0 for the 2s


def test_the_same_seed_hides_the_same_patches_and_leaves_the_global_generator_alone(mae):
    volumes = torch.randn(2, 1, 16, 16, 16)
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    first = masked_reconstruction(mae, volumes, masking_ratio=0.75, seed=3)
    assert torch.equal(torch.rand(1), expected_next)
    second = masked_reconstruction(mae, volumes, masking_ratio=0.75, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert hidden_patch_errors(mae, volumes, seed=3) == hidden_patch_errors(mae, volumes, seed=3)
    assert float(first[1].mean()) == pytest.approx(0.75)


def test_a_bad_masking_ratio_is_refused(mae):
    with pytest.raises(InputError, match="masking_ratio"):
        hidden_patch_errors(mae, torch.zeros(1, 1, 16, 16, 16), masking_ratio=1.0)
