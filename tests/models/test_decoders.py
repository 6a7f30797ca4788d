"""Dense decoders give one output per voxel for ViT and CNN encoders, and a frozen encoder stays fixed."""

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.models.decoders import SegmentationModel, stage_geometry
from brainfm_lite.models.encoders import EncoderConfig, build_encoder
from brainfm_lite.models.export import export_weights
from brainfm_lite.models.hub import from_pretrained, save_pretrained

SMALL_VIT = dict(kind="vit", img_size=16, patch_size=4, hidden_size=24, mlp_dim=48, num_layers=2, num_heads=2)


@pytest.mark.parametrize("config", [SMALL_VIT, dict(kind="cnn", img_size=16, widths=(8, 16))],
                         ids=["vit", "cnn"])
def test_output_has_one_map_per_class_at_input_resolution(config):
    torch.manual_seed(0)
    model = SegmentationModel(build_encoder(EncoderConfig(**config)), n_classes=3, feature_size=8)
    assert model(torch.randn(2, 1, 16, 16, 16)).shape == (2, 3, 16, 16, 16)


def test_unetr_decoder_follows_patch_size_and_uses_every_block():
    encoder = build_encoder(EncoderConfig(**{**SMALL_VIT, "patch_size": 8, "num_layers": 3}))
    decoder = SegmentationModel(encoder, n_classes=2, feature_size=8).decoder
    assert decoder.levels == 3            # 8 = 2^3: three doublings back to full resolution
    assert decoder.skip_layers == [1, 2]  # blocks spread over the depth, as UNETR's 3, 6, 9 of 12


def test_unet_decoder_reads_the_stage_geometry():
    channels, factors = stage_geometry(build_encoder(EncoderConfig(kind="cnn", img_size=16, widths=(8, 16))))
    assert channels == [8, 16] and factors == [2, 2]


def test_frozen_encoder_gets_no_gradient_but_the_decoder_does():
    model = SegmentationModel(build_encoder(EncoderConfig(**SMALL_VIT)), n_classes=2, freeze_encoder=True,
                              feature_size=8)
    model.train()
    model(torch.randn(1, 1, 16, 16, 16)).sum().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters())
    assert not model.encoder.training


def test_non_power_of_two_patch_is_rejected():
    encoder = build_encoder(EncoderConfig(**{**SMALL_VIT, "img_size": 12, "patch_size": 6}))
    with pytest.raises(InputError):
        SegmentationModel(encoder, n_classes=2)


def test_a_segmentation_model_saves_and_loads_whole_and_exports_as_float16(tmp_path):
    torch.manual_seed(0)
    encoder = build_encoder(EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 8)))
    model = SegmentationModel(encoder, 4, feature_size=8).eval()
    x = torch.randn(1, 1, 16, 16, 16)
    loaded = from_pretrained(save_pretrained(model, tmp_path / "saved")).eval()
    assert isinstance(loaded, SegmentationModel) and loaded.config == model.config
    assert torch.equal(loaded(x), model(x))
    shipped = from_pretrained(export_weights(tmp_path / "saved", tmp_path / "shipped", card={
        "name": "tissue", "objective": "tissue segmentation", "profile": "smoke", "steps": 1})).eval()
    assert torch.allclose(shipped(x), model(x), atol=1e-2)  # float16 weights
