"""`Volume`: a 3D (or 4D) image with its voxel-to-world affine, the one type the data layer passes around."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


@dataclass
class Volume:
    """An image on a voxel grid placed in world space (mm, RAS+ world as in NIfTI).

    Attributes:
        data: voxel values, float32, shape [X, Y, Z] (or [X, Y, Z, T]).
        affine: 4x4 float64 matrix mapping voxel indices (i, j, k, 1) to world mm (x, y, z, 1).
        path: file it was loaded from, or None for an image made in memory.
        meta: provenance of every step applied so far (preprocessing choices, subject info, ...).
    """

    data: np.ndarray
    affine: np.ndarray
    path: Path | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.path is not None:
            self.path = Path(self.path)

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        """Voxel size in mm along each of the first three axes (column norms of the affine)."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def with_data(self, data: np.ndarray, affine: np.ndarray | None = None, **meta) -> "Volume":
        """A new Volume with other voxels (and optionally another affine); `meta` entries are added."""
        new_affine = self.affine if affine is None else affine
        return replace(self, data=data, affine=np.array(new_affine, dtype=np.float64), meta={**self.meta, **meta})

    def to_nifti(self):
        """This volume as an in-memory ``nibabel.Nifti1Image`` (for nilearn plotting and other nibabel tools)."""
        import nibabel as nib

        return nib.Nifti1Image(self.data, self.affine)

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path else ""
        spacing_mm = ", ".join(f"{s:.3g}" for s in self.spacing_mm)
        return f"Volume(shape={self.shape}, spacing_mm=({spacing_mm}){where})"
