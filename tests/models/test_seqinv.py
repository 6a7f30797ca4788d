"""Tests for brainfm_lite.models.seqinv: the contrastive + L1 reconstruction objective."""

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import EncoderConfig
from brainfm_lite.models.hub import from_pretrained, save_pretrained
from brainfm_lite.models.seqinv import ReconstructionHead, SeqInv, SeqInvConfig, upsample_trilinear

VIT = EncoderConfig(kind="vit", img_size=16, patch_size=8, hidden_size=24, mlp_dim=48, num_layers=1, num_heads=2)
CNN = EncoderConfig(kind="cnn", img_size=16, widths=(4, 8))


def batch(n=3, size=16):
    generator = torch.Generator().manual_seed(0)
    return {name: torch.randn(n, 1, size, size, size, generator=generator)
            for name in ("view1", "view2", "clean1", "clean2")}


@pytest.mark.parametrize("encoder", [VIT, CNN], ids=["vit", "cnn"])
def test_loss_is_contrastive_plus_weighted_reconstruction_and_reaches_the_encoder(encoder):
    torch.manual_seed(0)
    objective = SeqInv(SeqInvConfig(encoder=encoder, projection_widths=(16, 8), reconstruction_weight=0.5))
    out = objective(batch())
    assert out["loss"].item() == pytest.approx(out["contrastive"].item() + 0.5 * out["reconstruction"].item(),
                                               rel=1e-6)
    out["loss"].backward()
    first_layer = next(p for name, p in objective.backbone.named_parameters() if name.endswith("weight"))
    assert first_layer.grad is not None and first_layer.grad.abs().sum() > 0


def test_vit_reconstruction_head_puts_each_token_back_in_its_patch():
    head = ReconstructionHead(VIT, feature_dim=24)
    with torch.no_grad():
        head.proj.weight.zero_()
        head.proj.bias.zero_()
        head.proj.bias[0] = 1.0  # every token paints the first voxel of its patch
    tokens = torch.zeros(1, 8, 24)
    image = head({"tokens": tokens}, (16, 16, 16))
    assert image.shape == (1, 1, 16, 16, 16)
    assert torch.nonzero(image[0, 0]).tolist() == [[x, y, z] for x in (0, 8) for y in (0, 8) for z in (0, 8)]


def test_saved_objective_and_exported_encoder_load_back(tmp_path):
    torch.manual_seed(0)
    objective = SeqInv(SeqInvConfig(encoder=VIT, projection_widths=(16, 8))).eval()
    x = torch.randn(2, 1, 16, 16, 16)
    encoder = from_pretrained(save_pretrained(objective.encoder(), tmp_path / "encoder")).eval()
    torch.testing.assert_close(encoder(x), objective.backbone(x))
    assert isinstance(from_pretrained(save_pretrained(objective, tmp_path / "seqinv")), SeqInv)


def test_a_batch_without_reconstruction_targets_raises_input_error():
    objective = SeqInv(SeqInvConfig(encoder=VIT, projection_widths=(16, 8)))
    with pytest.raises(InputError):
        objective({"view1": torch.randn(2, 1, 16, 16, 16), "view2": torch.randn(2, 1, 16, 16, 16)})


@pytest.mark.parametrize("shape, size", [((2, 1, 3, 3, 3), (96, 96, 96)), ((1, 2, 4, 5, 6), (8, 15, 7))])
def test_separable_upsampling_equals_torch_trilinear_with_its_gradient(shape, size):
    """The GPU's path of the CNN reconstruction head: the same image and input gradient as torch's kernel."""
    torch.manual_seed(0)
    image = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.interpolate(image, size=size, mode="trilinear", align_corners=False)
    grad = torch.randn_like(reference)
    (expected_grad,) = torch.autograd.grad(reference, image, grad)
    separable = upsample_trilinear(image.float(), size)
    (separable_grad,) = torch.autograd.grad(separable, image, grad.float())
    assert separable.dtype == torch.float32 and separable.shape == reference.shape
    torch.testing.assert_close(separable.double(), reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(separable_grad, expected_grad, rtol=1e-4, atol=1e-4)
