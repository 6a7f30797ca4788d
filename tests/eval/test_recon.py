"""Tests for brainfm_lite.eval.recon: exact k-space projection, seeded samplers, network calls, shapes, errors,
DDIM timesteps that agree with the step, scale from the measured data alone, the progress bar."""

import pytest
import torch

from brainfm_lite.datasets.recon_slices import load_fastmri_kspace
from brainfm_lite.errors import InputError
from brainfm_lite.eval import recon
from brainfm_lite.eval.recon import KspaceProjector, make_sampler, project_kspace, reconstruct
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


@pytest.mark.parametrize("n_train,steps", [(100, 5), (1000, 25), (1000, 50), (50, 7), (12, 12), (10, 1)])
def test_ddim_steps_land_on_the_next_timestep_of_the_schedule_and_end_on_the_clean_image(n_train, steps):
    """At every step the scheduler's output is x0 noised exactly to the next timestep it will hand the network (the
    DDIM update with a perfect x0), from pure noise at T - 1 down to t = 0, and the step from t = 0 returns x0."""
    prior = DiffusionPrior(DiffusionConfig(channels=(8, 16), attention_levels=(False, False), num_res_blocks=1,
                                           norm_num_groups=8, num_train_timesteps=n_train))
    scheduler = make_sampler(prior, "ddim", steps)
    timesteps = scheduler.timesteps.tolist()
    assert len(timesteps) == steps and timesteps[0] == n_train - 1
    assert timesteps[-1] == (0 if steps > 1 else n_train - 1)  # one step goes from pure noise straight to x0
    assert all(a > b for a, b in zip(timesteps, timesteps[1:]))
    assert [scheduler.previous_timestep(t) for t in timesteps] == [*timesteps[1:], -1]
    generator = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 2, 8, 8, generator=generator), torch.randn(2, 2, 8, 8, generator=generator)
    for t, following in zip(timesteps, [*timesteps[1:], None]):
        x_t = scheduler.add_noise(x0, noise, torch.tensor([t]))
        x_prev = scheduler.step(x0, t, x_t)[0]
        expected = x0 if following is None else scheduler.add_noise(x0, noise, torch.tensor([following]))
        torch.testing.assert_close(x_prev, expected, rtol=1e-4, atol=1e-4)


def test_the_network_sees_the_schedule_down_to_zero_and_the_output_is_the_last_x0(prior, acquisition):
    _, measured, sens, mask = acquisition
    seen = []
    prior.unet.register_forward_hook(lambda module, args, kwargs, out: seen.append(int(kwargs["timesteps"][0]))
                                     if "timesteps" in kwargs else None, with_kwargs=True)
    result = reconstruct(prior, measured, sens, mask, steps=5, n_snapshots=2, progress=False)
    assert seen == make_sampler(prior, "ddim", 5).timesteps.tolist() and seen[-1] == 0
    t_last, x0_last = result.trajectory[-1]
    assert t_last == 0
    torch.testing.assert_close(result.magnitude, x0_last, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("consistency", ["projection", "dps"])
def test_scaling_the_kspace_scales_the_reconstruction_alone(prior, acquisition, consistency):
    """The scanner's units do not matter: k-space times 1000 gives the same image times 1000."""
    _, measured, sens, mask = acquisition
    run = dict(steps=4, consistency=consistency, seed=3, progress=False)
    small = reconstruct(prior, measured, sens, mask, **run).image
    large = reconstruct(prior, 1000 * measured, sens, mask, **run).image
    assert relative_error(large, 1000 * small) < 1e-3


def test_simulated_and_real_format_kspace_share_one_normaliser(prior, acquisition, tmp_path, monkeypatch):
    """A fastMRI file at scanner scale and the simulated acquisition of the same slices: both scaled by acs_scale,
    and the same image (times the file's scale) comes out."""
    h5py = pytest.importorskip("h5py")
    truth, measured, sens, mask = acquisition
    with h5py.File(tmp_path / "file_brain_AXFLAIR_001.h5", "w") as h5:
        h5["kspace"] = (3e-6 * kspace.forward_op(truth, sens)).numpy()  # fully sampled, as fastMRI ships it
    real, _ = load_fastmri_kspace(tmp_path / "file_brain_AXFLAIR_001.h5")
    calls = []
    monkeypatch.setattr(recon, "acs_scale", lambda k: calls.append(k) or kspace.acs_scale(k))
    simulated = reconstruct(prior, measured, sens, mask, steps=3, progress=False).image
    from_file = reconstruct(prior, real * mask, sens, mask, steps=3, progress=False).image
    assert len(calls) == 2
    assert relative_error(from_file, 3e-6 * simulated) < 1e-3


def test_a_mask_without_the_central_columns_cannot_be_normalised(prior, acquisition):
    _, measured, sens, mask = acquisition
    holed = mask.clone()
    holed[:, SIZE // 2] = False
    with pytest.raises(InputError, match="central"):
        reconstruct(prior, measured * holed, sens, holed, steps=2, progress=False)
    reconstruct(prior, measured * holed, sens, holed, steps=2, normalise=False, progress=False)  # caller's scale


def test_progress_bar_shows_steps_and_slices_unless_switched_off(prior, acquisition, capsys):
    _, measured, sens, mask = acquisition
    reconstruct(prior, measured, sens, mask, steps=3, batch_size=1)
    shown = capsys.readouterr().err
    assert "ddim sampling" in shown and "6/6" in shown and "slices=2-2 of 2" in shown
    reconstruct(prior, measured, sens, mask, steps=3, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 0.5])
def test_ddim_update_is_monais_where_monais_schedule_and_step_agree(prediction_type, eta):
    """With k = T MONAI's schedule (T - 1 .. 0) and its stride (1) agree; there the update must be MONAI's own."""
    settings = dict(num_train_timesteps=12, clip_sample=False, prediction_type=prediction_type)
    ours, monai = recon.ConsistentDDIMScheduler(**settings), recon.DDIMScheduler(**settings)
    ours.set_timesteps(12)
    monai.set_timesteps(12)
    assert ours.timesteps.tolist() == monai.timesteps.tolist()
    generator = torch.Generator().manual_seed(0)
    sample, output = torch.randn(2, 2, 4, 4, generator=generator), torch.randn(2, 2, 4, 4, generator=generator)
    for t in ours.timesteps.tolist():
        mine = ours.step(output, t, sample, eta=eta, generator=torch.Generator().manual_seed(t))
        theirs = monai.step(output, t, sample, eta=eta, generator=torch.Generator().manual_seed(t))
        torch.testing.assert_close(mine[0], theirs[0])
        torch.testing.assert_close(mine[1], theirs[1])
