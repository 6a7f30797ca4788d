"""Tests for brainfm_lite.models.presets: every named size gives a valid config, under the same names."""

import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.models.diffusion import DiffusionConfig
from brainfm_lite.models.encoders import EncoderConfig
from brainfm_lite.models.mae import MAEConfig
from brainfm_lite.models.presets import DIFFUSION_PRESETS, ENCODER_PRESETS, MAE_PRESETS, UNET_FEATURES
from brainfm_lite.models.recon_unet import ReconUNetConfig


def test_every_table_names_the_same_three_sizes():
    for table in (MAE_PRESETS, ENCODER_PRESETS, DIFFUSION_PRESETS, UNET_FEATURES):
        assert list(table) == ["tiny", "small", "base"]


@pytest.mark.parametrize("name", ["tiny", "small", "base"])
def test_every_preset_makes_a_valid_config(name):
    assert MAEConfig.preset(name, img_size=(96, 96, 96)).hidden_size == MAE_PRESETS[name]["hidden_size"]
    encoder = EncoderConfig.preset(name, img_size=(96, 96, 96))
    assert (encoder.kind, encoder.pos_embed_type, encoder.cls_token) == ("vit", "sincos", True)
    assert encoder.hidden_size == ENCODER_PRESETS[name]["hidden_size"]
    assert DiffusionConfig.preset(name).channels == DIFFUSION_PRESETS[name]["channels"]
    assert ReconUNetConfig(features=UNET_FEATURES[name]).features == UNET_FEATURES[name]


def test_unknown_preset_names_are_refused():
    for build in (MAEConfig.preset, EncoderConfig.preset, DiffusionConfig.preset):
        with pytest.raises(InputError, match="tiny, small, base"):
            build("huge")
