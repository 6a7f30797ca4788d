"""SimCLR (Chen et al. 2020) for 3D volumes: a projection head and the objective (3D-Neuro-SimCLR).

Two random views of each volume go through one encoder and a small MLP (the projection head); the loss
(`~brainfm_lite.models.losses.nt_xent`) pulls the two projections of a volume together and pushes them away from
every other view in the batch. After pretraining the head is dropped and the encoder is kept (``simclr.encoder``,
saved with ``save_pretrained``).

Example:
    >>> config = SimCLRConfig(encoder=EncoderConfig(kind="vit", img_size=32, patch_size=8, hidden_size=96,
    ...                                             mlp_dim=384, num_layers=2, num_heads=4))  # doctest: +SKIP
    >>> objective = SimCLR(config)
    >>> objective({"view1": torch.randn(4, 1, 32, 32, 32), "view2": torch.randn(4, 1, 32, 32, 32)})["loss"]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import Encoder, EncoderConfig, build_encoder
from brainfm_lite.models.hub import load_weights, register_model
from brainfm_lite.models.losses import contrastive_diagnostics, nt_xent


class ProjectionHead(nn.Sequential):
    """MLP from encoder features to the space where the contrastive loss is taken: Linear-ReLU-...-Linear, no bias.

    3D-Neuro-SimCLR: ``ProjectionHead(512, (512, 64))``; Chalcroft et al.: ``ProjectionHead(768, (512, 128))``.
    With ``batch_norm`` each hidden layer is Linear-BatchNorm-ReLU, as in the SimCLR paper's own head (Chen et al.
    2020, appendix B.9) and MoCo v3's for ViTs: the batch statistics keep the projections of a batch apart, which
    helps a small ViT at small batches not to collapse (`~brainfm_lite.models.losses.contrastive_diagnostics`).

    Args:
        in_features: F, the encoder's feature length.
        widths: output width of each linear layer; ReLU between them, none after the last.
        batch_norm: a BatchNorm1d after each hidden linear layer.
    """

    def __init__(self, in_features: int, widths=(512, 64), batch_norm: bool = False):
        if not widths or min(widths) < 1:
            raise InputError(f"widths must be one or more positive layer widths; got {widths}")
        layers = []
        for k, (n_in, n_out) in enumerate(zip((in_features, *widths[:-1]), widths)):
            layers.append(nn.Linear(n_in, n_out, bias=False))
            if k < len(widths) - 1:
                layers += [nn.BatchNorm1d(n_out), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
        super().__init__(*layers)


@dataclass
class SimCLRConfig:
    """Sizes of a SimCLR objective.

    Attributes:
        encoder: the backbone's `EncoderConfig` (a dict is accepted, as read back from config.json).
        projection_widths: widths of the projection head's layers (the last is the embedding size).
        temperature: NT-Xent temperature tau.
        projection_batch_norm: batch norm in the projection head's hidden layers (`ProjectionHead`).
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    projection_widths: tuple[int, ...] = (512, 64)
    temperature: float = 0.5
    projection_batch_norm: bool = False

    def __post_init__(self):
        if isinstance(self.encoder, dict):
            self.encoder = EncoderConfig(**self.encoder)
        self.projection_widths = tuple(int(w) for w in self.projection_widths)
        if not self.temperature > 0:
            raise InputError(f"temperature must be positive; got {self.temperature}")


@register_model
class SimCLR(nn.Module):
    """SimCLR objective for the Trainer: ``forward({"view1", "view2"}) -> {"loss", "positive_similarity",
    "negative_similarity", "embedding_std"}``.

    Attributes:
        config: the `SimCLRConfig`.
        backbone: the `Encoder` being pretrained (weights saved as ``backbone.*``).
        projector: the `ProjectionHead` (dropped after pretraining).
    """

    config_class = SimCLRConfig

    def __init__(self, config: SimCLRConfig):
        super().__init__()
        self.config = config
        self.backbone = build_encoder(config.encoder)
        self.projector = ProjectionHead(self.backbone.feature_dim, config.projection_widths,
                                        config.projection_batch_norm)

    @classmethod
    def from_config(cls, config: SimCLRConfig) -> "SimCLR":
        return cls(config)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, X, Y, Z] -> [B, projection_widths[-1]] projections (not normalised)."""
        return self.projector(self.backbone(x))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """NT-Xent of one batch of pairs.

        Args:
            batch: "view1" and "view2", each [B, C, X, Y, Z]; item i of both is the same volume.

        Returns:
            "loss": scalar NT-Xent (chance: log(2B - 1)); "positive_similarity", "negative_similarity" and
            "embedding_std" (`contrastive_diagnostics`: together they tell learning from collapse).
        """
        views = _views(batch)
        z1, z2 = self.project(torch.cat(views)).chunk(2)  # one pass: batch norm (CNN encoders) sees both views
        return {"loss": nt_xent(z1, z2, self.config.temperature), **contrastive_diagnostics(z1, z2)}

    def encoder(self) -> Encoder:
        """A new `Encoder` holding a copy of the pretrained backbone (projection head left out)."""
        encoder = build_encoder(self.config.encoder)
        load_weights(encoder, {k.removeprefix("backbone."): v for k, v in self.state_dict().items()
                               if k.startswith("backbone.")}, strict=True)
        return encoder.to(next(self.parameters()).device)


def _views(batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The two view tensors of a batch, checked: same shape [B, C, X, Y, Z]."""
    if not isinstance(batch, dict) or "view1" not in batch or "view2" not in batch:
        raise InputError("a contrastive batch is a dict with 'view1' and 'view2' tensors [B, C, X, Y, Z]")
    v1, v2 = batch["view1"], batch["view2"]
    if v1.ndim != 5 or v1.shape != v2.shape:
        raise InputError(f"views must be two [B, C, X, Y, Z] tensors of one shape; got {tuple(v1.shape)}, "
                         f"{tuple(v2.shape)}")
    return v1, v2
