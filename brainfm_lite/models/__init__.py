"""Encoders (MONAI ViT / ResNet / a tiny CNN), the MAE objective, the contrastive loss, task heads, the size presets
of every network and pretrained-weight files."""

from brainfm_lite.models.encoders import Encoder, EncoderConfig, build_encoder
from brainfm_lite.models.hub import LoadReport, from_pretrained, load_weights, save_pretrained
from brainfm_lite.models.losses import nt_xent
from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.models.presets import DIFFUSION_PRESETS, ENCODER_PRESETS, MAE_PRESETS, UNET_FEATURES

__all__ = [
    "Encoder", "EncoderConfig", "build_encoder",
    "LoadReport", "from_pretrained", "load_weights", "save_pretrained",
    "nt_xent",
    "MAE", "MAEConfig",
    "DIFFUSION_PRESETS", "ENCODER_PRESETS", "MAE_PRESETS", "UNET_FEATURES",
]
