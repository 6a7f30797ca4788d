"""Tests for brainfm_lite.train.optim: AdamW parameter groups and the scheduled rate written into them."""

import pytest
import torch
from torch import nn

from brainfm_lite.train import TrainConfig, lr_at
from brainfm_lite.train.optim import build_optimizer, set_learning_rate


def model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))


def test_weight_decay_applies_to_matrices_not_to_biases_and_norm_scales():
    net = model()
    optimizer = build_optimizer(net, TrainConfig(max_steps=10, batch_size=1, weight_decay=0.05))
    decay_of = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    assert decay_of[id(net[0].weight)] == decay_of[id(net[2].weight)] == 0.05
    assert decay_of[id(net[0].bias)] == decay_of[id(net[1].weight)] == 0.0
    assert len(decay_of) == len(list(net.parameters()))


def test_schedule_scales_each_groups_own_peak_rate():
    net = model()
    config = TrainConfig(max_steps=10, batch_size=1, lr=1e-3, warmup_steps=4)
    groups = [{"params": net[0].parameters(), "lr": 1e-4}, {"params": list(net[1:].parameters())}]
    optimizer = build_optimizer(net, config, groups)
    assert set_learning_rate(optimizer, 2, config) == pytest.approx(0.5e-4)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(lr_at(2, config)) == pytest.approx(0.5e-3)


def test_frozen_parameters_are_left_out():
    net = model()
    net[0].requires_grad_(False)
    optimizer = build_optimizer(net, TrainConfig(max_steps=10, batch_size=1))
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert id(net[0].weight) not in optimized and id(net[2].weight) in optimized
    assert isinstance(optimizer, torch.optim.AdamW)


def test_cpu_parameters_get_the_fused_kernel_and_the_same_update_as_the_loop():
    # one kernel for every tensor: the per-parameter Python loop was a sixth of a masked MAE step on a CPU
    torch.manual_seed(0)
    net, reference = model(), model()
    reference.load_state_dict(net.state_dict())
    config = TrainConfig(max_steps=10, batch_size=1, lr=0.01)
    optimizer = build_optimizer(net, config, [{"params": net.parameters()}])  # a generator, as callers may pass
    looped = torch.optim.AdamW(reference.parameters(), lr=0.01, betas=config.betas, weight_decay=config.weight_decay,
                               foreach=False)
    assert optimizer.param_groups[0]["fused"] and len(optimizer.param_groups[0]["params"]) == 6
    x = torch.randn(8, 3)
    for net_, opt in ((net, optimizer), (reference, looped)):
        for _ in range(3):
            opt.zero_grad()
            net_(x).square().mean().backward()
            opt.step()
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
