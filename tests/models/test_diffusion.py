"""Tests for brainfm_lite.models.diffusion: the DDPM objective, Tweedie's x0 estimate, configs, saving."""

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.models.diffusion import DiffusionConfig, DiffusionPrior
from brainfm_lite.models.hub import from_pretrained, save_pretrained

TINY = dict(channels=(8, 16), attention_levels=(False, False), num_res_blocks=1, norm_num_groups=8,
            num_train_timesteps=20)


@pytest.fixture
def prior():
    torch.manual_seed(0)
    return DiffusionPrior(DiffusionConfig(**TINY))


def smooth_images(n, size=16, seed=0):
    """[n, 2, size, size] blobs: easy to learn, so the loss visibly falls within a few steps."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    centres = torch.rand(n, 2, generator=generator) - 0.5
    blob = torch.exp(-((xx - centres[:, 0, None, None]) ** 2 + (yy - centres[:, 1, None, None]) ** 2) / 0.2)
    return torch.stack([blob, 0.5 * blob], dim=1)


def test_loss_decreases_on_a_tiny_dataset(prior):
    images = smooth_images(8)
    optimizer = torch.optim.Adam(prior.parameters(), lr=3e-3)
    torch.manual_seed(1)

    def mean_loss(repeats=8):  # the loss is noisy (random t and noise): average several draws
        with torch.no_grad():
            return sum(prior({"image": images})["loss"].item() for _ in range(repeats)) / repeats

    before = mean_loss()
    for _ in range(25):
        optimizer.zero_grad()
        prior({"image": images})["loss"].backward()
        optimizer.step()
    assert mean_loss() < 0.7 * before


def test_predict_x0_inverts_the_forward_noising(prior):
    """With the true noise, Tweedie's formula gives back the clean image at any step."""
    x0 = smooth_images(3)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 7, 19])
    x_t = prior.scheduler.add_noise(x0, noise, t)
    torch.testing.assert_close(prior.predict_x0(x_t, t, noise=noise), x0, rtol=1e-4, atol=1e-4)


def test_noise_prediction_keeps_the_image_shape(prior):
    x = torch.randn(2, 2, 16, 24)
    assert prior.predict_noise(x, torch.tensor([3, 5])).shape == (2, 2, 16, 24)


def test_bad_inputs_raise_input_error(prior):
    with pytest.raises(InputError, match="multiple of 2"):
        prior({"image": torch.randn(2, 2, 15, 16)})
    with pytest.raises(InputError, match=r"\[B, 2, H, W\]"):
        prior({"image": torch.randn(2, 1, 16, 16)})
    with pytest.raises(InputError, match="attention_levels"):
        DiffusionConfig(channels=(8, 16), attention_levels=(False,))
    with pytest.raises(InputError, match="norm_num_groups"):
        DiffusionConfig(channels=(8, 12), attention_levels=(False, False), norm_num_groups=8)
    with pytest.raises(InputError, match="unknown diffusion preset"):
        DiffusionConfig.preset("huge")


def test_presets_name_their_sizes():
    assert DiffusionConfig.preset("tiny", num_train_timesteps=100).channels == (8, 16, 16)
    assert DiffusionConfig.preset("tiny").size_multiple == 4


def test_save_and_load_round_trip(prior, tmp_path):
    loaded = from_pretrained(save_pretrained(prior, tmp_path / "prior"))
    assert isinstance(loaded, DiffusionPrior) and loaded.config == prior.config
    x, t = torch.randn(1, 2, 16, 16), torch.tensor([4])
    torch.testing.assert_close(loaded.predict_noise(x, t), prior.predict_noise(x, t))


def test_attention_through_torch_sdpa_keeps_monai_default_outputs_and_weights():
    """The prior's attention runs through scaled_dot_product_attention (no tokens x tokens maps kept for backward);
    with the same weights, MONAI's default attention path gives the same noise estimate, and the state dicts match
    key for key (weights saved before the change still load)."""
    from monai.networks.nets import DiffusionModelUNet

    torch.manual_seed(0)
    config = DiffusionConfig(**{**TINY, "attention_levels": (False, True), "num_head_channels": 8})
    prior = DiffusionPrior(config).eval()
    for parameter in prior.unet.parameters():  # MONAI zero-initialises the output layer: outputs would all be 0
        parameter.data.normal_(0, 0.05)
    default = DiffusionModelUNet(spatial_dims=2, in_channels=2, out_channels=2, channels=config.channels,
                                 attention_levels=config.attention_levels, num_res_blocks=config.num_res_blocks,
                                 norm_num_groups=config.norm_num_groups, num_head_channels=8).eval()
    default.load_state_dict(prior.unet.state_dict())
    x, t = torch.randn(3, 2, 16, 16), torch.tensor([1, 7, 19])
    with torch.no_grad():
        ours, theirs = prior.unet(x, t), default(x, t)
    assert theirs.abs().max() > 0.01
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
