"""Random views of a brain volume for SimCLR as 3D-Neuro-SimCLR makes them, on MONAI transforms, and a dataset of
view pairs.

The recipe follows the seed's public code (github.com/emilykaczmarek/3D-Neuro-SimCLR, commit 13097b5):
``main.py`` lines 100-107 build the transform and ``datasets/t1_datasets.py`` lines 60-69 and 113-126 standardise
each view inside its brain mask. A view is, in that order:

1. a random crop (random centre and size, each edge at least ``min_crop_fraction`` of the volume's; the seed's
   smallest crop is 30x40x40 of 150x192x192, 0.2-0.21) resized back to the full size (trilinear; the mask nearest).
   A crop that holds less than ``min_brain_fraction`` of brain is drawn again (the seed redraws a view whose mask is
   empty), so every view shows anatomy;
2. a flip about the left-right axis only (``flip_axis``: axis 0 of the package's RAS volumes; the seed flips its
   axis 2, left-right after its transpose), p = 0.5;
3. a rotation about one axis (``rotation_axis``: 2, the inferior-superior axis, as the seed's ``range_x`` after its
   transpose), uniform in +-``max_rotation_deg`` = 45 deg (0.785 rad), p = 0.5;
4. an intensity offset uniform in +-``intensity_shift`` = 0.5, p = 0.8, and a gamma change in (0.5, 1.5), p = 0.8
   (MONAI rescales to [0, 1], raises to gamma and maps back);
5. the view standardised inside its (transformed) brain mask: mean 0, SD 1 in the brain, background exactly 0.

Step 5 undoes any offset and global scale, so what differs between two views of one subject is the field of view,
the orientation and the gamma: SimCLR learns to ignore those and keep the anatomy.

    >>> views = SimCLRViews(SimCLRViewConfig())                                   # doctest: +SKIP
    >>> v1, v2 = views(image, seed=1), views(image, seed=2)                         # image [1, X, Y, Z]
    >>> pairs = ViewPairs(StructuralDataset(...), views)                          # items {"view1", "view2", ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandFlipd,
    RandRotated,
    RandShiftIntensityd,
    RandSpatialCropd,
    Resized,
)
from torch.utils.data import Dataset

from brainfm_lite.errors import InputError

CROP_ATTEMPTS = 20  # crops drawn before a view falls back to the whole volume (a brain too small to hit)


@dataclass
class SimCLRViewConfig:
    """Strength of each augmentation (defaults: 3D-Neuro-SimCLR's ``main.py``).

    Attributes:
        min_crop_fraction: smallest crop edge as a fraction of the volume's edge (the seed: 30x40x40 of 150x192x192).
        min_brain_fraction: a crop must hold at least this fraction of brain voxels, or it is drawn again.
        flip_prob: probability of the left-right flip.
        flip_axis: the spatial axis flipped (0: left-right in RAS).
        max_rotation_deg: rotation angle drawn uniformly in +-this, degrees.
        rotation_axis: the spatial axis rotated about (2: inferior-superior in RAS, an in-plane axial rotation).
        rotation_prob: probability of the rotation.
        intensity_shift: offsets drawn uniformly in +-this (units of the input; step 5 standardises afterwards).
        intensity_prob: probability of the offset, and separately of the gamma change.
        gamma: range (low, high) of the gamma exponent.
    """

    min_crop_fraction: float = 0.2
    min_brain_fraction: float = 0.25
    flip_prob: float = 0.5
    flip_axis: int = 0
    max_rotation_deg: float = 45.0
    rotation_axis: int = 2
    rotation_prob: float = 0.5
    intensity_shift: float = 0.5
    intensity_prob: float = 0.8
    gamma: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self):
        if not 0 < self.min_crop_fraction <= 1:
            raise InputError(f"min_crop_fraction must lie in (0, 1]; got {self.min_crop_fraction}")
        if not 0 <= self.min_brain_fraction < 1:
            raise InputError(f"min_brain_fraction must lie in [0, 1); got {self.min_brain_fraction}")
        if self.flip_axis not in (0, 1, 2) or self.rotation_axis not in (0, 1, 2):
            raise InputError(f"flip_axis and rotation_axis are spatial axes 0, 1 or 2; got {self.flip_axis}, "
                             f"{self.rotation_axis}")
        self.gamma = tuple(float(g) for g in self.gamma)
        if not 0 < self.gamma[0] <= self.gamma[1]:
            raise InputError(f"gamma must be a range 0 < low <= high; got {self.gamma}")


class SimCLRViews:
    """Callable ``(image [C, X, Y, Z], seed, mask=None) -> view [C, X, Y, Z]``: the same seed gives the same view.

    The brain mask [X, Y, Z] (or [1, X, Y, Z]) defaults to the image's nonzero voxels (the package's images are 0
    outside the brain).
    """

    def __init__(self, config: SimCLRViewConfig | None = None):
        self.config = config or SimCLRViewConfig()

    def crop(self, size) -> Compose:
        """Step 1 for volumes of spatial `size` (X, Y, Z): the random crop, resized back to `size`."""
        roi = [max(1, round(self.config.min_crop_fraction * s)) for s in size]
        return Compose([
            RandSpatialCropd(keys=["image", "mask"], roi_size=roi, max_roi_size=size, random_size=True),
            Resized(keys=["image", "mask"], spatial_size=size, mode=["trilinear", "nearest"]),
        ])

    def transform(self) -> Compose:
        """Steps 2-4: flip, rotation, intensity offset and gamma."""
        c = self.config
        ranges = [0.0, 0.0, 0.0]
        ranges[c.rotation_axis] = math.radians(c.max_rotation_deg)
        return Compose([
            RandFlipd(keys=["image", "mask"], prob=c.flip_prob, spatial_axis=c.flip_axis),
            RandRotated(keys=["image", "mask"], range_x=ranges[0], range_y=ranges[1], range_z=ranges[2],
                        prob=c.rotation_prob, keep_size=True, padding_mode="zeros", mode=["bilinear", "nearest"]),
            RandShiftIntensityd(keys=["image"], offsets=c.intensity_shift, prob=c.intensity_prob),
            RandAdjustContrastd(keys=["image"], gamma=c.gamma, prob=c.intensity_prob),
        ])

    def __call__(self, image: torch.Tensor, seed: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(image, torch.Tensor) or image.ndim != 4:
            raise InputError(f"a view is made from one volume [C, X, Y, Z]; got {getattr(image, 'shape', image)}")
        size = tuple(image.shape[1:])
        mask = (image != 0).any(dim=0, keepdim=True) if mask is None else torch.as_tensor(mask).reshape(1, *size)
        mask = mask.float()
        item = self._anatomical_crop({"image": image.float(), "mask": mask}, size, int(seed))
        transform = self.transform()
        transform.set_random_state(seed=int(seed))
        item = transform(item)
        return standardise_in_mask(as_plain_tensor(item["image"]), as_plain_tensor(item["mask"]) > 0.5)

    def _anatomical_crop(self, item: dict, size, seed: int) -> dict:
        """Step 1, redrawn (seed, seed + 1, ...) until the crop holds ``min_brain_fraction`` of brain."""
        crop = self.crop(size)
        for attempt in range(CROP_ATTEMPTS):
            crop.set_random_state(seed=(seed + attempt) % 2**32)
            cropped = crop(item)
            if float(as_plain_tensor(cropped["mask"]).mean()) >= self.config.min_brain_fraction:
                return cropped
        return item  # no crop held enough brain: the whole volume (a tiny brain, or an empty mask)


def standardise_in_mask(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image [C, X, Y, Z] with mean 0 and SD 1 inside the boolean `mask` [1, X, Y, Z] and exactly 0 outside it
    (3D-Neuro-SimCLR's ``standardize``); an empty mask gives zeros."""
    inside = mask.expand_as(image)
    if not inside.any():
        return torch.zeros_like(image)
    values = image[inside]
    out = (image - values.mean()) / values.std(unbiased=False).clamp_min(1e-6)
    return torch.where(inside, out, torch.zeros_like(out))


def as_plain_tensor(image) -> torch.Tensor:
    """A float32 torch.Tensor without MONAI's MetaTensor wrapper (which the default collate would keep)."""
    image = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
    return image.float().contiguous()


class ViewPairs(Dataset):
    """Two random views of every item of a dataset of volumes: items ``{"view1", "view2", "site", "index"}``.

    Each item's two view seeds are drawn from torch's global generator, which the Trainer seeds and checkpoints
    (and seeds per DataLoader worker): a run is reproducible, resumes bitwise, and every epoch sees new views.

    Args:
        dataset: items with ``image`` [C, X, Y, Z] (e.g. a `StructuralDataset`), optionally ``brain`` [X, Y, Z];
            ``site`` and ``index`` are passed on.
        views: a callable ``(image, seed, mask) -> view`` (default ``SimCLRViews()``); the mask is the item's ``brain``
            when it has one, else None.
    """

    def __init__(self, dataset, views=None):
        self.dataset = dataset
        self.views = views or SimCLRViews()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        item = self.dataset[position]
        mask = item.get("brain")  # the dataset's brain mask when it has one, else the image's nonzero voxels
        mask = None if mask is None else torch.as_tensor(np.asarray(mask))
        seed1, seed2 = torch.randint(0, 2**31 - 1, (2,)).tolist()
        pair = {"view1": self.views(item["image"], seed1, mask), "view2": self.views(item["image"], seed2, mask)}
        return {**pair, **{key: item[key] for key in ("site", "index") if key in item}}
