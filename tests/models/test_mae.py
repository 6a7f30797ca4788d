"""Tests for brainfm_lite.models.mae: patch layout shared with MONAI, masked-only loss, display, encoder export."""

import pytest
import torch
from monai.networks.blocks import PatchEmbeddingBlock

from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import ViTEncoder
from brainfm_lite.models.mae import MAE, MAEConfig


@pytest.fixture
def mae(mae_config):
    torch.manual_seed(0)
    return MAE(mae_config)


def test_patchify_round_trip_is_exact(mae):
    x = torch.randn(2, 3, 32, 32, 32)  # several channels: the channel must come back in place too
    patches = mae.patchify(x)
    assert patches.shape == (2, 64, 8 * 8 * 8 * 3)
    assert torch.equal(mae.unpatchify(patches), x)


def test_patchify_uses_monai_perceptron_layout(mae):
    x = torch.randn(2, 3, 32, 32, 32)
    perceptron = PatchEmbeddingBlock(in_channels=3, img_size=32, patch_size=8, hidden_size=48, num_heads=4,
                                     proj_type="perceptron", spatial_dims=3)
    rearrange = perceptron.patch_embeddings[0]  # "b c (h p1) (w p2) (d p3) -> b (h w d) (p1 p2 p3 c)"
    assert torch.equal(mae.patchify(x), rearrange(x))


def test_patch_n_is_token_n_of_monai_conv_embedding(mae, volumes):
    conv = mae.net.patch_embedding.patch_embeddings  # Conv3d with kernel = stride = patch
    tokens = conv(volumes).flatten(2).transpose(1, 2)  # how MONAI turns the conv output into tokens
    weight = conv.weight.permute(0, 2, 3, 4, 1).reshape(conv.out_channels, -1)  # [D, (px py pz c)]
    torch.testing.assert_close(tokens, mae.patchify(volumes) @ weight.T + conv.bias, rtol=1e-4, atol=1e-5)


def test_monai_mask_refers_to_patchify_patches(mae, volumes):
    """Changing a patch that MONAI reports as masked changes nothing; changing a visible one changes the output."""
    mae.eval()
    torch.manual_seed(1)
    pred, mask = mae.net(volumes)
    masked, visible = mask[0].nonzero()[0].item(), (mask[0] == 0).nonzero()[0].item()
    for patch, should_change in ((masked, False), (visible, True)):
        bump = torch.zeros_like(mae.patchify(volumes))
        bump[0, patch] = 5.0
        torch.manual_seed(1)  # same random masking
        pred_bumped, mask_bumped = mae.net(volumes + mae.unpatchify(bump))
        assert torch.equal(mask_bumped, mask)
        assert (not torch.equal(pred_bumped, pred)) == should_change


@pytest.mark.parametrize("ratio", [0.75, 0.0])
def test_embedding_only_visible_patches_computes_what_monai_computes(mae, volumes, ratio):
    # the same random draw, the same prediction and mask, and the same gradients: saved weights mean the same
    torch.manual_seed(7)
    expected_pred, expected_mask = mae.net(volumes, masking_ratio=ratio)
    expected_pred.square().mean().backward()
    expected_grads = {name: p.grad.clone() for name, p in mae.named_parameters() if p.grad is not None}
    mae.zero_grad(set_to_none=True)
    torch.manual_seed(7)
    pred, mask = mae.masked_forward(volumes, ratio)
    pred.square().mean().backward()
    assert torch.equal(mask, expected_mask)
    torch.testing.assert_close(pred, expected_pred, rtol=1e-4, atol=1e-5)
    for name, p in mae.named_parameters():
        if name in expected_grads:
            torch.testing.assert_close(p.grad, expected_grads[name], rtol=1e-3, atol=1e-6, msg=name)


@pytest.mark.parametrize("preset", ["small", "base"])
def test_masking_three_quarters_costs_at_most_0_4_of_the_flops_of_masking_none(preset):
    # the paper's asymmetric design: the encoder sees a quarter of the patches and the decoder is light.
    # Counted on the meta device (no arithmetic), forward and backward at the colab/full volume size
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        mae = MAE(MAEConfig.preset(preset, img_size=(96, 96, 96)))
    volumes = torch.zeros(2, 1, 96, 96, 96, device="meta")

    def step_flops(ratio):  # the training step: at 0.75 the loss over the hidden patches, at 0 over all
        with FlopCounterMode(display=False) as counter:
            mae(volumes, masking_ratio=ratio)["loss"].backward()
        return counter.get_total_flops()

    assert step_flops(0.75) / step_flops(0.0) <= 0.4


def test_masking_ratio_hides_that_fraction_of_patches(mae, volumes):
    out = mae(volumes)
    assert out["masked_fraction"].item() == 0.75
    _, mask = mae.net(volumes, masking_ratio=0.75)
    assert mask.sum(dim=1).tolist() == [48, 48]
    assert mae(volumes, masking_ratio=0.5)["masked_fraction"].item() == 0.5


def test_loss_ignores_predictions_on_visible_patches(mae, volumes):
    pred, mask = mae.net(volumes)
    loss = mae.forward_loss(volumes, pred, mask)
    visible = (mask == 0).unsqueeze(-1)
    changed_visible = torch.where(visible, pred + 100.0, pred)
    changed_masked = torch.where(visible, pred, pred + 1.0)
    assert torch.equal(mae.forward_loss(volumes, changed_visible, mask), loss)
    assert mae.forward_loss(volumes, changed_masked, mask) > loss


def test_loss_is_mse_over_masked_patches(mae, volumes):
    target = mae.patchify(volumes)
    mask = torch.zeros(2, 64, dtype=torch.int)
    mask[:, :16] = 1
    pred = target.clone()
    pred[:, :16] += 2.0  # error 2 on every masked voxel
    pred[:, 40:] -= 7.0  # visible: ignored
    assert mae.forward_loss(volumes, pred, mask).item() == pytest.approx(4.0)


def test_norm_pix_loss_targets_each_patch_normalised(mae_config, volumes):
    mae_config.norm_pix_loss = True
    mae = MAE(mae_config)
    mask = torch.ones(2, 64, dtype=torch.int)
    target = mae.patchify(volumes)
    normalised = (target - target.mean(-1, keepdim=True)) / target.std(-1, keepdim=True)
    assert mae.forward_loss(volumes, normalised, mask).item() < 1e-4
    # a per-patch gain and offset does not change a normalised target
    pred = torch.randn_like(target)
    torch.testing.assert_close(mae.forward_loss(3 * volumes + 2, pred, mask), mae.forward_loss(volumes, pred, mask))


def test_forward_follows_the_trainer_contract(mae, volumes):
    out = mae({"image": volumes, "site": [0, 1]})
    assert out["loss"].ndim == 0 and out["loss"].requires_grad
    out["loss"].backward()
    assert mae.net.patch_embedding.patch_embeddings.weight.grad is not None
    assert mae.net.decoder_pred.weight.grad.abs().sum() > 0


def test_training_step_runs_under_bfloat16_autocast(mae, volumes):
    """MONAI's MaskedAutoEncoderViT alone fails here (bfloat16 tokens written into a float32 mask-token tensor)."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = mae(volumes)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and mae.net.decoder_pred.weight.grad is not None


def test_training_loss_predicts_only_hidden_patches_yet_equals_the_masked_mse_of_every_prediction(mae, volumes):
    # the step's head runs on the hidden patches only; the loss and gradients are those of predicting them all
    torch.manual_seed(3)
    loss = mae(volumes, masking_ratio=0.75)["loss"]
    loss.backward()
    grads = {name: p.grad.clone() for name, p in mae.named_parameters() if p.grad is not None}
    mae.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    pred, mask = mae.masked_forward(volumes, 0.75)
    expected = mae.forward_loss(volumes, pred, mask)
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)
    assert grads.keys() == {name for name, p in mae.named_parameters() if p.grad is not None}
    for name, p in mae.named_parameters():
        if name in grads:
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-3, atol=1e-6, msg=name)


def test_masking_zero_is_a_plain_autoencoder_over_every_patch(mae, volumes):
    torch.manual_seed(0)
    out = mae(volumes, masking_ratio=0.0)
    assert out["masked_fraction"].item() == 0.0
    pred, _ = mae.masked_forward(volumes, 0.0)
    every_patch = torch.ones(2, 64, dtype=torch.int)
    torch.testing.assert_close(out["loss"], mae.forward_loss(volumes, pred, every_patch), rtol=1e-5, atol=0)


@pytest.mark.parametrize("ratio", [1.0, 0.99, -0.1])
def test_ratios_leaving_no_visible_patch_are_refused(mae, volumes, ratio):
    with pytest.raises(InputError, match="no visible patch"):
        mae(volumes, masking_ratio=ratio)


def test_wrong_volume_shape_is_refused(mae):
    with pytest.raises(InputError, match=r"\[B, 1, 32, 32, 32\]"):
        mae(torch.zeros(2, 1, 32, 32, 16))


def test_reconstruct_pastes_prediction_into_masked_patches_only(mae, volumes):
    recon, mask_volume = mae.reconstruct(volumes)
    assert recon.shape == volumes.shape and mask_volume.shape == (2, 1, 32, 32, 32)
    assert mask_volume.mean().item() == 0.75
    visible = mask_volume == 0
    assert torch.equal(recon[visible], volumes[visible])
    assert not torch.equal(recon[~visible], volumes[~visible])


def test_reconstruct_with_norm_pix_restores_intensities(mae_config, volumes):
    mae_config.norm_pix_loss = True
    mae = MAE(mae_config)
    recon, mask_volume = mae.reconstruct(volumes + 10.0)
    masked = mask_volume == 1
    # de-normalised with the true patch statistics: the masked patches sit at the input's brightness
    assert abs(recon[masked].mean().item() - (volumes + 10.0)[masked].mean().item()) < 0.5


def test_exported_encoder_computes_what_the_mae_encoder_computes(mae, volumes):
    mae.eval()
    encoder = mae.encoder().eval()
    assert isinstance(encoder, ViTEncoder) and encoder.config.cls_token
    net = mae.net
    torch.testing.assert_close(encoder.norm.weight, net.blocks[-1].weight, rtol=0, atol=0)
    torch.testing.assert_close(encoder.blocks[1].attn.qkv.weight, net.blocks[1].attn.qkv.weight, rtol=0, atol=0)
    with torch.no_grad():
        tokens = net.patch_embedding(volumes)  # every patch, none masked
        tokens = torch.cat([net.cls_token.expand(2, -1, -1), tokens], dim=1)
        expected = net.blocks(tokens)  # MONAI's blocks end with the final LayerNorm
        out = encoder.forward_features(volumes)
    torch.testing.assert_close(out["tokens"], expected[:, 1:], rtol=0, atol=0)
    torch.testing.assert_close(out["cls"], expected[:, 0], rtol=0, atol=0)


def test_presets_build_and_unknown_preset_is_refused():
    config = MAEConfig.preset("tiny", img_size=(64, 64, 64))
    assert config.hidden_size == 96 and config.patch_size == (16, 16, 16)
    with pytest.raises(InputError, match="tiny, small, base"):
        MAEConfig.preset("huge")
    with pytest.raises(InputError, match="masking_ratio"):
        MAEConfig.preset("tiny", img_size=(64, 64, 64), masking_ratio=0.0)
