"""Tests for brainfm_lite.physics.kspace: FFT identities, the adjoint, fastMRI masks, coils, noise and errors."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics import kspace


def random_complex(*shape, seed=0, dtype=torch.complex128):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype)


def test_fft_round_trip_and_parseval():
    x = random_complex(3, 20, 17)
    k = kspace.fft2c(x)
    torch.testing.assert_close(kspace.ifft2c(k), x)
    torch.testing.assert_close(torch.sum(torch.abs(k) ** 2), torch.sum(torch.abs(x) ** 2))


def test_fft_is_centered_and_numpy_in_gives_numpy_out():
    k = kspace.fft2c(np.ones((8, 6)))
    assert isinstance(k, np.ndarray)
    peak = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    assert peak == (4, 3)  # DC at [H // 2, W // 2]
    np.testing.assert_allclose(np.abs(k[4, 3]), np.sqrt(48))  # orthonormal: sum / sqrt(N)


def test_forward_and_adjoint_operators_are_adjoint():
    height, width, coils = 24, 20, 4
    sens = kspace.coil_sensitivities((height, width), coils, seed=3).to(torch.complex128)
    mask = kspace.cartesian_mask((height, width), 4, 0.1, seed=3)
    x = random_complex(2, height, width, seed=1)
    y = random_complex(2, coils, height, width, seed=2)
    ax_dot_y = torch.vdot(kspace.forward_op(x, sens, mask).flatten(), y.flatten())
    x_dot_ahy = torch.vdot(x.flatten(), kspace.adjoint_op(y, sens, mask).flatten())
    torch.testing.assert_close(ax_dot_y, x_dot_ahy, rtol=1e-5, atol=0)


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("acceleration, center_fraction", [(2, 0.16), (4, 0.08), (8, 0.04)])
def test_masks_reach_the_acceleration_and_keep_the_centre(kind, acceleration, center_fraction):
    width = 640
    counts = []
    for seed in range(20):
        mask = kspace.cartesian_mask((3, width), acceleration, center_fraction, kind=kind, seed=seed)
        assert mask.dtype == torch.bool and mask.shape == (3, width)
        assert torch.equal(mask[0], mask[2])  # whole columns
        n_center = round(width * center_fraction)
        start = (width - n_center + 1) // 2
        assert mask[0, start:start + n_center].all() and mask[0, width // 2]
        counts.append(int(mask[0].sum()))
    assert abs(width / np.mean(counts) - acceleration) < 0.05 * acceleration


@pytest.mark.parametrize("kind", ["random", "equispaced"])
def test_masks_are_deterministic_by_seed(kind):
    first = kspace.cartesian_mask((64,), 4, 0.08, kind=kind, seed=7)
    assert torch.equal(first, kspace.cartesian_mask((64,), 4, 0.08, kind=kind, seed=7))
    others = [kspace.cartesian_mask((64,), 4, 0.08, kind=kind, seed=s) for s in range(8, 12)]
    assert any(not torch.equal(first, other) for other in others)


def test_equispaced_mask_lines_are_evenly_spaced_outside_the_centre():
    mask = kspace.cartesian_mask((256,), 8, 0.04, kind="equispaced", seed=0).numpy()
    n_center = round(256 * 0.04)
    start = (256 - n_center + 1) // 2
    outer = np.flatnonzero(mask[:start])
    assert len(set(np.diff(outer))) <= 2  # rounding of a fractional spacing gives at most two gaps


@pytest.mark.parametrize(
    "arguments",
    [
        dict(shape=(8, 32), acceleration=0.5, center_fraction=0.1),
        dict(shape=(8, 32), acceleration=4, center_fraction=0.0),
        dict(shape=(8, 32), acceleration=4, center_fraction=0.5),  # centre alone exceeds W / R
        dict(shape=(8, 32), acceleration=4, center_fraction=0.1, kind="radial"),
        dict(shape=(2, 8, 32), acceleration=4, center_fraction=0.1),
    ],
)
def test_bad_mask_arguments_raise(arguments):
    with pytest.raises(InputError):
        kspace.cartesian_mask(**arguments)


def test_coil_sensitivities_are_normalised_and_smooth():
    sens = kspace.coil_sensitivities((32, 40), 8, seed=1)
    assert sens.shape == (8, 32, 40) and sens.dtype == torch.complex64
    torch.testing.assert_close(torch.sum(torch.abs(sens) ** 2, dim=0), torch.ones(32, 40))
    # Smooth: neighbouring pixels differ by a small fraction of the coil's range.
    assert torch.abs(torch.diff(sens, dim=-1)).max() < 0.2
    assert not torch.allclose(torch.abs(sens[0]), torch.abs(sens[4]))  # different coils see different regions


def test_background_phase_is_smooth_and_bounded():
    phase = kspace.background_phase((32, 32), seed=2)
    assert phase.dtype == torch.float32 and torch.abs(phase).max() <= np.pi + 1e-6
    assert torch.abs(torch.diff(phase, dim=0)).max() < 0.5
    assert not torch.equal(phase, kspace.background_phase((32, 32), seed=3))


def test_fully_sampled_noise_free_data_reconstructs_exactly():
    image = torch.rand(24, 24, generator=torch.Generator().manual_seed(0)) * torch.exp(
        1j * kspace.background_phase((24, 24), seed=0)
    )
    sens = kspace.coil_sensitivities((24, 24), 4, seed=0)
    k = kspace.simulate_acquisition(image, sens, None)
    torch.testing.assert_close(kspace.zero_filled(k, sens), image, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(kspace.adjoint_op(k, sens), image, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(kspace.rss(kspace.ifft2c(k)), torch.abs(image), atol=1e-5, rtol=1e-5)


def test_undersampled_zero_filled_image_differs_from_the_truth():
    image = torch.rand(32, 32, generator=torch.Generator().manual_seed(0)).to(torch.complex64)
    sens = kspace.coil_sensitivities((32, 32), 2)
    mask = kspace.cartesian_mask((32, 32), 4, 0.125, kind="equispaced")
    aliased = kspace.zero_filled(kspace.simulate_acquisition(image, sens, mask), sens)
    assert torch.linalg.norm(aliased - image) > 0.3 * torch.linalg.norm(image)


def test_noise_level_measured_equals_noise_level_asked():
    sens = kspace.coil_sensitivities((64, 64), 2)
    mask = kspace.cartesian_mask((64, 64), 2, 0.08, seed=1)
    image = torch.zeros(64, 64, dtype=torch.complex64)
    k = kspace.simulate_acquisition(image, sens, mask, noise_std=0.05, seed=4)
    sampled = k[mask.expand_as(k)]
    assert torch.all(k[~mask.expand_as(k)] == 0)
    for part in (sampled.real, sampled.imag):
        assert abs(float(part.std()) - 0.05) < 0.05 * 0.05
    again = kspace.simulate_acquisition(image, sens, mask, noise_std=0.05, seed=4)
    assert torch.equal(k, again)


def test_operators_reject_mismatched_sensitivities():
    with pytest.raises(InputError):
        kspace.forward_op(torch.zeros(16, 16), kspace.coil_sensitivities((16, 12), 2), None)
    with pytest.raises(InputError):
        kspace.zero_filled(torch.zeros(16, 16, dtype=torch.complex64))


def test_acs_scale_reads_only_the_centre_and_follows_the_data():
    """The same number from a fully sampled scan and from any undersampled one sharing its centre, proportional to
    the data; an empty centre is an error."""
    image = torch.randn(2, 32, 32, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    sens = kspace.coil_sensitivities((32, 32), 4, seed=1)
    full = kspace.simulate_acquisition(image, sens, None)
    scale = kspace.acs_scale(full)
    assert scale.shape == (2,) and bool((scale > 0).all())
    for acceleration in (2, 4, 8):
        mask = kspace.cartesian_mask((32, 32), acceleration, kspace.ACS_SCALE_FRACTION, seed=acceleration)
        torch.testing.assert_close(kspace.acs_scale(full * mask), scale)
    torch.testing.assert_close(kspace.acs_scale(1000 * full), 1000 * scale)
    assert kspace.acs_columns(32).sum() == round(32 * kspace.ACS_SCALE_FRACTION)
    np.testing.assert_allclose(kspace.acs_scale(full.numpy()), scale.numpy(), rtol=1e-6)  # numpy in, numpy out
    with pytest.raises(InputError, match="centre"):
        kspace.acs_scale(full * ~kspace.acs_columns(32))

