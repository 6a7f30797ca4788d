"""Hand-made fastMRI brain files for the `brainfm recon` tests.

Each file is written here with h5py and numpy in fastMRI's multi-coil conventions, never with a writer of
brainfm_lite: ``kspace`` complex64 [slices, coils, H, W] with the readout (H) oversampled two-fold, from axial slices
of nilearn's MNI152 template given a smooth phase and multiplied by hand-made coil maps, transformed with numpy's
centred orthonormal FFT (``fftshift(fft2(ifftshift(x), norm="ortho"))``) plus complex noise;
``reconstruction_rss`` the root-sum-of-squares of the fully sampled coil images cropped to the centre rows, as
fastMRI computes it; a minimal ISMRMRD header; the ``acquisition`` attribute.

Geometry: reconSpace 192 x 192 pixels of 1 mm, encodedSpace 384 x 192 (384 x 192 mm). A prior trained at 4 mm
therefore works on a 48 x 48 grid; a retrospective mask keeps 15 autocalibration lines of the 192 columns, about a
third of the grid's, as fastMRI's 26 of 320 lines are of a 72-column grid at 3 mm.
"""

import argparse
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from brainfm_lite.fastmri.command import add_recon_parser
from brainfm_lite.preprocess.templates import mni_template

RECON = 192  # reconSpace matrix (1 mm pixels)
ENCODED = (2 * RECON, RECON)  # readout oversampled two-fold
PIXEL_MM = 1.0
N_COILS = 8
TEST_Z = (80, 90, 100)  # axial slices of the 1 mm template in the test file
TRAIN_Z = tuple(z for z in range(56, 124, 4) if z not in TEST_Z)  # other slices, to train the tiny prior on
NOISE = 0.002  # complex k-space noise per part (images are at most about 1)
ISMRMRD = "http://www.ismrm.org/ISMRMRD"


def header_xml(*, encoded=ENCODED, recon=(RECON, RECON), pixel_mm=PIXEL_MM, matrix=True, limits=True) -> bytes:
    """A minimal ISMRMRD header: the encoded and recon spaces (matrix, field of view) and phase-encode limits."""
    def space(name, size):
        fov = (size[0] * pixel_mm, size[1] * pixel_mm, 5.0)
        matrix_xml = (f"<matrixSize><x>{size[0]}</x><y>{size[1]}</y><z>1</z></matrixSize>" if matrix else "")
        return (f"<{name}>{matrix_xml}<fieldOfView_mm><x>{fov[0]}</x><y>{fov[1]}</y><z>{fov[2]}</z>"
                f"</fieldOfView_mm></{name}>")

    limit_xml = (f"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{encoded[1] - 1}</maximum>"
                 f"<center>{encoded[1] // 2}</center></kspace_encoding_step_1></encodingLimits>" if limits else "")
    return (f'<?xml version="1.0" encoding="utf-8"?><ismrmrdHeader xmlns="{ISMRMRD}"><encoding>'
            f"{space('encodedSpace', encoded)}{space('reconSpace', recon)}{limit_xml}"
            "<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>").encode()


def fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def brain_slices(zs) -> np.ndarray:
    """Complex axial slices [S, 192, 192] of the 1 mm MNI template (anterior up), with a smooth phase."""
    data = mni_template(1).data  # [197, 233, 189], RAS
    slices = []
    for z in zs:
        image = np.rot90(data[:, :, z])  # [233, 197]: rows anterior to posterior
        top, left = (image.shape[0] - RECON) // 2, (image.shape[1] - RECON) // 2
        slices.append(image[top:top + RECON, left:left + RECON])  # the central 192 x 192 (the brain fits)
    y, x = np.meshgrid(np.linspace(-1, 1, RECON), np.linspace(-1, 1, RECON), indexing="ij")
    phase = 0.4 + 0.9 * x - 0.5 * y + 0.3 * x * y
    return np.stack(slices) * np.exp(1j * phase)


def coil_maps(shape, n_coils=N_COILS) -> np.ndarray:
    """Smooth complex coil maps [C, H, W]: Gaussian blobs on a ring around the head, each with a linear phase."""
    height, width = shape
    y, x = np.meshgrid(np.linspace(-1, 1, height) * height / width, np.linspace(-1, 1, width), indexing="ij")
    maps = []
    for c in range(n_coils):
        angle = 2 * np.pi * c / n_coils + 0.3
        centre = (1.1 * np.sin(angle), 1.1 * np.cos(angle))
        magnitude = np.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * 0.7**2))
        maps.append(magnitude * np.exp(1j * (0.7 * c + 0.4 * x - 0.3 * y)))
    return np.stack(maps)


def multicoil_kspace(images: np.ndarray, *, noise=NOISE, seed=0) -> np.ndarray:
    """k-space [S, C, 384, 192] of images [S, 192, 192] placed in the middle of a readout-oversampled field of view."""
    field = np.zeros((len(images), *ENCODED), complex)
    field[:, ENCODED[0] // 2 - RECON // 2:ENCODED[0] // 2 + RECON // 2] = images
    coils = field[:, None] * coil_maps(ENCODED)[None]
    kspace = fft2c(coils)
    rng = np.random.default_rng(seed)
    kspace = kspace + noise * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
    return kspace.astype(np.complex64)


def rss_reference(kspace: np.ndarray) -> np.ndarray:
    """fastMRI's reconstruction_rss: RSS of the fully sampled coil images, the central reconSpace rows."""
    image = np.sqrt(np.sum(np.abs(ifft2c(kspace)) ** 2, axis=1))
    top = (ENCODED[0] - RECON) // 2
    return image[:, top:top + RECON].astype(np.float32)


def write_file(path: Path, *, kspace=None, reference=True, header=None, mask=None, drop=()) -> Path:
    """Write a fastMRI-format file; `drop` names datasets to leave out."""
    kspace = multicoil_kspace(brain_slices(TEST_Z)) if kspace is None else kspace
    with h5py.File(path, "w") as h5:
        if "kspace" not in drop:
            h5.create_dataset("kspace", data=kspace)
        if reference and "reconstruction_rss" not in drop and kspace.ndim == 4:
            h5.create_dataset("reconstruction_rss", data=rss_reference(kspace))
        if "ismrmrd_header" not in drop:
            h5.create_dataset("ismrmrd_header", data=header if header is not None else header_xml())
        if mask is not None:
            h5.create_dataset("mask", data=mask)
        h5.attrs["acquisition"] = "AXFLAIR"
        h5.attrs["patient_id"] = "synthetic"
        h5.attrs["max"] = float(rss_reference(kspace).max()) if kspace.ndim == 4 else 1.0
    return path


@pytest.fixture(scope="session")
def fastmri_file(tmp_path_factory) -> Path:
    """A fully sampled, well-formed file of three slices."""
    return write_file(tmp_path_factory.mktemp("fastmri") / "file_brain_AXFLAIR_synthetic.h5")


def run_recon(*argv):
    """`brainfm recon ARGV` through a parser of its own (the command's `add_recon_parser`); returns its code."""
    parser = argparse.ArgumentParser(prog="brainfm")
    add_recon_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["recon", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="session")
def fm():
    """The hand-made file helpers of this folder."""
    return SimpleNamespace(RECON=RECON, ENCODED=ENCODED, N_COILS=N_COILS, TEST_Z=TEST_Z, TRAIN_Z=TRAIN_Z,
                           header_xml=header_xml, fft2c=fft2c, ifft2c=ifft2c, brain_slices=brain_slices,
                           coil_maps=coil_maps, multicoil_kspace=multicoil_kspace, rss_reference=rss_reference,
                           write_file=write_file, run_recon=run_recon)
