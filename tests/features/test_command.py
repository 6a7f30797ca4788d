"""`brainfm features --encoder DIR INPUT... --out features.csv`: one CSV row per scan on nibabel's test scans and the
MNI152 template; a bad input or an encoder without a recipe exits 2 naming it and writes nothing."""

import argparse
import csv

import pytest

from brainfm_lite import cli
from brainfm_lite.cli_conventions import run_command
from brainfm_lite.features.command import add_features_parser


def features(*argv) -> int:
    """Run the command from a parser built here, as `brainfm` runs its subcommands (exit code, one-line errors)."""
    parser = argparse.ArgumentParser(prog="brainfm")
    add_features_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["features", *map(str, argv)])
    return run_command("brainfm features", lambda: args.func(args))


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_one_row_per_scan_with_a_file_column_and_one_column_per_feature(t1_encoder, mni_file, kit, tmp_path,
                                                                          capsys):
    out = tmp_path / "features.csv"
    code = features("--encoder", t1_encoder, kit.ANATOMICAL, kit.MOVED, mni_file, "--out", out,
                    "--batch-size", 2, "--device", "cpu")
    assert code == 0, capsys.readouterr().err
    rows = read_csv(out)
    assert rows[0] == ["file"] + [f"f{k}" for k in range(8)]
    assert [row[0] for row in rows[1:]] == [str(kit.ANATOMICAL), str(kit.MOVED), str(mni_file)]
    assert all(len(row) == 9 for row in rows[1:])
    assert f"wrote {out} (3 scans x 8 features)" in capsys.readouterr().out


def test_a_bids_root(t1_encoder, bids_root, tmp_path):
    assert features("--encoder", t1_encoder, bids_root, "--out", tmp_path / "f.csv", "--device", "cpu") == 0
    assert len(read_csv(tmp_path / "f.csv")) == 3  # header + two subjects


def test_a_bad_input_exits_2_naming_it_and_leaves_the_csv_as_it_was(t1_encoder, kit, tmp_path, capsys):
    out = tmp_path / "features.csv"
    out.write_text("an earlier result\n")
    code = features("--encoder", t1_encoder, kit.ANATOMICAL, kit.EXAMPLE_4D, "--out", out, "--device", "cpu")
    assert code == 2
    assert "brainfm features: " in (err := capsys.readouterr().err) and f"{kit.EXAMPLE_4D}: expected a 3D" in err
    assert out.read_text() == "an earlier result\n"
    assert features("--encoder", t1_encoder, tmp_path / "absent.nii.gz", "--out", out, "--device", "cpu") == 2
    assert "absent.nii.gz: no such file or folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.csv", "t1_encoder"]  # no temporary left


def test_an_encoder_without_a_recipe_exits_2_naming_the_folder_and_writes_nothing(kit, tmp_path, capsys):
    folder = kit.save_encoder(tmp_path / "old_encoder", None)
    assert features("--encoder", folder, kit.ANATOMICAL, "--out", tmp_path / "f.csv") == 2
    assert f"{folder}: the encoder does not record how its pretraining data were preprocessed" in \
        capsys.readouterr().err
    assert not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize("argv, message", [(["--out", "{tmp}"], "is a folder"),
                                           (["--batch-size", "0", "--out", "{tmp}/f.csv"], "--batch-size must be")])
def test_bad_options_exit_2(t1_encoder, kit, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert features("--encoder", t1_encoder, kit.ANATOMICAL, *argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif("features" not in cli.build_parser().format_usage(),
                    reason="brainfm features is not wired into brainfm_lite/cli.py yet")
def test_brainfm_features_through_the_cli(t1_encoder, kit, tmp_path):
    out = tmp_path / "features.csv"
    assert cli.main(["features", "--encoder", str(t1_encoder), str(kit.ANATOMICAL), "--out", str(out),
                     "--device", "cpu"]) == 0
    assert len(read_csv(out)) == 2
