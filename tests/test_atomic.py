"""Atomic writes: a crash mid-write leaves the previous file or folder as it was, and nothing else behind."""

import pytest

from brainfm_lite.atomic import atomic_dir, atomic_path


def test_crash_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    dest = tmp_path / "brain.nii.gz"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(dest) as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".nii.gz"), "beside dest, same suffixes"
            tmp.write_bytes(b"half of the ne")
            raise KeyboardInterrupt
    assert dest.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["brain.nii.gz"]


def test_a_finished_write_replaces_the_file_with_ordinary_permissions(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("reference")
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with atomic_path(dest) as tmp:
        assert not tmp.exists(), "the body creates the file"
        tmp.write_text("new")
    assert dest.read_text() == "new"
    assert dest.stat().st_mode == plain.stat().st_mode
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.txt", "plain.txt"]


def test_crash_while_filling_a_folder_keeps_the_old_folder(tmp_path):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "config.json").write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_dir(dest) as tmp:
            (tmp / "config.json").write_text("new")
            raise OSError("disk full")
    assert (dest / "config.json").read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_a_finished_folder_replaces_the_old_one(tmp_path):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "stale.bin").write_text("old")
    with atomic_dir(dest) as tmp:
        (tmp / "config.json").write_text("new")
    assert [path.name for path in dest.iterdir()] == ["config.json"]
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
