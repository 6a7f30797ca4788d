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
from brainfm_lite.eval.dense import DENOISE_SIGMA
from brainfm_lite.eval.probe import SupervisedObjective
from brainfm_lite.eval.recon_experiments import train_supervised_unet
from brainfm_lite.eval.segmentation import TISSUE_LABEL_MAP, DenoisingObjective, SegmentationObjective
from brainfm_lite.models.decoders import SegmentationModel
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.heads import LinearHead, ProbeModel
from brainfm_lite.models.hub import CONFIG_NAME, from_pretrained
from brainfm_lite.models.presets import ENCODER_PRESETS, MAE_PRESETS, UNET_FEATURES
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.diffusion_training import diffusion_train_config, new_prior
from brainfm_lite.train.optim import build_optimizer
from brainfm_lite.train.pretrain import (
    contrastive_encoder_config,
    contrastive_train_config,
    mae_encoder_config,
    mae_for_backbone,
    mae_model,
    mae_train_config,
    simclr_cbf_encoder_config,
)
from brainfm_lite.train.rng import seeded_init

# 2D slices of chapter 8: the supervised U-Net halves them four times and instance-normalises the deepest level,
# which needs more than one pixel (16 would leave 1x1); 32 is also a multiple of every diffusion preset's factor.
RECON_SIZE = 32
DENSE_MARGIN = 4  # the dense volumes exceed the encoder's window, so the objectives cut a random window as in training


def small(profile: Profile) -> Profile:
    """`profile` with every image size at the smallest its networks take: two patches along each axis for the ViTs
    (the MAE on CBF maps and the shared contrastive backbone), and a CBF cube the CNN can halve once per stage.
    Presets, widths, depths, learning rates and everything else stay the profile's."""
    mae_patch = MAE_PRESETS[profile.mae_preset]["patch_size"]
    encoder_patch = ENCODER_PRESETS[profile.contrastive_encoder]["patch_size"]
    return dataclasses.replace(profile, cbf_image_size=math.lcm(2 * mae_patch, 2 ** len(profile.cnn_widths)),
                               contrastive_image_size=2 * encoder_patch, recon_image_size=RECON_SIZE)


def volumes(batch: int, size: int) -> torch.Tensor:
    """[batch, 1, size, size, size] random volumes."""
    return torch.randn(batch, 1, size, size, size)


# --- the models, one builder each: (profile at small sizes) -> (objective, one batch, its Trainer's TrainConfig) ---


def mae_cbf(p: Profile):
    """Chapter 4: the MAE pretrained on the CBF maps (`pretrain_mae`)."""
    return mae_model(p), {"image": volumes(1, p.cbf_image_size)}, mae_train_config(p)


def simclr_cbf(p: Profile):
    """Chapter 5's rival: SimCLR with a 3D CNN of ``cnn_widths`` on the CBF maps (`pretrain_simclr_cbf`)."""
    with seeded_init(p.seed):
        objective = SimCLR(SimCLRConfig(encoder=simclr_cbf_encoder_config(p), temperature=p.contrastive_temperature))
    # two pairs: with one, NT-Xent has no negatives
    batch = {"view1": volumes(2, p.cbf_image_size), "view2": volumes(2, p.cbf_image_size)}
    return objective, batch, mae_train_config(p)


def finetune(encoder_config, p: Profile, *, task: str, batch_size: int, run_batch_size: int):
    """Encoder + linear head with its supervised loss, as `eval.probe.finetune` trains it (fine-tuning mode): a batch
    of `batch_size` volumes here, the run's Trainer settings with `run_batch_size`."""
    with seeded_init(p.seed):
        encoder = build_encoder(encoder_config)
        model = ProbeModel(encoder, LinearHead(encoder.feature_dim, 1), freeze_encoder=False)
    size = encoder_config.img_size[0]
    batch = {"image": volumes(batch_size, size), "targets": {task: torch.tensor([0.0, 1.0][:batch_size])}}
    config = train_config_for(p, steps=p.finetune_steps, batch_size=run_batch_size, lr=p.finetune_lr)
    return SupervisedObjective(model, task), batch, config


def finetune_mae_cbf(p: Profile):
    """Chapter 5: the MAE's encoder fine-tuned on an ASL diagnosis (`eval.asl_evaluation`)."""
    return finetune(mae_encoder_config(p), p, task="alzheimers", batch_size=1, run_batch_size=p.mae_batch_size)


def finetune_simclr_cbf(p: Profile):
    """Chapter 5: SimCLR's CNN fine-tuned on an ASL diagnosis; two volumes, as batch norm needs more than one value
    per channel at the CNN's last (2^3) stage."""
    return finetune(simclr_cbf_encoder_config(p), p, task="alzheimers", batch_size=2, run_batch_size=p.mae_batch_size)


def simclr(p: Profile):
    """Chapter 6: SimCLR on the shared contrastive ViT (`pretrain_simclr`)."""
    with seeded_init(p.seed):
        objective = SimCLR(SimCLRConfig(encoder=contrastive_encoder_config(p), temperature=p.contrastive_temperature))
    size = p.contrastive_image_size
    return objective, {"view1": volumes(2, size), "view2": volumes(2, size)}, contrastive_train_config(p)


def seqinv(p: Profile):
    """Chapter 7: the sequence-invariant objective on the shared ViT (`pretrain_seqinv`)."""
    with seeded_init(p.seed):
        objective = SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(p), temperature=p.contrastive_temperature))
    size = p.contrastive_image_size
    batch = {name: volumes(2, size) for name in ("view1", "view2", "clean1", "clean2")}
    return objective, batch, contrastive_train_config(p)


def mae_structural(p: Profile):
    """Chapter 7: the MAE objective on the shared ViT (`pretrain_mae_structural`)."""
    return mae_for_backbone(p), {"image": volumes(1, p.contrastive_image_size)}, contrastive_train_config(p)


def finetune_structural(p: Profile):
    """Chapters 6-7: the shared ViT fine-tuned on a structural task (`eval.structural`)."""
    return finetune(contrastive_encoder_config(p), p, task="older", batch_size=1,
                    run_batch_size=p.contrastive_batch_size)


def dense(p: Profile, n_classes: int):
    """The shared ViT with the UNETR decoder of width ``dense_feature_size`` (`eval.dense.train_dense`)."""
    with seeded_init(p.seed):
        model = SegmentationModel(build_encoder(contrastive_encoder_config(p)), n_classes,
                                  feature_size=p.dense_feature_size)
    config = train_config_for(p, steps=p.dense_steps, batch_size=p.dense_batch_size, lr=p.dense_lr)
    return model, config


def dense_segmentation(p: Profile):
    """Chapter 7: tissue segmentation (DiceCE on a random window of a larger volume)."""
    model, config = dense(p, max(TISSUE_LABEL_MAP) + 1)
    size = p.contrastive_image_size + DENSE_MARGIN
    batch = {"image": volumes(1, size), "labels": torch.randint(0, len(TISSUE_LABEL_MAP), (1, 1, size, size, size))}
    return SegmentationObjective(model, model.encoder.config.img_size, TISSUE_LABEL_MAP), batch, config


def dense_denoising(p: Profile):
    """Chapter 7: denoising (MSE to the clean window)."""
    model, config = dense(p, 1)
    batch = {"image": volumes(1, p.contrastive_image_size + DENSE_MARGIN)}
    return DenoisingObjective(model, model.encoder.config.img_size, sigma=DENOISE_SIGMA), batch, config


def diffusion_prior(p: Profile):
    """Chapter 8: the diffusion prior trained from scratch (`train_prior`)."""
    config = diffusion_train_config(p, steps=p.diffusion_steps, lr=p.diffusion_lr, finetune=False)
    return new_prior(p), {"image": torch.randn(2, 2, p.recon_image_size, p.recon_image_size)}, config


MODELS = {
    "mae_cbf": mae_cbf,
    "simclr_cbf": simclr_cbf,
    "finetune_mae_cbf": finetune_mae_cbf,
    "finetune_simclr_cbf": finetune_simclr_cbf,
    "simclr": simclr,
    "seqinv": seqinv,
    "mae_structural": mae_structural,
    "finetune_structural": finetune_structural,
    "dense_segmentation": dense_segmentation,
    "dense_denoising": dense_denoising,
    "diffusion_prior": diffusion_prior,
}


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
    objective, batch, config = MODELS[model_name](profile)
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
