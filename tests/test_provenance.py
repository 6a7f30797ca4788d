"""A chapter's record: provenance present, metrics saved atomically, reference table shown when recorded."""

import json

import pytest
import torch

from brainfm_lite.atomic import atomic_path, write_json
from brainfm_lite.config import load_profile
from brainfm_lite.errors import InputError
from brainfm_lite.provenance import ChapterRun, environment, resolve_device


def test_environment_names_versions_device_and_date():
    env = environment()
    assert env["device"] in ("cpu", "cuda")
    assert env["versions"]["torch"] and env["versions"]["monai"] and env["versions"]["nibabel"]
    assert len(env["date_utc"]) == 19


def test_chapter_run_writes_metrics_with_provenance(tmp_path):
    run = ChapterRun("99_test", load_profile("smoke"), tmp_path)
    run.record(dice=0.91, n=3)
    saved = json.loads((tmp_path / "99_test.json").read_text())
    assert saved["profile"] == "smoke"
    assert saved["metrics"] == {"dice": 0.91, "n": 3}
    assert saved["provenance"]["versions"]["torch"]
    assert "smoke" in run.provenance_markdown()


def test_compare_without_reference_says_so(tmp_path):
    run = ChapterRun("99_no_reference", load_profile("smoke"), tmp_path)
    run.record(dice=0.5)
    assert "No reference run" in run.compare_markdown("dice")


def test_compare_shows_live_beside_reference(tmp_path, monkeypatch):
    run = ChapterRun("99_ref", load_profile("smoke"), tmp_path)
    run.record(dice=0.5)
    monkeypatch.setattr(run, "reference", lambda: {"profile": "full", "metrics": {"dice": 0.8},
                                                   "provenance": {"device_name": "H100", "date_utc": "x"}})
    table = run.compare_markdown("dice")
    assert "| dice | 0.5 | 0.8 |" in table


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    write_json(dest, {"a": 1})
    assert json.loads(dest.read_text()) == {"a": 1}


def test_resolve_device_names_the_cpu_here_and_refuses_what_this_machine_lacks(monkeypatch):
    """One resolver serves the chapters, `brainfm features` and `brainfm recon`: "auto" falls back to the CPU, and
    a device that is not here is an InputError that says what to use instead (not a CUDA error mid-run)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device() == resolve_device("auto") == torch.device("cpu")
    with pytest.raises(InputError, match="no CUDA GPU.*--device cpu"):
        resolve_device("cuda:0")
    with pytest.raises(InputError, match='"auto", "cpu"'):
        resolve_device("gpu")
