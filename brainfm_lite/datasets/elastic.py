"""Random smooth (elastic) deformation of a volume from a coarse grid of control-point displacements.

MONAI's ``Rand3DElastic`` smooths a voxel-wise random field with a wide Gaussian: 0.35 s for one 32^3 view on a
CPU core and seconds at 96^3, which dominates the cost of a training pair. Displacements drawn at a few control
points per axis and interpolated trilinearly give the same kind of smooth deformation in milliseconds. The class
is a MONAI ``RandomizableTransform``, so ``Compose.set_random_state`` seeds it like the others.

    >>> deform = RandSmoothDeform(control_points=4, max_displacement=(1.0, 3.0))
    >>> warped = deform(torch.rand(2, 32, 32, 32))   # every channel moved alike
"""

from __future__ import annotations

import torch
from monai.transforms import RandomizableTransform

from brainfm_lite.errors import InputError


class RandSmoothDeform(RandomizableTransform):
    """Warp a [C, X, Y, Z] volume by a random smooth displacement field (trilinear sampling, zeros outside).

    Args:
        control_points: control points per axis (>= 2); fewer means smoother, larger-scale deformations.
        max_displacement: range (low, high) of the largest displacement, voxels: each call draws a magnitude in
            it and displacements uniformly in +-magnitude at every control point and axis.
        prob: probability of deforming at all.
    """

    def __init__(self, control_points: int = 4, max_displacement=(1.0, 3.0), prob: float = 1.0):
        RandomizableTransform.__init__(self, prob)
        if control_points < 2 or not 0 <= max_displacement[0] <= max_displacement[1]:
            raise InputError(f"need control_points >= 2 and 0 <= low <= high displacement; got {control_points}, "
                             f"{max_displacement}")
        self.control_points = int(control_points)
        self.max_displacement = tuple(float(d) for d in max_displacement)
        self.displacement = None

    def randomize(self, data=None) -> None:
        """Draw whether to deform and the control-point displacements [3, n, n, n] (voxels, along X, Y, Z)."""
        super().randomize(None)
        if not self._do_transform:
            return
        n = self.control_points
        magnitude = self.R.uniform(*self.max_displacement)
        self.displacement = torch.from_numpy(self.R.uniform(-magnitude, magnitude, size=(3, n, n, n))).float()

    def __call__(self, image: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        image = torch.as_tensor(image)
        if image.ndim != 4:
            raise InputError(f"RandSmoothDeform takes one volume [C, X, Y, Z]; got shape {tuple(image.shape)}")
        if randomize:
            self.randomize()
        if not self._do_transform:
            return image
        return warp(image, self.displacement)


def warp(image: torch.Tensor, control_displacement: torch.Tensor) -> torch.Tensor:
    """Sample `image` [C, X, Y, Z] at x + u(x), u interpolated trilinearly from `control_displacement` [3, n, n, n]
    (voxels along X, Y, Z, control points spanning the volume corner to corner)."""
    size = image.shape[1:]
    field = torch.nn.functional.interpolate(control_displacement[None].to(image.dtype), size=tuple(size),
                                            mode="trilinear", align_corners=True)[0]  # [3, X, Y, Z] voxels
    axes = [torch.arange(s, dtype=image.dtype) for s in size]
    position = torch.stack(torch.meshgrid(*axes, indexing="ij")) + field  # where each output voxel reads from
    normalised = torch.stack([2 * position[k] / max(size[k] - 1, 1) - 1 for k in range(3)], dim=-1)
    grid = normalised.flip(-1)[None]  # grid_sample wants (z, y, x) order for an input [N, C, X, Y, Z]
    return torch.nn.functional.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=True)[0]
