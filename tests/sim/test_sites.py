"""Tests for brainfm_lite.sim.sites: site parameters and what acquisition does to an image."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.sites import Site, apply_site, make_sites


def _site(**changes):
    """A site that changes nothing, with ``changes`` applied."""
    values = dict(name="test", field_t=3.0, spacing_mm=(1.0, 1.0, 1.0), noise_sigma=0.0, bias_strength=0.0,
                  intensity_scale=1.0)
    return Site(**{**values, **changes})


def _acquire(image, site, anatomy, seed=0):
    return apply_site(image, site, np.random.default_rng(seed), anatomy, reference_intensity=0.8)


def test_sites_are_deterministic_and_differ():
    sites = make_sites(4, seed=0)
    assert sites == make_sites(4, seed=0)
    assert make_sites(2, seed=0) == sites[:2]  # site j does not depend on how many there are
    assert make_sites(4, seed=1) != sites
    assert {site.field_t for site in sites} == {1.5, 3.0}
    assert len({site.intensity_scale for site in sites}) == 4 and len({site.noise_sigma for site in sites}) == 4
    assert max(site.spacing_mm[2] for site in sites) >= 3.0  # a clinical protocol with thick slices


def test_noise_is_lower_and_bias_stronger_at_3_tesla():
    sites = make_sites(12, seed=3)
    by_field = {field: [s for s in sites if s.field_t == field] for field in (1.5, 3.0)}
    assert np.mean([s.noise_sigma for s in by_field[3.0]]) < np.mean([s.noise_sigma for s in by_field[1.5]])
    assert np.mean([s.bias_strength for s in by_field[3.0]]) > np.mean([s.bias_strength for s in by_field[1.5]])


def test_noise_on_an_empty_image_is_rician_with_the_site_sigma():
    anatomy = load_anatomy(4.0)
    image = _acquire(np.zeros(anatomy.shape, np.float32), _site(noise_sigma=0.05, intensity_scale=1000.0), anatomy)
    assert image.min() >= 0 and image.dtype == np.float32
    sigma = np.sqrt(np.mean(image.astype(np.float64) ** 2) / 2)  # zero signal: Rayleigh, E[x^2] = 2 sigma^2
    assert sigma == pytest.approx(0.05 * 1000.0 * 0.8, rel=0.02)


def test_without_bias_or_noise_only_the_scale_remains():
    anatomy = load_anatomy(4.0)
    image = _acquire(anatomy.t1.copy(), _site(intensity_scale=250.0), anatomy)
    np.testing.assert_allclose(image, 250.0 * anatomy.t1, rtol=1e-5)


def test_bias_field_is_smooth_and_multiplicative():
    anatomy = load_anatomy(4.0)
    flat = np.ones(anatomy.shape, np.float32)
    log_bias = np.log(_acquire(flat, _site(bias_strength=0.2), anatomy))
    assert 0.03 < log_bias.std() < 0.5
    # Smooth: neighbouring voxels differ far less than the field varies overall.
    assert np.abs(np.diff(log_bias, axis=0)).mean() < 0.1 * log_bias.std()
    other = np.log(_acquire(flat, _site(bias_strength=0.2), anatomy, seed=1))
    assert not np.allclose(log_bias, other)  # a new field for every scan


def test_thick_slices_blur_along_z_only():
    anatomy = load_anatomy(2.0)
    sharp = _acquire(anatomy.t1.copy(), _site(), anatomy)
    blurred = _acquire(anatomy.t1.copy(), _site(spacing_mm=(1.0, 1.0, 5.0)), anatomy)  # 5 mm slices, 2 mm grid

    def roughness(image, axis):  # mean absolute second difference: the fine detail along one axis
        return np.abs(np.diff(image, n=2, axis=axis)).mean()

    assert roughness(blurred, 2) < 0.7 * roughness(sharp, 2)
    assert roughness(blurred, 0) > 0.8 * roughness(sharp, 0)


@pytest.mark.parametrize("n_sites, seed", [(0, 0), (2.5, 0), (2, -1)])
def test_bad_arguments_are_rejected(n_sites, seed):
    with pytest.raises(InputError):
        make_sites(n_sites, seed=seed)
