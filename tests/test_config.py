"""Profiles: the book's papermill files and the package's profile values agree and are validated."""

from pathlib import Path

import pytest
import yaml

from brainfm_lite.config import PROFILES, Profile, load_profile
from brainfm_lite.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_recorded_runs_name_their_profile_instead_of_carrying_a_copy():
    """Sizes live once, in brainfm_lite/profiles/ (the recorded results name theirs: ``--profile reference``)."""
    assert sorted((ROOT / "book" / "results").rglob("*.yaml")) == []


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads_with_its_own_name(name):
    profile = load_profile(name)
    assert isinstance(profile, Profile)
    assert profile.name == name


def test_profiles_grow_from_smoke_to_full():
    smoke, reference, colab, full = (load_profile(p) for p in PROFILES)
    assert smoke.n_subjects < reference.n_subjects < colab.n_subjects < full.n_subjects
    assert smoke.n_asl_subjects < reference.n_asl_subjects <= colab.n_asl_subjects < full.n_asl_subjects
    assert smoke.spacing_mm >= reference.spacing_mm >= colab.spacing_mm >= full.spacing_mm


@pytest.mark.parametrize("name", PROFILES)
def test_book_params_file_names_the_profile_and_valid_overrides(name):
    params = yaml.safe_load((ROOT / "book" / "params" / f"{name}.yaml").read_text())
    assert params["profile_name"] == name
    load_profile(params["profile_name"], **params.get("overrides", {}))  # overrides must be profile keys


def test_overrides_apply_and_unknown_keys_are_refused():
    assert load_profile("smoke", n_subjects=3).n_subjects == 3
    with pytest.raises(InputError, match="n_subjcts"):
        load_profile("smoke", n_subjcts=3)


def test_unknown_profile_name_lists_the_choices():
    with pytest.raises(InputError, match="smoke, reference, colab, full"):
        load_profile("laptop")


def test_custom_yaml_profile(tmp_path):
    values = load_profile("smoke").to_dict() | {"name": "mine", "n_subjects": 5}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(values))
    assert load_profile(path).n_subjects == 5
    path.write_text("name: [unclosed")
    with pytest.raises(InputError, match=str(path)):
        load_profile(path)
