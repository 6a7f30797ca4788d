"""The recipe an encoder records (config.json metadata.preprocessing): written by the pretrainers and exports, read
back whole or refused with what is missing, and recorded for the two shipped CBF encoders."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.cbf import CbfDataset
from brainfm_lite.errors import InputError
from brainfm_lite.features.recipe import REQUIRED_FIELDS, Recipe, pretraining_recipe, read_recipe
from brainfm_lite.features.scans import preprocess_scan
from brainfm_lite.models import export_weights
from brainfm_lite.models.hub import model_from_config
from brainfm_lite.sim.asl.cohort import make_asl_cohort

SHIPPED = Path(__file__).resolve().parents[2] / "book" / "results" / "reference" / "weights"


def test_a_saved_recipe_reads_back_equal(tmp_path, kit):
    folder = kit.save_encoder(tmp_path / "enc", {**kit.T1_RECIPE, "clip": [0.5, 99.5], "pretraining_data": "x"})
    recipe = read_recipe(folder)
    assert recipe == Recipe(modality="T1w", spacing_mm=4.0, shape=(16, 16, 16), registration="none",
                            bias_correct=False, brain_mask="otsu", clip=(0.5, 99.5), intensity="zscore",
                            pretraining_data="x")
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert recipe.preprocess_options() == {"spacing_mm": 4.0, "shape": (16, 16, 16), "register": None,
                                           "bias_correct": False, "skull_strip": True, "clip": (0.5, 99.5),
                                           "normalise": "zscore"}


def test_an_encoder_without_a_recipe_is_refused_naming_the_folder(tmp_path, kit):
    folder = kit.save_encoder(tmp_path / "old_encoder", None)
    with pytest.raises(InputError, match=f"{folder}: the encoder does not record how its pretraining data were "
                                         "preprocessed") as error:
        read_recipe(folder)
    assert "metadata.preprocessing" in str(error.value) and "spacing_mm" in str(error.value)
    with pytest.raises(InputError, match="no config.json"):
        read_recipe(tmp_path)


def test_a_partial_recipe_names_what_is_missing(tmp_path, kit):
    partial = {key: value for key, value in kit.T1_RECIPE.items() if key not in ("registration", "intensity")}
    folder = kit.save_encoder(tmp_path / "enc", partial)
    with pytest.raises(InputError, match=r"config\.json: metadata\.preprocessing: missing registration, intensity"):
        read_recipe(folder)


@pytest.mark.parametrize("field, value, message", [
    ("registration", "nonlinear", "registration must be one of none, rigid, affine"),
    ("shape", [16, 16], "shape must be three positive integers"),
    ("spacing_mm", [4.0, 4.0, 4.0], "spacing_mm must be one positive number"),
    ("clip", [99.5, 0.5], "clip must be null or two percentiles"),
    ("modality", "FLAIR", "modality must be one of T1w, CBF"),
    ("bias_correct", "no", "bias_correct must be true or false"),
    ("brain_mask", "bet", "brain_mask must be one of otsu, mni, nonzero, none"),
    ("colour", "blue", r"unknown fields \['colour'\]"),
])
def test_a_bad_field_is_named(tmp_path, kit, field, value, message):
    folder = kit.save_encoder(tmp_path / "enc", {**kit.T1_RECIPE, field: value})
    with pytest.raises(InputError, match=f"metadata.preprocessing: {message}"):
        read_recipe(folder)


@pytest.mark.parametrize("registration, brain_mask, message", [
    ("rigid", "otsu", "brain_mask otsu needs registration none"),
    ("none", "mni", "brain_mask mni needs registration rigid or affine")])
def test_a_mask_that_does_not_fit_the_registration_is_refused(kit, registration, brain_mask, message):
    with pytest.raises(InputError, match=message):
        Recipe.from_dict({**kit.T1_RECIPE, "registration": registration, "brain_mask": brain_mask})
    Recipe.from_dict({**kit.T1_RECIPE, "registration": registration, "brain_mask": "nonzero"})  # fits either


@pytest.mark.parametrize("modality, size_field, brain_mask", [("CBF", "cbf_image_size", "nonzero"),
                                                              ("T1w", "contrastive_image_size", "otsu")])
def test_pretrainers_record_the_profiles_grid_without_registration(modality, size_field, brain_mask):
    for name in ("smoke", "reference"):
        profile = load_profile(name)
        recipe = pretraining_recipe(profile, modality)
        size = getattr(profile, size_field)
        assert (recipe.modality, recipe.spacing_mm, recipe.shape) == (modality, profile.spacing_mm, (size,) * 3)
        assert (recipe.registration, recipe.brain_mask, recipe.intensity) == ("none", brain_mask, "zscore")
        assert not recipe.bias_correct and recipe.clip is None and "MNI152 2009a" in recipe.pretraining_data


@pytest.mark.parametrize("name", ["mae_cbf", "simclr_cbf"])
def test_the_shipped_cbf_encoders_record_the_reference_cbf_recipe(name):
    recipe = read_recipe(SHIPPED / name)
    expected = pretraining_recipe(load_profile("reference"), "CBF")  # what `brainfm pretrain` records now
    assert replace(recipe, pretraining_data="") == replace(expected, pretraining_data="")
    assert "mL/100 g/min" in recipe.pretraining_data and "z-scored" in recipe.pretraining_data
    assert (recipe.registration, recipe.brain_mask) == ("none", "nonzero")
    config = json.loads((SHIPPED / name / "config.json").read_text())
    assert tuple(model_from_config(SHIPPED / name).config.img_size) == recipe.shape == (64, 64, 64)
    assert config["model_card"]["preprocessing"] == recipe.to_dict()
    assert f"| preprocessing | {recipe.summary()} (how `brainfm features`" in (SHIPPED / name / "README.md").read_text()


def test_the_shipped_cbf_recipe_prepares_a_simulated_map_exactly_as_pretraining_did(tmp_path, kit):
    """A map of the reference ASL cohort's kind (3 mm), written to NIfTI by nibabel and prepared by the recorded
    recipe, is the very input the pretraining dataset made of it (crop around the tissue mask, z-score inside)."""
    cohort = make_asl_cohort(1, 2, seed=0, spacing_mm=3.0)
    subject = cohort[0]
    path = kit.write_nifti(tmp_path / "sub-01_desc-mean_cbf.nii.gz", subject.cbf.data, subject.cbf.affine)
    prepared = preprocess_scan(path, read_recipe(SHIPPED / "mae_cbf"))
    pretraining_input = CbfDataset(cohort, size=(64, 64, 64), normalise="zscore").arrays_of(subject)["image"]
    np.testing.assert_allclose(prepared.data, pretraining_input, rtol=0, atol=1e-5)


def test_an_export_keeps_the_recipe_and_shows_it_in_the_card(tmp_path, kit):
    folder = kit.save_encoder(tmp_path / "run", kit.T1_RECIPE)
    exported = export_weights(folder, tmp_path / "export", card={"name": "tiny", "objective": "simclr",
                                                                  "profile": "smoke", "steps": 1})
    assert read_recipe(exported) == read_recipe(folder)
    readme = (exported / "README.md").read_text()
    assert "| preprocessing | T1w, 4 mm, 16 x 16 x 16, no registration (resampled in place), no N4, Otsu brain " \
           "mask, no clip, z-score in the brain (how `brainfm features` prepares new scans to match) |" in readme


def test_every_required_field_is_named_in_the_record_the_pretrainers_write():
    record = pretraining_recipe(load_profile("smoke"), "T1w").to_dict()
    assert set(REQUIRED_FIELDS) <= set(record) and json.loads(json.dumps(record)) == record
