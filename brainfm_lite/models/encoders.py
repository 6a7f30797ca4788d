"""Encoders with one interface: a volume in, a feature vector out, plus token or feature maps for dense tasks.

Three backbones, all 3D, all from MONAI except the tiny CNN:

- ``"vit"``: MONAI ``ViT`` (patch embedding, transformer blocks, final LayerNorm) with an optional class token.
  Its parameter names are MONAI's own, so weights from MONAI's ``ViT`` or from the encoder half of MONAI's
  ``MaskedAutoEncoderViT`` load by renaming keys only (see ``brainfm_lite.models.hub``).
- ``"resnet"``: MONAI ``resnet10/18/34/50/...`` without the classification layer (the network the SimCLR seed
  trained; its ``encoder.*`` checkpoint keys match after removing the prefix).
- ``"cnn"``: a few strided MONAI ``Convolution`` blocks, for CPU smoke runs (a 3D ResNet-18 at 96^3 takes about
  10 s a training step on 2 CPU cores).

Example:
    >>> encoder = build_encoder(EncoderConfig(kind="cnn", img_size=(32, 32, 32)))   # doctest: +SKIP
    >>> encoder(torch.zeros(2, 1, 32, 32, 32)).shape                               # doctest: +SKIP
    torch.Size([2, 128])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from monai.networks import nets
from monai.networks.blocks import Convolution, TransformerBlock
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.hub import register_model
from brainfm_lite.models.presets import ENCODER_PRESETS

ENCODER_KINDS = ("vit", "resnet", "cnn")
RESNET_DEPTHS = (10, 18, 34, 50, 101, 152, 200)


def as_triple(value, name: str) -> tuple[int, int, int]:
    """An int or a 3-sequence of ints (a JSON list after a round trip) as a tuple of three ints."""
    triple = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(triple) != 3 or not all(isinstance(v, int) and v > 0 for v in triple):
        raise InputError(f"{name} must be a positive int or three positive ints, got {value!r}")
    return triple


@dataclass
class EncoderConfig:
    """What to build. Fields that do not concern `kind` are ignored by it.

    Attributes:
        kind: "vit", "resnet" or "cnn".
        in_channels: image channels C of the input [B, C, X, Y, Z].
        img_size: voxels (X, Y, Z). The ViT needs exactly this size (its position embedding has one entry per
            patch); the CNNs take any size and keep it only as the default input of examples.
        patch_size: ViT patch edge in voxels (int or three ints); `img_size` must be a multiple of it.
        hidden_size: ViT token width D (a multiple of `num_heads`, and of 6 for the 3D sin-cos embedding).
        mlp_dim: width of the ViT blocks' MLP.
        num_layers: number of ViT transformer blocks.
        num_heads: ViT attention heads.
        pos_embed_type: ViT position embedding: "sincos" (fixed, as in MAE), "learnable" or "none".
        cls_token: prepend a learnable class token, as MONAI's MaskedAutoEncoderViT does; an MAE encoder
            exported with it computes exactly what it computed during pretraining.
        resnet_depth: 10, 18, 34, 50, 101, 152 or 200.
        widths: channels of the compact CNN's stages; each stage halves the grid.
        channels_last: the compact CNN keeps weights and inputs channels-last 3D (faster 3D convolutions on CPU).
    """

    kind: str = "vit"
    in_channels: int = 1
    img_size: tuple[int, int, int] = (64, 64, 64)
    patch_size: tuple[int, int, int] = (16, 16, 16)
    hidden_size: int = 768
    mlp_dim: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    pos_embed_type: str = "sincos"
    cls_token: bool = True
    resnet_depth: int = 18
    widths: tuple[int, ...] = field(default=(16, 32, 64, 128))
    channels_last: bool = True

    def __post_init__(self):
        if self.kind not in ENCODER_KINDS:
            raise InputError(f"unknown encoder kind {self.kind!r}: choose one of {', '.join(ENCODER_KINDS)}")
        self.img_size = as_triple(self.img_size, "img_size")
        self.patch_size = as_triple(self.patch_size, "patch_size")
        self.widths = tuple(int(w) for w in self.widths)
        if self.kind == "vit":
            check_vit_shape(self.img_size, self.patch_size, self.hidden_size, self.num_heads, self.pos_embed_type)
        if self.kind == "resnet" and self.resnet_depth not in RESNET_DEPTHS:
            raise InputError(f"resnet_depth must be one of {RESNET_DEPTHS}, got {self.resnet_depth}")
        if self.kind == "cnn" and not self.widths:
            raise InputError("widths must name at least one stage for the tiny CNN")

    @classmethod
    def preset(cls, name: str, **overrides) -> "EncoderConfig":
        """A ViT of a named size from `ENCODER_PRESETS` ("tiny", "small", "base"), with sin-cos positions and a
        class token (as the MAE's encoder half), fields overridden by keyword (e.g. ``img_size=(96, 96, 96)``)."""
        if name not in ENCODER_PRESETS:
            raise InputError(f"unknown encoder preset {name!r}: choose one of {', '.join(ENCODER_PRESETS)}")
        return cls(**{"kind": "vit", "pos_embed_type": "sincos", "cls_token": True, **ENCODER_PRESETS[name],
                      **overrides})

    def describe(self) -> str:
        """The architecture in a few words, for printouts (e.g. "3D CNN of 4 stages, widths 16-32-64-128")."""
        if self.kind == "cnn":
            return f"3D CNN of {len(self.widths)} stages, widths {'-'.join(map(str, self.widths))}"
        if self.kind == "resnet":
            return f"3D ResNet-{self.resnet_depth}"
        return f"ViT of {self.num_layers} blocks, width {self.hidden_size}, patch {self.patch_size[0]}"

    @property
    def grid_size(self) -> tuple[int, int, int]:
        """ViT patches along X, Y, Z."""
        return tuple(i // p for i, p in zip(self.img_size, self.patch_size))


def check_vit_shape(img_size, patch_size, hidden_size: int, num_heads: int, pos_embed_type: str) -> None:
    """Raise InputError for ViT sizes that MONAI would reject later with a less helpful message."""
    if any(i % p for i, p in zip(img_size, patch_size)):
        raise InputError(f"img_size {img_size} must be a multiple of patch_size {patch_size}")
    if hidden_size % num_heads:
        raise InputError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
    if pos_embed_type == "sincos" and hidden_size % 6:
        raise InputError(f"hidden_size {hidden_size} must be a multiple of 6 for the 3D sin-cos position embedding")


@register_model
class Encoder(nn.Module):
    """Common interface of every encoder; build one with `build_encoder` (or `Encoder.from_config`).

    Subclasses implement ``forward_features(x) -> dict`` and ``forward(x) -> [B, F]``.

    Attributes:
        config: the `EncoderConfig` it was built from (saved beside the weights by `save_pretrained`).
        feature_dim: F, the length of the feature vector `forward` returns.
    """

    config_class = EncoderConfig

    def __init__(self, config: EncoderConfig, feature_dim: int):
        super().__init__()
        self.config = config
        self.feature_dim = feature_dim

    @classmethod
    def from_config(cls, config: EncoderConfig) -> "Encoder":
        return build_encoder(config)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise InputError unless `x` is [B, C, X, Y, Z] with this encoder's channel count."""
        if x.ndim != 5 or x.shape[1] != self.config.in_channels:
            raise InputError(f"expected a batch [B, {self.config.in_channels}, X, Y, Z], got shape {tuple(x.shape)}")


def freeze_unused_cross_attention_norms(module: nn.Module) -> None:
    """Stop training the LayerNorm that each MONAI ``TransformerBlock`` builds for cross-attention it does not have.

    Such a norm never takes part in the forward pass, so it never gets a gradient, and DistributedDataParallel
    stops at the first step of a torchrun run ("parameters that were not used in producing loss"). Frozen, it is
    still saved and loaded with the rest of the weights.
    """
    for block in module.modules():
        if isinstance(block, TransformerBlock) and not block.with_cross_attention:
            block.norm_cross_attn.requires_grad_(False)


class ViTEncoder(Encoder):
    """MONAI ViT. Features: the mean of the patch tokens after the final LayerNorm (the class token, when
    present, is returned separately by `forward_features`).

    Parameter names are MONAI ViT's: ``patch_embedding.*``, ``blocks.{i}.*``, ``norm.*``, plus ``cls_token``.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__(config, feature_dim=config.hidden_size)
        vit = nets.ViT(
            in_channels=config.in_channels, img_size=config.img_size, patch_size=config.patch_size,
            hidden_size=config.hidden_size, mlp_dim=config.mlp_dim, num_layers=config.num_layers,
            num_heads=config.num_heads, proj_type="conv", pos_embed_type=config.pos_embed_type,
            classification=False, spatial_dims=3,
        )
        # Keep MONAI's modules under MONAI's names, so checkpoints map key for key.
        self.patch_embedding = vit.patch_embedding
        self.blocks = vit.blocks
        self.norm = vit.norm
        freeze_unused_cross_attention_norms(self)
        if config.cls_token:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
            nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward_features(self, x: torch.Tensor) -> dict:
        """Run the ViT on every patch.

        Args:
            x: [B, C, X, Y, Z] with (X, Y, Z) == config.img_size.

        Returns:
            A dict with

            - "tokens": [B, N, D] patch tokens after the final LayerNorm, N = prod(grid_size) in (x, y, z) C order
              (patch n sits at grid index unravel_index(n, grid_size));
            - "hidden_states": list of [B, N, D], the patch tokens after each block (before the norm), for
              UNETR-style dense decoders;
            - "cls": [B, D] the class token after the norm (only with config.cls_token).
        """
        self.check_input(x)
        if tuple(x.shape[2:]) != self.config.img_size:
            raise InputError(f"this ViT takes volumes of {self.config.img_size} voxels, got {tuple(x.shape[2:])}")
        tokens = self.patch_embedding(x)
        n_prefix = 0
        if self.config.cls_token:
            tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)
            n_prefix = 1
        hidden_states = []
        for block in self.blocks:
            tokens = block(tokens)
            hidden_states.append(tokens[:, n_prefix:])
        tokens = self.norm(tokens)
        out = {"tokens": tokens[:, n_prefix:], "hidden_states": hidden_states}
        if self.config.cls_token:
            out["cls"] = tokens[:, 0]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, X, Y, Z] -> [B, hidden_size], the mean patch token."""
        return self.forward_features(x)["tokens"].mean(dim=1)


class ResNetEncoder(Encoder):
    """MONAI 3D ResNet without its classification layer. Features: global average of the last stage.

    Parameter names are MONAI ResNet's (``conv1.*``, ``bn1.*``, ``layer1.*`` ... ``layer4.*``).
    """

    def __init__(self, config: EncoderConfig):
        resnet = getattr(nets, f"resnet{config.resnet_depth}")(
            spatial_dims=3, n_input_channels=config.in_channels, feed_forward=False
        )
        super().__init__(config, feature_dim=resnet.in_planes)  # in_planes ends as the last stage's width
        # Keep MONAI's modules under MONAI's names, so checkpoints map key for key.
        self.conv1, self.bn1, self.act, self.maxpool = resnet.conv1, resnet.bn1, resnet.act, resnet.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4

    def forward_features(self, x: torch.Tensor) -> dict:
        """[B, C, X, Y, Z] -> {"maps": [stem, layer1, layer2, layer3, layer4]}, each [B, C_i, X_i, Y_i, Z_i].

        The stem map is taken before the max-pool, as MONAI's ``ResNetFeatures`` does.
        """
        self.check_input(x)
        stem = self.act(self.bn1(self.conv1(x)))
        maps = [stem]
        x = self.maxpool(stem)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            maps.append(x)
        return {"maps": maps}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, X, Y, Z] -> [B, 512] (ResNet-10/18/34) or [B, 2048] (50 and deeper)."""
        return self.forward_features(x)["maps"][-1].mean(dim=(2, 3, 4))


class ConvEncoder(Encoder):
    """Compact 3D CNN: per stage a stride-2 and a stride-1 3x3x3 convolution, each followed by batch norm and ReLU
    (no conv bias: the norm removes it). Features: global average of the last stage, F = widths[-1].

    With ``config.channels_last`` weights and inputs are kept channels-last (``torch.channels_last_3d``): a training
    step of widths (8, 16, 32, 64) on 16 volumes of 64^3 took 0.29 s instead of 0.34 s on 2 idle CPU cores
    (``benchmarks/bench_cnn_memory_format.py``)."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config, feature_dim=config.widths[-1])
        channels = (config.in_channels, *config.widths)
        self.stages = nn.ModuleList(
            nn.Sequential(
                Convolution(3, c_in, c_out, strides=2, kernel_size=3, act="relu", norm="batch", bias=False),
                Convolution(3, c_out, c_out, strides=1, kernel_size=3, act="relu", norm="batch", bias=False),
            )
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.memory_format = torch.channels_last_3d if config.channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def forward_features(self, x: torch.Tensor) -> dict:
        """[B, C, X, Y, Z] -> {"maps": one [B, widths[i], X / 2^(i+1), ...] per stage}."""
        self.check_input(x)
        x = x.contiguous(memory_format=self.memory_format)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return {"maps": maps}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, X, Y, Z] -> [B, widths[-1]]."""
        return self.forward_features(x)["maps"][-1].mean(dim=(2, 3, 4))


def build_encoder(config: EncoderConfig) -> Encoder:
    """The encoder `config.kind` names, freshly initialised."""
    builders = {"vit": ViTEncoder, "resnet": ResNetEncoder, "cnn": ConvEncoder}
    return builders[config.kind](config)
