"""Smoke tests of brainfm_lite.train.contrastive_pretraining: a few steps of each method on a tiny cohort."""

import json

import pytest
import torch

from brainfm_lite.config import load_profile
from brainfm_lite.errors import InputError
from brainfm_lite.models.encoders import ViTEncoder
from brainfm_lite.models.hub import from_pretrained
from brainfm_lite.train.contrastive_pretraining import (contrastive_encoder_config, pretrain_seqinv,
                                                         pretrain_simclr)


@pytest.fixture(scope="module")
def profile():
    return load_profile("smoke", contrastive_subjects=4, n_sites=2, contrastive_batch_size=2)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("t1_cache")


def test_every_profile_builds_a_vit_backbone():
    for name in ("smoke", "colab", "full"):
        config = contrastive_encoder_config(load_profile(name))
        assert config.kind == "vit" and config.img_size == (load_profile(name).contrastive_image_size,) * 3
    with pytest.raises(InputError):
        contrastive_encoder_config(load_profile("smoke", contrastive_encoder="huge"))


@pytest.mark.parametrize("method", ["simclr", "seqinv", "baseline"])
def test_a_few_steps_give_a_finite_loss_and_a_loadable_encoder(method, profile, cache, tmp_path):
    settings = dict(cache_dir=cache, max_steps=2, log_every=1, progress=False)
    if method == "simclr":
        folder = pretrain_simclr(profile, tmp_path, **settings)
    else:
        folder = pretrain_seqinv(profile, tmp_path, variant=method, **settings)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(torch.isfinite(torch.tensor(line["loss"])) for line in lines)
    encoder = from_pretrained(folder)
    assert isinstance(encoder, ViTEncoder)
    assert json.loads((folder / "config.json").read_text())["metadata"]["objective"] == method
    assert encoder(torch.zeros(1, 1, 32, 32, 32)).shape == (1, encoder.feature_dim)


def test_unknown_variant_raises_before_training(profile, cache, tmp_path):
    with pytest.raises(InputError):
        pretrain_seqinv(profile, tmp_path, variant="seqinvv", cache_dir=cache, max_steps=1, progress=False)
