"""Tests for brainfm_lite.datasets.structural: the cached T1 (+ qMRI maps) dataset of the embedded cohort."""

import numpy as np
import pytest
import torch

from brainfm_lite.config import load_profile
from brainfm_lite.datasets.structural import (
    STRUCTURAL_TASKS,
    StructuralDataset,
    structural_dataset,
    structural_dataset_for_encoder,
)
from brainfm_lite.errors import InputError
from brainfm_lite.models import EncoderConfig, build_encoder, save_pretrained
from brainfm_lite.sim.cohort import make_cohort


@pytest.fixture(scope="module")
def cohort():
    return make_cohort(3, seed=0, spacing_mm=4.0, n_sites=2)


def test_items_are_brain_zscored_t1_cubes_with_cohort_targets(cohort, tmp_path):
    data = StructuralDataset(cohort, size=(32, 32, 32), cache_dir=tmp_path)
    item = data[1]
    assert item["image"].shape == (1, 32, 32, 32) and item["image"].dtype == torch.float32
    brain = data.load(1)["brain"]
    inside = item["image"][0].numpy()[brain]
    assert abs(inside.mean()) < 1e-4 and inside.std() == pytest.approx(1.0, abs=1e-3)
    subject = cohort[1]
    assert item["targets"]["age"].item() == pytest.approx(subject.age, abs=1e-3)
    assert item["targets"]["older"].item() == float(subject.age > 55.0)
    assert item["targets"]["lesion"].item() == float(subject.lesion_mask.any())
    assert set(item["targets"]) == set(STRUCTURAL_TASKS)
    assert data.sites().tolist() == [0, 1, 0] and int(item["site"]) == 1


def test_cache_returns_what_simulation_gives(cohort, tmp_path):
    cached = StructuralDataset(cohort, size=(32, 32, 32), cache_dir=tmp_path)
    assert cached.prepare() == 3 and cached.prepare() == 0  # second call finds everything cached
    fresh = StructuralDataset(cohort, size=(32, 32, 32))
    for name, value in fresh.load(2).items():
        np.testing.assert_array_equal(cached.load(2)[name], value)
    assert cached.targets()["age"].shape == (3,)


def test_processes_filling_one_cache_take_fixed_interleaved_shares(cohort, tmp_path):
    # torchrun's ranks call prepare(part=(rank, world)) on one folder: together once, whatever is cached already
    data = StructuralDataset(cohort, indices=[2, 0, 1], size=(32, 32, 32), cache_dir=tmp_path)
    assert data.missing(part=(0, 2)) == [2, 1] and data.missing(part=(1, 2)) == [0]
    assert data.prepare(part=(1, 2)) == 1
    assert data.missing(part=(0, 2)) == [2, 1] and data.missing() == [2, 1]  # shares do not move as files appear
    assert data.prepare(part=(0, 2)) == 2 and data.missing() == []
    with pytest.raises(InputError, match="part"):
        data.missing(part=(2, 2))


def test_maps_are_the_subjects_qmri_on_the_cropped_grid(cohort):
    arrays = StructuralDataset(cohort, size=(32, 32, 32)).load(0)
    pd, r1 = arrays["maps"][0].astype(np.float32), arrays["maps"][1].astype(np.float32)
    brain = arrays["brain"]
    assert arrays["maps"].shape == (5, 32, 32, 32)
    assert 0.6 < pd[brain].mean() < 1.0 and 0.3 < r1[brain].mean() < 1.5  # water fraction, 1/s at 3 T


def test_bad_arguments_raise_input_error(cohort):
    with pytest.raises(InputError):
        StructuralDataset(cohort, size=(32, 32))
    with pytest.raises(InputError):
        StructuralDataset(cohort, indices=[5])
    with pytest.raises(InputError):
        StructuralDataset(cohort).prepare()


def _saved_encoder(folder, **recipe_changes):
    """A small CNN encoder saved with a T1 recipe of 5 mm and 16^3, changed by `recipe_changes`."""
    recipe = {"modality": "T1w", "spacing_mm": 5.0, "shape": [16, 16, 16], "registration": "none",
              "bias_correct": False, "brain_mask": "otsu", "clip": None, "intensity": "zscore", **recipe_changes}
    encoder = build_encoder(EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 8)))
    return save_pretrained(encoder, folder, metadata={"preprocessing": recipe})


def test_the_cohort_for_an_encoder_is_simulated_at_its_recipes_grid(tmp_path):
    profile = load_profile("smoke", contrastive_subjects=3, n_sites=2)  # 4 mm, 32^3
    data = structural_dataset_for_encoder(profile, _saved_encoder(tmp_path / "enc"))
    own = structural_dataset(profile)
    assert data.size == (16, 16, 16) and data.cohort[0].spacing_mm == 5.0
    assert data[0]["image"].shape == (1, 16, 16, 16)
    # the same subjects: ages and sites of the profile's cohort
    assert [data.cohort[k].age for k in range(3)] == pytest.approx([own.cohort[k].age for k in range(3)])
    assert data.sites().tolist() == own.sites().tolist()


@pytest.mark.parametrize("changes, message", [({"modality": "CBF", "brain_mask": "nonzero"}, "modality 'CBF'"),
                                              ({"shape": [16, 16, 8]}, "not a cube")])
def test_an_encoder_of_another_modality_or_grid_shape_is_refused_naming_its_config(tmp_path, changes, message):
    folder = _saved_encoder(tmp_path / "enc", **changes)
    with pytest.raises(InputError, match=message) as error:
        structural_dataset_for_encoder(load_profile("smoke"), folder)
    assert "config.json" in str(error.value)
