"""Tests for brainfm_lite.models.export and model_card: float16 exports with a model card, within a size budget."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from brainfm_lite.errors import InputError
from brainfm_lite.models import ModelCard, export_weights, from_pretrained, hub, save_pretrained, weights_budget
from brainfm_lite.models.encoders import build_encoder
from brainfm_lite.models.export import MB, cast_floating

FEATURE_RTOL = 1e-2  # relative L2 change of the features an fp16 round trip may cause
CARD = dict(name="tiny-encoder", objective="mae", profile="smoke", steps=12, metrics={"probe_auc": 0.8123456},
            provenance={"commit": "abc1234", "date": "2025-01-01", "command": "brainfm results mae"})


def saved(tmp_path, config, name="run"):
    torch.manual_seed(0)
    return save_pretrained(build_encoder(config).eval(), tmp_path / name)


def stored_dtypes(folder: Path) -> dict:
    with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
        return {key: weights.get_tensor(key).dtype for key in weights.keys()}


@pytest.mark.parametrize("kind", ["vit", "cnn"])
def test_fp16_export_loads_as_float32_and_changes_features_little(tmp_path, vit_config, cnn_config, volumes, kind):
    source = saved(tmp_path, vit_config if kind == "vit" else cnn_config)
    folder = export_weights(source, tmp_path / "weights" / "tiny-encoder", card=CARD)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    dtypes = stored_dtypes(folder)
    assert {d for d in dtypes.values() if d.is_floating_point} == {torch.float16}
    assert all(d == torch.int64 for k, d in dtypes.items() if k.endswith("num_batches_tracked"))  # BatchNorm counts
    assert (folder / "model.safetensors").stat().st_size < 0.6 * (source / "model.safetensors").stat().st_size

    original, exported = from_pretrained(source).eval(), from_pretrained(folder).eval()
    assert {p.dtype for p in exported.parameters()} == {torch.float32}
    with torch.no_grad():
        reference, features = original(volumes), exported(volumes)
    assert torch.linalg.norm(features - reference) / torch.linalg.norm(reference) < FEATURE_RTOL

    config = json.loads((folder / "config.json").read_text())
    assert config["dtype"] == "float16" and config["class"] == "Encoder"
    assert config["config"] == json.loads((source / "config.json").read_text())["config"]
    card = ModelCard.from_dict(config["model_card"])
    assert card.model_class == "Encoder" and card.dtype == "float16"
    assert card.parameters == sum(p.numel() for p in exported.parameters())


def test_integer_tensors_are_kept_and_overflow_is_refused():
    cast = cast_floating({"w": torch.ones(2), "count": torch.tensor(7), "mask": torch.tensor([True])}, torch.float16)
    assert cast["w"].dtype == torch.float16 and cast["count"].dtype == torch.int64 and cast["mask"].dtype == torch.bool
    with pytest.raises(InputError, match=r"big\.weight has values beyond the range of torch\.float16"):
        cast_floating({"big.weight": torch.tensor([1e6])}, torch.float16)
    assert cast_floating({"w": torch.tensor([1e6])}, torch.bfloat16)["w"].dtype == torch.bfloat16


def test_load_report_names_the_cast(tmp_path, cnn_config):
    folder = export_weights(saved(tmp_path, cnn_config), tmp_path / "export", card=CARD)
    report = hub.load_weights(build_encoder(cnn_config), folder)
    assert report.ok and report.adaptations == ["cast float16 -> float32"]


def test_the_readme_is_a_model_card(tmp_path, vit_config):
    folder = export_weights(saved(tmp_path, vit_config), tmp_path / "export",
                            card=ModelCard(**{**CARD, "metrics": {"auc": {"mean": 0.81234, "sd": 0.0123}}}))
    readme = (folder / "README.md").read_text()
    assert readme.startswith("# tiny-encoder\n")
    for text in ("## Training", "| profile | smoke |", "| optimiser steps | 12 |", "| stored as | float16 |",
                 "synthetic data, not for clinical use", "**Not for clinical use.**", "| auc | 0.812 ± 0.012 |",
                 "## Intended use", "## Limitations", "from brainfm_lite.models import from_pretrained",
                 "- commit: `abc1234`", "- command: `brainfm results mae`"):
        assert text in readme, text


def test_model_card_checks_its_fields():
    with pytest.raises(InputError, match=r"unknown fields \['epochs'\]"):
        ModelCard.from_dict({**CARD, "epochs": 3})
    with pytest.raises(InputError, match="steps"):
        ModelCard(**{**CARD, "steps": -1})
    card = ModelCard(name="x", objective="new-idea", profile="smoke", steps=0)
    markdown = card.to_markdown()
    assert "'new-idea' objective" in markdown and "None recorded." in markdown and "not for clinical use" in markdown


def test_a_file_over_the_limit_is_refused_and_nothing_is_written(tmp_path, vit_config):
    source = saved(tmp_path, vit_config)
    size_mb = 2 * sum(v.numel() for v in hub.read_checkpoint(source).values()) / MB
    with pytest.raises(InputError, match=r"export/model\.safetensors: 0\.1 MB, over the 0\.118 MB limit"):
        export_weights(source, tmp_path / "export", card=CARD, max_file_mb=round(size_mb * 0.9, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no folder, no temporary left behind
    export_weights(source, tmp_path / "export", card=CARD, max_file_mb=size_mb * 1.1)


def test_the_total_budget_counts_other_exports_but_not_the_one_replaced(tmp_path, cnn_config):
    source, root = saved(tmp_path, cnn_config), tmp_path / "weights"
    first = export_weights(source, root / "a", card=CARD, budget_root=root)
    one = weights_budget(first)["total_bytes"]
    limit_mb = 1.5 * one / MB  # room for one export, not two
    export_weights(source, root / "a", card=CARD, budget_root=root, max_total_mb=limit_mb)  # replaces itself
    with pytest.raises(InputError, match=r"b: exporting it would bring .* over the .* limit of all shipped weights"):
        export_weights(source, root / "b", card=CARD, budget_root=root, max_total_mb=limit_mb)
    assert sorted(p.name for p in root.iterdir()) == ["a"]
    export_weights(source, tmp_path / "elsewhere", card=CARD, budget_root=None, max_total_mb=limit_mb)


def test_weights_budget_lists_files_and_problems(tmp_path, cnn_config):
    root = tmp_path / "weights"
    export_weights(saved(tmp_path, cnn_config), root / "a", card=CARD)
    budget = weights_budget(root)
    assert sorted(budget["files"]) == ["a/README.md", "a/config.json", "a/model.safetensors"]
    assert budget["total_bytes"] == sum(budget["files"].values()) and not budget["problems"]
    tight = weights_budget(root, max_file_mb=0.05, max_total_mb=0.05)
    assert any("a/model.safetensors" in line and "limit of one file" in line for line in tight["problems"])
    assert "MB in all" in tight["problems"][-1]
    with pytest.raises(InputError, match="not a folder"):
        weights_budget(tmp_path / "absent")


def test_export_refuses_bad_arguments(tmp_path, cnn_config):
    source = saved(tmp_path, cnn_config)
    with pytest.raises(InputError, match="floating dtype"):
        export_weights(source, tmp_path / "export", card=CARD, dtype=torch.int8)
    (tmp_path / "data").mkdir()
    with pytest.raises(InputError, match="refusing to overwrite"):
        export_weights(source, tmp_path / "data", card=CARD)
    with pytest.raises(InputError, match="config.json"):
        export_weights(tmp_path / "data", tmp_path / "export", card=CARD)


def test_every_module_with_registered_models_is_imported_on_demand(tmp_path, monkeypatch, cnn_config):
    package = Path(hub.__file__).parent
    registering = {f"brainfm_lite.models.{p.stem}" for p in package.glob("*.py")
                   if "@register_model" in p.read_text() and p.stem != "hub"}
    assert registering == set(hub.MODEL_MODULES)
    folder = saved(tmp_path, cnn_config)
    encoder_class = hub._MODELS["Encoder"]
    monkeypatch.setattr(hub, "_MODELS", {k: v for k, v in hub._MODELS.items() if k != "Encoder"})
    imported = []

    def fake_import(name):
        imported.append(name)
        hub._MODELS["Encoder"] = encoder_class

    monkeypatch.setattr(hub.importlib, "import_module", fake_import)
    assert isinstance(from_pretrained(folder), encoder_class) and imported == list(hub.MODEL_MODULES)
