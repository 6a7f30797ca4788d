"""Sequence-invariant contrastive objective (Chalcroft et al.): NT-Xent across two contrasts plus an L1 reconstruction
head.

The two views of a subject (``data.seqinv_views``) show the same anatomy in two simulated contrasts, each deformed
and corrupted. The encoder is trained to

- map both views together (NT-Xent through a projection head, as SimCLR), which asks for features that do not
  depend on the sequence, and
- reconstruct, from each corrupted view, the same view before corruption (bias field, Gibbs ringing, Rician noise),
  with an L1 loss. We reconstruct the view's own clean image rather than the other view: the other view has another
  deformation and another contrast, which the features are meant to forget, so predicting it would be ill-posed.
  This keeps voxel-level detail in the features (what segmentation and denoising need) and teaches denoising.

The reconstruction head is light on purpose (one linear map per ViT token to its patch, or a 1x1x1 convolution and
trilinear upsampling of a CNN's last map), so the encoder, not the head, has to hold the information.

    >>> objective = SeqInv(SeqInvConfig(encoder=encoder_config))                                  # doctest: +SKIP
    >>> objective({"view1": v1, "view2": v2, "clean1": c1, "clean2": c2})                         # doctest: +SKIP
    {"loss": ..., "contrastive": ..., "reconstruction": ..., "positive_similarity": ..., ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import Encoder, EncoderConfig, build_encoder
from brainfm_lite.models.hub import load_weights, register_model
from brainfm_lite.models.losses import contrastive_diagnostics, nt_xent
from brainfm_lite.models.simclr import ProjectionHead, _views


@dataclass
class SeqInvConfig:
    """Sizes and loss weights of the sequence-invariant objective.

    Attributes:
        encoder: the backbone's `EncoderConfig` (a dict is accepted, as read back from config.json).
        projection_widths: widths of the projection head (Chalcroft et al.: 768-512-128).
        temperature: NT-Xent temperature.
        reconstruction_weight: weight of the L1 reconstruction loss beside the contrastive loss.
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projection_widths: tuple[int, ...] = (512, 128)
    temperature: float = 0.5
    reconstruction_weight: float = 1.0

    def __post_init__(self):
        if isinstance(self.encoder, dict):
            self.encoder = EncoderConfig(**self.encoder)
        self.projection_widths = tuple(int(w) for w in self.projection_widths)
        if not self.temperature > 0 or self.reconstruction_weight < 0:
            raise InputError(f"temperature must be > 0 and reconstruction_weight >= 0; got {self.temperature}, "
                             f"{self.reconstruction_weight}")


class ReconstructionHead(nn.Module):
    """Encoder features back to an image [B, C, X, Y, Z].

    ViT: a linear map of each patch token [B, N, D] to its patch's voxels, reassembled in the patch grid.
    CNN/ResNet: a 1x1x1 convolution of the last feature map, upsampled trilinearly to the input size.
    """

    def __init__(self, config: EncoderConfig, feature_dim: int, last_map_channels: int | None = None):
        super().__init__()
        self.config = config
        if config.kind == "vit":
            px, py, pz = config.patch_size
            self.proj = nn.Linear(feature_dim, px * py * pz * config.in_channels)
        else:
            self.proj = nn.Conv3d(last_map_channels or feature_dim, config.in_channels, kernel_size=1)

    def forward(self, features: dict, size) -> torch.Tensor:
        """`features` from ``Encoder.forward_features``; `size` the input's (X, Y, Z)."""
        if "tokens" in features:
            return self._unpatchify(self.proj(features["tokens"]), size)
        image = self.proj(features["maps"][-1])
        if image.is_cuda:  # the CPU keeps torch's kernel, and the recorded CPU runs their numbers
            return upsample_trilinear(image, size)
        return nn.functional.interpolate(image, size=tuple(size), mode="trilinear", align_corners=False)

    def _unpatchify(self, patches: torch.Tensor, size) -> torch.Tensor:
        """[B, N, px*py*pz*C] in (x, y, z) grid order -> [B, C, X, Y, Z]."""
        b = patches.shape[0]
        (px, py, pz), c = self.config.patch_size, self.config.in_channels
        gx, gy, gz = (s // p for s, p in zip(size, (px, py, pz)))
        x = patches.reshape(b, gx, gy, gz, px, py, pz, c).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.reshape(b, c, gx * px, gy * py, gz * pz)


def upsample_trilinear(image: torch.Tensor, size) -> torch.Tensor:
    """[B, C, x, y, z] -> [B, C, X, Y, Z] (float32), as ``interpolate(mode="trilinear", align_corners=False)``
    (equal within float32 rounding), computed as one linear map per axis.

    Trilinear interpolation is separable. As matrix products its backward is three more products, where torch's
    kernel scatters gradients with atomic adds on a GPU: that backward took a third of a colab SeqInv step's GPU
    time on an H200, and with these products the step takes 0.88 of the time.
    """
    with torch.autocast(image.device.type, enabled=False):  # float32, as autocast runs torch's upsampling
        image = image.float()
        weights = [_linear_interpolation_weights(n_in, n_out, image) for n_in, n_out in zip(image.shape[2:], size)]
        return torch.einsum("bcijk,ix,jy,kz->bcxyz", image, *weights)


def _linear_interpolation_weights(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """[n_in, n_out]: the weight of input sample i in output sample x of 1D linear interpolation (align_corners
    False), obtained by interpolating each unit vector with torch's own rule."""
    unit_vectors = torch.eye(n_in, dtype=like.dtype, device=like.device)[None]  # [1, n_in channels, n_in samples]
    return nn.functional.interpolate(unit_vectors, size=n_out, mode="linear", align_corners=False)[0]


@register_model
class SeqInv(nn.Module):
    """Sequence-invariant objective for the Trainer.

    ``forward(batch)`` with "view1", "view2" (corrupted views) and "clean1", "clean2" (their targets), each
    [B, C, X, Y, Z], returns "loss" = contrastive + reconstruction_weight * reconstruction, and the parts.

    Attributes:
        config: the `SeqInvConfig`.
        backbone: the `Encoder` (weights saved as ``backbone.*``); projector and reconstructor are dropped after.
    """

    config_class = SeqInvConfig

    def __init__(self, config: SeqInvConfig):
        super().__init__()
        self.config = config
        self.backbone = build_encoder(config.encoder)
        self.projector = ProjectionHead(self.backbone.feature_dim, config.projection_widths)
        last_channels = None if config.encoder.kind == "vit" else self.backbone.feature_dim
        self.reconstructor = ReconstructionHead(config.encoder, self.backbone.feature_dim, last_channels)

    @classmethod
    def from_config(cls, config: SeqInvConfig) -> "SeqInv":
        return cls(config)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        views = _views(batch)
        if "clean1" not in batch or "clean2" not in batch:
            raise InputError("a sequence-invariant batch also needs 'clean1' and 'clean2' (reconstruction targets)")
        x = torch.cat(views)
        features = self.backbone.forward_features(x)
        pooled = features["tokens"].mean(dim=1) if "tokens" in features else features["maps"][-1].mean(dim=(2, 3, 4))
        z1, z2 = self.projector(pooled).chunk(2)
        contrastive = nt_xent(z1, z2, self.config.temperature)
        recon = self.reconstructor(features, x.shape[2:])
        target = torch.cat([batch["clean1"], batch["clean2"]])
        reconstruction = nn.functional.l1_loss(recon.float(), target.float())
        return {"loss": contrastive + self.config.reconstruction_weight * reconstruction,
                "contrastive": contrastive.detach(), "reconstruction": reconstruction.detach(),
                **contrastive_diagnostics(z1, z2)}

    def encoder(self) -> Encoder:
        """A new `Encoder` holding a copy of the pretrained backbone (heads left out)."""
        encoder = build_encoder(self.config.encoder)
        load_weights(encoder, {k.removeprefix("backbone."): v for k, v in self.state_dict().items()
                               if k.startswith("backbone.")}, strict=True)
        return encoder.to(next(self.parameters()).device)
