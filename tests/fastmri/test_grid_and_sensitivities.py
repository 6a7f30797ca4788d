"""The prior's grid (pixel size, units, the reference on it) and coil sensitivities from the ACS lines."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.grid import centre_resize, recon_grid, reference_to_grid
from brainfm_lite.fastmri.header import parse_header
from brainfm_lite.fastmri.sensitivities import acs_block, estimate_sensitivities
from brainfm_lite.physics.kspace import fft2c, ifft2c, rss


def test_a_fastmri_brain_header_gives_a_72_pixel_grid_at_3_mm(fm):
    header = fm.header_xml(encoded=(640, 320), recon=(320, 320), pixel_mm=0.6875)  # 440 x 220 mm encoded
    grid = recon_grid(parse_header(header, source="f.h5"), spacing_mm=3.0, multiple=4)
    assert grid.shape == (72, 72) and grid.kspace_rows == 144
    assert grid.pixel_mm == pytest.approx((220 / 72, 220 / 72))


def test_the_grid_keeps_the_file_units_and_matches_the_reference(fm):
    images = fm.brain_slices(fm.TEST_Z[:1])
    kspace = fm.multicoil_kspace(images, noise=0.0)
    grid = recon_grid(parse_header(fm.header_xml(), source="f.h5"), spacing_mm=4.0, multiple=4)
    on_grid = grid.kspace_to_grid(torch.from_numpy(kspace))
    assert on_grid.shape == (1, fm.N_COILS, 48, 48)
    image = rss(ifft2c(on_grid)).numpy()
    reference, covered = reference_to_grid(fm.rss_reference(kspace), (1.0, 1.0), grid)
    assert covered == (slice(0, 48), slice(0, 48))
    assert image.max() == pytest.approx(reference.max(), rel=0.05)  # same units: no factor from the crop
    assert np.abs(image - reference).mean() < 0.01 * reference.max()


def test_centre_resize_keeps_dc_in_the_middle():
    x = torch.arange(8)
    assert centre_resize(x, 0, 4).tolist() == [2, 3, 4, 5]  # index 4 (DC of 8) -> index 2 (DC of 4)
    padded = centre_resize(x, 0, 10)
    assert padded[5] == 4 and padded.sum() == x.sum()


def test_sensitivities_from_the_acs_lines_recover_smooth_coil_maps(fm):
    images = torch.from_numpy(fm.brain_slices(fm.TEST_Z[:1])).to(torch.complex64)
    maps = torch.from_numpy(fm.coil_maps((fm.RECON, fm.RECON))).to(torch.complex64)
    kspace = fft2c(images[:, None] * maps)
    acs = torch.zeros(fm.RECON, dtype=torch.bool)
    acs[fm.RECON // 2 - 16:fm.RECON // 2 + 16] = True
    sens, support = estimate_sensitivities(kspace, acs)
    truth = maps / rss(maps)
    brain = (images.abs() > 0.2)[0] & support[0]
    agreement = torch.abs(torch.sum(sens[0].conj() * truth, dim=0))  # 1 where they agree up to a common phase
    assert agreement[brain].mean() > 0.97
    assert not sens[0][:, ~support[0]].any()


def test_the_acs_block_is_the_sampled_run_around_dc():
    mask = torch.tensor([1, 0, 1, 1, 1, 1, 0, 1], dtype=torch.bool)
    assert acs_block(mask).tolist() == [False, False, True, True, True, True, False, False]
    with pytest.raises(InputError, match="centre column"):
        acs_block(torch.tensor([1, 1, 1, 1, 0, 1, 1, 1], dtype=torch.bool))
