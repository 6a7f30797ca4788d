"""The recorded-results command of chapters 6-7 end to end at a tiny scale: the JSON's shape, computed verdicts,
pretraining on the held-out pool only, exported weights that embed a volume, and a resume that trains nothing again."""

import json
import math

import pytest
import torch

from brainfm_lite.cli import build_parser
from brainfm_lite.config import load_profile
from brainfm_lite.datasets.splits import evaluation_split
from brainfm_lite.datasets.structural import structural_dataset
from brainfm_lite.errors import InputError
from brainfm_lite.eval.asl_claim_rules import VERDICTS
from brainfm_lite.eval.dense import dense_dataset, dense_split, score_dense
from brainfm_lite.eval.structural_results import STRUCTURAL_METHODS, StructuralGrid, structural_reference_results
from brainfm_lite.models import EncoderConfig, build_encoder, export_weights, from_pretrained, save_pretrained
from brainfm_lite.models.decoders import SegmentationModel
from brainfm_lite.models.encoders import ConvEncoder
from brainfm_lite.models.hub import pretrained_encoder

TINY = dict(contrastive_subjects=12, n_sites=3, contrastive_image_size=32, dense_volume_size=32, contrastive_steps=2,
            contrastive_batch_size=2, finetune_steps=2, dense_steps=2, eval_seeds=3, device="cpu")
GRID = StructuralGrid(finetune_encoders=("simclr", "scratch"), finetune_tasks=("older",),
                      dense_encoders=("seqinv", "scratch"), dense_tasks=("tissue", "denoise"), dense_fractions=(0.01,),
                      sweep_encoders=("seqinv",), sweep_fractions=(0.1, 1.0))


def tiny_profile():
    return load_profile("smoke", **TINY)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results_structural")
    out = folder / "book" / "structural.json"
    # weights shipped by another chapter sit beside ours and must survive the export
    other = build_encoder(EncoderConfig(kind="cnn", img_size=(32, 32, 32), widths=(4, 8)))
    export_weights(save_pretrained(other, folder / "other"), out.parent / "weights" / "mae_cbf",
                   card=dict(name="mae_cbf", objective="mae", profile="smoke", steps=1))
    before = (out.parent / "weights" / "mae_cbf" / "model.safetensors").read_bytes()
    results = structural_reference_results(tiny_profile(), folder / "run", out=out, grid=GRID, n_jobs=1)
    return folder, out, results, before


def test_writes_the_five_keys_with_three_seeds_and_computed_verdicts(run):
    _, out, results, _ = run
    written = json.loads(out.read_text())
    assert set(written) == {"provenance", "seeds", "table", "claims", "settings"}
    assert written["seeds"] == [0, 1, 2]
    tables = written["table"]
    assert set(tables) == {"classification", "dense", "distances"}
    assert {row["encoder"] for row in tables["classification"]} == set(STRUCTURAL_METHODS)
    assert {(row["encoder"], row["task"]) for row in tables["classification"] if row["mode"] == "finetune"} == \
           {("simclr", "older"), ("scratch", "older")}
    assert all(row["n_seeds"] == 3 for row in tables["classification"] + tables["dense"])
    assert {(row["encoder"], row["task"], row["fraction"]) for row in tables["dense"]} == \
           {(e, t, 0.01) for e in ("seqinv", "scratch") for t in ("tissue", "denoise")} | \
           {("seqinv", "tissue", f) for f in (0.1, 1.0)}  # the sweep
    assert set(tables["distances"]) == set(STRUCTURAL_METHODS)
    assert all(math.isfinite(d["ratio"]) for d in tables["distances"].values())
    assert len(written["claims"]) == 4
    assert all(claim["verdict"] in VERDICTS and claim["reason"] for claim in written["claims"])
    stages = written["provenance"]["wall_time_s"]["stages"]
    assert written["provenance"]["profile"] == "smoke" and stages["pretrain_simclr"]["status"] == "ran"


def test_settings_show_collapse_and_what_was_left_out(run):
    settings = run[2]["settings"]
    simclr = settings["pretraining"]["simclr"]
    assert simclr["steps"] == 2 and simclr["chance_loss"] == pytest.approx(math.log(3), abs=1e-4)
    assert {"embedding_std", "even_spread_std", "collapsed"} <= set(simclr)
    assert "contrastive" in settings["pretraining"]["seqinv"]  # its NT-Xent part, compared with chance
    assert "chance_loss" not in settings["pretraining"]["mae"]
    assert {"mode": "finetune", "encoder": "mae", "task": "age"} in settings["left_out"]
    assert {"mode": "dense", "encoder": "seqaug", "task": "lesion", "fraction": 0.1} in settings["left_out"]
    assert {"mode": "dense", "encoder": "scratch", "task": "tissue", "fraction": 1.0} in settings["left_out"]
    assert {"mode": "dense", "encoder": "seqinv", "task": "tissue", "fraction": 1.0} not in settings["left_out"]
    assert settings["backbone"]["kind"] == "cnn" and "ViT" in settings["methods"]["mae"]


def test_pretraining_saw_only_the_held_out_pool(run):
    folder, _, results, _ = run
    settings = results["settings"]
    split = evaluation_split(structural_dataset(tiny_profile()).sites(), seed=0)
    tests = set(split.test_in_site.tolist()) | set(split.test_unseen_site.tolist())
    pool = set(settings["pretraining_pool"]["subject_ids"])
    assert pool == set(split.train.tolist()) and not pool & tests
    assert set(settings["split"]["test_in_site"]) | set(settings["split"]["test_unseen_site"]) == tests
    for method in ("simclr", "seqinv", "mae"):
        metadata = json.loads((folder / "run" / method / "encoder" / "config.json").read_text())["metadata"]
        assert metadata["pretraining_pool"]["subjects"] == len(pool)
        assert metadata["pretraining_pool"]["held_out_sites"] == list(split.test_sites)
    for dense in settings["dense_split"].values():
        assert set(dense["train"]) <= pool and not (set(dense["in_site"]) | set(dense["unseen_site"])) & pool
    assert set(settings["distances"]["subjects"]) <= tests


def test_simclr_and_seqinv_are_exported_as_float16_and_embed_a_volume(run):
    _, out, results, before = run
    for method, name in (("simclr", "simclr_t1"), ("seqinv", "seqinv_t1")):
        weights = out.parent / "weights" / name
        assert results["settings"]["weights"][method] == f"weights/{name}"
        assert json.loads((weights / "config.json").read_text())["dtype"] == "float16"
        assert (weights / "README.md").is_file()
        encoder = pretrained_encoder(weights).eval()
        assert isinstance(encoder, ConvEncoder)
        features = encoder(torch.randn(1, 1, 32, 32, 32))
        assert features.shape == (1, encoder.feature_dim) and torch.isfinite(features).all()
    assert (out.parent / "weights" / "mae_cbf" / "model.safetensors").read_bytes() == before


def test_the_shipped_encoders_check_is_recorded(run):
    check = run[2]["settings"]["weights_check"]
    assert set(check) == {"simclr", "seqinv"}
    assert check["seqinv"]["subjects"] == run[2]["settings"]["distances"]["subjects"]
    # float16 weights read back as float32: the ratio of the run's own encoder, to a few decimals
    assert check["seqinv"]["ratio"] == pytest.approx(run[2]["table"]["distances"]["seqinv"]["ratio"], abs=1e-2)


def test_the_shipped_segmenter_segments_held_out_subjects_as_recorded(run):
    folder, out, results, _ = run
    segmenter = results["settings"]["segmenter"]
    assert segmenter["weights"] == "weights/seqinv_t1_tissue" and segmenter["encoder"] == "seqinv"
    assert json.loads((out.parent / segmenter["weights"] / "config.json").read_text())["dtype"] == "float16"
    model = from_pretrained(out.parent / segmenter["weights"]).eval()
    assert isinstance(model, SegmentationModel) and model.n_classes == 4
    profile = tiny_profile()
    data = dense_dataset(profile, cache_dir=folder / "run" / "t1_cache")
    split = dense_split(data.sites(), seed=profile.seed)
    assert segmenter["n_train"] == split.train.size and segmenter["train_site"] == split.train_site
    dice = score_dense(model, data, split.unseen_site, "tissue", spacing_mm=profile.spacing_mm)["dice"]
    assert dice == pytest.approx(segmenter["scores"]["unseen_site"]["dice"], abs=0.02)  # float16 against float32


def test_resume_trains_nothing_again(run):
    folder, out, first, _ = run
    metrics = (folder / "run" / "simclr" / "metrics.jsonl").read_text()
    again = structural_reference_results(tiny_profile(), folder / "run", out=out, grid=GRID, n_jobs=1, resume=True)
    stages = again["provenance"]["wall_time_s"]["stages"]
    assert {name: s["status"] for name, s in stages.items() if name != "export_weights"} == \
           dict.fromkeys([name for name in stages if name != "export_weights"], "cached")
    assert (folder / "run" / "simclr" / "metrics.jsonl").read_text() == metrics
    assert again["provenance"]["resumed_from"]["date_utc"] == first["provenance"]["date_utc"]
    assert json.dumps(again["table"], sort_keys=True) == json.dumps(first["table"], sort_keys=True)


def test_an_unknown_grid_choice_is_refused():
    with pytest.raises(InputError, match="simclr_cbf"):
        StructuralGrid(finetune_encoders=("simclr_cbf",))
    with pytest.raises(InputError, match="0.5"):
        StructuralGrid(dense_fractions=(0.5,))


def test_the_command_line_names_the_target():
    args = build_parser().parse_args(["results", "structural", "--profile", "reference", "--resume"])
    assert (args.target, args.profile_name, args.resume) == ("structural", "reference", True)
