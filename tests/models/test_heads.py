"""Tests for brainfm_lite.models.heads: linear head and the frozen / fine-tuned probe model."""

import torch

from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.heads import LinearHead, ProbeModel


def test_linear_head_maps_features_to_outputs():
    head = LinearHead(32, 3)
    assert head(torch.randn(4, 32)).shape == (4, 3)


def test_frozen_probe_trains_only_the_head_and_keeps_encoder_statistics(cnn_config, volumes):
    encoder = build_encoder(cnn_config)
    model = ProbeModel(encoder, LinearHead(encoder.feature_dim, 2), freeze_encoder=True).train()
    stats_before = encoder.stages[0][0].adn.N.running_mean.clone()
    logits = model(volumes)
    assert logits.shape == (2, 2)
    logits.sum().backward()
    assert not encoder.training and model.head.training
    assert all(p.grad is None and not p.requires_grad for p in encoder.parameters())
    assert model.head.linear.weight.grad is not None
    assert torch.equal(encoder.stages[0][0].adn.N.running_mean, stats_before)


def test_fine_tuned_probe_trains_the_encoder(cnn_config, volumes):
    encoder = build_encoder(cnn_config)
    model = ProbeModel(encoder, LinearHead(encoder.feature_dim, 1), freeze_encoder=False).train()
    model(volumes).sum().backward()
    assert encoder.training
    assert all(p.grad is not None for p in encoder.parameters())
