"""Tests for brainfm_lite.models.simclr: the projection head and the SimCLR objective (NT-Xent itself:
test_losses.py)."""

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import EncoderConfig
from brainfm_lite.models.hub import from_pretrained, save_pretrained
from brainfm_lite.models.simclr import ProjectionHead, SimCLR, SimCLRConfig


def test_projection_head_has_the_requested_widths_and_no_bias():
    head = ProjectionHead(512, (512, 64))
    assert head(torch.randn(2, 512)).shape == (2, 64)
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 512), (512, 64)]
    assert all(m.bias is None for m in linears)


def test_a_batch_normalised_head_normalises_its_hidden_layer_only():
    head = ProjectionHead(16, (32, 32, 8), batch_norm=True)
    assert [type(m).__name__ for m in head] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU",
                                                "Linear"]
    assert head(torch.randn(4, 16)).shape == (4, 8)


@pytest.fixture
def tiny_simclr():
    torch.manual_seed(0)
    encoder = EncoderConfig(kind="vit", img_size=16, patch_size=8, hidden_size=24, mlp_dim=48, num_layers=1,
                            num_heads=2)
    return SimCLR(SimCLRConfig(encoder=encoder, projection_widths=(32, 8)))


def test_simclr_objective_trains_and_exports_its_encoder(tiny_simclr, tmp_path):
    batch = {"view1": torch.randn(3, 1, 16, 16, 16), "view2": torch.randn(3, 1, 16, 16, 16)}
    out = tiny_simclr(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and -1 <= out["positive_similarity"] <= 1
    assert tiny_simclr.backbone.patch_embedding.patch_embeddings.weight.grad is not None

    encoder = from_pretrained(save_pretrained(tiny_simclr.encoder(), tmp_path / "encoder"))
    x = torch.randn(2, 1, 16, 16, 16)
    tiny_simclr.eval()
    torch.testing.assert_close(encoder.eval()(x), tiny_simclr.backbone(x))
    saved = from_pretrained(save_pretrained(tiny_simclr, tmp_path / "simclr"))  # the whole objective round-trips
    torch.testing.assert_close(saved.eval().project(x), tiny_simclr.project(x))


def test_simclr_rejects_a_batch_without_two_views(tiny_simclr):
    with pytest.raises(InputError):
        tiny_simclr({"image": torch.randn(2, 1, 16, 16, 16)})
