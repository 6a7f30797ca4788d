"""The results the book ships: every trained-weights folder under book/results/reference/weights/ is complete, loads,
and keeps to the size budget (each file <= 20 MB, all of them <= 80 MB). Passes while no weights are shipped yet."""

import json
from pathlib import Path

import torch

from brainfm_lite.models import EncoderConfig, build_encoder, export_weights, from_pretrained, save_pretrained
from brainfm_lite.models.export import MAX_FILE_MB, MAX_TOTAL_MB, weights_budget

WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "book" / "results" / "reference" / "weights"
REQUIRED = ("README.md", "config.json", "model.safetensors")


def weights_problems(root: Path) -> list[str]:
    """What is wrong with the weights folders under `root`, one line each (empty: all is well)."""
    if not root.is_dir():
        return []
    problems = list(weights_budget(root, max_file_mb=MAX_FILE_MB, max_total_mb=MAX_TOTAL_MB)["problems"])
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            problems.append(f"{folder}: left over by an interrupted export; delete it")
            continue
        missing = [name for name in REQUIRED if not (folder / name).is_file()]
        if missing:
            problems.append(f"{folder}: no {', '.join(missing)}")
            continue
        if json.loads((folder / "config.json").read_text()).get("dtype") != "float16":
            problems.append(f"{folder}: config.json does not record float16 weights; export with export_weights")
        try:
            model = from_pretrained(folder)
        except Exception as err:  # noqa: BLE001 - report every folder, not just the first failure
            problems.append(f"{folder}: does not load ({type(err).__name__}: {err})")
            continue
        if any(p.dtype != torch.float32 for p in model.parameters()):
            problems.append(f"{folder}: parameters do not load as float32")
    return problems


def test_shipped_weights_are_complete_load_and_fit_the_budget():
    assert weights_problems(WEIGHTS_ROOT) == []


def test_the_check_finds_what_is_wrong(tmp_path):
    """The check above, on a made-up weights root: one good export, one without its card, and one leftover."""
    encoder = build_encoder(EncoderConfig(kind="cnn", img_size=(32, 32, 32), widths=(8, 16, 32)))
    source = save_pretrained(encoder, tmp_path / "run")
    root = tmp_path / "weights"
    card = dict(name="good", objective="simclr", profile="smoke", steps=1)
    export_weights(source, root / "good", card=card, budget_root=root)
    assert weights_problems(root) == []
    export_weights(source, root / "no-card", card={**card, "name": "no-card"}, budget_root=root)
    (root / "no-card" / "README.md").unlink()
    (root / ".good.tmp-0123").mkdir()
    problems = weights_problems(root)
    assert len(problems) == 2
    assert "no-card: no README.md" in problems[1] and "interrupted export" in problems[0]
    assert weights_problems(tmp_path / "absent") == []
