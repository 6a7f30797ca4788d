"""Tests for brainfm_lite.train.pretrain: the registry, seeded model builders, the shared Trainer settings and a few
steps of each structural method on a tiny cohort (MAE on CBF maps end to end: tests/test_cli.py)."""

import dataclasses
import json
import math

import pytest
import torch

from brainfm_lite.config import load_profile
from brainfm_lite.errors import InputError
from brainfm_lite.features.recipe import pretraining_recipe
from brainfm_lite.models.encoders import ConvEncoder, ViTEncoder
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train import pretrain
from brainfm_lite.train.pretrain import (
    PRETRAINERS,
    contrastive_encoder_config,
    contrastive_train_config,
    mae_for_backbone,
    mae_model,
    mae_train_config,
    pretrain_mae,
    pretrain_mae_structural,
    pretrain_seqinv,
    pretrain_simclr,
    pretrain_simclr_cbf,
    simclr_cbf_encoder_config,
    structural_mae_encoder_config,
)


@pytest.fixture(scope="module")
def profile():
    return load_profile("smoke", contrastive_subjects=8, n_sites=2, contrastive_batch_size=2)  # a pool of 3


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("t1_cache")


def test_pretrainers_name_the_five_methods():
    assert PRETRAINERS == {"mae": pretrain_mae, "simclr": pretrain_simclr, "seqinv": pretrain_seqinv,
                           "mae_structural": pretrain_mae_structural, "simclr_cbf": pretrain_simclr_cbf}


def test_simclr_on_cbf_maps_trains_the_profiles_cnn(tmp_path):
    """SimCLR adapted to ASL: 3D-Neuro-SimCLR's kind of backbone (a 3D CNN) on the MAE's pool and Trainer settings."""
    cbf = load_profile("smoke", n_asl_subjects=16, n_asl_sites=3, cbf_image_size=32, mae_batch_size=2, device="cpu")
    folder = pretrain_simclr_cbf(cbf, tmp_path, max_steps=2, log_every=1, progress=False)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2] and all(math.isfinite(line["loss"]) for line in lines)
    assert {"positive_similarity", "negative_similarity", "embedding_std"} <= set(lines[-1])  # collapse is visible
    config = from_pretrained(folder).config
    assert config == simclr_cbf_encoder_config(cbf) and config.kind == "cnn" and config.widths == (8, 16, 32, 64)
    metadata = json.loads((folder / "config.json").read_text())["metadata"]
    assert metadata["objective"] == "simclr" and "CBF maps" in metadata["data"]
    assert metadata["preprocessing"] == pretraining_recipe(cbf, "CBF").to_dict()  # `brainfm features` reads it


def test_every_profile_builds_a_channels_last_cnn_backbone_and_a_vit_for_the_mae():
    for name in ("smoke", "reference", "colab", "full"):
        profile = load_profile(name)
        config = contrastive_encoder_config(profile)
        assert config.kind == "cnn" and config.channels_last and config.widths == profile.contrastive_cnn_widths
        assert config.img_size == (profile.contrastive_image_size,) * 3
        assert structural_mae_encoder_config(profile).kind == "vit"  # masking needs tokens: the MAE stays a ViT
    mae_encoder = mae_for_backbone(load_profile("smoke")).encoder()
    assert isinstance(mae_encoder, ViTEncoder) and mae_encoder.config == structural_mae_encoder_config(
        load_profile("smoke"))
    assert contrastive_encoder_config(load_profile("smoke", contrastive_backbone="vit")).kind == "vit"
    with pytest.raises(InputError):
        contrastive_encoder_config(load_profile("smoke", contrastive_encoder="huge"))
    with pytest.raises(InputError, match="contrastive_image_size must be a multiple of 32"):
        load_profile("smoke", contrastive_cnn_widths=(4, 8, 16, 32, 64), contrastive_image_size=48)


@pytest.mark.parametrize("build", [mae_model, mae_for_backbone])
def test_initial_weights_are_fixed_by_the_profile_seed_and_leave_the_global_generator_alone(build):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first, second = build(load_profile("smoke")), build(load_profile("smoke"))
    torch.testing.assert_close(torch.rand(3), expected)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    other = build(load_profile("smoke", seed=1))
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))


def test_pretraining_runs_share_the_profile_settings():
    profile = load_profile("smoke", mae_steps=50, contrastive_steps=100)
    mae, contrastive = mae_train_config(profile), contrastive_train_config(profile, progress=False)
    assert (mae.max_steps, mae.warmup_steps, mae.checkpoint_every, mae.precision) == (50, 5, 10, "bf16")
    assert (contrastive.max_steps, contrastive.warmup_steps, contrastive.checkpoint_every) == (100, 10, 20)
    assert (contrastive.batch_size, contrastive.lr) == (profile.contrastive_batch_size, profile.contrastive_lr)
    assert not contrastive.progress and mae.seed == contrastive.seed == profile.seed


@pytest.mark.parametrize("method", ["simclr", "seqinv", "baseline", "mae_structural"])
def test_a_few_steps_give_a_finite_loss_and_a_loadable_encoder(method, profile, cache, tmp_path):
    settings = dict(cache_dir=cache, max_steps=2, log_every=1, progress=False)
    if method in ("seqinv", "baseline"):
        folder = pretrain_seqinv(profile, tmp_path, variant=method, **settings)
    else:
        folder = PRETRAINERS[method](profile, tmp_path, **settings)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(torch.isfinite(torch.tensor(line["loss"])) for line in lines)
    encoder = from_pretrained(folder)
    assert isinstance(encoder, ViTEncoder if method == "mae_structural" else ConvEncoder)  # the MAE masks tokens
    assert folder == tmp_path / "encoder"
    metadata = json.loads((folder / "config.json").read_text())["metadata"]
    assert metadata["objective"] == {"mae_structural": "mae"}.get(method, method)
    assert metadata["steps"] == 2 and metadata["last_loss"] == pytest.approx(lines[-1]["loss"])
    assert metadata["preprocessing"] == pretraining_recipe(profile, "T1w").to_dict()  # `brainfm features` reads it
    assert encoder(torch.zeros(1, 1, 32, 32, 32)).shape == (1, encoder.feature_dim)


def test_unknown_variant_raises_before_training(profile, cache, tmp_path):
    with pytest.raises(InputError):
        pretrain_seqinv(profile, tmp_path, variant="seqinvv", cache_dir=cache, max_steps=1, progress=False)


def test_simclr_views_take_the_profiles_smallest_crop_and_the_encoder_records_them(profile, cache, tmp_path,
                                                                                    monkeypatch):
    """The simulated cohort needs milder crops than the seed's 0.2 (`simclr_min_crop_fraction`): the run must use the
    profile's value, and the model card must say which views trained it."""
    used = []
    real_views = pretrain.SimCLRViews

    def spy(config):
        used.append(config)
        return real_views(config)

    monkeypatch.setattr(pretrain, "SimCLRViews", spy)
    milder = dataclasses.replace(profile, simclr_min_crop_fraction=0.85)
    folder = pretrain_simclr(milder, tmp_path, cache_dir=cache, max_steps=1, progress=False)
    assert [config.min_crop_fraction for config in used] == [0.85]
    views = json.loads((folder / "config.json").read_text())["metadata"]["views"]
    assert views["min_crop_fraction"] == 0.85 and views["max_rotation_deg"] == 45.0  # the rest is the seed's
