"""Tiny model configs shared by the model tests: 32^3 volumes, 8^3 patches (64 patches), 48-wide, 2 blocks."""

import pytest
import torch

from brainfm_lite.models.encoders import EncoderConfig
from brainfm_lite.models.mae import MAEConfig

TINY_VIT = dict(img_size=(32, 32, 32), patch_size=8, hidden_size=48, mlp_dim=96, num_layers=2, num_heads=4)


@pytest.fixture
def mae_config() -> MAEConfig:
    return MAEConfig(**TINY_VIT, decoder_hidden_size=48, decoder_mlp_dim=96, decoder_num_layers=1,
                     decoder_num_heads=4, masking_ratio=0.75)


@pytest.fixture
def vit_config() -> EncoderConfig:
    return EncoderConfig(kind="vit", **TINY_VIT)


@pytest.fixture
def cnn_config() -> EncoderConfig:
    return EncoderConfig(kind="cnn", img_size=(32, 32, 32), widths=(8, 16, 32))


@pytest.fixture
def volumes() -> torch.Tensor:
    """[2, 1, 32, 32, 32] smooth-ish random volumes, fixed seed."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 1, 32, 32, 32, generator=generator).cumsum(dim=2) / 8
