"""`brainfm pretrain mae` and `brainfm evaluate asl` end to end at a tiny scale."""

import json
import math

import pytest

from brainfm_lite.cli import main
from brainfm_lite.models.hub import from_pretrained

TINY = ["--set", "n_asl_subjects=9", "--set", "n_asl_sites=3", "--set", "cbf_image_size=32", "--set", "mae_steps=2",
        "--set", "mae_batch_size=2", "--set", "finetune_steps=2", "--set", "device=cpu"]


def test_pretrain_then_evaluate_writes_an_encoder_and_a_results_table(tmp_path, capsys):
    run = tmp_path / "mae"
    assert main(["pretrain", "mae", "--profile", "smoke", "--out", str(run), *TINY]) == 0
    encoder = from_pretrained(run / "encoder")
    assert encoder.config.img_size == (32, 32, 32)
    cached = sorted((run / "cbf_cache").glob("*.npz"))
    pool = json.loads((run / "encoder" / "config.json").read_text())["metadata"]["pretraining_pool"]
    assert len(cached) == pool["subjects"] < 9  # the pool's maps prepared once, before training; no test map
    stamps = [path.stat().st_mtime_ns for path in cached]

    results = tmp_path / "results.json"
    assert main(["evaluate", "asl", "--encoder", str(run / "encoder"), "--profile", "smoke", "--out", str(results),
                 "--tasks", "qei", "--fractions", "1.0", "--modes", "probe", *TINY]) == 0
    cached_after = sorted((run / "cbf_cache").glob("*.npz"))
    assert len(cached_after) == 9 and [p.stat().st_mtime_ns for p in cached] == stamps  # evaluation reads the pool's
    table = json.loads(results.read_text())["table"]
    encoders = {(row["encoder"], row["mode"]) for row in table}
    # fine-tuning runs through the same code (tests/eval/test_probe.py); a probe keeps this test fast
    assert encoders == {("pretrained", "probe"), ("random_init", "probe"), ("regional_cbf", "linear")}
    assert {row["test"] for row in table} == {"in_site", "unseen_site"}
    assert all(math.isfinite(row["mae_mean"]) for row in table)
    assert "wrote" in capsys.readouterr().out


def test_resume_continues_to_more_steps(tmp_path):
    run = tmp_path / "mae"
    assert main(["pretrain", "mae", "--out", str(run), *TINY]) == 0
    assert main(["pretrain", "mae", "--out", str(run), "--resume", *TINY, "--set", "mae_steps=3"]) == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 3 and from_pretrained(run / "encoder").config.img_size == (32, 32, 32)


@pytest.mark.parametrize("bad, message", [(["--set", "mae_stepz=2"], "mae_stepz"),
                                          (["--set", "mae_steps"], "KEY=VALUE")])
def test_bad_profile_overrides_are_reported(tmp_path, capsys, bad, message):
    assert main(["pretrain", "mae", "--out", str(tmp_path / "run"), *bad]) == 2
    assert message in capsys.readouterr().err


def test_pretrain_runs_exactly_the_methods_of_pretrainers(tmp_path, monkeypatch, capsys):
    from brainfm_lite.train.pretrain import PRETRAINERS

    calls = []
    for name in list(PRETRAINERS):
        monkeypatch.setitem(PRETRAINERS, name, lambda profile, out, **options: calls.append((out.name, options)))
    for name in PRETRAINERS:
        assert main(["pretrain", name, "--out", str(tmp_path / name), "--variant", "seqaug"]) == 0
    assert [name for name, _ in calls] == list(PRETRAINERS)
    assert all(("variant" in options) == (name == "seqinv") for name, options in calls)  # only seqinv has variants

    capsys.readouterr()
    assert main(["pretrain", "byol", "--out", str(tmp_path / "byol")]) == 2
    error = capsys.readouterr().err
    assert "byol" in error and all(name in error for name in PRETRAINERS)
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    usage = capsys.readouterr().out
    assert all(name in usage for name in PRETRAINERS)


def test_pretrain_seqaug_writes_its_encoder_in_its_own_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny = ["--set", "contrastive_subjects=8", "--set", "n_sites=2", "--set", "contrastive_steps=1",
            "--set", "contrastive_batch_size=2"]
    assert main(["pretrain", "seqinv", "--variant", "seqaug", *tiny]) == 0
    encoder = tmp_path / "runs" / "pretrain_seqaug_smoke" / "encoder"
    assert str(encoder.relative_to(tmp_path)) in capsys.readouterr().out
    assert from_pretrained(encoder).config.img_size == (32, 32, 32)


def test_evaluate_structural_runs_the_comparison_with_the_chosen_methods(tmp_path, monkeypatch, capsys):
    calls = {}

    def fake_compare(profile, out, *, methods, n_jobs, resume):
        calls.update(profile=profile.name, out=out, methods=methods, resume=resume)

    monkeypatch.setattr("brainfm_lite.eval.comparison.compare_methods", fake_compare)
    assert main(["evaluate", "structural", "--methods", "scratch", "seqinv", "--out", str(tmp_path / "cmp"),
                 "--resume"]) == 0
    assert calls == {"profile": "smoke", "out": tmp_path / "cmp", "methods": ["scratch", "seqinv"], "resume": True}
    assert "comparison.json" in capsys.readouterr().out


def test_evaluate_asl_without_an_encoder_is_an_input_error(capsys):
    assert main(["evaluate", "asl"]) != 0
    assert "--encoder" in capsys.readouterr().err


def test_results_asl_writes_the_recorded_results_and_the_weights(tmp_path, capsys):
    out = tmp_path / "book" / "results" / "tiny" / "asl.json"
    assert main(["results", "asl", "--profile", "smoke", "--run-dir", str(tmp_path / "run"), "--out", str(out),
                 "--jobs", "1", "--finetune-encoders", "mae", "--finetune-tasks", "qei", "--finetune-fractions", "1.0",
                 *TINY, "--set", "eval_seeds=3"]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"provenance", "seeds", "table", "claims", "settings"} and results["seeds"] == [0, 1, 2]
    assert results["provenance"]["command"].startswith("brainfm results asl --profile smoke")
    assert {claim["verdict"] for claim in results["claims"]} <= {"reproduced", "partly", "not reproduced"}
    assert sorted(path.name for path in (out.parent / "weights").iterdir()) == ["mae_cbf", "simclr_cbf"]
    printed = capsys.readouterr().out
    assert printed.count(": MAE") == 3 and f"wrote {out}" in printed  # a verdict line per claim, then the file
