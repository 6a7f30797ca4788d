"""Encoders (MONAI ViT / ResNet / a tiny CNN), the MAE objective, the contrastive loss, task heads, the size presets
of every network and pretrained-weight files (saved, loaded, and exported at float16 with a model card)."""

from brainfm_lite.models.encoders import Encoder, EncoderConfig, build_encoder
from brainfm_lite.models.export import export_weights, weights_budget
from brainfm_lite.models.hub import LoadReport, from_pretrained, load_weights, pretrained_encoder, save_pretrained
from brainfm_lite.models.losses import nt_xent
from brainfm_lite.models.mae import MAE, MAEConfig
from brainfm_lite.models.model_card import ModelCard
from brainfm_lite.models.presets import DIFFUSION_PRESETS, ENCODER_PRESETS, MAE_PRESETS, UNET_FEATURES

__all__ = [
    "Encoder", "EncoderConfig", "build_encoder",
    "export_weights", "weights_budget",
    "LoadReport", "from_pretrained", "load_weights", "pretrained_encoder", "save_pretrained",
    "nt_xent",
    "MAE", "MAEConfig",
    "ModelCard",
    "DIFFUSION_PRESETS", "ENCODER_PRESETS", "MAE_PRESETS", "UNET_FEATURES",
]
