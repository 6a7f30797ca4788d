"""Write a fastMRI reconstruction: NIfTI images and a JSON of scores, settings and provenance, atomically.

For ``file_brain_AXFLAIR_200_6002425.h5`` the outputs in ``--out`` are

- ``file_brain_AXFLAIR_200_6002425_recon.nii.gz``: the prior's reconstruction (magnitude, the file's units);
- ``..._zerofilled.nii.gz``: the zero-filled RSS image, for comparison;
- ``..._reference.nii.gz``: ``reconstruction_rss`` on the same grid (when the file has it);
- ``..._recon.json``: ``scores`` (PSNR dB, SSIM, NMSE per image, fastMRI's volume metrics), ``settings``, ``input``
  (file name, size, sha256, attributes, header geometry) and ``provenance`` (`brainfm_lite.provenance.environment`
  and the command).

The NIfTI grid is [columns, rows reversed, slices] with the grid's pixel size (and the header's slice thickness
along z), so that a viewer showing the first axis left to right and the second upwards shows the slices as fastMRI
stores them (row 0 at the top). fastMRI files keep no patient position, so the affine is a scaling centred on the
field of view, not scanner coordinates. Each file is written atomically; everything is computed before the first
one is, so a refused input leaves ``--out`` untouched.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from brainfm_lite.atomic import write_json
from brainfm_lite.data.io import save_volume
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.pipeline import FastMRIReconstruction

IMAGES = {"recon": "recon", "zero_filled": "zerofilled", "reference": "reference"}


def output_paths(out_dir: str | Path, source: str | Path) -> dict[str, Path]:
    """{"recon", "zero_filled", "reference", "json"} -> the files written for the input file `source`."""
    out_dir, stem = Path(out_dir).expanduser(), Path(source).name.removesuffix(".h5")
    paths = {key: out_dir / f"{stem}_{suffix}.nii.gz" for key, suffix in IMAGES.items()}
    paths["json"] = out_dir / f"{stem}_recon.json"
    return paths


def write_reconstruction(result: FastMRIReconstruction, out_dir: str | Path, *, provenance: dict) -> list[Path]:
    """Write the images and the JSON of `result` into `out_dir` (created when missing); returns the files written.

    Args:
        result: what `~brainfm_lite.fastmri.pipeline.reconstruct_fastmri` returned.
        out_dir: the output folder.
        provenance: environment and command (`brainfm_lite.provenance.environment` plus ``"command"``).

    Raises:
        InputError: `out_dir` is a file.
    """
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir}: is a file; give a folder (it is created when missing)")
    paths = output_paths(out_dir, result.scan.path)
    affine = grid_affine(result)
    images = {"recon": result.recon, "zero_filled": result.zero_filled, "reference": result.reference}
    record = {"scores": result.scores, "settings": result.settings, "input": describe_input(result),
              "reference": reference_note(result), "provenance": provenance,
              "outputs": {key: paths[key].name for key, image in images.items() if image is not None}}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, image in images.items():
        if image is not None:
            written.append(save_volume(Volume(data=to_nifti_axes(image), affine=affine), paths[key]))
    written.append(write_json(paths["json"], record))
    return written


def to_nifti_axes(slices: np.ndarray) -> np.ndarray:
    """Slices [S, rows, cols] as a NIfTI array [cols, rows reversed, S] (module docstring)."""
    return np.ascontiguousarray(np.transpose(slices[:, ::-1, :], (2, 1, 0)), dtype=np.float32)


def grid_affine(result: FastMRIReconstruction) -> np.ndarray:
    """Voxel size (column, row, slice thickness or 1 mm) on the diagonal, the field of view's centre at 0."""
    row_mm, col_mm = result.grid.pixel_mm
    slice_mm = result.grid.slice_mm if result.grid.slice_mm > 0 else 1.0
    spacing = np.array([col_mm, row_mm, slice_mm])
    shape = np.array([result.grid.shape[1], result.grid.shape[0], len(result.scan.slices)])
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -spacing * (shape - 1) / 2
    return affine


def describe_input(result: FastMRIReconstruction) -> dict:
    """The input file as the JSON records it: name, size, sha256, attributes, shapes and header geometry."""
    scan = result.scan
    digest = hashlib.sha256()
    with open(scan.path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    geometry = scan.geometry
    return {"file": scan.path.name, "bytes": scan.path.stat().st_size, "sha256": digest.hexdigest(),
            "attributes": scan.attributes, "kspace_shape": list(scan.shape),
            "encoded": {"matrix": list(geometry.encoded.matrix), "fov_mm": list(geometry.encoded.fov_mm)},
            "recon": {"matrix": list(geometry.recon.matrix), "fov_mm": list(geometry.recon.fov_mm)},
            "reconstruction_rss": None if scan.reference is None else list(scan.reference.shape),
            "mask": None if scan.mask is None else int(scan.mask.sum())}


def reference_note(result: FastMRIReconstruction) -> str:
    """One sentence saying what the scores compare, for the JSON."""
    if result.reference is None:
        return "the file has no reconstruction_rss: nothing to score against"
    rows, cols = result.grid.shape
    row_mm, col_mm = result.grid.pixel_mm
    return (f"reconstruction_rss {result.scan.reference.shape[-2]}x{result.scan.reference.shape[-1]} brought to the "
            f"{rows}x{cols} grid of {row_mm:.3g} x {col_mm:.3g} mm pixels by cropping its centred k-space (magnitude "
            "of the inverse FFT); scored over the grid region it covers with fastMRI's volume metrics (data range = "
            "the reference volume's maximum)")
