"""Every profile's models build at the profile's real widths and depths and take one optimiser step on a CPU.

The colab and full profiles name presets and sizes that only a GPU run builds. A preset renamed, a size that no longer
fits a patch, a width a norm cannot divide or a value of the wrong type would otherwise surface on a user's GPU after
an hour of data simulation; here it fails in seconds. Each model is built as its chapter builds it (the same builder
functions, the profile's presets and widths), on inputs of the smallest spatial size the network takes (the profile's
image-size fields shrunk with `dataclasses.replace`; the supervised U-Net, stepped by its own Trainer run, also gets
one step of two slices), and stepped once with the optimiser its Trainer run would use, at the run's peak rate.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.data import Dataset

from brainfm_lite.config import PROFILE_DIR, PROFILES, Profile, load_profile
from brainfm_lite.eval.recon_experiments import train_supervised_unet
from brainfm_lite.models.hub import CONFIG_NAME, from_pretrained
from brainfm_lite.models.presets import UNET_FEATURES
from brainfm_lite.plan.scaling import SPATIAL_DIMS, smallest_size
from brainfm_lite.plan.steps import TRAINING_STEPS, simclr
from brainfm_lite.train.config import TrainConfig
from brainfm_lite.train.optim import build_optimizer
from brainfm_lite.train.rng import seeded_init


def small(profile: Profile) -> Profile:
    """`profile` with every image size at the smallest its networks take (`brainfm_lite.plan.scaling.smallest_size`:
    two patches along each axis for the ViTs (the MAE on CBF maps and the structural MAE), a CBF cube the CNN can
    halve once per stage, a structural cube the shared contrastive CNN can halve once per stage to a last map of 2^3
    (batch norm of one volume needs more than one value per channel), 32^2 slices for chapter 8's U-Nets). Presets,
    widths, depths, learning rates and everything else stay the profile's."""
    return dataclasses.replace(profile, **{field: smallest_size(profile, field) for field in SPATIAL_DIMS})


def simclr_vit_variant(p: Profile):
    """Chapters 6-7's ViT variant (``contrastive_backbone: vit``): SimCLR on the ViT of ``contrastive_encoder``."""
    return simclr(dataclasses.replace(p, contrastive_backbone="vit"))


# --- the models, one builder each, as the chapters build them (`brainfm_lite.plan.steps`, which `brainfm plan`
# measures): (profile at small sizes) -> ModelStep (objective, one batch, its Trainer's TrainConfig) ---
MODELS = {**TRAINING_STEPS, "simclr_vit_variant": simclr_vit_variant}


# --- the profile files themselves ---


def _is_type(value, hint) -> bool:
    """Whether `value`, as read from YAML, has the type `hint` declares (a tuple field holds a YAML list)."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(_is_type(v, item) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    return isinstance(value, hint) and not isinstance(value, bool)  # True is an int to Python, not to a profile


@pytest.mark.parametrize("name", PROFILES)
def test_profile_file_has_every_field_with_its_declared_type(name):
    """The YAML itself, before any conversion: every `Profile` field, no other key, each value of the declared type
    (ints written as ints, floats as floats: a YAML 1.1 ``3e-4`` is a string), and the loaded profile likewise."""
    raw = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    hints = typing.get_type_hints(Profile)
    assert sorted(set(hints) - set(raw)) == [], "fields missing from the file"
    assert sorted(set(raw) - set(hints)) == [], "keys that are not Profile fields"
    wrong = {key: (value, hints[key]) for key, value in raw.items() if not _is_type(value, hints[key])}
    assert wrong == {}
    profile = load_profile(name)
    for field in dataclasses.fields(Profile):
        value, hint = getattr(profile, field.name), hints[field.name]
        if typing.get_origin(hint) is tuple:
            assert isinstance(value, tuple), field.name
        assert _is_type(value, hint), field.name
        assert value == (tuple(raw[field.name]) if isinstance(raw[field.name], list) else raw[field.name])


def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("profile_name", PROFILES)
def test_model_builds_and_takes_one_optimiser_step(profile_name, model_name):
    """Forward, backward and one AdamW step (the Trainer's optimiser, at the run's peak rate): a finite loss, finite
    gradients, and weights that moved."""
    profile = small(load_profile(profile_name, device="cpu"))
    torch.manual_seed(0)  # the batch, masks, windows and noise levels
    step = MODELS[model_name](profile)
    objective, batch, config = step.objective, step.batch, step.config
    assert isinstance(config, TrainConfig)
    objective.train()
    before = _parameters(objective)
    optimizer = build_optimizer(objective, config)  # the warm-up would make the first rate 0: use the peak
    loss = objective(batch)["loss"]
    assert torch.isfinite(loss), f"loss {loss}"
    loss.backward()
    bad = [n for n, p in objective.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert bad == [], "non-finite gradients"
    optimizer.step()
    moved = [n for n, p in objective.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert moved, "the step changed no parameter"


class _Slices(Dataset):
    """Complex slices as the recon slice datasets give them: {"image": [2, H, W]} (real and imaginary part)."""

    def __init__(self, n: int, size: int):
        self.images = torch.randn(n, 2, size, size)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index]}


@pytest.mark.parametrize("profile_name", PROFILES)
def test_supervised_recon_unet_builds_and_takes_one_step(profile_name, tmp_path):
    """Chapter 8's supervised U-Net, built and stepped by its own entry point (`train_supervised_unet`, which sizes
    it from ``diffusion_preset``) through the Trainer: one step of two slices. The saved weights differ from the
    same seed's fresh ones, and the logged loss is finite."""
    profile = dataclasses.replace(small(load_profile(profile_name, device="cpu")), diffusion_steps=1,
                                  diffusion_batch_size=2)
    folder = Path(train_supervised_unet(profile, _Slices(2, profile.recon_image_size), tmp_path, progress=False))
    trained = from_pretrained(folder)
    assert tuple(trained.config.features) == UNET_FEATURES[profile.diffusion_preset]
    assert trained.config.n_coils == profile.recon_coils
    assert math.isfinite(json.loads((folder / CONFIG_NAME).read_text())["metadata"]["last_loss"])
    with seeded_init(profile.seed):  # train_supervised_unet initialises from the profile seed
        fresh = type(trained)(trained.config)
    assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), fresh.state_dict().values()))
