"""Tests for brainfm_lite.train.checkpoint: safetensors + JSON checkpoints, written atomically, without pickle."""

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import brainfm_lite.train.checkpoint as checkpoint_module
from brainfm_lite.errors import InputError
from brainfm_lite.train import EMA
from brainfm_lite.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from brainfm_lite.train.rng import get_rng_state, seed_everything, set_rng_state


class TiedModel(nn.Module):
    """Input and output layers share one weight tensor (as language models and some decoders do)."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.encode = nn.Linear(4, 4)
        self.decode = nn.Linear(4, 4)
        self.decode.weight = self.encode.weight

    def forward(self, x):
        return self.decode(torch.relu(self.encode(x)))


def trained(seed: int, steps: int = 3):
    model = TiedModel(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.95))
    ema = EMA(model, decay=0.9)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        optimizer.step()
        ema.update(model)
    return model, optimizer, ema


def save(tmp_path, step, model, optimizer, ema):
    return save_checkpoint(tmp_path / "checkpoints", step, model=model, optimizer=optimizer, ema=ema,
                           state={"step": step}, rng_states=[get_rng_state()])


def test_round_trip_restores_weights_optimizer_ema_and_generators(tmp_path):
    model, optimizer, ema = trained(seed=0)
    seed_everything(7)
    folder = save(tmp_path, 3, model, optimizer, ema)
    expected_draws = (torch.rand(3), np.random.rand(), random.random())

    fresh_model = TiedModel(seed=1)
    fresh_optimizer = torch.optim.AdamW(fresh_model.parameters(), lr=0.01, betas=(0.9, 0.95))
    fresh_ema = EMA(fresh_model, decay=0.9)
    state = load_checkpoint(folder, model=fresh_model, optimizer=fresh_optimizer, ema=fresh_ema,
                            device=torch.device("cpu"))
    assert state["step"] == 3
    assert fresh_model.decode.weight is fresh_model.encode.weight  # the tie survives loading
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh_model.state_dict()[name], tensor)
        assert torch.equal(fresh_ema.state_dict()[name], ema.state_dict()[name])
    assert fresh_optimizer.param_groups[0]["betas"] == (0.9, 0.95)

    set_rng_state(state["rng"][0])
    draws = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(draws[0], expected_draws[0]) and draws[1:] == expected_draws[1:]

    # One more identical step from both: the restored AdamW moments and step count give the same update.
    batch = torch.randn(8, 4)
    for net, opt in ((model, optimizer), (fresh_model, fresh_optimizer)):
        opt.zero_grad()
        net(batch).pow(2).mean().backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh_model.parameters()))


def test_checkpoint_holds_only_safetensors_json_and_their_sums(tmp_path):
    model, optimizer, ema = trained(seed=0)
    folder = save(tmp_path, 3, model, optimizer, ema)
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["SHA256SUMS", "ema.safetensors", "model.safetensors", "optimizer.safetensors",
                     "rng.safetensors", "trainer_state.json"]
    assert sorted(line.split("  ")[1] for line in (folder / "SHA256SUMS").read_text().splitlines()) == names[1:]
    for path in folder.glob("*.safetensors"):
        load_file(path)  # safetensors parses it: no pickle involved
    json.loads((folder / "trainer_state.json").read_text())
    assert set(load_file(folder / "model.safetensors")) <= set(model.state_dict())  # no "module." prefix
    assert "state.0.exp_avg" in load_file(folder / "optimizer.safetensors")
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step_0000003"


def test_interrupted_write_keeps_the_previous_checkpoint_in_charge(tmp_path, monkeypatch):
    model, optimizer, ema = trained(seed=0)
    save(tmp_path, 2, model, optimizer, ema)
    real_save_file = checkpoint_module.save_file

    def crash_on_the_optimizer(tensors, filename, *args, **kwargs):
        if filename.endswith("optimizer.safetensors"):
            real_save_file(tensors, filename, *args, **kwargs)
            raise OSError("disk full")  # a crash after some files were written
        return real_save_file(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "save_file", crash_on_the_optimizer)
    with pytest.raises(OSError, match="disk full"):
        save(tmp_path, 4, model, optimizer, ema)
    checkpoints = tmp_path / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["latest", "step_0000002"]  # no leftovers
    assert latest_checkpoint(checkpoints) == checkpoints / "step_0000002"


def test_saving_a_step_again_replaces_its_folder(tmp_path):
    model, optimizer, ema = trained(seed=0)
    save(tmp_path, 3, model, optimizer, ema)
    other, other_optimizer, other_ema = trained(seed=5)
    folder = save(tmp_path, 3, other, other_optimizer, other_ema)
    assert torch.equal(load_file(folder / "model.safetensors")["encode.bias"], other.encode.bias.detach())
    assert sorted(path.name for path in folder.parent.iterdir()) == ["latest", "step_0000003"]


def test_missing_and_mismatched_checkpoints_raise_input_error(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    assert latest_checkpoint(checkpoints) is None
    model, optimizer, ema = trained(seed=0)
    folder = save(tmp_path, 3, model, optimizer, ema)
    wrong = nn.Linear(4, 2)
    with pytest.raises(InputError, match="model.safetensors"):
        load_checkpoint(folder, model=wrong, optimizer=torch.optim.AdamW(wrong.parameters()), ema=None,
                        device=torch.device("cpu"))
    (checkpoints / "latest").write_text("step_0000009\n")
    with pytest.raises(InputError, match="step_0000009"):
        latest_checkpoint(checkpoints)
