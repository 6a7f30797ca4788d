"""Issue 17, item 6: `from_pretrained` refuses a malformed config.json by file and field before allocating
anything, and reports weights of another dtype or holding NaN instead of loading them silently."""

import json
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file

from brainfm_lite.errors import InputError
from brainfm_lite.models import hub
from brainfm_lite.models.encoders import EncoderConfig, build_encoder
from brainfm_lite.models.export import export_weights
from brainfm_lite.models.hub import from_pretrained, save_pretrained

CNN = EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 8))


@pytest.fixture
def saved(tmp_path):
    return save_pretrained(build_encoder(CNN), tmp_path / "encoder")


def edit_config(folder, **fields):
    config_file = folder / "config.json"
    saved = json.loads(config_file.read_text())
    saved["config"].update(fields)
    config_file.write_text(json.dumps(saved))
    return config_file


@pytest.mark.parametrize("fields, field, expected", [
    ({"hidden_size": "768"}, "hidden_size", "must be an integer"),
    ({"in_channels": 1.5}, "in_channels", "must be an integer"),
    ({"in_channels": float("nan")}, "in_channels", "must be an integer"),
    ({"kind": 3}, "kind", "must be a string"),
    ({"cls_token": "yes"}, "cls_token", "must be true or false"),
    ({"img_size": [16, 16]}, "img_size", "must be tuple[int, int, int]"),
    ({"widths": [4, "8"]}, "widths", "must be tuple[int, ...]"),
    ({"widths": [4, 1_000_000, 1_000_000]}, "widths", "TiB of memory"),  # 1e13 parameters: terabytes
    ({"kind": "vit", "hidden_size": 1_200_000, "num_heads": 12}, "hidden_size", "TiB of memory"),
], ids=["string-int", "float-int", "nan-int", "int-string", "string-bool", "short-triple", "string-in-tuple",
        "terabyte-cnn", "terabyte-vit"])
def test_a_malformed_config_names_the_file_and_the_field_before_allocating(saved, fields, field, expected):
    config_file = edit_config(saved, **fields)
    with pytest.raises(InputError) as caught:
        from_pretrained(saved)
    message = str(caught.value)
    assert str(config_file) in message and field in message and expected in message


def test_a_memory_cap_refuses_a_model_larger_than_it(saved):
    with pytest.raises(InputError, match="max_bytes"):
        from_pretrained(saved, max_bytes=1000)
    assert isinstance(from_pretrained(saved, max_bytes=10**9), torch.nn.Module)


def rewrite_weight(folder, change):
    """Apply `change` to the first floating tensor of the saved weights; returns its key."""
    weights = load_file(folder / "model.safetensors")
    key = next(k for k, v in weights.items() if v.is_floating_point())
    weights[key] = change(weights[key])
    save_file(weights, str(folder / "model.safetensors"))
    return key


@pytest.mark.parametrize("change, expected", [
    (lambda t: t.double(), "float64 in checkpoint vs float32 in model"),
    (lambda t: t.round().long(), "int64 in checkpoint vs float32 in model"),
    (lambda t: torch.full_like(t, float("nan")), "NaN or infinity"),
    (lambda t: torch.full_like(t, float("inf")), "NaN or infinity"),
], ids=["float64", "int64", "nan", "inf"])
def test_weights_of_another_dtype_or_holding_nan_are_reported_not_loaded(saved, change, expected):
    key = rewrite_weight(saved, change)
    with pytest.raises(InputError) as caught:
        from_pretrained(saved)
    assert str(saved / "model.safetensors") in str(caught.value)
    assert key in str(caught.value) and expected in str(caught.value)

    with pytest.warns(UserWarning, match=key):
        model = from_pretrained(saved, strict=False)
    assert torch.isfinite(model.state_dict()[key]).all()  # left as initialised, not the bad values
    assert model.state_dict()[key].dtype == torch.float32


def test_exported_float16_and_bfloat16_weights_still_load_as_float32(saved, tmp_path):
    card = dict(name="tiny", objective="simclr", profile="smoke", steps=1)
    for dtype in (torch.float16, torch.bfloat16):
        folder = export_weights(saved, tmp_path / f"export-{dtype}", card=card, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = from_pretrained(folder)
        assert all(t.dtype == torch.float32 for t in model.state_dict().values() if t.is_floating_point())
    report = hub.load_weights(build_encoder(CNN), tmp_path / "export-torch.float16")
    assert report.ok and report.adaptations == ["cast float16 -> float32"]
