"""Tests for brainfm_lite.train.diffusion_training: EMA priors saved, fine-tuning from them, the sweep's shortcut."""

import pytest
import torch
from safetensors.torch import load_file

from brainfm_lite.config import load_profile
from brainfm_lite.models.diffusion import DiffusionPrior
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train.diffusion_training import diffusion_train_config, finetune_sweep, new_prior, train_prior


class Slices(torch.utils.data.Dataset):
    """Random two-channel slices in the {"image": [2, H, W]} form of the recon datasets."""

    def __init__(self, n=8, size=16, seed=0):
        self.images = torch.randn(n, 2, size, size, generator=torch.Generator().manual_seed(seed))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return {"image": self.images[index]}


def slices(seed=0):
    return Slices(seed=seed)


PROFILE = load_profile("smoke", device="cpu", diffusion_steps=2, diffusion_batch_size=4, diffusion_ema_decay=0.5)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A prior pretrained for two steps (shared: training is the slow part of these tests)."""
    return train_prior(PROFILE, slices(), tmp_path_factory.mktemp("source"), progress=False)


def test_train_prior_saves_the_ema_weights_and_fine_tuning_starts_from_them(source):
    prior = from_pretrained(source)
    assert isinstance(prior, DiffusionPrior)
    ema = load_file(str(source.parent / "checkpoints" / "step_0000002" / "ema.safetensors"))
    for name, tensor in prior.state_dict().items():
        torch.testing.assert_close(tensor, ema[name])
    key = "unet.out.2.conv.weight"
    assert not torch.equal(prior.state_dict()[key], new_prior(PROFILE).state_dict()[key])  # it trained
    # fine-tuning initialises from the saved prior, not from a fresh network
    torch.testing.assert_close(new_prior(PROFILE, init=source).state_dict(), prior.state_dict())


def test_sweep_checkpoint_equals_a_separate_shorter_run(source, tmp_path):
    """Constant rate: the EMA after k steps of a long run is the EMA of a k-step run (one run per rate suffices)."""
    target = slices(seed=1)
    weights = finetune_sweep(PROFILE, source, target, tmp_path / "sweep", lrs=[1e-3], durations=[1, 2],
                             progress=False)
    assert sorted(weights) == [(1e-3, 1), (1e-3, 2)]
    short = from_pretrained(train_prior(PROFILE, target, tmp_path / "short", init=source, steps=1, lr=1e-3,
                                        progress=False))
    torch.testing.assert_close(new_prior(PROFILE, weights[(1e-3, 1)]).state_dict(), short.state_dict())


def test_an_interrupted_fine_tuning_resumes_to_the_weights_of_an_uninterrupted_one(source, tmp_path, monkeypatch):
    """The recon experiments' resume (a Colab session that ended): a run stopped after one step and resumed trains
    only the missing step and ends where a straight run ends; resuming a finished run trains nothing."""
    target = slices(seed=1)
    straight = from_pretrained(train_prior(PROFILE, target, tmp_path / "straight", init=source, steps=2, lr=1e-3,
                                           progress=False))
    run = tmp_path / "interrupted"
    train_prior(PROFILE, target, run, init=source, steps=1, lr=1e-3, progress=False, checkpoint_every=1)

    forward_calls = []
    original_forward = DiffusionPrior.forward
    monkeypatch.setattr(DiffusionPrior, "forward",
                        lambda self, batch: forward_calls.append(1) or original_forward(self, batch))
    resumed = train_prior(PROFILE, target, run, init=source, steps=2, lr=1e-3, progress=False, resume=True)
    assert len(forward_calls) == 1
    torch.testing.assert_close(from_pretrained(resumed).state_dict(), straight.state_dict())

    again = train_prior(PROFILE, target, run, init=source, steps=2, lr=1e-3, progress=False, resume=True)
    assert len(forward_calls) == 1
    torch.testing.assert_close(from_pretrained(again).state_dict(), straight.state_dict())


def test_a_prior_run_checkpoints_every_fifth_so_an_interruption_costs_at_most_a_fifth():
    config = diffusion_train_config(PROFILE, steps=1_000, lr=1e-3, finetune=False)
    assert config.checkpoint_every == 200
    assert config.ema_decay == PROFILE.diffusion_ema_decay
    sweep_run = diffusion_train_config(PROFILE, steps=1_000, lr=1e-3, finetune=True, checkpoint_every=50)
    assert sweep_run.checkpoint_every == 50
