"""Tests for brainfm_lite.models.encoders: one interface over MONAI ViT, MONAI ResNet and a tiny CNN."""

import pytest
import torch
from monai.networks import nets

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import EncoderConfig, build_encoder


def test_vit_features_are_the_mean_patch_token(vit_config, volumes):
    encoder = build_encoder(vit_config).eval()
    out = encoder.forward_features(volumes)
    assert out["tokens"].shape == (2, 64, 48)  # (32 / 8)^3 patches, class token excluded
    assert out["cls"].shape == (2, 48)
    assert [h.shape for h in out["hidden_states"]] == [(2, 64, 48)] * 2
    features = encoder(volumes)
    assert features.shape == (2, encoder.feature_dim) == (2, 48)
    torch.testing.assert_close(features, out["tokens"].mean(dim=1))


def test_vit_without_class_token_has_exactly_monai_vit_keys(vit_config):
    vit_config.cls_token = False
    encoder = build_encoder(vit_config)
    monai_vit = nets.ViT(in_channels=1, img_size=32, patch_size=8, hidden_size=48, mlp_dim=96, num_layers=2,
                         num_heads=4, pos_embed_type="sincos", classification=False)
    assert list(encoder.state_dict()) == list(monai_vit.state_dict())
    assert "cls" not in encoder.forward_features(torch.zeros(1, 1, 32, 32, 32))


def test_resnet_keys_are_monai_resnet_keys_and_maps_halve():
    config = EncoderConfig(kind="resnet", resnet_depth=10, img_size=(32, 32, 32))
    encoder = build_encoder(config).eval()
    assert list(encoder.state_dict()) == list(nets.resnet10(spatial_dims=3, n_input_channels=1,
                                                            feed_forward=False).state_dict())
    maps = encoder.forward_features(torch.zeros(1, 1, 32, 32, 32))["maps"]
    assert [tuple(m.shape[1:]) for m in maps] == [(64, 32, 32, 32), (64, 16, 16, 16), (128, 8, 8, 8),
                                                  (256, 4, 4, 4), (512, 2, 2, 2)]
    assert encoder(torch.zeros(2, 1, 32, 32, 32)).shape == (2, 512)


def test_cnn_takes_any_size_and_pools_the_last_stage(cnn_config):
    encoder = build_encoder(cnn_config).eval()
    x = torch.randn(2, 1, 24, 32, 40)
    maps = encoder.forward_features(x)["maps"]
    assert [tuple(m.shape) for m in maps] == [(2, 8, 12, 16, 20), (2, 16, 6, 8, 10), (2, 32, 3, 4, 5)]
    torch.testing.assert_close(encoder(x), maps[-1].mean(dim=(2, 3, 4)))
    assert encoder.feature_dim == 32


def test_wrong_input_is_refused_with_the_expected_shape(vit_config, cnn_config):
    with pytest.raises(InputError, match=r"32, 32, 32"):
        build_encoder(vit_config)(torch.zeros(1, 1, 16, 32, 32))
    with pytest.raises(InputError, match=r"\[B, 1, X, Y, Z\]"):
        build_encoder(cnn_config)(torch.zeros(1, 2, 32, 32, 32))


@pytest.mark.parametrize("bad", [dict(kind="unet"), dict(img_size=(30, 32, 32), patch_size=8),
                                 dict(hidden_size=50, num_heads=5), dict(kind="resnet", resnet_depth=11)])
def test_bad_configs_raise_input_error(bad):
    with pytest.raises(InputError):
        EncoderConfig(**bad)


def test_config_accepts_json_lists():
    config = EncoderConfig(kind="vit", img_size=[32, 32, 32], patch_size=[8, 8, 8], hidden_size=48, num_heads=4)
    assert config.img_size == (32, 32, 32) and config.patch_size == (8, 8, 8)
    assert config.grid_size == (4, 4, 4)


def test_a_printout_names_the_architecture_that_was_built():
    """Chapter 6 prints the backbone it trained; a CNN must not be described with the ViT defaults of its config."""
    assert EncoderConfig(kind="cnn", widths=(16, 32, 64, 128)).describe() == "3D CNN of 4 stages, widths 16-32-64-128"
    assert EncoderConfig.preset("tiny").describe().startswith("ViT of ")
    assert EncoderConfig(kind="resnet", resnet_depth=18).describe() == "3D ResNet-18"
