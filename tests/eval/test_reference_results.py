"""The recorded-results command of chapters 4-5 end to end at a tiny scale: the JSON's shape, computed verdicts,
exported weights, and a resume that trains nothing again."""

import json

import pytest
import torch

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import asl_cbf_dataset
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.errors import InputError
from brainfm_lite.eval.asl_claim_rules import VERDICTS
from brainfm_lite.eval.hidden_patches import hidden_patch_errors
from brainfm_lite.eval.reference_results import FinetuneGrid, asl_reference_results
from brainfm_lite.eval.results_table import recorded_by
from brainfm_lite.models.hub import from_pretrained, pretrained_encoder
from brainfm_lite.models.mae import MAE

TINY = dict(n_asl_subjects=16, n_asl_sites=3, cbf_image_size=32, mae_steps=2, mae_batch_size=2, finetune_steps=2,
            eval_seeds=3, device="cpu")
GRID = FinetuneGrid(encoders=("mae",), tasks=("qei",), fractions=(1.0,))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results_asl")
    out = folder / "book" / "asl.json"
    results = asl_reference_results(load_profile("smoke", **TINY), folder / "run", out=out, finetune=GRID, n_jobs=1)
    return folder, out, results


def test_writes_the_five_keys_with_three_seeds_and_computed_verdicts(run):
    _, out, results = run
    written = json.loads(out.read_text())
    assert set(written) == {"provenance", "seeds", "table", "claims", "settings"}
    assert written["seeds"] == [0, 1, 2]
    assert {row["encoder"] for row in written["table"]} == {"mae", "simclr_cbf", "random_init", "regional_cbf"}
    assert all(row["n_seeds"] == 3 for row in written["table"] if row["encoder"] != "regional_cbf")
    assert {(row["encoder"], row["mode"]) for row in written["table"] if row["mode"] == "finetune"} == \
           {("mae", "finetune")}
    assert len(written["claims"]) == 3 and all(claim["verdict"] in VERDICTS for claim in written["claims"])
    provenance = written["provenance"]
    assert {"commit", "command", "profile", "device", "versions", "date_utc", "wall_time_s"} <= set(provenance)
    assert provenance["profile"] == "smoke" and provenance["wall_time_s"]["stages"]["pretrain_mae"]["status"] == "ran"


def test_settings_list_what_was_left_out_of_fine_tuning(run):
    settings = run[2]["settings"]
    assert len(settings["left_out"]) == 3 * 4 * 3 - 1  # every (encoder, task, fraction) but the one fine-tuned
    assert {"encoder": "random_init", "task": "alzheimers", "fraction": 0.05, "mode": "finetune"} in \
           settings["left_out"]
    assert settings["split"]["test_unseen_site"] > 0 and settings["pretraining_pool"]["subjects"] < 16
    simclr = settings["pretraining"]["simclr_cbf"]
    assert simclr["steps"] == 2 and simclr["chance_loss"] == pytest.approx(1.0986, abs=1e-4)  # log(2 x 2 - 1)


def test_both_encoders_are_exported_as_float16_with_a_model_card(run):
    folder, out, _ = run
    for name in ("mae_cbf", "simclr_cbf"):
        weights = out.parent / "weights" / name
        config = json.loads((weights / "config.json").read_text())
        assert config["dtype"] == "float16" and (weights / "README.md").is_file()
        assert pretrained_encoder(weights).config.img_size == (32, 32, 32)
    assert isinstance(from_pretrained(out.parent / "weights" / "mae_cbf"), MAE)  # with its decoder: it reconstructs


def test_the_shipped_mae_hidden_patch_error_is_recorded_and_recomputable(run):
    folder, out, results = run
    check = results["settings"]["hidden_patch_check"]
    assert set(check["mse"]) == {"mae", "zero", "visible_mean"} and len(check["subjects"]) > 0
    dataset = asl_cbf_dataset(load_profile("smoke", **TINY), cache_dir=folder / "run" / "cbf_cache")
    assert set(check["subjects"]) <= set(evaluation_split(dataset.sites(), seed=0).test_in_site.tolist())
    volumes = torch.stack([dataset[k]["image"] for k in check["subjects"]])
    again = hidden_patch_errors(from_pretrained(out.parent / "weights" / "mae_cbf"), volumes,
                                masking_ratio=check["masking_ratio"], seed=check["seed"])
    assert again == pytest.approx(check["mse"], rel=1e-4)


def test_resume_trains_nothing_again(run):
    folder, out, _ = run
    metrics = (folder / "run" / "mae" / "metrics.jsonl").read_text()
    again = asl_reference_results(load_profile("smoke", **TINY), folder / "run", out=out, finetune=GRID, n_jobs=1,
                                  resume=True)
    stages = again["provenance"]["wall_time_s"]["stages"]
    assert {name: stage["status"] for name, stage in stages.items() if name != "export_weights"} == \
           dict.fromkeys([name for name in stages if name != "export_weights"], "cached")
    assert (folder / "run" / "mae" / "metrics.jsonl").read_text() == metrics
    earlier = again["provenance"]["resumed_from"]  # who computed the reused stages stays on record
    assert earlier["date_utc"] == run[2]["provenance"]["date_utc"] and "resumed_from" not in earlier
    assert "Stages reused from the run at commit" in recorded_by(again["provenance"])
    assert json.dumps(again["table"], sort_keys=True) == json.dumps(run[2]["table"], sort_keys=True)  # NaN == NaN


def test_an_unknown_fine_tuning_choice_is_refused():
    with pytest.raises(InputError, match="simclr"):
        FinetuneGrid(encoders=("simclr",))
