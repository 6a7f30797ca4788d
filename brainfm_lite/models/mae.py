"""3D masked autoencoder (He et al. 2022) on MONAI's ``MaskedAutoEncoderViT``.

MONAI holds the network's layers (its weights are saved as ``net.*``); `MAE.masked_forward` runs them the way the
MAE paper does: it draws a random subset of patches to keep (1 - masking ratio), embeds only those, runs the ViT
encoder on them (plus a class token), fills the rest with a mask token and decodes every patch with a light
decoder. It returns (pred [B, N, prod(patch)*C], mask [B, N], 1 = masked). MONAI's own ``forward`` embeds every
patch before dropping the hidden ones; with 16^3 patches that embedding costs as much as several encoder blocks,
so at masking 0.75 a step would cost far more than the quarter of the tokens the encoder sees (``net(x)`` gives
the same output from the same random draw: a test checks it). The training step (`MAE.forward`) goes one step
further and runs the decoder's last layer, which predicts 4,096 voxels a 16^3 patch, on the hidden patches only:
the loss reads nothing else. This module adds what MONAI leaves to the caller: the patchified target, the loss on
masked patches only, a reconstruction for display, and the export of the encoder half into the common `Encoder`.

Patch order: patch n is the n-th patch of the (x, y, z) grid in C order, as MONAI's patch embedding flattens it
(``conv -> flatten(2)``); inside a patch the voxels run (px, py, pz, channel), as MONAI's "perceptron" embedding
rearranges them ("b c (h p1) (w p2) (d p3) -> b (h w d) (p1 p2 p3 c)"). The decoder learns this layout from
the loss, so `patchify` defines it.

Example:
    >>> config = MAEConfig.preset("tiny", img_size=(64, 64, 64))    # doctest: +SKIP
    >>> mae = MAE(config)
    >>> mae(torch.randn(2, 1, 64, 64, 64))["loss"].backward()
    >>> encoder = mae.encoder()                                      # a ViT Encoder with the pretrained weights
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.nets import MaskedAutoEncoderViT
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import (
    Encoder,
    EncoderConfig,
    as_triple,
    build_encoder,
    check_vit_shape,
    freeze_unused_cross_attention_norms,
)
from brainfm_lite.models.hub import load_weights, register_model
from brainfm_lite.models.presets import MAE_PRESETS


@dataclass
class MAEConfig:
    """Sizes of the masked autoencoder (defaults: the "base" preset at 96^3).

    Attributes:
        in_channels: image channels C.
        img_size: voxels (X, Y, Z) of every input; a multiple of `patch_size`.
        patch_size: patch edge in voxels (int or three ints).
        hidden_size, mlp_dim, num_layers, num_heads: the ViT encoder (hidden_size a multiple of 6 and of
            num_heads: MONAI's 3D sin-cos position embedding needs it).
        decoder_hidden_size, decoder_mlp_dim, decoder_num_layers, decoder_num_heads: the transformer decoder.
        masking_ratio: fraction of patches hidden from the encoder during training, in (0, 1).
        norm_pix_loss: predict each patch normalised by its own mean and standard deviation (He et al.'s
            option; sharper features, but `reconstruct` then needs the true patch statistics to show intensities).
    """

    in_channels: int = 1
    img_size: tuple[int, int, int] = (96, 96, 96)
    patch_size: tuple[int, int, int] = (16, 16, 16)
    hidden_size: int = 768
    mlp_dim: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    decoder_hidden_size: int = 384
    decoder_mlp_dim: int = 1536
    decoder_num_layers: int = 4
    decoder_num_heads: int = 12
    masking_ratio: float = 0.75
    norm_pix_loss: bool = False

    def __post_init__(self):
        self.img_size = as_triple(self.img_size, "img_size")
        self.patch_size = as_triple(self.patch_size, "patch_size")
        check_vit_shape(self.img_size, self.patch_size, self.hidden_size, self.num_heads, "sincos")
        check_vit_shape(self.img_size, self.patch_size, self.decoder_hidden_size, self.decoder_num_heads, "sincos")
        if not 0 < self.masking_ratio < 1:
            raise InputError(f"masking_ratio must be in (0, 1), got {self.masking_ratio}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "MAEConfig":
        """A named size from `MAE_PRESETS` ("tiny", "small", "base"), with fields overridden by keyword."""
        if name not in MAE_PRESETS:
            raise InputError(f"unknown MAE preset {name!r}: choose one of {', '.join(MAE_PRESETS)}")
        return cls(**{**MAE_PRESETS[name], **overrides})

    def encoder_config(self) -> EncoderConfig:
        """The ViT `EncoderConfig` of the encoder half (sin-cos positions and a class token, as in MONAI's MAE)."""
        return EncoderConfig(kind="vit", in_channels=self.in_channels, img_size=self.img_size,
                             patch_size=self.patch_size, hidden_size=self.hidden_size, mlp_dim=self.mlp_dim,
                             num_layers=self.num_layers, num_heads=self.num_heads, pos_embed_type="sincos",
                             cls_token=True)


@register_model
class MAE(nn.Module):
    """Masked autoencoder objective: ``forward(batch)`` returns {"loss", "masked_fraction"} for the Trainer.

    Attributes:
        config: the `MAEConfig`.
        net: the MONAI ``MaskedAutoEncoderViT`` (its weights are saved as ``net.*``).
    """

    config_class = MAEConfig

    def __init__(self, config: MAEConfig):
        super().__init__()
        self.config = config
        c = config
        self.net = MaskedAutoEncoderViT(
            in_channels=c.in_channels, img_size=c.img_size, patch_size=c.patch_size, hidden_size=c.hidden_size,
            mlp_dim=c.mlp_dim, num_layers=c.num_layers, num_heads=c.num_heads, masking_ratio=c.masking_ratio,
            decoder_hidden_size=c.decoder_hidden_size, decoder_mlp_dim=c.decoder_mlp_dim,
            decoder_num_layers=c.decoder_num_layers, decoder_num_heads=c.decoder_num_heads,
            proj_type="conv", pos_embed_type="sincos", decoder_pos_embed_type="sincos", spatial_dims=3,
        )
        freeze_unused_cross_attention_norms(self.net)  # else DDP refuses the model
        # MONAI writes the embedded visible tokens into a copy of the (float32) mask token; under autocast they
        # are bfloat16/float16 and that write fails. Cast them back to the parameters' dtype first.
        self.net.decoder_embed.register_forward_hook(_cast_to_weight_dtype)

    @property
    def grid_size(self) -> tuple[int, int, int]:
        """Patches along X, Y, Z."""
        return tuple(i // p for i, p in zip(self.config.img_size, self.config.patch_size))

    @property
    def num_patches(self) -> int:
        gx, gy, gz = self.grid_size
        return gx * gy * gz

    # --- patches ------------------------------------------------------------------------------------------------

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """Cut volumes into patches.

        Args:
            x: [B, C, X, Y, Z].

        Returns:
            [B, N, px*py*pz*C], patches in (x, y, z) grid C order, voxels in (px, py, pz, c) order.
        """
        b, c = x.shape[:2]
        (gx, gy, gz), (px, py, pz) = self.grid_size, self.config.patch_size
        x = x.reshape(b, c, gx, px, gy, py, gz, pz)
        x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # [B, gx, gy, gz, px, py, pz, C]
        return x.reshape(b, gx * gy * gz, px * py * pz * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of `patchify`: [B, N, px*py*pz*C] -> [B, C, X, Y, Z] (C follows from the last dimension)."""
        b = patches.shape[0]
        (gx, gy, gz), (px, py, pz) = self.grid_size, self.config.patch_size
        c = patches.shape[-1] // (px * py * pz)
        x = patches.reshape(b, gx, gy, gz, px, py, pz, c)
        x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)  # [B, C, gx, px, gy, py, gz, pz]
        return x.reshape(b, c, gx * px, gy * py, gz * pz)

    # --- the network, visible patches only ----------------------------------------------------------------------

    def masked_forward(self, x: torch.Tensor, masking_ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Hide a random subset of patches, encode the visible ones, decode every patch.

        The same computation as MONAI's ``net(x, masking_ratio)``, and the same random draw (``torch.multinomial``
        on the default CPU generator), but the patch embedding runs on the visible patches only.

        Args:
            x: [B, C, X, Y, Z] volumes.
            masking_ratio: fraction of patches to hide, in [0, 1) (checked by the caller).

        Returns:
            pred: [B, N, px*py*pz*C] the decoder's prediction for every patch.
            mask: [B, N] int, 1 where the patch was hidden from the encoder.
        """
        decoded, mask = self._encode_decode(self.patchify(x), masking_ratio)
        return self.net.decoder_pred(decoded), mask

    def _encode_decode(self, patches: torch.Tensor, masking_ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw the mask, encode the visible patches [B, N, P*C], decode every position: ([B, N, D], mask [B, N])."""
        net = self.net
        batch, num_patches = patches.shape[:2]
        device = patches.device
        keep = torch.multinomial(torch.ones(batch, num_patches), self._num_visible(masking_ratio),
                                 replacement=False).to(device)  # [B, K], as MONAI draws them
        rows = torch.arange(batch, device=device).unsqueeze(-1)
        mask = torch.ones(batch, num_patches, dtype=torch.int, device=device)
        mask[rows, keep] = 0

        tokens = self._embed_patches(patches[rows, keep]) + net.patch_embedding.position_embeddings[0, keep]
        tokens = net.patch_embedding.dropout(tokens)
        tokens = torch.cat((net.cls_token.expand(batch, -1, -1).to(tokens.dtype), tokens), dim=1)
        encoded = net.decoder_embed(net.blocks(tokens))  # [B, 1 + K, D], in the weights' dtype (hook below)

        decoder_tokens = net.mask_tokens.repeat(batch, num_patches, 1)
        decoder_tokens[rows, keep] = encoded[:, 1:]
        decoder_tokens = decoder_tokens + net.decoder_pos_embedding
        decoded = net.decoder_blocks(torch.cat((encoded[:, :1], decoder_tokens), dim=1))
        return decoded[:, 1:], mask  # the class token is dropped: it predicts no patch

    def _embed_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """MONAI's convolutional patch embedding applied to patchified patches: [B, K, P*C] -> [B, K, hidden].

        A convolution with kernel = stride = patch is a linear map of each patch; its weight [hidden, C, px, py,
        pz] is laid out in `patchify`'s (px, py, pz, C) voxel order first.
        """
        conv = self.net.patch_embedding.patch_embeddings
        if conv.weight.shape[1] == 1:  # one channel: the orders agree, and the gradient keeps the weight's strides
            weight = conv.weight.flatten(1)  # (DDP copies a gradient laid out otherwise, and warns, every step)
        else:
            weight = conv.weight.permute(0, 2, 3, 4, 1).reshape(conv.weight.shape[0], -1)
        return nn.functional.linear(patches, weight, conv.bias)

    # --- training -----------------------------------------------------------------------------------------------

    def forward(self, batch, masking_ratio: float | None = None) -> dict[str, torch.Tensor]:
        """One masked-reconstruction loss.

        The decoder's head predicts the hidden patches only: they are all the loss looks at, and with 16^3
        patches the head (4,096 voxels a patch) costs as much as the encoder of the small presets.

        Args:
            batch: volumes [B, C, X, Y, Z], or a dict holding them under "image".
            masking_ratio: overrides config.masking_ratio for this call; 0 hides nothing, and the loss is then
                over every patch: a plain autoencoder, the dense step that masking is measured against.

        Returns:
            "loss": scalar MSE over the masked patches (every patch at masking 0); "masked_fraction": scalar,
            masked patches / all patches.
        """
        patches = self.patchify(self._volumes(batch))
        ratio = self._check_ratio(masking_ratio)
        decoded, mask = self._encode_decode(patches, ratio)
        # Every volume hides the same number of patches (as MONAI draws them), so the hidden ones stack into
        # [B, H]; a stable sort of the mask lists them first, in patch order, without a host-device sync.
        num_hidden = self.num_patches - self._num_visible(ratio) if ratio > 0 else self.num_patches
        hidden = torch.sort(mask, dim=1, descending=True, stable=True).indices[:, :num_hidden]
        rows = torch.arange(len(mask), device=mask.device).unsqueeze(-1)
        pred = self.net.decoder_pred(decoded[rows, hidden])  # [B, H, P*C]
        target = patches[rows, hidden]
        if self.config.norm_pix_loss:
            target = self._normalise_patches(target)
        loss = nn.functional.mse_loss(pred.float(), target.float())
        return {"loss": loss, "masked_fraction": mask.float().mean().detach()}

    def forward_loss(self, x: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the masked patches only.

        Args:
            x: [B, C, X, Y, Z] the input volumes.
            pred: [B, N, px*py*pz*C] the decoder's prediction for every patch.
            mask: [B, N], 1 where the patch was hidden from the encoder.

        Returns:
            Scalar: per-patch MSE averaged over masked patches (0 when none is masked). With
            config.norm_pix_loss the target patches are first normalised by their own mean and std.
        """
        target = self.patchify(x)
        if self.config.norm_pix_loss:
            target = self._normalise_patches(target)
        per_patch = nn.functional.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=-1)  # [B, N]
        mask = mask.to(per_patch.dtype)
        return (per_patch * mask).sum() / mask.sum().clamp(min=1)  # clamp: no host sync, 0 when nothing masked

    @staticmethod
    def _normalise_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        mean = patches.mean(dim=-1, keepdim=True)
        var = patches.var(dim=-1, keepdim=True)
        return (patches - mean) / (var + eps) ** 0.5

    # --- display and export -------------------------------------------------------------------------------------

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, masking_ratio: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask, encode, decode, and paste the prediction into the hidden patches.

        Args:
            x: [B, C, X, Y, Z] (or a dict with "image").
            masking_ratio: as in `forward` (default config.masking_ratio).

        Returns:
            recon: [B, C, X, Y, Z], the input in visible patches and the prediction in masked ones.
            mask_volume: [B, 1, X, Y, Z], 1 in masked patches.

        With config.norm_pix_loss the model predicts normalised patches; they are brought back to intensities
        with the mean and std of the TRUE patch (which the model never saw), so the display shows the predicted
        structure at the right brightness but is not a pure prediction of intensity.
        """
        x = self._volumes(x)
        pred, mask = self.masked_forward(x, self._check_ratio(masking_ratio))
        target = self.patchify(x)
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1e-6) ** 0.5
            pred = pred * std + mean
        masked = mask.bool().unsqueeze(-1)  # [B, N, 1]
        recon = self.unpatchify(torch.where(masked, pred.to(target.dtype), target))
        voxels_per_patch = target.shape[-1] // x.shape[1]
        mask_volume = self.unpatchify(masked.to(x.dtype).expand(-1, -1, voxels_per_patch))
        return recon, mask_volume

    def encoder(self) -> Encoder:
        """A new ViT `Encoder` holding a copy of this MAE's encoder weights (decoder left out)."""
        encoder = build_encoder(self.config.encoder_config())
        load_weights(encoder, self.state_dict(), strict=True)
        return encoder.to(next(self.parameters()).device)

    @classmethod
    def from_config(cls, config: MAEConfig) -> "MAE":
        return cls(config)

    # --- checks -------------------------------------------------------------------------------------------------

    def _volumes(self, batch) -> torch.Tensor:
        """The [B, C, X, Y, Z] tensor of a batch, checked against the config."""
        x = batch["image"] if isinstance(batch, dict) else batch
        expected = (self.config.in_channels, *self.config.img_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 5 or tuple(x.shape[1:]) != expected:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"MAE expects volumes [B, {', '.join(map(str, expected))}], got {shape}")
        return x

    def _check_ratio(self, masking_ratio: float | None) -> float:
        """The ratio to use; refuses ratios that would leave the encoder no visible patch."""
        ratio = self.config.masking_ratio if masking_ratio is None else masking_ratio
        # MONAI keeps int((1 - ratio) * N) patches: a ratio close to 1 can round that down to none.
        if not 0 <= ratio < 1 or self._num_visible(ratio) < 1:
            raise InputError(f"masking_ratio {ratio} leaves no visible patch out of {self.num_patches}")
        return ratio

    def _num_visible(self, ratio: float) -> int:
        """Patches the encoder sees at masking `ratio`: int((1 - ratio) * N), as MONAI rounds it."""
        return int((1 - ratio) * self.num_patches)


def _cast_to_weight_dtype(module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    """Forward hook: the output of a layer in the dtype of its weight (undoing autocast for that one tensor)."""
    return output.to(module.weight.dtype)
