"""Tests for brainfm_lite.train.config: TrainConfig checks its values and survives a JSON round trip;
train_config_for gives every run the same defaults at a profile."""

import json

import pytest

from brainfm_lite.config import load_profile
from brainfm_lite.errors import InputError
from brainfm_lite.train import TrainConfig, train_config_for


@pytest.mark.parametrize("bad", [dict(max_steps=0), dict(batch_size=0), dict(grad_accum_steps=0),
                                 dict(precision="fp16"), dict(ema_decay=1.0), dict(clip_grad_norm=0.0),
                                 dict(min_lr_ratio=1.5), dict(checkpoint_every=0), dict(warmup_steps=-1)])
def test_impossible_values_raise_input_error_naming_the_field(bad):
    with pytest.raises(InputError, match=next(iter(bad))):
        TrainConfig(**{"max_steps": 10, "batch_size": 2, **bad})


def test_json_round_trip_gives_the_same_config():
    config = TrainConfig(max_steps=10, batch_size=2, betas=(0.8, 0.9), ema_decay=0.99, clip_grad_norm=None)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_unknown_keys_are_refused():
    with pytest.raises(InputError, match="learning_rate"):
        TrainConfig.from_dict({"max_steps": 10, "batch_size": 2, "learning_rate": 0.1})


def test_train_config_for_takes_the_profile_defaults_and_the_run_overrides():
    profile = load_profile("smoke", seed=3, device="cpu", num_workers=2, cpu_bf16=True)
    config = train_config_for(profile, steps=100, batch_size=4, lr=1e-3)
    assert (config.max_steps, config.batch_size, config.lr) == (100, 4, 1e-3)
    assert (config.warmup_steps, config.checkpoint_every) == (10, 20)  # a tenth, a fifth of the run
    assert (config.seed, config.device, config.num_workers, config.cpu_bf16) == (3, "cpu", 2, True)
    changed = train_config_for(profile, steps=3, batch_size=4, lr=1e-3, checkpoint_every=None, precision="bf16")
    assert (changed.warmup_steps, changed.checkpoint_every, changed.precision) == (0, None, "bf16")
    assert train_config_for(profile, steps=3, batch_size=4, lr=1e-3).checkpoint_every == 1  # at least every step
