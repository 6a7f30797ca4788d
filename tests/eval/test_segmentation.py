"""Sliding-window inference matches direct inference on one window; a few training steps lower the dense losses."""

import torch

from brainfm_lite.eval.segmentation import (
    TISSUE_LABEL_MAP,
    DenoisingObjective,
    SegmentationObjective,
    predict_labels,
    random_window,
    sliding_window_predict,
)
from brainfm_lite.models.decoders import SegmentationModel
from brainfm_lite.models.encoders import EncoderConfig, build_encoder

SMALL_VIT = dict(kind="vit", img_size=16, patch_size=4, hidden_size=24, mlp_dim=48, num_layers=2, num_heads=2)


def small_model(n_classes: int) -> SegmentationModel:
    torch.manual_seed(0)
    return SegmentationModel(build_encoder(EncoderConfig(**SMALL_VIT)), n_classes, feature_size=8)


def blob_batch() -> dict:
    """One 18^3 volume: a bright ball (label 3) in a dim shell (label 2) on background."""
    grid = torch.stack(torch.meshgrid(*[torch.arange(18.0)] * 3, indexing="ij"))
    radius = (grid - 8.5).pow(2).sum(0).sqrt()
    labels = torch.where(radius < 4, 3, torch.where(radius < 7, 2, 0)).long()
    image = labels.float() + 0.1 * torch.randn(1, 1, 18, 18, 18, generator=torch.Generator().manual_seed(0))
    return {"image": image, "labels": labels[None, None]}


def test_sliding_window_equals_direct_inference_on_one_window():
    model = small_model(3).eval()
    image = torch.randn(2, 1, 16, 16, 16)
    with torch.no_grad():
        direct = model(image)
    assert torch.allclose(sliding_window_predict(model, image, (16, 16, 16)), direct, atol=1e-5)


def test_sliding_window_covers_a_larger_volume():
    logits = sliding_window_predict(small_model(3), torch.randn(1, 1, 24, 20, 16), (16, 16, 16))
    assert logits.shape == (1, 3, 24, 20, 16)
    assert predict_labels(small_model(3), torch.randn(1, 1, 24, 20, 16), (16, 16, 16)).shape == (1, 24, 20, 16)


def test_random_window_cuts_the_same_place_from_every_tensor():
    torch.manual_seed(1)
    image = torch.arange(20.0**3).reshape(1, 1, 20, 20, 20)
    a, b = random_window([image, image.clone()], (16, 16, 16))
    assert a.shape == (1, 1, 16, 16, 16) and torch.equal(a, b)


def train_steps(objective, steps: int = 5) -> list[float]:
    optimizer = torch.optim.Adam(objective.parameters(), lr=5e-3)
    batch, losses = blob_batch(), []
    for _ in range(steps):
        torch.manual_seed(0)  # same window and noise each step: the loss must fall on a fixed problem
        loss = objective(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_a_few_segmentation_steps_lower_the_dice_ce_loss():
    losses = train_steps(SegmentationObjective(small_model(4), (16, 16, 16), TISSUE_LABEL_MAP))
    assert losses[-1] < 0.9 * losses[0]


def test_a_few_denoising_steps_lower_the_error():
    losses = train_steps(DenoisingObjective(small_model(1), (16, 16, 16), sigma=0.2))
    assert losses[-1] < 0.7 * losses[0]
