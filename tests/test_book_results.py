"""The results the book ships: every trained-weights folder under book/results/reference/weights/ is complete, loads,
and keeps to the size budget (each file <= 20 MB, all of them <= 80 MB); the recorded JSON has its fixed shape; the
shipped float16 MAE reproduces the hidden-patch errors recorded beside it, and the shipped structural encoders their
feature distances."""

import json
from pathlib import Path

import torch

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.eval.asl_claim_rules import VERDICTS
from brainfm_lite.eval.hidden_patches import hidden_patch_errors
from brainfm_lite.eval.structural_claim_rules import structural_claims
from brainfm_lite.eval.structural_results import STRUCTURAL_METHODS, shipped_encoder_check
from brainfm_lite.models import EncoderConfig, build_encoder, export_weights, from_pretrained, save_pretrained
from brainfm_lite.models.export import MAX_FILE_MB, MAX_TOTAL_MB, weights_budget

WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "book" / "results" / "reference" / "weights"
REQUIRED = ("README.md", "config.json", "model.safetensors")
ASL_RESULTS = WEIGHTS_ROOT.parent / "asl.json"
HIDDEN_PATCH_TOLERANCE = 1e-3  # relative: float16 weights loaded as float32, the same maps and masks


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


def test_the_recorded_asl_results_have_their_fixed_shape():
    results = json.loads(ASL_RESULTS.read_text())
    assert set(results) == {"provenance", "seeds", "table", "claims", "settings"}
    assert len(results["seeds"]) >= 3 and results["provenance"]["profile"] == "reference"
    assert {row["encoder"] for row in results["table"]} == {"mae", "simclr_cbf", "random_init", "regional_cbf"}
    assert all(claim["verdict"] in VERDICTS and claim["reason"] for claim in results["claims"])
    assert not results["settings"]["pretraining"]["simclr_cbf"]["collapsed"]


def test_the_shipped_mae_reproduces_its_recorded_hidden_patch_errors():
    """Held-out maps simulated again at the reference profile, masked as recorded, filled in by the fp16 weights."""
    results = json.loads(ASL_RESULTS.read_text())
    check = results["settings"]["hidden_patch_check"]
    profile = load_profile("reference")
    cohort = asl_cbf_dataset(profile)
    assert set(check["subjects"]) <= set(evaluation_split(cohort.sites(), seed=profile.seed).test_in_site.tolist())
    maps = asl_cbf_dataset(profile, indices=check["subjects"])
    volumes = torch.stack([maps[k]["image"] for k in range(len(maps))])
    mae = from_pretrained(WEIGHTS_ROOT.parent / results["settings"]["weights"]["mae"])
    errors = hidden_patch_errors(mae, volumes, masking_ratio=check["masking_ratio"], seed=check["seed"])
    for name, recorded in check["mse"].items():
        assert abs(errors[name] - recorded) <= HIDDEN_PATCH_TOLERANCE * recorded + 1e-6, name
    assert errors["mae"] < min(errors["visible_mean"], errors["zero"])  # the trained model beats both guesses


STRUCTURAL_RESULTS = WEIGHTS_ROOT.parent / "structural.json"
DISTANCE_TOLERANCE = 1e-3  # absolute, on cosine distances: the same images, the fp16 weights run in float32


def test_the_recorded_structural_results_have_their_fixed_shape_and_judge_their_own_tables():
    results = json.loads(STRUCTURAL_RESULTS.read_text())
    assert set(results) == {"provenance", "seeds", "table", "claims", "settings"}
    assert len(results["seeds"]) >= 3 and results["provenance"]["profile"] == "reference"
    tables, settings = results["table"], results["settings"]
    assert set(tables["distances"]) == set(STRUCTURAL_METHODS)
    # pretraining never saw a test subject or a held-out site
    split, pool = settings["split"], set(settings["pretraining_pool"]["subject_ids"])
    assert not pool & set(split["test_in_site"] + split["test_unseen_site"])
    # the verdicts are the rules' verdicts on the recorded tables
    collapsed = [m for m, s in settings["pretraining"].items() if s.get("collapsed")]
    again = structural_claims(tables["classification"], tables["dense"], collapsed)
    assert [c["verdict"] for c in results["claims"]] == [c["verdict"] for c in again]
    assert all(claim["verdict"] in VERDICTS for claim in results["claims"])


def test_the_shipped_structural_encoders_reproduce_their_recorded_distances():
    """The distance subjects imaged again at the reference profile and encoded by the fp16 encoders."""
    results = json.loads(STRUCTURAL_RESULTS.read_text())
    settings = results["settings"]
    weights = {method: WEIGHTS_ROOT.parent / folder for method, folder in settings["weights"].items()}
    check = shipped_encoder_check(weights, load_profile("reference"), settings["distances"]["subjects"])
    for method, recorded in settings["weights_check"].items():
        for key in ("same_subject", "same_contrast"):
            assert abs(check[method][key] - recorded[key]) <= DISTANCE_TOLERANCE, (method, key)


def test_recorded_gpu_steps_say_where_they_ran_and_name_steps_the_planner_still_builds():
    """Each GPU record (`benchmarks/bench_gpu_steps.py`, under book/results/colab and full) carries its provenance,
    and every step it timed is one the planner builds today, so `--compare` can set it beside today's plan."""
    from brainfm_lite.plan.steps import INFERENCE_STEPS, TRAINING_STEPS

    records = sorted(WEIGHTS_ROOT.parents[1].glob("*/gpu_steps*.json"))
    assert {path.parent.name for path in records} == {"colab", "full"}
    for path in records:
        record = json.loads(path.read_text())
        provenance = record["provenance"]
        assert record["profile"] == path.parent.name and provenance["device"].startswith("cuda")
        assert provenance["git_commit"] and provenance["command"].startswith("python benchmarks/bench_gpu_steps.py")
        for row in record["rows"]:
            assert row["step"] in {**TRAINING_STEPS, **INFERENCE_STEPS}
            if row["status"] == "ok":
                assert row["step_s_median"] > 0 and row["flops_counted"] > 0 and row["peak_memory_bytes"] > 0
