"""The real anatomy behind the synthetic cohort: MNI152 2009 T1, tissue fractions and ventricles, on one grid.

nilearn ships the skull-stripped MNI152 2009 T1 template, its grey- and white-matter probability maps and its brain
mask at 1 mm (no download). CSF is what the brain mask holds beyond grey and white matter. Coarser grids are made by
averaging blocks of 1 mm voxels, which is exactly the partial-volume fraction each coarse voxel holds, so the
fractions stay honest at 4 mm. Loading takes about a second; results are cached per spacing and read-only.

Example:
    >>> anatomy = load_anatomy(4.0)                         # doctest: +SKIP
    >>> anatomy.gm.shape, anatomy.spacing_mm                # doctest: +SKIP
    ((50, 59, 48), 4.0)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.interpolate import CubicSpline

from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.templates import mni_brain_mask, mni_template, mni_tissue

# A box around the lateral ventricles in MNI152 2009 world coordinates (mm); measured on the 1 mm CSF map.
VENTRICLE_BOX_MM = {"x": (-30.0, 30.0), "y": (-50.0, 30.0), "z": (-5.0, 35.0)}
# Control points of smooth fields span this cube around the brain centre (the 1 mm template spans 197-233 mm).
CONTROL_SPAN_MM = 240.0


@dataclass(frozen=True)
class Anatomy:
    """MNI152 2009 anatomy on one isotropic RAS+ grid; every array is [X, Y, Z] float32 and read-only.

    Attributes:
        t1: skull-stripped T1-weighted template, intensities 0..1 (0 outside the brain).
        gm, wm, csf: tissue fractions in [0, 1]; ``gm + wm + csf <= 1`` and the rest of a voxel is background.
        ventricles: the lateral ventricles' share of ``csf`` (0 elsewhere).
        affine: 4x4 voxel-to-world matrix (mm, RAS+), float64.
        tissue_intensity: T1 intensity of pure "gm", "wm" and "csf" (a partial-volume least-squares fit).
        brain_centre_mm: centre of mass of the brain (gm + wm + csf), world mm.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    ventricles: np.ndarray
    affine: np.ndarray
    tissue_intensity: dict
    brain_centre_mm: np.ndarray

    @property
    def spacing_mm(self) -> float:
        """Voxel size, mm (the grid is isotropic)."""
        return float(self.affine[0, 0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.t1.shape)

    def axes_from_centre_mm(self) -> list[np.ndarray]:
        """World coordinate (mm) of the voxel centres along each axis, relative to `brain_centre_mm`."""
        origin = self.affine[:3, 3]
        return [origin[a] + self.spacing_mm * np.arange(n) - self.brain_centre_mm[a] for a, n in enumerate(self.shape)]

    def smooth_field(self, control):
        """A smooth field on this grid: cubic-spline interpolation of an [n, n, n] grid of control values.

        The control points sit at fixed world positions, evenly over `CONTROL_SPAN_MM` around the brain centre,
        so the same control values give the same field at every grid spacing. Returns [X, Y, Z] float32; for a torch
        batch of controls [B, n, n, n], the fields [B, X, Y, Z] on its device (computed in float64, as numpy does).
        """
        n = control.shape[-1]
        knots = np.linspace(-CONTROL_SPAN_MM / 2, CONTROL_SPAN_MM / 2, n)
        bx, by, bz = (CubicSpline(knots, np.eye(n))(axis) for axis in self.axes_from_centre_mm())  # [len, n]
        if isinstance(control, torch.Tensor):
            bx, by, bz = (torch.from_numpy(b).to(control.device) for b in (bx, by, bz))
            field = control.double() @ bz.T                                 # [B, a, b, z]
            field = torch.einsum("...bz,yb->...yz", field, by)            # [B, a, y, z]
            return torch.einsum("...ayz,xa->...xyz", field, bx).float()  # [B, x, y, z]
        return np.einsum("xa,yb,zc,abc->xyz", bx, by, bz, control, optimize=True).astype(np.float32)


@functools.lru_cache(maxsize=4)
def load_anatomy(spacing_mm: float = 2.0) -> Anatomy:
    """The MNI152 2009 anatomy on an isotropic grid of ``spacing_mm`` mm (cached; arrays are read-only).

    Args:
        spacing_mm: voxel size in mm, a whole number (1, 2, 3, 4, ...): each voxel averages a block of
            (``spacing_mm``)^3 voxels of the 1 mm template. The grid covers the template's field of view.

    Returns:
        An `Anatomy`; at 2 mm its arrays are 99 x 117 x 95, at 4 mm 50 x 59 x 48.

    Raises:
        InputError: ``spacing_mm`` is not a positive whole number of millimetres.
    """
    factor = _whole_mm(spacing_mm)
    template = mni_template(1)
    affine_1mm = template.affine
    t1 = template.data
    gm, wm = mni_tissue("gm", 1).data, mni_tissue("wm", 1).data
    brain = mni_brain_mask(1).data

    # The GM and WM maps overlap by a hair (sums up to 1 + 3e-8 in a few voxels): scale those back to 1.
    tissue = gm + wm
    overfull = np.maximum(tissue, 1.0)
    gm, wm = gm / overfull, wm / overfull
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    ventricles = _lateral_ventricles(csf, affine_1mm)
    intensity = _tissue_intensity(t1, gm, wm, csf, inside=brain > 0)

    maps = {name: _block_mean(data, factor) for name, data in
            {"t1": t1, "gm": gm, "wm": wm, "csf": csf, "ventricles": ventricles}.items()}
    affine = _block_affine(affine_1mm, factor)
    centre_voxel = ndimage.center_of_mass(maps["gm"] + maps["wm"] + maps["csf"])
    centre_mm = affine[:3, :3] @ np.array(centre_voxel) + affine[:3, 3]
    for data in maps.values():
        data.setflags(write=False)  # the cache is shared: nobody may change it in place
    return Anatomy(**maps, affine=affine, tissue_intensity=intensity, brain_centre_mm=centre_mm)


def _whole_mm(spacing_mm) -> int:
    """``spacing_mm`` as a positive int, or InputError."""
    try:
        value = float(spacing_mm)
    except (TypeError, ValueError):
        raise InputError(f"anatomy spacing_mm must be a whole number (1, 2, 3, 4, ...); got {spacing_mm!r}") from None
    if not value >= 1 or value != round(value):
        raise InputError(f"anatomy spacing_mm must be a whole number (1, 2, 3, 4, ...); got {spacing_mm!r}")
    return int(round(value))


def _block_mean(data: np.ndarray, factor: int) -> np.ndarray:
    """Mean over blocks of factor^3 voxels; the edges are padded with zeros (background) to whole blocks."""
    if factor == 1:
        return np.ascontiguousarray(data, dtype=np.float32)
    padded_shape = [-(-n // factor) * factor for n in data.shape]
    padded = np.zeros(padded_shape, dtype=np.float32)
    padded[tuple(slice(0, n) for n in data.shape)] = data
    blocks = padded.reshape(padded_shape[0] // factor, factor, padded_shape[1] // factor, factor,
                            padded_shape[2] // factor, factor)
    return blocks.mean(axis=(1, 3, 5), dtype=np.float32)


def _block_affine(affine: np.ndarray, factor: int) -> np.ndarray:
    """Affine of the block-averaged grid: voxels ``factor`` times larger, centred on their blocks."""
    coarse = np.array(affine, dtype=np.float64)
    coarse[:3, 3] = affine[:3, :3] @ np.full(3, (factor - 1) / 2) + affine[:3, 3]
    coarse[:3, :3] = affine[:3, :3] * factor
    return coarse


def _lateral_ventricles(csf: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """CSF of the lateral ventricles: the largest connected region of mostly-CSF voxels in `VENTRICLE_BOX_MM`."""
    axes = [affine[a, a] * np.arange(n) + affine[a, 3] for a, n in enumerate(csf.shape)]  # nilearn's grid is RAS
    in_box = [(low < axis) & (axis < high) for axis, (low, high) in zip(axes, VENTRICLE_BOX_MM.values())]
    box = in_box[0][:, None, None] & in_box[1][None, :, None] & in_box[2][None, None, :]
    regions, count = ndimage.label((csf > 0.5) & box)
    if count == 0:
        return np.zeros_like(csf)
    sizes = np.bincount(regions.ravel())[1:]
    return np.where(regions == 1 + np.argmax(sizes), csf, 0.0).astype(np.float32)


def _tissue_intensity(t1, gm, wm, csf, inside) -> dict:
    """T1 intensity of each pure tissue, fitting ``t1 = sum_t fraction_t * intensity_t`` over the brain."""
    fractions = np.stack([gm[inside], wm[inside], csf[inside]], axis=1)
    values, *_ = np.linalg.lstsq(fractions, t1[inside], rcond=None)
    return {name: float(value) for name, value in zip(("gm", "wm", "csf"), values)}
