"""One step of every network the chapters train or sample, built as its chapter builds it, on random inputs.

Each builder takes a `Profile` and returns a `ModelStep`: the objective (the package's own builder, the profile's
presets, widths and image sizes), one batch of random inputs at the profile's image sizes, the Trainer settings of
its run, and how many of the run's batch units that batch holds. The planner (`brainfm_lite.plan`) measures these
steps at batch 1 and scales them; the every-profile test (``tests/test_profiles_build.py``) builds them at reduced
image sizes and takes one optimiser step. Batches hold one unit where the network allows it; two where it does not
(NT-Xent needs negatives; batch norm in the CBF maps' CNN, whose last stage is one voxel at the smallest size,
needs more than one value per channel).

    >>> step = TRAINING_STEPS["mae_cbf"](load_profile("colab"))                         # doctest: +SKIP
    >>> step.loss().backward()                                                         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from brainfm_lite.config import Profile
from brainfm_lite.eval.dense import DENOISE_SIGMA
from brainfm_lite.eval.probe import SupervisedObjective
from brainfm_lite.eval.recon_experiments import new_supervised_unet, supervised_unet_train_config
from brainfm_lite.eval.segmentation import TISSUE_LABEL_MAP, DenoisingObjective, SegmentationObjective
from brainfm_lite.models.decoders import SegmentationModel
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.heads import LinearHead, ProbeModel
from brainfm_lite.models.seqinv import SeqInv, SeqInvConfig
from brainfm_lite.models.simclr import SimCLR, SimCLRConfig
from brainfm_lite.train.config import TrainConfig, train_config_for
from brainfm_lite.train.diffusion_training import diffusion_train_config, new_prior
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

DENSE_MARGIN = 4  # the dense volumes exceed the encoder's window, so the objectives cut a random window as in training


@dataclass
class ModelStep:
    """One training step (or one network evaluation, for inference) of a chapter's run.

    Attributes:
        objective: the module whose ``forward(batch)`` returns {"loss", ...} (a training objective), or the network
            an inference run evaluates.
        batch: random inputs at the profile's image sizes.
        config: the run's Trainer settings (steps, batch, rate, precision); None for an inference run.
        units: how many of the run's batch units `batch` holds (maps, pairs of views, slices): a measurement of this
            step, divided by `units`, is the cost of one unit.
        forward: what one step computes, returning a tensor (the loss of a training step); default
            ``objective(batch)["loss"]``.
    """

    objective: nn.Module
    batch: dict
    config: TrainConfig | None
    units: int = 1
    forward: object = None

    def loss(self) -> torch.Tensor:
        """Run the step's forward pass: the loss (training) or the network's output (inference)."""
        return self.forward() if self.forward is not None else self.objective(self.batch)["loss"]


def volumes(batch: int, size: int) -> torch.Tensor:
    """[batch, 1, size, size, size] random volumes."""
    return torch.randn(batch, 1, size, size, size)


def mae_cbf(p: Profile) -> ModelStep:
    """Chapter 4: the MAE pretrained on the CBF maps (`pretrain_mae`); one map."""
    return ModelStep(mae_model(p), {"image": volumes(1, p.cbf_image_size)}, mae_train_config(p))


def simclr_cbf(p: Profile) -> ModelStep:
    """Chapter 5's rival: SimCLR with a 3D CNN of ``cnn_widths`` on the CBF maps (`pretrain_simclr_cbf`); two pairs
    of views (with one, NT-Xent has no negatives)."""
    with seeded_init(p.seed):
        objective = SimCLR(SimCLRConfig(encoder=simclr_cbf_encoder_config(p), temperature=p.contrastive_temperature))
    batch = {"view1": volumes(2, p.cbf_image_size), "view2": volumes(2, p.cbf_image_size)}
    return ModelStep(objective, batch, mae_train_config(p), units=2)


def finetune(encoder_config, p: Profile, *, task: str, units: int, run_batch_size: int) -> ModelStep:
    """Encoder + linear head with its supervised loss, as `eval.probe.finetune` trains it (fine-tuning mode): a batch
    of `units` volumes here, the run's Trainer settings with `run_batch_size`."""
    with seeded_init(p.seed):
        encoder = build_encoder(encoder_config)
        model = ProbeModel(encoder, LinearHead(encoder.feature_dim, 1), freeze_encoder=False)
    size = encoder_config.img_size[0]
    batch = {"image": volumes(units, size), "targets": {task: torch.tensor([0.0, 1.0][:units])}}
    config = train_config_for(p, steps=p.finetune_steps, batch_size=run_batch_size, lr=p.finetune_lr)
    return ModelStep(SupervisedObjective(model, task), batch, config, units=units)


def finetune_mae_cbf(p: Profile) -> ModelStep:
    """Chapter 5: the MAE's encoder fine-tuned on an ASL diagnosis (`eval.asl_evaluation`)."""
    return finetune(mae_encoder_config(p), p, task="alzheimers", units=1, run_batch_size=p.mae_batch_size)


def finetune_simclr_cbf(p: Profile) -> ModelStep:
    """Chapter 5: SimCLR's CNN fine-tuned on an ASL diagnosis; two volumes, for the batch norm."""
    return finetune(simclr_cbf_encoder_config(p), p, task="alzheimers", units=2, run_batch_size=p.mae_batch_size)


def simclr(p: Profile) -> ModelStep:
    """Chapter 6: SimCLR on the shared contrastive backbone, a 3D CNN (or the ViT variant; `pretrain_simclr`); two
    pairs of views."""
    with seeded_init(p.seed):
        objective = SimCLR(SimCLRConfig(encoder=contrastive_encoder_config(p), temperature=p.contrastive_temperature))
    size = p.contrastive_image_size
    batch = {"view1": volumes(2, size), "view2": volumes(2, size)}
    return ModelStep(objective, batch, contrastive_train_config(p), units=2)


def seqinv(p: Profile) -> ModelStep:
    """Chapter 7: the sequence-invariant objective on the shared backbone (`pretrain_seqinv`); two pairs."""
    with seeded_init(p.seed):
        objective = SeqInv(SeqInvConfig(encoder=contrastive_encoder_config(p), temperature=p.contrastive_temperature))
    size = p.contrastive_image_size
    batch = {name: volumes(2, size) for name in ("view1", "view2", "clean1", "clean2")}
    return ModelStep(objective, batch, contrastive_train_config(p), units=2)


def mae_structural(p: Profile) -> ModelStep:
    """Chapters 6-7: the MAE objective on the structural T1 images, on its ViT (`pretrain_mae_structural`; masking
    needs tokens); one image."""
    return ModelStep(mae_for_backbone(p), {"image": volumes(1, p.contrastive_image_size)}, contrastive_train_config(p))


def finetune_structural(p: Profile) -> ModelStep:
    """Chapters 6-7: the shared backbone fine-tuned on a structural task (`eval.structural`); one volume."""
    return finetune(contrastive_encoder_config(p), p, task="older", units=1, run_batch_size=p.contrastive_batch_size)


def dense(p: Profile, n_classes: int):
    """The shared backbone with its dense decoder of width ``dense_feature_size`` (a U-Net for the CNN, UNETR for
    the ViT variant; `eval.dense.train_dense`), and its run's Trainer settings."""
    with seeded_init(p.seed):
        model = SegmentationModel(build_encoder(contrastive_encoder_config(p)), n_classes,
                                  feature_size=p.dense_feature_size)
    config = train_config_for(p, steps=p.dense_steps, batch_size=p.dense_batch_size, lr=p.dense_lr)
    return model, config


def dense_segmentation(p: Profile) -> ModelStep:
    """Chapter 7: tissue segmentation (DiceCE on a random window of a larger volume); one volume."""
    model, config = dense(p, max(TISSUE_LABEL_MAP) + 1)
    size = p.contrastive_image_size + DENSE_MARGIN
    batch = {"image": volumes(1, size), "labels": torch.randint(0, len(TISSUE_LABEL_MAP), (1, 1, size, size, size))}
    return ModelStep(SegmentationObjective(model, model.encoder.config.img_size, TISSUE_LABEL_MAP), batch, config)


def dense_denoising(p: Profile) -> ModelStep:
    """Chapter 7: denoising (MSE to the clean window); one volume."""
    model, config = dense(p, 1)
    batch = {"image": volumes(1, p.contrastive_image_size + DENSE_MARGIN)}
    return ModelStep(DenoisingObjective(model, model.encoder.config.img_size, sigma=DENOISE_SIGMA), batch, config)


def diffusion_prior(p: Profile) -> ModelStep:
    """Chapter 8: the diffusion prior trained from scratch (`train_prior`); two slices [2, H, W] (real, imaginary)."""
    config = diffusion_train_config(p, steps=p.diffusion_steps, lr=p.diffusion_lr, finetune=False)
    batch = {"image": torch.randn(2, 2, p.recon_image_size, p.recon_image_size)}
    return ModelStep(new_prior(p), batch, config, units=2)


def supervised_unet(p: Profile) -> ModelStep:
    """Chapter 8: the supervised U-Net baseline (`train_supervised_unet`: simulated undersampling of each batch, L1);
    two slices."""
    batch = {"image": torch.randn(2, 2, p.recon_image_size, p.recon_image_size)}
    return ModelStep(new_supervised_unet(p), batch, supervised_unet_train_config(p), units=2)


def posterior_sampling(p: Profile) -> ModelStep:
    """Chapter 8, inference: one network evaluation of DDIM posterior sampling (`eval.recon.reconstruct`), the
    prior's clean-image estimate x0_hat(x_t, t) of one slice; a reconstruction takes ``ddim_steps`` of them a slice
    (the data-consistency projection between them is not counted)."""
    prior = new_prior(p)
    x_t = torch.randn(1, 2, p.recon_image_size, p.recon_image_size)
    t = torch.full((1,), p.diffusion_timesteps // 2, dtype=torch.long)
    return ModelStep(prior, {"image": x_t}, None, forward=lambda: prior.predict_x0(x_t, t))


# name -> builder of every training step, in the chapters' order
TRAINING_STEPS = {
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
    "supervised_unet": supervised_unet,
}
INFERENCE_STEPS = {"posterior_sampling": posterior_sampling}
