"""A small fastMRI-format multi-coil brain file (to try ``brainfm recon`` on), and a real one when the user has
prepared fastMRI's brain files in the data directory.

`write_example_fastmri_file` writes what a fastMRI multi-coil brain ``.h5`` holds (see `brainfm_lite.fastmri.h5file`),
for a few axial FLAIR slices simulated on real anatomy:

- the image: nilearn's MNI152 grey- and white-matter maps at 1 mm (CSF = brain mask minus both), given tissue
  relaxation values with smooth regional variation (`brainfm_lite.sim.qmri`) and imaged with the book's FLAIR
  preset; each slice averages ``slice_mm`` planes of 1 mm, as a thick 2D slice does. Rows run anterior to posterior,
  columns from the patient's left to right (the orientation of the chapter's training slices), with a smooth
  background phase;
- ``kspace``: complex64 [slices, coils, 2 N, N]: the coil images (`~brainfm_lite.physics.kspace.coil_sensitivities`)
  in the middle of a field of view twice as long along the readout (rows), as fastMRI's brain data are
  oversampled, transformed with the centred orthonormal FFT, plus complex Gaussian noise;
- ``reconstruction_rss``: float32 [slices, N, N], the root-sum-of-squares of the fully sampled coil images cropped
  to the central N rows, as fastMRI computes it;
- ``ismrmrd_header``: ISMRMRD XML with the encoded (2 N x N) and recon (N x N) matrix and field of view (1 mm
  pixels, ``slice_mm`` thick), the phase-encode limits, the coil count and the FLAIR timing (ms);
- attributes ``acquisition`` ("AXFLAIR"), ``max`` and ``norm`` (of ``reconstruction_rss``), ``patient_id``.

The values are scaled by ``scale``: scanner units are arbitrary, and a scale far from the prior's training images
(about 1 in the brain) shows that the reader's normalisation works. `local_fastmri_file` finds a fully sampled
multi-coil file among those that ``prepare_fastmri`` linked into ``<data_dir>/fastmri_brain/``.

    >>> example = write_example_fastmri_file("file_brain_AXFLAIR_example.h5")     # doctest: +SKIP
    >>> read_fastmri(example.path).shape                                          # doctest: +SKIP
    (2, 8, 440, 220)
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainfm_lite.atomic import atomic_path
from brainfm_lite.errors import InputError
from brainfm_lite.eval.recon_experiments import KSPACE_NOISE_STD
from brainfm_lite.fastmri.grid import centre_resize
from brainfm_lite.fastmri.header import NAMESPACE
from brainfm_lite.fetch.dataset_files import FASTMRI_FOLDER
from brainfm_lite.fetch.download import data_dir as resolve_data_dir
from brainfm_lite.physics.kspace import background_phase, coil_sensitivities, fft2c, ifft2c, rss
from brainfm_lite.preprocess.templates import mni_brain_mask, mni_tissue
from brainfm_lite.sim.qmri import preset, qmri_compartments, simulate_contrast
from brainfm_lite.sim.streams import Stream, stream_rng

PIXEL_MM = 1.0  # the template's voxels: the file's reconSpace pixels
CONTRAST = "flair"
ACQUISITION = "AXFLAIR"  # fastMRI's name of an axial FLAIR series
FIELD_STRENGTH_T = 3.0
LARMOR_HZ_PER_T = 42.577e6  # proton gyromagnetic ratio over 2 pi
BRAIN_PERCENTILE = 99.0  # the brain's bright end: the image is divided by this percentile of its brain pixels


@dataclass(frozen=True)
class ExampleFastMRIFile:
    """What `write_example_fastmri_file` wrote.

    Attributes:
        path: the ``.h5`` file.
        image: the noise-free magnitude of each slice in the file's units, float32 [slices, N, N]: what
            ``reconstruction_rss`` shows without the noise (the coil maps' squared magnitudes sum to 1).
    """

    path: Path
    image: np.ndarray


def write_example_fastmri_file(path: str | Path, *, n_slices: int = 2, n_coils: int = 8, matrix: int = 220,
                               slice_mm: float = 5.0, centre_mm: float = 15.0, noise_std: float = KSPACE_NOISE_STD,
                               scale: float = 1e-3, seed: int = 0) -> ExampleFastMRIFile:
    """Write a fully sampled fastMRI-format multi-coil brain file of axial FLAIR slices (module docstring).

    Args:
        path: the ``.h5`` file to write (its folder is created; an existing file is replaced atomically).
        n_slices: contiguous axial slices (>= 1).
        n_coils: receive coils (>= 1).
        matrix: N, the reconSpace matrix (N x N pixels of 1 mm, so an N mm field of view); k-space is 2 N x N.
        slice_mm: slice thickness, a whole number of mm (each slice averages that many 1 mm template planes).
        centre_mm: MNI z of the middle of the slice stack, mm (15: through the lateral ventricles).
        noise_std: standard deviation of the complex k-space noise per real and imaginary part, relative to the
            image's bright end (the 99th percentile of the brain = 1, before `scale`).
        scale: the file's units: the image's bright end.
        seed: draws the tissue values, the phase, the coils and the noise.

    Returns:
        An `ExampleFastMRIFile`.

    Raises:
        InputError: fewer than one slice or coil, a matrix under 64, a slice thickness that is not a whole positive
            number of mm, a stack outside the template, a negative noise level or a scale that is not positive.
    """
    if min(n_slices, n_coils) < 1 or matrix < 64 or int(matrix) != matrix:
        raise InputError(f"need n_slices >= 1, n_coils >= 1 and a whole matrix >= 64; got {n_slices}, {n_coils}, "
                         f"{matrix}")
    if not slice_mm >= 1 or slice_mm != int(slice_mm) or not noise_std >= 0 or not scale > 0:
        raise InputError(f"slice_mm must be a whole number of mm >= 1, noise_std >= 0 and scale > 0; got {slice_mm}, "
                         f"{noise_std}, {scale}")
    matrix, planes = int(matrix), int(slice_mm)
    rng = stream_rng(seed, Stream.EXAMPLE_FASTMRI, 0)
    magnitude = _flair_slices(n_slices, planes, centre_mm, matrix, rng)  # [S, N, N], bright end 1
    phase = background_phase((matrix, matrix), seed=int(rng.integers(2**31)))
    coils = coil_sensitivities((matrix, matrix), n_coils, seed=int(rng.integers(2**31)))
    coil_images = torch.from_numpy(magnitude).to(torch.complex64)[:, None] * torch.exp(1j * phase) * coils
    field = centre_resize(coil_images, -2, 2 * matrix)  # the head in the middle of the oversampled readout
    kspace = fft2c(field)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    noise = torch.complex(*(torch.randn(kspace.shape, generator=generator) for _ in range(2)))
    kspace = ((kspace + noise_std * noise) * scale).to(torch.complex64)
    reference = centre_resize(rss(ifft2c(kspace)), -2, matrix).numpy().astype(np.float32)

    header = _header_xml(matrix, float(slice_mm), n_coils, n_slices)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    import h5py

    with atomic_path(path) as temporary, h5py.File(temporary, "w") as h5:
        h5.create_dataset("kspace", data=kspace.numpy())
        h5.create_dataset("reconstruction_rss", data=reference)
        h5.create_dataset("ismrmrd_header", data=header)
        h5.attrs["acquisition"] = ACQUISITION
        h5.attrs["max"] = float(reference.max())
        h5.attrs["norm"] = float(np.linalg.norm(reference))
        h5.attrs["patient_id"] = f"brainfm_lite-example-{seed}"
    return ExampleFastMRIFile(path=path, image=(magnitude * scale).astype(np.float32))


def local_fastmri_file(data_dir: str | os.PathLike | None = None, *, contrast: str = "FLAIR") -> Path | None:
    """A fully sampled multi-coil file of the prepared fastMRI brain data, or None when there is none.

    Files in ``<data_dir>/fastmri_brain/`` are tried in name order, those whose name holds `contrast` first (fastMRI
    names them ``file_brain_AXFLAIR_...``); the first with multi-coil ``kspace``, a ``reconstruction_rss`` to score
    against and no undersampling ``mask`` (training and validation files, not test files) is returned.

    Args:
        data_dir: the data directory (None: ``$BRAINFM_DATA``, else ``~/brainfm_data``).
        contrast: the preferred contrast, as it appears in fastMRI's file names.
    """
    folder = resolve_data_dir(data_dir) / FASTMRI_FOLDER
    files = sorted(folder.glob("*.h5"), key=lambda p: (contrast.upper() not in p.name.upper(), p.name))
    return next((p for p in files if _fully_sampled_multicoil(p)), None)


def _flair_slices(n_slices: int, planes: int, centre_mm: float, matrix: int, rng) -> np.ndarray:
    """FLAIR magnitudes [S, N, N] of the template's anatomy, divided by the brain's bright end."""
    gm = mni_tissue("gm", 1)
    first_mm = centre_mm - n_slices * planes * PIXEL_MM / 2  # bottom of the stack
    start = int(round(np.linalg.solve(gm.affine, [0.0, 0.0, first_mm, 1.0])[2]))  # the template is RAS, 1 mm
    stop = start + n_slices * planes
    if start < 0 or stop > gm.shape[2]:
        raise InputError(f"a stack of {n_slices} slices of {planes} mm centred at z = {centre_mm:g} mm leaves the "
                         f"template (z voxels {start} to {stop - 1} of {gm.shape[2]})")
    gm, wm, brain = (np.asarray(v.data[:, :, start:stop], dtype=np.float32)
                     for v in (gm, mni_tissue("wm", 1), mni_brain_mask(1)))
    overfull = np.maximum(gm + wm, 1.0)  # the two maps overlap by a hair: scale such voxels back to 1
    slab = {"gm": gm / overfull, "wm": wm / overfull}
    slab["csf"] = np.clip(brain - slab["gm"] - slab["wm"], 0.0, 1.0)  # CSF: the rest of the brain mask
    image = simulate_contrast(qmri_compartments(slab, rng=rng, spacing_mm=PIXEL_MM), preset(CONTRAST))
    inside = sum(slab.values()) > 0.5
    thick = image.reshape(*image.shape[:2], n_slices, planes).mean(axis=3)  # [X, Y, S]: one thick slice each
    brain_thick = inside.reshape(*inside.shape[:2], n_slices, planes).any(axis=3)
    bright_end = np.percentile(thick[brain_thick], BRAIN_PERCENTILE)
    slices = torch.from_numpy(np.rot90(thick / bright_end, axes=(0, 1)).transpose(2, 0, 1).copy())  # [S, A->P, L->R]
    return centre_resize(centre_resize(slices, -2, matrix), -1, matrix).numpy().astype(np.float32)


def _header_xml(matrix: int, slice_mm: float, n_coils: int, n_slices: int) -> bytes:
    """An ISMRMRD header (the elements fastMRI's brain files carry that the reader and a person look at)."""
    root = ElementTree.Element("ismrmrdHeader", xmlns=NAMESPACE)
    system = ElementTree.SubElement(root, "acquisitionSystemInformation")
    _leaf(system, "systemVendor", "brainfm_lite (synthetic)")
    _leaf(system, "systemFieldStrength_T", FIELD_STRENGTH_T)
    _leaf(system, "receiverChannels", n_coils)
    conditions = ElementTree.SubElement(root, "experimentalConditions")
    _leaf(conditions, "H1resonanceFrequency_Hz", round(LARMOR_HZ_PER_T * FIELD_STRENGTH_T))
    encoding = ElementTree.SubElement(root, "encoding")
    for name, rows in (("encodedSpace", 2 * matrix), ("reconSpace", matrix)):
        space = ElementTree.SubElement(encoding, name)
        size = ElementTree.SubElement(space, "matrixSize")
        for axis, value in zip("xyz", (rows, matrix, 1)):
            _leaf(size, axis, value)
        fov = ElementTree.SubElement(space, "fieldOfView_mm")
        for axis, value in zip("xyz", (rows * PIXEL_MM, matrix * PIXEL_MM, slice_mm)):
            _leaf(fov, axis, value)
    limits = ElementTree.SubElement(encoding, "encodingLimits")
    for name, maximum, centre in (("kspace_encoding_step_1", matrix - 1, matrix // 2), ("slice", n_slices - 1, 0)):
        limit = ElementTree.SubElement(limits, name)
        for field, value in (("minimum", 0), ("maximum", maximum), ("center", centre)):
            _leaf(limit, field, value)
    _leaf(encoding, "trajectory", "cartesian")
    timing = preset(CONTRAST).params  # seconds; ISMRMRD counts milliseconds
    sequence = ElementTree.SubElement(root, "sequenceParameters")
    for name, key in (("TR", "tr"), ("TE", "te"), ("TI", "ti")):
        _leaf(sequence, name, round(1000 * timing[key], 3))
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def _leaf(parent, tag: str, value) -> None:
    ElementTree.SubElement(parent, tag).text = str(value)


def _fully_sampled_multicoil(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            kspace = h5.get("kspace")
            mask = np.asarray(h5["mask"][()]) if "mask" in h5 else None
            return (isinstance(kspace, h5py.Dataset) and kspace.ndim == 4 and "reconstruction_rss" in h5
                    and (mask is None or bool(mask.all())))
    except OSError:  # not HDF5, or damaged: not a candidate
        return False
