"""Random views of a structural volume for SimCLR (3D-Neuro-SimCLR), on MONAI transforms, and a dataset of view pairs.

A view is: a random crop (each edge at least ``min_crop_fraction`` of the volume's) resized back to the full size,
a flip about a random axis, a rotation up to ``max_rotation_deg`` about each axis, an intensity shift and a gamma
change. Two views of one subject share its anatomy but differ in field of view, orientation and intensity, which
is what SimCLR learns to ignore.

    >>> views = SimCLRViews(SimCLRViewConfig())                                  # doctest: +SKIP
    >>> v1, v2 = views(image, seed=1), views(image, seed=2)                        # image [1, X, Y, Z]
    >>> pairs = ViewPairs(StructuralDataset(...), views)                         # items {"view1", "view2", ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    RandAdjustContrast,
    RandAxisFlip,
    RandRotate,
    RandShiftIntensity,
    RandSpatialCrop,
    Resize,
)
from torch.utils.data import Dataset

from brainfm_lite.errors import InputError


@dataclass
class SimCLRViewConfig:
    """Strength of each augmentation (defaults: 3D-Neuro-SimCLR's recipe).

    Attributes:
        min_crop_fraction: smallest crop edge as a fraction of the volume's edge (3D-Neuro-SimCLR: at least 30x40x40 of
            150x192x192, about 0.2).
        flip_prob: probability of a flip about one random axis.
        max_rotation_deg: rotations are drawn uniformly in +-this about each axis, degrees.
        rotation_prob: probability of a rotation.
        intensity_shift: offsets are drawn uniformly in +-this (z-scored units: standard deviations of the brain).
        gamma: range (low, high) of the gamma exponent applied after rescaling to [0, 1] (and back).
    """

    min_crop_fraction: float = 0.2
    flip_prob: float = 0.5
    max_rotation_deg: float = 45.0
    rotation_prob: float = 0.5
    intensity_shift: float = 0.1
    gamma: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self):
        if not 0 < self.min_crop_fraction <= 1:
            raise InputError(f"min_crop_fraction must lie in (0, 1]; got {self.min_crop_fraction}")
        if not 0 < self.gamma[0] <= self.gamma[1]:
            raise InputError(f"gamma must be a range 0 < low <= high; got {self.gamma}")


class SimCLRViews:
    """Callable ``(image [C, X, Y, Z], seed) -> view [C, X, Y, Z]``: the same seed gives the same view."""

    def __init__(self, config: SimCLRViewConfig | None = None):
        self.config = config or SimCLRViewConfig()

    def transform(self, size) -> Compose:
        """The MONAI pipeline for volumes of spatial `size` (X, Y, Z)."""
        c = self.config
        angle = math.radians(c.max_rotation_deg)
        return Compose([
            RandSpatialCrop(roi_size=[max(1, round(c.min_crop_fraction * s)) for s in size], max_roi_size=size,
                            random_size=True),
            Resize(spatial_size=size, mode="trilinear"),
            RandAxisFlip(prob=c.flip_prob),
            RandRotate(range_x=angle, range_y=angle, range_z=angle, prob=c.rotation_prob, keep_size=True,
                       padding_mode="zeros"),
            RandShiftIntensity(offsets=c.intensity_shift, prob=1.0),
            RandAdjustContrast(gamma=c.gamma, prob=1.0),
        ])

    def __call__(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        if not isinstance(image, torch.Tensor) or image.ndim != 4:
            raise InputError(f"a view is made from one volume [C, X, Y, Z]; got {getattr(image, 'shape', image)}")
        transform = self.transform(tuple(image.shape[1:]))
        transform.set_random_state(seed=int(seed))
        return as_plain_tensor(transform(image))


def as_plain_tensor(image) -> torch.Tensor:
    """A float32 torch.Tensor without MONAI's MetaTensor wrapper (which the default collate would keep)."""
    image = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
    return image.float().contiguous()


class ViewPairs(Dataset):
    """Two random views of every item of a dataset of volumes: items ``{"view1", "view2", "site", "index"}``.

    Each item's two view seeds are drawn from torch's global generator, which the Trainer seeds and checkpoints
    (and seeds per DataLoader worker): a run is reproducible, resumes bitwise, and every epoch sees new views.

    Args:
        dataset: items with ``image`` [C, X, Y, Z] (e.g. a `StructuralDataset`); ``site`` and ``index`` are passed on.
        views: a callable ``(image, seed) -> view`` (default ``SimCLRViews()``).
    """

    def __init__(self, dataset, views=None):
        self.dataset = dataset
        self.views = views or SimCLRViews()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        item = self.dataset[position]
        seed1, seed2 = torch.randint(0, 2**31 - 1, (2,)).tolist()
        pair = {"view1": self.views(item["image"], seed1), "view2": self.views(item["image"], seed2)}
        return {**pair, **{key: item[key] for key in ("site", "index") if key in item}}
