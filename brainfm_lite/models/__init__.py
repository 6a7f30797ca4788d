"""Encoders (MONAI ViT / ResNet / a tiny CNN), the MAE objective, task heads and pretrained-weight files."""

from brainfm_lite.models.encoders import Encoder, EncoderConfig, build_encoder
from brainfm_lite.models.hub import LoadReport, from_pretrained, load_weights, save_pretrained
from brainfm_lite.models.mae import MAE, MAE_PRESETS, MAEConfig

__all__ = [
    "Encoder", "EncoderConfig", "build_encoder",
    "LoadReport", "from_pretrained", "load_weights", "save_pretrained",
    "MAE", "MAE_PRESETS", "MAEConfig",
]
