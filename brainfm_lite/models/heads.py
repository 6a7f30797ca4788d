"""Task heads on top of an encoder, and the probe model downstream evaluation trains.

Linear probing (frozen encoder, train the head) measures what pretraining put into the features; fine-tuning
(everything trains) measures how good a starting point it is. `ProbeModel` does both, switched by one flag.
"""

from __future__ import annotations

import torch
from torch import nn

from brainfm_lite.models.encoders import Encoder


class LinearHead(nn.Module):
    """One linear layer: features [B, in_features] -> logits (or regression outputs) [B, out_features]."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class ProbeModel(nn.Module):
    """An encoder followed by a head: volumes [B, C, X, Y, Z] -> outputs [B, K].

    Args:
        encoder: any `Encoder` (its `feature_dim` must equal the head's input width).
        head: a module mapping [B, feature_dim] to [B, K], e.g. `LinearHead`.
        freeze_encoder: True for a linear probe: the encoder's parameters get no gradient (requires_grad is
            turned off, so optimisers skip them) and the encoder stays in eval mode even when the model is put in
            train mode, so batch-norm statistics and dropout stay those of pretraining. False to fine-tune.
    """

    def __init__(self, encoder: Encoder, head: nn.Module, freeze_encoder: bool):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> "ProbeModel":
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.freeze_encoder:
            with torch.no_grad():
                features = self.encoder(x)
        else:
            features = self.encoder(x)
        return self.head(features)
