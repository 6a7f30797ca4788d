"""The example fastMRI file the book writes: read back by the package's reader as a fastMRI multi-coil brain file,
checked here against numpy's own FFT; it goes through the whole reconstruction; a prepared real file is found."""

import xml.etree.ElementTree as ElementTree

import h5py
import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.demo import local_fastmri_file, write_example_fastmri_file
from brainfm_lite.fastmri.grid import recon_grid, reference_to_grid
from brainfm_lite.fastmri.h5file import read_fastmri
from brainfm_lite.fastmri.pipeline import reconstruct_fastmri
from brainfm_lite.models import save_pretrained
from brainfm_lite.models.diffusion import DiffusionConfig, DiffusionPrior
from brainfm_lite.physics.kspace import ifft2c, rss

MATRIX, COILS, SLICES = 192, 4, 2  # 1 mm pixels: a 192 mm field of view holds the brain, and the file stays small


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """A noise-free example file: its reconstruction_rss must be the image itself."""
    path = tmp_path_factory.mktemp("example") / "file_brain_AXFLAIR_example.h5"
    return write_example_fastmri_file(path, n_slices=SLICES, n_coils=COILS, matrix=MATRIX, noise_std=0.0)


def numpy_ifft2c(kspace):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def test_the_reader_takes_it_as_a_fastmri_multicoil_brain_file(example):
    scan = read_fastmri(example.path)
    assert scan.shape == (SLICES, COILS, 2 * MATRIX, MATRIX)  # readout (rows) oversampled two-fold
    assert scan.geometry.encoded.matrix == (2 * MATRIX, MATRIX, 1)
    assert scan.geometry.encoded.fov_mm == (2.0 * MATRIX, float(MATRIX), 5.0)
    assert scan.geometry.recon.matrix == (MATRIX, MATRIX, 1) and scan.reference_pixel_mm == (1.0, 1.0)
    assert scan.geometry.acquired_columns(MATRIX) == [True] * MATRIX and scan.mask is None
    assert scan.attributes["acquisition"] == "AXFLAIR" and scan.attributes["patient_id"]
    assert scan.attributes["max"] == pytest.approx(float(scan.reference.max()))
    assert scan.attributes["norm"] == pytest.approx(float(np.linalg.norm(scan.reference)), rel=1e-5)
    with h5py.File(example.path, "r") as h5:
        assert h5["kspace"].dtype == np.complex64 and h5["reconstruction_rss"].dtype == np.float32


def test_reconstruction_rss_is_the_cropped_rss_of_the_coil_images_and_the_image_itself(example):
    with h5py.File(example.path, "r") as h5:
        coil_images = numpy_ifft2c(h5["kspace"][()])  # [S, C, 2N, N]
        reference = h5["reconstruction_rss"][()]
    image = np.sqrt((np.abs(coil_images) ** 2).sum(axis=1))
    top = MATRIX // 2
    assert np.allclose(reference, image[:, top:top + MATRIX], atol=1e-6 * reference.max())
    assert image[:, :top].max() < 1e-4 * reference.max()  # nothing in the oversampled margin of the readout
    assert np.allclose(reference, example.image, atol=1e-4 * reference.max())  # coil maps: sum |S|^2 = 1
    for slice_image in reference:  # axial brain slices: a dark background around a brain in the middle
        assert slice_image[0].max() < 0.05 * reference.max() and slice_image[MATRIX // 2].max() > 0.5 * reference.max()


def test_the_header_says_the_coils_and_the_flair_timing(example):
    with h5py.File(example.path, "r") as h5:
        root = ElementTree.fromstring(h5["ismrmrd_header"][()])
    ns = {"m": "http://www.ismrm.org/ISMRMRD"}
    assert root.findtext("m:acquisitionSystemInformation/m:receiverChannels", namespaces=ns) == str(COILS)
    timing = {name: float(root.findtext(f"m:sequenceParameters/m:{name}", namespaces=ns))
              for name in ("TR", "TE", "TI")}
    assert timing == {"TR": 9000.0, "TE": 120.0, "TI": 2500.0}  # the book's FLAIR preset, in ms as ISMRMRD counts


def test_on_the_prior_grid_the_fully_sampled_data_match_the_reference(example):
    scan = read_fastmri(example.path)
    grid = recon_grid(scan.geometry, spacing_mm=4.0, multiple=4)
    assert grid.shape == (48, 48)
    full = torch.stack([grid.kspace_to_grid(scan.kspace(i)) for i in range(SLICES)])
    reference, _ = reference_to_grid(scan.reference, scan.reference_pixel_mm, grid)
    image = rss(ifft2c(full)).numpy()
    # the two differ only by where the magnitude is taken (per coil before cropping k-space, or after): near edges
    assert np.abs(image - reference).mean() < 0.005 * reference.max()
    assert image.max() == pytest.approx(reference.max(), rel=0.03)


def test_the_same_seed_writes_the_same_file_and_noise_is_added(tmp_path):
    options = {"n_slices": 1, "n_coils": 2, "matrix": 64}
    files = [write_example_fastmri_file(tmp_path / name, **options).path for name in ("a.h5", "b.h5")]
    noise_free = write_example_fastmri_file(tmp_path / "c.h5", noise_std=0.0, **options).path
    kspace = []
    for path in files + [noise_free]:
        with h5py.File(path, "r") as h5:
            kspace.append(h5["kspace"][()])
    assert np.array_equal(kspace[0], kspace[1]) and not np.array_equal(kspace[0], kspace[2])


@pytest.mark.parametrize("options", [{"n_slices": 0}, {"n_coils": 0}, {"matrix": 32}, {"slice_mm": 2.5},
                                     {"scale": 0.0}, {"noise_std": -1.0}, {"n_slices": 60}])
def test_options_that_cannot_make_a_file_are_refused(tmp_path, options):
    with pytest.raises(InputError):
        write_example_fastmri_file(tmp_path / "x.h5", **options)
    assert not (tmp_path / "x.h5").exists()


def test_the_reconstruction_runs_on_it_and_reports_r_on_the_grid(example, tmp_path):
    torch.manual_seed(0)
    prior = DiffusionPrior(DiffusionConfig(channels=(8, 16), attention_levels=(False, False), num_res_blocks=1,
                                           norm_num_groups=8, num_train_timesteps=12))
    folder = save_pretrained(prior, tmp_path / "prior")
    result = reconstruct_fastmri(example.path, folder, acceleration=4, spacing_mm=4.0, steps=2, slices=slice(0, 1),
                                 device="cpu")
    assert result.recon.shape == result.reference.shape == (1, 48, 48)
    assert result.scores["fully_sampled"]["psnr"] > 40  # noise-free: the grid's full data are the reference
    assert 1 < result.settings["effective_acceleration"] < 4  # the dense centre is a larger share of the grid


def test_a_prepared_real_file_is_found_flair_first_and_fully_sampled_only(example, tmp_path):
    assert local_fastmri_file(tmp_path) is None  # no fastmri_brain folder
    folder = tmp_path / "fastmri_brain"
    folder.mkdir()
    (folder / "file_brain_AXFLAIR_001.h5").write_bytes(b"not hdf5")  # damaged: skipped
    with h5py.File(folder / "file_brain_AXFLAIR_002.h5", "w") as h5:  # a test file: undersampled, no reference
        h5["kspace"] = np.zeros((1, 2, 8, 8), np.complex64)
        h5["mask"] = np.array([1, 0] * 4, np.float32)
    (folder / "file_brain_AXT1_000.h5").write_bytes(example.path.read_bytes())
    assert local_fastmri_file(tmp_path) == folder / "file_brain_AXT1_000.h5"  # no usable FLAIR: another contrast
    (folder / "file_brain_AXFLAIR_003.h5").write_bytes(example.path.read_bytes())
    assert local_fastmri_file(tmp_path) == folder / "file_brain_AXFLAIR_003.h5"
