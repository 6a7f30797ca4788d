"""Tests for brainfm_lite.train.ema: the exponential moving average of weights and buffers."""

import pytest
import torch
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.train import EMA


def small_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_moves_the_shadow_by_one_minus_decay():
    model = small_model(0)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    ema.update(model)
    for name, parameter in model.named_parameters():
        expected = 0.9 * before[name] + 0.1 * parameter
        torch.testing.assert_close(ema.state_dict()[name], expected)


def test_integer_buffers_are_copied_not_averaged():
    model = small_model(0)
    ema = EMA(model, decay=0.99)
    model(torch.randn(5, 3))  # a training-mode forward counts a BatchNorm batch
    ema.update(model)
    assert ema.state_dict()["1.num_batches_tracked"].item() == 1
    running_mean = model.state_dict()["1.running_mean"]
    torch.testing.assert_close(ema.state_dict()["1.running_mean"], 0.01 * running_mean)  # started at 0


def test_copy_to_writes_the_average_into_a_model():
    model, other = small_model(0), small_model(1)
    ema = EMA(model, decay=0.5)
    ema.update(other)
    ema.copy_to(other)
    for name, tensor in other.state_dict().items():
        assert torch.equal(tensor, ema.state_dict()[name])


def test_state_dict_round_trip_and_mismatch():
    model = small_model(0)
    ema, restored = EMA(model, decay=0.9), EMA(small_model(1), decay=0.9)
    restored.load_state_dict(ema.state_dict())
    assert all(torch.equal(restored.state_dict()[name], tensor) for name, tensor in ema.state_dict().items())
    with pytest.raises(InputError, match="missing"):
        EMA(nn.Linear(3, 4), decay=0.9).load_state_dict(ema.state_dict())


def test_shadow_is_a_copy_not_a_view_of_the_weights():
    model = small_model(0)
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model[0].weight.zero_()
    assert ema.state_dict()["0.weight"].abs().sum() > 0


def test_decay_warms_up_so_the_shadow_forgets_its_start():
    """A short run's average must not stay near the weights it started from (random or pretrained)."""
    ema = EMA(small_model(0), decay=0.999)
    assert ema.decay_at(None) == 0.999
    assert ema.decay_at(0) == pytest.approx(0.1)
    assert ema.decay_at(1_200) == pytest.approx(1_201 / 1_210)
    assert ema.decay_at(100_000) == 0.999
    start = small_model(0)
    trained = small_model(1)
    ema = EMA(start, decay=0.999)
    for step in range(1_200):
        ema.update(trained, step=step)
    share_of_start = (ema.state_dict()["0.weight"] - trained.state_dict()["0.weight"]).norm() / \
        (start.state_dict()["0.weight"] - trained.state_dict()["0.weight"]).norm()
    assert share_of_start < 1e-6  # without warm-up: 0.999 ** 1200 = 0.30


def test_one_update_of_tensors_of_several_dtypes_equals_lerp_tensor_by_tensor():
    """The fused update averages float32, float64 and bfloat16 tensors alike, bit for bit as one lerp a tensor."""
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2).double(), nn.Linear(2, 2).to(torch.bfloat16))
    start = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))
    ema.update(model)
    for name, tensor in model.state_dict().items():
        expected = start[name].lerp(tensor, 1.0 - 0.9)  # the weight as the EMA computes it
        assert ema.state_dict()[name].dtype == tensor.dtype
        assert torch.equal(ema.state_dict()[name], expected), name


def test_a_model_of_integer_buffers_only_is_copied():
    """Nothing to average (no floating-point tensor): the update copies and does not fail."""
    model = nn.Module()
    model.register_buffer("count", torch.tensor(0))
    ema = EMA(model, decay=0.9)
    model.count += 3
    ema.update(model)
    assert ema.state_dict()["count"].item() == 3
