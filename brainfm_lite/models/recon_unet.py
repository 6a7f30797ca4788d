"""The supervised baseline of chapter 8: a U-Net mapping a zero-filled image to the fully sampled one.

The fastMRI baseline in miniature, on MONAI's ``BasicUNet``: the input is the sensitivity-combined zero-filled
reconstruction, two channels (real, imaginary) [B, 2, H, W]; the network predicts the correction that is added to
it (a residual), trained with an L1 loss against the fully sampled image. Unlike the diffusion prior it needs
pairs (undersampled, fully sampled) and learns one particular kind of aliasing: `SupervisedRecon` simulates the
acquisition itself, drawing for every batch one acceleration among ``accelerations``, a Cartesian mask and a set
of coil sensitivities, so one network serves every R of the experiments, and adding complex k-space noise of
``noise_std`` per real/imaginary part, the noise model of the test acquisitions (a network trained on noise-free
k-space and tested on noisy k-space meets inputs it never saw).

Training and testing share one path from k-space to image, `reconstruct_kspace`: zero-fill, divide by the
k-space's `~brainfm_lite.physics.kspace.acs_scale` (as the diffusion prior's input), correct, multiply back.

Example:
    >>> model = SupervisedRecon(ReconUNetConfig(features=(8, 8, 16, 32, 64, 8), n_coils=4, noise_std=0.01))
    >>> model({"image": torch.randn(4, 2, 48, 48)})["loss"].backward()
    >>> image = model.reconstruct_kspace(kspace, sens)                         # complex [B, H, W]  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.networks.nets import BasicUNet
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.models.hub import register_model
from brainfm_lite.models.presets import UNET_FEATURES
from brainfm_lite.physics.kspace import (
    acs_scale,
    cartesian_mask,
    coil_sensitivities,
    simulate_acquisition,
    to_channels,
    to_complex,
    zero_filled,
)


@dataclass
class ReconUNetConfig:
    """Size of the supervised U-Net and the acquisitions it is trained on.

    Attributes:
        features: BasicUNet's six channel counts (four levels down, the last one the output block).
        accelerations: undersampling factors drawn (uniformly) during training.
        center_fraction: fully sampled centre of every mask (fraction of the columns).
        n_coils: coils of the simulated acquisitions.
        noise_std: complex k-space noise added to the simulated acquisitions, per real/imaginary part, in the units
            of the training images (which `acs_scale` brings to about 1); set it to the test acquisitions' noise.
    """

    features: tuple[int, ...] = UNET_FEATURES["small"]
    accelerations: tuple[float, ...] = (2, 4, 8)
    center_fraction: float = 0.08
    n_coils: int = 8
    noise_std: float = 0.0

    def __post_init__(self):
        self.features = tuple(self.features)
        self.accelerations = tuple(self.accelerations)
        if len(self.features) != 6:
            raise InputError(f"ReconUNetConfig.features needs six channel counts; got {self.features}")
        if not self.noise_std >= 0:
            raise InputError(f"ReconUNetConfig.noise_std must be >= 0; got {self.noise_std}")


@register_model
class SupervisedRecon(nn.Module):
    """Objective for the `Trainer`: simulate undersampling of each batch, L1 between output and fully sampled.

    Attributes:
        config: the `ReconUNetConfig`.
        net: MONAI ``BasicUNet`` (2D, 2 channels in and out).
    """

    config_class = ReconUNetConfig

    def __init__(self, config: ReconUNetConfig | None = None):
        super().__init__()
        self.config = config or ReconUNetConfig()
        self.net = BasicUNet(spatial_dims=2, in_channels=2, out_channels=2, features=self.config.features)

    @classmethod
    def from_config(cls, config: ReconUNetConfig) -> "SupervisedRecon":
        return cls(config)

    def reconstruct(self, zero_filled_channels: torch.Tensor) -> torch.Tensor:
        """The U-Net's image from the zero-filled one, both [B, 2, H, W] (H, W multiples of 16)."""
        if zero_filled_channels.ndim != 4 or zero_filled_channels.shape[1] != 2:
            raise InputError(f"expected zero-filled images [B, 2, H, W]; got {tuple(zero_filled_channels.shape)}")
        return zero_filled_channels + self.net(zero_filled_channels)

    @staticmethod
    def normalised_zero_filled(kspace: torch.Tensor, sens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(zero-filled image / scale [B, 2, H, W], scale [B]) of measured k-space [B, C, H, W], scale its `acs_scale`:
        the network's input, in training and at test alike."""
        scale = acs_scale(kspace)
        return to_channels(zero_filled(kspace, sens) / scale.view(-1, 1, 1)), scale

    def reconstruct_kspace(self, kspace: torch.Tensor, sens: torch.Tensor) -> torch.Tensor:
        """The U-Net's complex image [B, H, W] of measured multi-coil k-space [B, C, H, W] (any units; the mask's
        centre must include `acs_scale`'s columns), with sensitivities [C, H, W] or [B, C, H, W]; in the k-space's
        units."""
        inputs, scale = self.normalised_zero_filled(kspace, sens)
        return to_complex(self.reconstruct(inputs)) * scale.view(-1, 1, 1)

    def simulate_kspace(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(k-space [B, C, H, W], sensitivities [C, H, W]) of fully sampled `images` [B, 2, H, W] under a random
        acceleration, mask and coil set, with complex noise of ``config.noise_std`` per real/imaginary part (seeds
        drawn from torch's generator, which the Trainer seeds)."""
        c = self.config
        seeds = torch.randint(0, 2**31 - 1, (4,)).tolist()
        acceleration = c.accelerations[seeds[0] % len(c.accelerations)]
        shape = tuple(images.shape[-2:])
        mask = cartesian_mask(shape, acceleration, c.center_fraction, seed=seeds[1]).to(images.device)
        sens = coil_sensitivities(shape, c.n_coils, seed=seeds[2]).to(images.device)
        kspace = simulate_acquisition(to_complex(images), sens, mask, noise_std=c.noise_std, seed=seeds[3])
        return kspace, sens

    def training_pair(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) [B, 2, H, W] from fully sampled `images` [B, 2, H, W]: the normalised zero-filled image of
        a simulated noisy acquisition (`simulate_kspace`), and the images divided by the same scale."""
        kspace, sens = self.simulate_kspace(images)
        inputs, scale = self.normalised_zero_filled(kspace, sens)
        return inputs, images / scale.view(-1, 1, 1, 1).to(images.dtype)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """{"loss": L1 between the reconstruction and the fully sampled ``batch["image"]`` [B, 2, H, W]}."""
        with torch.no_grad():
            inputs, target = self.training_pair(batch["image"])
        return {"loss": nn.functional.l1_loss(self.reconstruct(inputs).float(), target)}
