"""Tests for brainfm_lite.models.hub: safetensors + JSON round trips and tolerant, safe checkpoint loading."""

import json

import pytest
import torch
from monai.networks import nets

import brainfm_lite
from brainfm_lite.errors import InputError
from brainfm_lite.models import hub
from brainfm_lite.models.encoders import EncoderConfig, build_encoder
from brainfm_lite.models.hub import from_pretrained, load_weights, save_pretrained
from brainfm_lite.models.mae import MAE


def assert_same_weights(a, b):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert list(state_a) == list(state_b)
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


@pytest.fixture
def resnet_config():
    return EncoderConfig(kind="resnet", resnet_depth=10, img_size=(32, 32, 32))


@pytest.mark.parametrize("kind", ["vit", "cnn"])
def test_encoder_round_trip_is_bitwise(tmp_path, vit_config, cnn_config, kind):
    encoder = build_encoder(vit_config if kind == "vit" else cnn_config)
    folder = save_pretrained(encoder, tmp_path / "enc", metadata={"epochs": 3})
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    saved = json.loads((folder / "config.json").read_text())
    assert saved["class"] == "Encoder" and saved["config"]["kind"] == kind
    assert saved["brainfm_lite_version"] == brainfm_lite.__version__ and saved["metadata"] == {"epochs": 3}
    assert saved["created"]
    loaded = from_pretrained(folder)
    assert type(loaded) is type(encoder) and loaded.config == encoder.config
    assert_same_weights(loaded, encoder)


def test_mae_round_trip_is_bitwise_and_resaving_replaces(tmp_path, mae_config):
    mae = MAE(mae_config)
    save_pretrained(mae, tmp_path / "mae")
    other = MAE(mae_config)
    save_pretrained(other, tmp_path / "mae")  # overwrite the previous save
    loaded = from_pretrained(tmp_path / "mae")
    assert isinstance(loaded, MAE) and loaded.config == mae_config
    assert_same_weights(loaded, other)
    assert [p.name for p in tmp_path.iterdir()] == ["mae"]  # no temporary folders left behind


def test_mae_checkpoint_loads_into_a_vit_encoder(tmp_path, mae_config):
    mae = MAE(mae_config)
    save_pretrained(mae, tmp_path / "mae")
    encoder = build_encoder(mae_config.encoder_config())
    report = load_weights(encoder, tmp_path / "mae", strict=True)
    assert report.ok
    assert "decoder_pred.weight" in report.dropped and "mask_tokens" in report.dropped
    assert any("MAE" in note for note in report.adaptations)
    assert torch.equal(encoder.norm.weight, mae.net.blocks[-1].weight)
    assert torch.equal(encoder.cls_token, mae.net.cls_token)


def test_ddp_and_encoder_prefixes_are_removed(tmp_path, vit_config):
    source = build_encoder(vit_config)
    state = {f"module.encoder.{k}": v for k, v in source.state_dict().items()}
    torch.save({"epoch": 2, "state_dict": state}, tmp_path / "ddp.pt")
    target = build_encoder(vit_config)
    report = load_weights(target, tmp_path / "ddp.pt")
    assert report.ok and report.adaptations == ["removed 'module.'", "removed 'encoder.'"]
    assert_same_weights(target, source)


def test_a_missing_prefix_is_added(tmp_path, cnn_config):
    wrapped = torch.nn.Module()
    wrapped.encoder = build_encoder(cnn_config)
    bare = build_encoder(cnn_config)
    report = load_weights(wrapped, bare.state_dict())
    assert report.ok and report.adaptations == ["added 'encoder.'"]
    assert_same_weights(wrapped.encoder, bare)


def test_simclr_checkpoint_loads_with_projector_reported(tmp_path, resnet_config):
    """3D-Neuro-SimCLR's format: {"model_state_dict": {"encoder.*", "projector.*"}, "optimizer_state_dict", "epoch"}."""
    resnet = nets.resnet10(spatial_dims=3, n_input_channels=1, feed_forward=False)
    state = {f"encoder.{k}": v for k, v in resnet.state_dict().items()}
    state["projector.0.weight"] = torch.randn(512, 512)
    state["projector.2.weight"] = torch.randn(64, 512)
    torch.save({"epoch": 10, "model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": []}},
               tmp_path / "checkpoint_10.tar")
    encoder = build_encoder(resnet_config)
    with pytest.raises(InputError, match="projector.0.weight"):
        load_weights(encoder, tmp_path / "checkpoint_10.tar", strict=True)
    report = load_weights(encoder, tmp_path / "checkpoint_10.tar", strict=False)
    assert report.unexpected == ["projector.0.weight", "projector.2.weight"] and not report.missing
    assert torch.equal(encoder.layer1[0].conv1.weight, resnet.layer1[0].conv1.weight)


def test_pickles_are_opened_with_weights_only(tmp_path, monkeypatch, cnn_config):
    encoder = build_encoder(cnn_config)
    torch.save(encoder.state_dict(), tmp_path / "weights.pth")
    calls = []
    real_load = torch.load

    def checking_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", checking_load)
    assert load_weights(build_encoder(cnn_config), tmp_path / "weights.pth").ok
    assert calls == [True]


class CreatesAFileWhenUnpickled:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_with_arbitrary_objects_is_refused_unexecuted(tmp_path, cnn_config):
    marker = tmp_path / "unpickled.txt"
    payload = CreatesAFileWhenUnpickled(str(marker))
    torch.save({"state_dict": build_encoder(cnn_config).state_dict(), "payload": payload}, tmp_path / "evil.ckpt")
    with pytest.raises(InputError, match=r"evil\.ckpt: refused: the pickle needs io.open"):
        load_weights(build_encoder(cnn_config), tmp_path / "evil.ckpt")
    assert not marker.exists()


def test_strict_mismatch_names_the_file_and_the_keys(tmp_path, vit_config):
    vit_config.cls_token = False
    save_pretrained(build_encoder(vit_config), tmp_path / "small")
    bigger = EncoderConfig(kind="vit", img_size=(32, 32, 32), patch_size=8, hidden_size=48, mlp_dim=96,
                           num_layers=4, num_heads=4)
    with pytest.raises(InputError) as error:
        load_weights(build_encoder(bigger), tmp_path / "small")
    message = str(error.value)
    assert str(tmp_path / "small") in message
    assert "missing keys: cls_token, blocks.2." in message and "... and" in message  # first 10 + how many more
    report = load_weights(build_encoder(bigger), tmp_path / "small", strict=False)
    assert "cls_token" in report.missing and len(report.loaded) > 0


def test_shape_mismatches_are_reported_not_loaded(tmp_path, vit_config):
    source = build_encoder(EncoderConfig(kind="vit", img_size=(32, 32, 32), patch_size=8, hidden_size=48,
                                         mlp_dim=192, num_layers=2, num_heads=4))
    target = build_encoder(vit_config)
    before = target.blocks[0].mlp.linear1.weight.clone()
    report = load_weights(target, source.state_dict(), strict=False)
    assert ("blocks.0.mlp.linear1.weight", (192, 48), (96, 48)) in report.mismatched
    assert torch.equal(target.blocks[0].mlp.linear1.weight, before)


def test_failed_save_leaves_no_partial_folder(tmp_path, monkeypatch, cnn_config):
    encoder = build_encoder(cnn_config)
    save_pretrained(encoder, tmp_path / "model")

    def broken_write_json(path, obj):
        raise OSError("disk full")

    monkeypatch.setattr(hub, "write_json", broken_write_json)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(build_encoder(cnn_config), tmp_path / "model")
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(encoder, tmp_path / "new")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert_same_weights(from_pretrained(tmp_path / "model"), encoder)  # the previous save is intact


def test_save_refuses_to_overwrite_a_folder_it_did_not_write(tmp_path, cnn_config):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "subject.nii.gz").write_bytes(b"")
    with pytest.raises(InputError, match="refusing to overwrite"):
        save_pretrained(build_encoder(cnn_config), tmp_path / "data")


def test_unreadable_sources_raise_input_error(tmp_path, cnn_config):
    encoder = build_encoder(cnn_config)
    with pytest.raises(InputError, match="no such weights file"):
        load_weights(encoder, tmp_path / "absent.safetensors")
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(InputError, match="unknown weights format"):
        load_weights(encoder, tmp_path / "weights.npz")
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="broken.safetensors"):
        load_weights(encoder, tmp_path / "broken.safetensors")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="broken.pt: not a readable PyTorch checkpoint"):
        load_weights(encoder, tmp_path / "broken.pt")
    with pytest.raises(InputError, match="config.json"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"class": "Transformer9000", "config": {}}))
    with pytest.raises(InputError, match="unknown model class 'Transformer9000'"):
        from_pretrained(tmp_path)
