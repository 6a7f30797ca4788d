"""Tests for brainfm_lite.eval.results_run: where a resumed results run says its reused stages came from."""

from brainfm_lite.config import load_profile
from brainfm_lite.eval.results_run import RUN_PROVENANCE, earlier_provenance, record_provenance


def provenance(date: str, profile: str = "smoke") -> dict:
    return {"commit": "abc1234", "date_utc": date, "profile": profile, "wall_time_s": {"total": 1.0, "stages": {}}}


def test_a_new_run_folder_names_no_earlier_run_even_beside_an_old_record(tmp_path):
    # the output JSON of a run in another folder is no source of this folder's stages
    (tmp_path / "smoke.json").write_text('{"provenance": {"profile": "smoke", "date_utc": "2026-01-01"}}')
    first = record_provenance(tmp_path / "run", provenance("2026-12-04 10:00"), load_profile("smoke"), reused=True)
    assert "resumed_from" not in first
    assert earlier_provenance(tmp_path / "run", load_profile("smoke")) == first  # kept for the next run


def test_a_resumed_run_names_the_last_run_that_finished_in_its_folder(tmp_path):
    smoke = load_profile("smoke")
    (tmp_path / "run").mkdir()
    first = record_provenance(tmp_path / "run", provenance("2026-12-04 10:00"), smoke, reused=False)
    again = record_provenance(tmp_path / "run", provenance("2026-12-04 11:00"), smoke, reused=True)
    assert again["resumed_from"] == first
    fresh = record_provenance(tmp_path / "run", provenance("2026-12-04 12:00"), smoke, reused=False)
    assert "resumed_from" not in fresh  # nothing reused, nothing to name


def test_another_profiles_run_is_not_named(tmp_path):
    (tmp_path / "run").mkdir()
    record_provenance(tmp_path / "run", provenance("2026-12-04 10:00", "reference"), load_profile("smoke"),
                      reused=False)
    assert earlier_provenance(tmp_path / "run", load_profile("smoke")) is None
    assert (tmp_path / "run" / RUN_PROVENANCE).is_file()
