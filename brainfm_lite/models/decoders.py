"""Dense decoders on the shared encoder: one voxel-wise output map per input volume.

- ViT encoders get a UNETR-style decoder (Hatamizadeh et al. 2022, MONAI ``UNETR``): patch tokens of a few
  intermediate blocks are reshaped to grids and brought up to finer resolutions (``UnetrPrUpBlock``), then merged
  from coarse to fine (``UnetrUpBlock``) down to a full-resolution stem on the image itself (``UnetrBasicBlock``).
  MONAI's UNETR wires this for patch 16 (four doublings); here the number of doublings follows the patch size.
- CNN and ResNet encoders get a U-Net decoder on their per-stage feature maps, the same up-blocks as skips.

`SegmentationModel` is encoder + decoder; with ``n_classes=1`` the same network regresses an image (denoising).

    >>> encoder = build_encoder(EncoderConfig(kind="vit", img_size=32, patch_size=8, hidden_size=48,
    ...                                       mlp_dim=96, num_layers=2, num_heads=4))     # doctest: +SKIP
    >>> SegmentationModel(encoder, n_classes=4)(torch.zeros(2, 1, 32, 32, 32)).shape       # doctest: +SKIP
    torch.Size([2, 4, 32, 32, 32])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from monai.networks.blocks import UnetOutBlock, UnetrBasicBlock, UnetrPrUpBlock, UnetrUpBlock
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import Encoder, EncoderConfig, build_encoder
from brainfm_lite.models.hub import register_model

NORM = "instance"  # batch statistics of 1-2 volumes a step are too noisy for batch norm


class UnetrDecoder(nn.Module):
    """UNETR decoder for a ViT with a cubic power-of-two patch of edge 2^L.

    Skip level 0 is the image (full resolution, ``feature_size`` channels); level j = 1 .. L-1 is the hidden state
    of block ``j * num_layers // L`` brought to 2^(L-j) times the patch grid with ``feature_size * 2^j`` channels;
    the final (normed) tokens sit at the patch grid. L up-blocks merge them back to full resolution.

    Args:
        encoder: a ViT `Encoder`.
        out_channels: channels of the output map.
        feature_size: channels of the full-resolution level (UNETR's 16).
    """

    def __init__(self, encoder: Encoder, out_channels: int, feature_size: int = 16):
        super().__init__()
        config = encoder.config
        patch = config.patch_size[0]
        if len(set(config.patch_size)) != 1 or patch < 2 or patch & (patch - 1):
            raise InputError(f"the UNETR decoder needs a cubic power-of-two patch (>= 2); got {config.patch_size}")
        self.grid_size = config.grid_size
        self.levels = int(math.log2(config.patch_size[0]))
        self.skip_layers = [min(j * config.num_layers // self.levels, config.num_layers - 1)
                            for j in range(1, self.levels)]
        widths = [feature_size * 2**j for j in range(self.levels)]
        self.stem = UnetrBasicBlock(3, config.in_channels, widths[0], kernel_size=3, stride=1, norm_name=NORM,
                                    res_block=False)
        # Level j needs 2^(L-j) times the patch grid: the first transposed convolution plus L-j-1 more.
        self.skips = nn.ModuleList(
            UnetrPrUpBlock(3, config.hidden_size, widths[j], num_layer=self.levels - j - 1, kernel_size=3, stride=1,
                           upsample_kernel_size=2, norm_name=NORM, conv_block=True, res_block=False)
            for j in range(1, self.levels)
        )
        ups, in_channels = [], config.hidden_size
        for j in reversed(range(self.levels)):
            ups.append(UnetrUpBlock(3, in_channels, widths[j], kernel_size=3, upsample_kernel_size=2,
                                    norm_name=NORM, res_block=False))
            in_channels = widths[j]
        self.ups = nn.ModuleList(ups)
        self.out = UnetOutBlock(3, widths[0], out_channels)

    def grid(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch tokens [B, N, D] (C order over the patch grid) as a map [B, D, gx, gy, gz]."""
        return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *self.grid_size)

    def forward(self, image: torch.Tensor, features: dict) -> torch.Tensor:
        """Image [B, C, X, Y, Z] and the ViT's ``forward_features`` -> [B, out_channels, X, Y, Z]."""
        skips = [self.stem(image)]
        for block, layer in zip(self.skips, self.skip_layers):
            skips.append(block(self.grid(features["hidden_states"][layer])))
        x = self.grid(features["tokens"])
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.out(x)


class UNetDecoder(nn.Module):
    """U-Net decoder on a CNN/ResNet's stage maps: from the deepest map up, each ``UnetrUpBlock`` upsamples to the
    next finer map (by its measured scale factor) and merges it; a last block merges a full-resolution stem.

    Args:
        encoder: a CNN or ResNet `Encoder` whose maps are each 1x or 2x coarser than the one before, and the
            first no finer than the image.
        out_channels: channels of the output map.
        feature_size: channels of the full-resolution stem.
    """

    def __init__(self, encoder: Encoder, out_channels: int, feature_size: int = 16):
        super().__init__()
        channels, factors = stage_geometry(encoder)
        self.stem = UnetrBasicBlock(3, encoder.config.in_channels, feature_size, kernel_size=3, stride=1,
                                    norm_name=NORM, res_block=False)
        targets = [feature_size, *channels[:-1]]  # each up-block lands on the next finer map's width
        self.ups = nn.ModuleList(
            UnetrUpBlock(3, c_in, c_out, kernel_size=3, upsample_kernel_size=factor, norm_name=NORM, res_block=False)
            for c_in, c_out, factor in zip(reversed(channels), reversed(targets), reversed(factors))
        )
        self.out = UnetOutBlock(3, feature_size, out_channels)

    def forward(self, image: torch.Tensor, features: dict) -> torch.Tensor:
        """Image [B, C, X, Y, Z] and the encoder's ``forward_features`` -> [B, out_channels, X, Y, Z]."""
        maps = features["maps"]
        skips = [self.stem(image), *maps[:-1]]
        x = maps[-1]
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.out(x)


def stage_geometry(encoder: Encoder, probe_size: int = 32) -> tuple[list[int], list[int]]:
    """Channels of each stage map and its downsampling relative to the map before (the image for the first),
    measured by one forward pass on a zero volume of (`probe_size`)^3 voxels.

    Raises:
        InputError: a stage that shrinks the grid by other than 1x or 2x (a U-Net needs exact doublings).
    """
    was_training = encoder.training
    with torch.no_grad():
        encoder.eval()
        x = torch.zeros(1, encoder.config.in_channels, probe_size, probe_size, probe_size)
        maps = encoder.forward_features(x)["maps"]
    encoder.train(was_training)
    sizes = [probe_size] + [m.shape[-1] for m in maps]
    factors = [before // after for before, after in zip(sizes[:-1], sizes[1:])]
    if any(f not in (1, 2) or before != f * after for f, before, after in zip(factors, sizes[:-1], sizes[1:])):
        raise InputError(f"stage maps of {sizes[1:]} voxels from {probe_size}: a U-Net decoder needs each stage to "
                         "halve the grid or keep it")
    return [m.shape[1] for m in maps], factors


def build_decoder(encoder: Encoder, out_channels: int, feature_size: int = 16) -> nn.Module:
    """A UNETR decoder for a ViT encoder, a U-Net decoder for a CNN or ResNet."""
    if encoder.config.kind == "vit":
        return UnetrDecoder(encoder, out_channels, feature_size)
    return UNetDecoder(encoder, out_channels, feature_size)


@dataclass
class SegmentationConfig:
    """What rebuilds a `SegmentationModel` (`save_pretrained` / `from_pretrained`).

    Attributes:
        encoder: the encoder's `EncoderConfig` (a dict is accepted, as read back from config.json).
        n_classes: output channels.
        feature_size: decoder width at full resolution.
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    n_classes: int = 4
    feature_size: int = 16

    def __post_init__(self):
        if isinstance(self.encoder, dict):
            self.encoder = EncoderConfig(**self.encoder)
        if self.n_classes < 1 or self.feature_size < 1:
            raise InputError(f"n_classes and feature_size must be at least 1; got {self.n_classes}, "
                             f"{self.feature_size}")


@register_model
class SegmentationModel(nn.Module):
    """Encoder + dense decoder: [B, C, X, Y, Z] -> [B, n_classes, X, Y, Z] logits (or an image for n_classes=1).

    Saved and loaded whole like the encoders (`save_pretrained`, `export_weights`, `from_pretrained`); a frozen
    encoder is a training choice and is not saved.

    Args:
        encoder: any `Encoder` (pretrained or not); X, Y, Z must be its ``img_size`` for a ViT and a multiple of
            its total downsampling for a CNN (use sliding-window inference for larger volumes).
        n_classes: output channels (segmentation classes including background, or 1 for a regression).
        freeze_encoder: keep the encoder's weights (and batch-norm statistics) fixed; train the decoder only.
        feature_size: decoder width at full resolution.
    """

    def __init__(self, encoder: Encoder, n_classes: int, *, freeze_encoder: bool = False, feature_size: int = 16):
        super().__init__()
        if n_classes < 1:
            raise InputError(f"n_classes must be at least 1; got {n_classes}")
        self.encoder = encoder
        self.decoder = build_decoder(encoder, n_classes, feature_size)
        self.n_classes = n_classes
        self.config = SegmentationConfig(encoder=encoder.config, n_classes=n_classes, feature_size=feature_size)
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            encoder.requires_grad_(False)
            encoder.eval()

    config_class = SegmentationConfig

    @classmethod
    def from_config(cls, config: SegmentationConfig) -> "SegmentationModel":
        return cls(build_encoder(config.encoder), config.n_classes, feature_size=config.feature_size)

    def train(self, mode: bool = True) -> "SegmentationModel":
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()  # a frozen encoder keeps its normalisation statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            features = self.encoder.forward_features(x)
        return self.decoder(x, features)
