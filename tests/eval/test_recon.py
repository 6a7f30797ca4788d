"""Tests for brainfm_lite.eval.recon: exact k-space projection, seeded samplers, network calls, shapes, errors."""

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.recon import KspaceProjector, project_kspace, reconstruct
from brainfm_lite.models.diffusion import DiffusionConfig, DiffusionPrior
from brainfm_lite.physics import kspace

SIZE = 16


def random_complex(*shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=torch.complex64)


@pytest.fixture
def acquisition():
    """Two noise-free 4-coil slices at R = 4: (truth [2, H, W], k-space [2, 4, H, W], sens [4, H, W], mask)."""
    truth = random_complex(2, SIZE, SIZE)
    sens = kspace.coil_sensitivities((SIZE, SIZE), 4, seed=1)
    mask = kspace.cartesian_mask((SIZE, SIZE), 4, 0.125, seed=2)
    return truth, kspace.simulate_acquisition(truth, sens, mask), sens, mask


@pytest.fixture
def prior():
    torch.manual_seed(0)
    return DiffusionPrior(DiffusionConfig(channels=(8, 16), attention_levels=(False, False), num_res_blocks=1,
                                          norm_num_groups=8, num_train_timesteps=12))


def relative_error(a, b):
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b)).item()


@pytest.mark.parametrize("n_coils", [1, 4])
def test_projection_reproduces_the_measured_lines_exactly(acquisition, n_coils):
    """Noise-free double-precision data and no eigenvalue cut-off: the sampled k-space equals the measurement."""
    truth, _, _, mask = acquisition
    sens = kspace.coil_sensitivities((SIZE, SIZE), n_coils, seed=3).to(torch.complex128)
    measured = kspace.simulate_acquisition(truth.to(torch.complex128), sens, mask)
    guess = random_complex(2, SIZE, SIZE, seed=9).to(torch.complex128)
    consistent = project_kspace(guess, measured, sens, mask, rtol=1e-10)
    assert relative_error(kspace.forward_op(consistent, sens, mask), measured) < 1e-5


def test_default_projection_moves_a_guess_close_to_the_lines(acquisition):
    _, measured, sens, mask = acquisition
    guess = random_complex(2, SIZE, SIZE, seed=9)
    before = relative_error(kspace.forward_op(guess, sens, mask), measured)
    after = relative_error(kspace.forward_op(project_kspace(guess, measured, sens, mask), sens, mask), measured)
    assert after < 0.05 < 1.0 < before


def test_single_coil_projection_replaces_sampled_lines_and_keeps_the_rest(acquisition):
    truth, _, _, mask = acquisition
    sens = torch.ones(1, SIZE, SIZE, dtype=torch.complex64)
    guess = random_complex(2, SIZE, SIZE, seed=9)
    consistent = kspace.fft2c(project_kspace(guess, kspace.fft2c(truth)[:, None] * mask, sens, mask))
    expected = torch.where(mask, kspace.fft2c(truth), kspace.fft2c(guess))
    torch.testing.assert_close(consistent, expected, rtol=1e-4, atol=1e-4)


def test_projection_leaves_a_consistent_image_unchanged(acquisition):
    truth, measured, sens, mask = acquisition
    torch.testing.assert_close(project_kspace(truth, measured, sens, mask), truth, rtol=1e-5, atol=1e-5)


def test_projector_refuses_masks_that_are_not_cartesian_columns(acquisition):
    _, _, sens, _ = acquisition
    with pytest.raises(InputError, match="column mask"):
        KspaceProjector(sens, torch.rand(SIZE, SIZE) > 0.5)


@pytest.mark.parametrize("sampler,steps,consistency", [("ddim", 4, "projection"), ("ddpm", None, "projection"),
                                                       ("ddim", 3, "dps")])
def test_sampler_is_deterministic_by_seed(prior, acquisition, sampler, steps, consistency):
    _, measured, sens, mask = acquisition
    run = dict(sampler=sampler, steps=steps, consistency=consistency)
    first = reconstruct(prior, measured, sens, mask, seed=5, **run).image
    assert torch.equal(first, reconstruct(prior, measured, sens, mask, seed=5, **run).image)
    assert not torch.equal(first, reconstruct(prior, measured, sens, mask, seed=6, **run).image)


@pytest.mark.parametrize("sampler,steps,expected_calls", [("ddim", 5, 5), ("ddpm", None, 12)])
def test_network_is_called_once_per_step(prior, acquisition, sampler, steps, expected_calls):
    _, measured, sens, mask = acquisition
    calls = []
    prior.unet.register_forward_hook(lambda *_: calls.append(1))
    result = reconstruct(prior, measured, sens, mask, sampler=sampler, steps=steps)
    assert len(calls) == expected_calls == result.network_calls


def test_output_shapes_trajectory_and_consistency(prior, acquisition):
    _, measured, sens, mask = acquisition
    result = reconstruct(prior, measured, sens, mask, steps=6, n_snapshots=3, batch_size=1)
    assert result.image.shape == (2, SIZE, SIZE) and result.image.is_complex()
    assert result.magnitude.shape == (2, SIZE, SIZE) and not result.magnitude.is_complex()
    assert [image.shape for _, image in result.trajectory] == [(2, SIZE, SIZE)] * 3
    assert result.trajectory[-1][0] == 0  # the last snapshot is the final step
    # hard projection at the last step: the output agrees with the measurement on the sampled lines
    assert relative_error(kspace.forward_op(result.image, sens, mask), measured) < 0.05


def test_per_slice_sensitivities_are_accepted(prior, acquisition):
    truth, _, _, mask = acquisition
    sens = torch.stack([kspace.coil_sensitivities((SIZE, SIZE), 4, seed=s) for s in (1, 2)])
    measured = kspace.simulate_acquisition(truth, sens, mask)
    result = reconstruct(prior, measured, sens, mask, steps=2, projection_rtol=1e-8)
    assert relative_error(kspace.forward_op(result.image, sens, mask), measured) < 1e-3


def test_bad_inputs_raise_input_error(prior, acquisition):
    _, measured, sens, mask = acquisition
    with pytest.raises(InputError, match="DDPM"):
        reconstruct(prior, measured, sens, mask, sampler="ddpm", steps=5)
    with pytest.raises(InputError, match="DDIM steps"):
        reconstruct(prior, measured, sens, mask, steps=50)
    with pytest.raises(InputError, match="unknown sampler"):
        reconstruct(prior, measured, sens, mask, sampler="euler")
    with pytest.raises(InputError, match="unknown consistency"):
        reconstruct(prior, measured, sens, mask, consistency="soft")
    with pytest.raises(InputError, match="complex"):
        reconstruct(prior, measured.abs(), sens, mask)
    with pytest.raises(InputError, match="sens"):
        reconstruct(prior, measured, sens[:3], mask)
    with pytest.raises(InputError, match="multiple of 2"):
        reconstruct(prior, measured[..., :15], sens[..., :15], mask[..., :15])
