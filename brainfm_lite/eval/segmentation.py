"""Dense objectives for the shared Trainer and sliding-window inference: segmentation and denoising.

Both objectives train on one random window of the encoder's input size cut out of each batch of larger volumes
(the same window for the whole batch), so the encoder sees what it was pretrained on; prediction covers a whole
volume with MONAI's sliding-window inference (windows overlapping by half, averaged).

    >>> model = SegmentationModel(encoder, n_classes=4)                                  # doctest: +SKIP
    >>> objective = SegmentationObjective(model, roi_size=(32, 32, 32), label_map=TISSUE_LABEL_MAP)  # doctest: +SKIP
    >>> Trainer(objective, dataset, TrainConfig(max_steps=20, batch_size=2), out_dir="runs/seg").fit()  # doctest: +SKIP
    >>> labels = predict_labels(model, image, roi_size=(32, 32, 32))                     # doctest: +SKIP
"""

from __future__ import annotations

import torch
from monai.inferers import sliding_window_inference
from monai.losses import DiceCELoss
from torch import nn

from brainfm_lite.errors import InputError

# Cohort labels 0 bg, 1 CSF, 2 GM, 3 WM, 4 lesion -> task classes (index = cohort label).
TISSUE_LABEL_MAP = (0, 1, 2, 3, 3)  # lesions count as the white matter they sit in
LESION_LABEL_MAP = (0, 0, 0, 0, 1)  # lesion against everything else
SLIDING_WINDOW_OVERLAP = 0.5


def random_window(tensors: list[torch.Tensor], roi_size) -> list[torch.Tensor]:
    """The same random window of `roi_size` voxels out of each [B, C, X, Y, Z] tensor (torch's generator, so the
    Trainer's seed fixes it); tensors no larger than `roi_size` along an axis are kept whole along it."""
    shape = tensors[0].shape[2:]
    starts = [int(torch.randint(0, max(1, size - roi + 1), ())) for size, roi in zip(shape, roi_size)]
    window = tuple(slice(start, start + roi) for start, roi in zip(starts, roi_size))
    return [t[(slice(None), slice(None), *window)] for t in tensors]


class SegmentationObjective(nn.Module):
    """Segmentation loss for the Trainer: MONAI ``DiceCELoss`` (softmax Dice + cross-entropy) on a random window.

    Args:
        model: ``[B, C, X, Y, Z] -> [B, n_classes, X, Y, Z]`` logits (a `SegmentationModel`).
        roi_size: training window (X, Y, Z), voxels: the encoder's input size.
        label_map: task class of each cohort label (e.g. `TISSUE_LABEL_MAP`); n_classes = max + 1.

    Batches are dicts with ``image`` float [B, 1, X, Y, Z] and ``labels`` integer [B, 1, X, Y, Z] (cohort labels).
    """

    def __init__(self, model: nn.Module, roi_size, label_map=TISSUE_LABEL_MAP):
        super().__init__()
        self.model = model
        self.roi_size = tuple(int(r) for r in roi_size)
        self.register_buffer("label_map", torch.as_tensor(label_map, dtype=torch.long), persistent=False)
        self.loss = DiceCELoss(to_onehot_y=True, softmax=True)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        image, labels = random_window([batch["image"], batch["labels"]], self.roi_size)
        target = self.label_map[labels.long()]
        return {"loss": self.loss(self.model(image).float(), target)}


class DenoisingObjective(nn.Module):
    """Denoising loss for the Trainer: add Gaussian noise of SD `sigma` to a random window of the (z-scored)
    image and regress the clean window (mean squared error, the quantity PSNR scores).

    Args:
        model: ``[B, 1, X, Y, Z] -> [B, 1, X, Y, Z]`` (a `SegmentationModel` with ``n_classes=1``).
        roi_size: training window, voxels.
        sigma: noise SD in units of the image (0.2 on z-scored images, as Chalcroft et al.).
    """

    def __init__(self, model: nn.Module, roi_size, sigma: float = 0.2):
        super().__init__()
        if sigma <= 0:
            raise InputError(f"noise sigma must be positive; got {sigma}")
        self.model, self.roi_size, self.sigma = model, tuple(int(r) for r in roi_size), float(sigma)

    def forward(self, batch) -> dict[str, torch.Tensor]:
        (clean,) = random_window([batch["image"]], self.roi_size)
        noisy = clean + self.sigma * torch.randn_like(clean)
        return {"loss": nn.functional.mse_loss(self.model(noisy).float(), clean)}


@torch.no_grad()
def sliding_window_predict(model: nn.Module, image: torch.Tensor, roi_size, *, overlap: float = SLIDING_WINDOW_OVERLAP,
                           sw_batch_size: int = 4) -> torch.Tensor:
    """Run `model` (eval mode) over a volume of any size in windows of `roi_size` (MONAI
    ``sliding_window_inference``, overlap 0.5, overlapping outputs averaged; volumes smaller than a window are
    zero-padded and cropped back).

    Args:
        model: ``[B, C, *roi_size] -> [B, K, *roi_size]``.
        image: [B, C, X, Y, Z].
        roi_size: window (X, Y, Z), voxels.

    Returns:
        [B, K, X, Y, Z], on the image's device.
    """
    if image.ndim != 5:
        raise InputError(f"sliding-window inference needs [B, C, X, Y, Z]; got shape {tuple(image.shape)}")
    model.eval()
    return sliding_window_inference(image, tuple(int(r) for r in roi_size), sw_batch_size, model, overlap=overlap)


def predict_labels(model: nn.Module, image: torch.Tensor, roi_size, **kwargs) -> torch.Tensor:
    """Class of every voxel: arg-max of the sliding-window logits, [B, X, Y, Z] int64."""
    return sliding_window_predict(model, image, roi_size, **kwargs).argmax(dim=1)
