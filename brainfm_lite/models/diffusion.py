"""A denoising diffusion prior over 2D complex MR images (Ho et al. 2020), on MONAI's ``DiffusionModelUNet``.

An image is two channels, real and imaginary part: [B, 2, H, W], scaled so that magnitudes are about 1 (the
`~brainfm_lite.datasets.recon_slices` datasets do this). Training adds Gaussian noise at a random step t of a fixed
schedule, x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, and the U-Net learns to predict eps (MSE). The prior
knows nothing about k-space: `brainfm_lite.eval.recon` combines it with the measurements while sampling.

As in the stroke DPM paper (and its group's EDM code), the weights that matter are the exponential moving average the
`Trainer` keeps (``ema_decay``): they are what `train_prior` saves, what fine-tuning starts from and what
sampling uses.

Example:
    >>> prior = DiffusionPrior(DiffusionConfig.preset("tiny"))
    >>> prior({"image": torch.randn(4, 2, 32, 32)})["loss"].backward()
    >>> x0_hat = prior.predict_x0(x_t, torch.full((4,), 50))                     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.nets import DiffusionModelUNet
from monai.networks.schedulers import DDPMScheduler
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.hub import register_model
from brainfm_lite.models.presets import DIFFUSION_PRESETS


@dataclass
class DiffusionConfig:
    """Network and noise schedule of a `DiffusionPrior` (defaults: the "small" preset, 1000 steps, linear betas).

    Attributes:
        in_channels: image channels (2: real and imaginary part).
        channels: feature channels of each U-Net level; the image is halved between levels, so its edge must be a
            multiple of 2 ** (len(channels) - 1).
        attention_levels: self-attention at each level (costly at large images; off at the top levels).
        num_res_blocks: residual blocks per level.
        norm_num_groups: GroupNorm groups; divides every entry of `channels`.
        num_head_channels: channels per attention head.
        num_train_timesteps: T, the steps of the noise schedule the network is trained on.
        schedule: a MONAI noise schedule ("linear_beta", "scaled_linear_beta", "cosine" ...).
        beta_start, beta_end: first and last noise variance of the (scaled) linear schedules.
    """

    in_channels: int = 2
    channels: tuple[int, ...] = (32, 64, 64)
    attention_levels: tuple[bool, ...] = (False, False, True)
    num_res_blocks: int = 2
    norm_num_groups: int = 16
    num_head_channels: int = 16
    num_train_timesteps: int = 1000
    schedule: str = "linear_beta"
    beta_start: float = 1e-4
    beta_end: float = 2e-2

    def __post_init__(self):
        self.channels = tuple(self.channels)  # a config read back from JSON holds lists
        self.attention_levels = tuple(bool(a) for a in self.attention_levels)
        if len(self.attention_levels) != len(self.channels):
            raise InputError(f"DiffusionConfig: {len(self.channels)} channel levels but {len(self.attention_levels)} "
                             "attention_levels; give one flag per level")
        if any(c % self.norm_num_groups for c in self.channels):
            raise InputError(f"DiffusionConfig: norm_num_groups={self.norm_num_groups} must divide every entry of "
                             f"channels={self.channels}")
        if self.num_train_timesteps < 2:
            raise InputError(f"DiffusionConfig: num_train_timesteps must be >= 2, got {self.num_train_timesteps}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "DiffusionConfig":
        """A named size from ``DIFFUSION_PRESETS`` ("tiny", "small", "base"), with keyword overrides."""
        if name not in DIFFUSION_PRESETS:
            raise InputError(f"unknown diffusion preset '{name}': choose one of {', '.join(DIFFUSION_PRESETS)}")
        return cls(**{**DIFFUSION_PRESETS[name], **overrides})

    @property
    def size_multiple(self) -> int:
        """Image edges must be a multiple of this (the U-Net halves the image between levels)."""
        return 2 ** (len(self.channels) - 1)


@register_model
class DiffusionPrior(nn.Module):
    """Epsilon-predicting DDPM objective for the shared `Trainer`: ``forward(batch) -> {"loss"}``.

    Attributes:
        config: the `DiffusionConfig`.
        unet: MONAI ``DiffusionModelUNet`` (eps_theta(x_t, t)).
        scheduler: MONAI ``DDPMScheduler`` holding the training noise schedule (betas, alphas_cumprod).
    """

    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig | None = None):
        super().__init__()
        self.config = config or DiffusionConfig()
        c = self.config
        # Attention through torch's scaled_dot_product_attention (flash or memory-efficient kernels where there are
        # some): the same weights and outputs (within 1e-7), without the tokens x tokens maps that MONAI's default
        # path keeps for backward. At the full profile's 256^2 those took the step to 90 GB at batch 8 on a GPU.
        self.unet = DiffusionModelUNet(spatial_dims=2, in_channels=c.in_channels, out_channels=c.in_channels,
                                       channels=c.channels, attention_levels=c.attention_levels,
                                       num_res_blocks=c.num_res_blocks, norm_num_groups=c.norm_num_groups,
                                       num_head_channels=c.num_head_channels, use_flash_attention=True)
        self.scheduler = DDPMScheduler(num_train_timesteps=c.num_train_timesteps, schedule=c.schedule,
                                       beta_start=c.beta_start, beta_end=c.beta_end)

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> "DiffusionPrior":
        return cls(config)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """abar_t for t = 0 .. T-1: the fraction of signal variance left at step t. [T]"""
        return self.scheduler.alphas_cumprod

    def check_images(self, x: torch.Tensor) -> None:
        """Raise InputError unless `x` is [B, in_channels, H, W] with H and W multiples of the U-Net's factor."""
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.in_channels:
            raise InputError(f"DiffusionPrior expects images [B, {c.in_channels}, H, W], got {tuple(x.shape)}")
        if x.shape[-1] % c.size_multiple or x.shape[-2] % c.size_multiple:
            raise InputError(f"DiffusionPrior: image size {tuple(x.shape[-2:])} must be a multiple of "
                             f"{c.size_multiple} (the U-Net has {len(c.channels)} levels)")

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps_theta(x_t, t): the noise the network sees in `x_t` [B, 2, H, W] at steps `t` [B] (ints)."""
        return self.unet(x_t, timesteps=t)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Tweedie's estimate of the clean image, x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t). [B, 2, H, W]

        Args:
            x_t: noisy images [B, 2, H, W].
            t: their steps [B].
            noise: eps_theta(x_t, t) when already computed (default: computed here).
        """
        noise = self.predict_noise(x_t, t) if noise is None else noise
        abar = self.alphas_cumprod.to(x_t.device)[t].view(-1, 1, 1, 1)
        return (x_t - (1 - abar).sqrt() * noise) / abar.sqrt()

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """The denoising loss: MSE between the true and the predicted noise at uniformly drawn steps.

        Args:
            batch: {"image": [B, 2, H, W]} (other keys are ignored).

        Returns:
            {"loss": scalar}.
        """
        x0 = batch["image"]
        self.check_images(x0)
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.config.num_train_timesteps, (x0.shape[0],), device=x0.device)
        x_t = self.scheduler.add_noise(original_samples=x0, noise=noise, timesteps=t)
        return {"loss": nn.functional.mse_loss(self.predict_noise(x_t, t).float(), noise)}
