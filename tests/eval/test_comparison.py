"""The comparison's gains over scratch, its JSON file and its pretraining runs (through PRETRAINERS)."""

import json
import math

import pytest

from brainfm_lite.config import load_profile
from brainfm_lite.errors import InputError
from brainfm_lite.eval.comparison import (
    COMPARISON_METHODS,
    PRETRAINING,
    compare_methods,
    gains_over_scratch,
    pretrain_method,
    save_json,
)
from brainfm_lite.train.pretrain import PRETRAINERS


def dense_row(encoder, task, fraction, test, value):
    metric = "psnr" if task == "denoise" else "dice"
    return {"encoder": encoder, "task": task, "fraction": fraction, "test": test, f"{metric}_mean": value}


def test_gains_are_taken_at_the_smallest_label_fraction():
    table = [dense_row("scratch", "tissue", 0.01, "unseen_site", 0.50), dense_row("seqinv", "tissue", 0.01,
             "unseen_site", 0.58), dense_row("scratch", "tissue", 1.0, "unseen_site", 0.80),
             dense_row("seqinv", "tissue", 1.0, "unseen_site", 0.70),
             dense_row("scratch", "denoise", 0.01, "in_site", 25.0), dense_row("mae", "denoise", 0.01, "in_site", 24.0)]
    gains = {(g["encoder"], g["task"]): g for g in gains_over_scratch(table)}
    assert gains[("seqinv", "tissue")]["gain"] == pytest.approx(0.08) and gains[("seqinv", "tissue")]["beats_scratch"]
    assert gains[("mae", "denoise")]["gain"] == pytest.approx(-1.0) and not gains[("mae", "denoise")]["beats_scratch"]
    assert len(gains) == 2  # the 100 % rows are not the low-data comparison


def test_json_turns_nan_into_null(tmp_path):
    path = save_json({"a": [1.0, math.nan], "b": {"c": math.inf}}, tmp_path / "sub" / "comparison.json")
    assert json.loads(path.read_text()) == {"a": [1.0, None], "b": {"c": None}}


def test_unknown_method_is_rejected_before_any_work(tmp_path):
    with pytest.raises(InputError):
        compare_methods(load_profile("smoke"), tmp_path, methods=("scratch", "byol"))
    assert not any(tmp_path.iterdir())


def test_every_method_is_pretrained_by_its_pretrainer(tmp_path, monkeypatch):
    assert set(COMPARISON_METHODS) == {"scratch", *PRETRAINING}
    calls = {}

    def fake(name):
        def pretrain(profile, out, **options):
            calls[out.name] = (name, options.get("variant"))
            return out / "encoder"
        return pretrain

    for name in list(PRETRAINERS):
        monkeypatch.setitem(PRETRAINERS, name, fake(name))
    profile = load_profile("smoke")
    assert pretrain_method("scratch", profile, tmp_path) is None
    for method in PRETRAINING:
        assert pretrain_method(method, profile, tmp_path, progress=False) == tmp_path / method / "encoder"
    assert calls == {"simclr": ("simclr", None), "seqinv": ("seqinv", "seqinv"), "seqaug": ("seqinv", "seqaug"),
                     "baseline": ("seqinv", "baseline"), "mae": ("mae_structural", None)}
