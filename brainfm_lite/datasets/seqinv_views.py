"""Sequence-invariant views (Chalcroft et al.): two images of one subject simulated from its qMRI maps, then deformed
and corrupted, and a dataset of such pairs for the three variants the paper compares.

One view of a subject, from its voxelwise maps (PD, R1, R2, R2*, MT) and brain mask:

1. **contrast**: the image a sequence gives of the maps (`~brainfm_lite.sim.qmri.simulate_contrast`, the path of
   every other simulated contrast: MP2RAGE stored as a non-negative image, as scanners store it), divided by its
   median in the brain (positive for every sequence family), so the noise levels are relative to the brain's signal;
2. **spatial** (image and mask together, so the mask tells where the anatomy went): a flip about a random axis
   (MONAI ``RandAxisFlip``), a smooth elastic deformation (`RandSmoothDeform`: MONAI's ``Rand3DElastic`` is too
   slow on a CPU for one simulation per item) and a random crop of at least ``min_crop_fraction`` of each edge
   resized back (``RandSpatialCrop``, ``Resize``; at 1, the default, the volume stays as it is). No rescale by
   default: the paper's crop is a fixed window that moves the head without rescaling it, and every subject of the
   embedded cohort is one template scaled and deformed, so rescaling the views erases much of what tells two
   subjects apart in two different contrasts. Measured at the reference profile
   (``benchmarks/bench_seqinv_collapse.py``, 150 steps, seed 0): with crops of at least 0.75 of an edge SeqInv
   collapsed (NT-Xent 2.71 = chance, partner and negative similarity 0.99), as the reference record of 561a49a did;
   without, it learns (NT-Xent 2.21, partner 0.84, negative 0.30);
3. **corruption** (image only): a smooth bias field, Gibbs ringing, Rician noise (``RandBiasField``,
   ``RandGibbsNoise``, ``RandRicianNoise``);
4. z-score inside the deformed mask. The deformed image before step 3, z-scored alike, is kept as ``clean``: the
   target of the reconstruction head.

Variants (which sequences the two views get): ``"seqinv"`` two different random sequences (`sample_sequence`);
``"seqaug"`` one random sequence for both; ``"baseline"`` the MPRAGE-like preset "t1w" for both.

    >>> pairs = SeqInvPairs(StructuralDataset(cohort, size=(32,) * 3), variant="seqinv")  # doctest: +SKIP
    >>> item = pairs[0]; item["view1"].shape, item["mask1"].shape                           # doctest: +SKIP
    (torch.Size([1, 32, 32, 32]), torch.Size([1, 32, 32, 32]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from monai.transforms import (
    Compose,
    RandAxisFlip,
    RandBiasField,
    RandGibbsNoise,
    RandRicianNoise,
    RandSpatialCrop,
    Resize,
)
from torch.utils.data import Dataset

from brainfm_lite.datasets.elastic import RandSmoothDeform
from brainfm_lite.datasets.simclr_views import as_plain_tensor
from brainfm_lite.datasets.structural import MAP_NAMES
from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import Sequence, sample_sequence
from brainfm_lite.sim.qmri import preset, simulate_contrast

SEQINV_VARIANTS = ("seqinv", "seqaug", "baseline")
BASELINE_PRESET = "t1w"  # MPRAGE-like


@dataclass
class SeqInvViewConfig:
    """Strength of the spatial and corruption augmentations.

    Attributes:
        min_crop_fraction: smallest crop edge as a fraction of the volume's edge; 1 (the default): no crop
            (module docstring: a rescale collapses SeqInv on the embedded cohort).
        flip_prob: probability of a flip about one random axis.
        elastic_control_points: control points per axis of the smooth deformation (`RandSmoothDeform`).
        elastic_displacement: range of the largest displacement of the deformation, voxels.
        elastic_prob: probability of an elastic deformation.
        bias_coeff: range of the bias field's polynomial coefficients (log-domain). At most 0.1, every sequence
            family's corrupted view keeps a correlation above 0.6 with its clean image in the brain (tested).
        gibbs_alpha: range of the k-space fraction removed for Gibbs ringing (0: none, 1: everything).
        rician_std: largest noise standard deviation, relative to the mean brain signal (drawn in [0, this]).
        corruption_prob: probability of each corruption.
    """

    min_crop_fraction: float = 1.0
    flip_prob: float = 0.5
    elastic_control_points: int = 4
    elastic_displacement: tuple[float, float] = (1.0, 3.0)
    elastic_prob: float = 1.0
    bias_coeff: tuple[float, float] = (0.0, 0.1)  # MONAI's default; 0.3 buried low-contrast sequences (r < 0.2)
    gibbs_alpha: tuple[float, float] = (0.0, 0.5)
    rician_std: float = 0.1
    corruption_prob: float = 0.5

    def __post_init__(self):
        if not 0 < self.min_crop_fraction <= 1:
            raise InputError(f"min_crop_fraction must lie in (0, 1]; got {self.min_crop_fraction}")


def view_sequences(variant: str, rng: np.random.Generator) -> tuple[Sequence, Sequence]:
    """The two sequences of a pair: two random ("seqinv"), one random twice ("seqaug"), MPRAGE twice ("baseline")."""
    if variant not in SEQINV_VARIANTS:
        raise InputError(f"unknown variant {variant!r}: choose one of {', '.join(SEQINV_VARIANTS)}")
    if variant == "baseline":
        return preset(BASELINE_PRESET), preset(BASELINE_PRESET)
    first = sample_sequence(rng)
    return (first, first) if variant == "seqaug" else (first, sample_sequence(rng))


class SeqInvViews:
    """Makes one view: ``view(maps, brain, sequence, seed) -> {"image", "clean", "mask"}``, each [1, X, Y, Z]."""

    def __init__(self, config: SeqInvViewConfig | None = None):
        self.config = config or SeqInvViewConfig()

    def spatial(self, size) -> Compose:
        """Crop-and-resize (none at ``min_crop_fraction`` 1), flip and elastic deformation of a [C, X, Y, Z] stack of
        spatial `size`."""
        c = self.config
        return Compose([
            RandSpatialCrop(roi_size=[max(1, round(c.min_crop_fraction * s)) for s in size], max_roi_size=size,
                            random_size=True),
            Resize(spatial_size=size, mode="trilinear"),
            RandAxisFlip(prob=c.flip_prob),
            RandSmoothDeform(c.elastic_control_points, c.elastic_displacement, prob=c.elastic_prob),
        ])

    def corruption(self) -> Compose:
        """Bias field, Gibbs ringing and Rician noise of a [1, X, Y, Z] image with mean brain signal 1."""
        c = self.config
        return Compose([
            RandBiasField(coeff_range=c.bias_coeff, prob=c.corruption_prob),
            RandGibbsNoise(alpha=c.gibbs_alpha, prob=c.corruption_prob),
            RandRicianNoise(std=c.rician_std, prob=c.corruption_prob, sample_std=True),
        ])

    def view(self, maps: dict, brain: np.ndarray, sequence: Sequence, seed: int) -> dict[str, torch.Tensor]:
        """One view of a subject.

        Args:
            maps: voxelwise maps "pd", "r1", "r2", "r2s", "mt" (arrays [X, Y, Z]; see `maps_from_array`).
            brain: bool [X, Y, Z] brain mask.
            sequence: the contrast to simulate.
            seed: seeds the spatial and corruption draws (same seed, same deformation whatever the sequence).

        Returns:
            "image": the corrupted view, "clean": the same before corruption, both z-scored in the deformed mask
            (0 outside); "mask": the deformed brain mask (0/1 float). All float32 [1, X, Y, Z].
        """
        contrast = simulate_contrast(maps, sequence)
        contrast = contrast / brain_signal(contrast, brain)  # noise levels relative to the brain's signal
        stack = torch.from_numpy(np.stack([contrast, brain.astype(np.float32)]))
        spatial = self.spatial(tuple(brain.shape))
        spatial.set_random_state(seed=int(seed))
        warped = as_plain_tensor(spatial(stack))
        clean, mask = warped[:1], (warped[1:] > 0.5).float()
        corruption = self.corruption()
        corruption.set_random_state(seed=int(seed) + 1)
        image = as_plain_tensor(corruption(clean.clone()))
        return {"image": _zscore(image, mask), "clean": _zscore(clean, mask), "mask": mask}


def brain_signal(contrast: np.ndarray, brain: np.ndarray) -> float:
    """A positive scale of a non-negative image [X, Y, Z] inside the bool `brain` mask: its median there (robust to
    the few bright vessels or CSF voxels), else its 99th percentile, else 1 (an image that is 0 in the brain)."""
    values = np.abs(contrast[brain]) if brain.any() else np.abs(contrast).ravel()
    for scale in (np.median(values), np.percentile(values, 99)):
        if scale > 0:
            return float(scale)
    return 1.0


def maps_from_array(maps: np.ndarray) -> dict[str, np.ndarray]:
    """Stacked maps [5, X, Y, Z] (PD, R1, R2, R2*, MT, as `StructuralDataset` stores them) as a float32 dict;
    relaxation rates of voxels without water (padding) set to 1/s so the signal equations stay finite."""
    maps = dict(zip(MAP_NAMES, np.asarray(maps, dtype=np.float32)))
    empty = maps["pd"] <= 0
    for name in ("r1", "r2", "r2s"):
        maps[name] = np.where(empty | (maps[name] <= 0), np.float32(1.0), maps[name])
    maps["pd"] = np.clip(maps["pd"], 0, None)
    return maps


def _zscore(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean 0, standard deviation 1 inside `mask`, 0 outside (all of `image` when the mask is empty)."""
    inside = mask > 0.5 if mask.any() else torch.ones_like(mask, dtype=torch.bool)
    values = image[inside]
    return torch.where(inside, (image - values.mean()) / values.std().clamp(min=1e-6), 0.0)


class SeqInvPairs(Dataset):
    """Pairs of sequence-invariant views of every subject of a `StructuralDataset`.

    Items: ``view1``, ``view2`` (corrupted views), ``clean1``, ``clean2`` (their targets before corruption),
    ``mask1``, ``mask2`` (deformed brain masks), all float32 [1, X, Y, Z]; ``site`` and ``index``. The subject's
    maps come from the dataset's cache; the sequences, deformations and corruptions are drawn per item from a seed
    taken from torch's global generator (seeded and checkpointed by the Trainer): reproducible runs, new views
    every epoch.

    Args:
        dataset: a `StructuralDataset` (its ``load(index)`` gives ``maps`` and ``brain``).
        variant: "seqinv", "seqaug" or "baseline".
        views: a `SeqInvViews` (default strengths when None).
    """

    def __init__(self, dataset, variant: str = "seqinv", views: SeqInvViews | None = None):
        if variant not in SEQINV_VARIANTS:
            raise InputError(f"unknown variant {variant!r}: choose one of {', '.join(SEQINV_VARIANTS)}")
        self.dataset, self.variant, self.views = dataset, variant, views or SeqInvViews()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, position: int) -> dict:
        index = int(self.dataset.indices[position])
        arrays = self.dataset.load(index)
        seed = int(torch.randint(0, 2**31 - 3, ()).item())
        return self.pair(arrays, seed) | {"site": torch.tensor(int(arrays["site"])), "index": torch.tensor(index)}

    def pair(self, arrays: dict, seed: int) -> dict[str, torch.Tensor]:
        """The two views of one subject's cached arrays (``maps``, ``brain``) for a seed."""
        maps, brain = maps_from_array(arrays["maps"]), np.asarray(arrays["brain"], dtype=bool)
        rng = np.random.default_rng(seed)
        first, second = view_sequences(self.variant, rng)
        spatial_seeds = rng.integers(0, 2**31 - 3, size=2)
        out = {}
        for k, (sequence, view_seed) in enumerate(zip((first, second), spatial_seeds), start=1):
            view = self.views.view(maps, brain, sequence, int(view_seed))
            out |= {f"view{k}": view["image"], f"clean{k}": view["clean"], f"mask{k}": view["mask"]}
        return out
