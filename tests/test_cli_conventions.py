"""Issue 16, item 6: `brainfm` follows command-line conventions. `--version`; `--help` on every subcommand, `data`
included; exit codes 0 / 1 (runtime error) / 2 (usage) / 130 (interrupted); an error is one line on stderr;
`book --profile` takes a YAML path like every other subcommand."""

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

import brainfm_lite
from brainfm_lite import cli
from brainfm_lite.book_runner import ChapterResult
from brainfm_lite.config import load_profile
from brainfm_lite.errors import ChecksumError, DownloadError, InputError

ROOT = Path(__file__).resolve().parents[1]


def subcommands() -> list[str]:
    """Every subcommand `build_parser` registers: a new one is covered by these tests without editing them."""
    parser = cli.build_parser()
    (action,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return list(action.choices)


SUBCOMMANDS = subcommands()


def exit_code(argv: list[str]) -> int:
    """`brainfm ARGV` run in this process: its exit code, whether `main` returned it or argparse exited."""
    try:
        return cli.main(argv)
    except SystemExit as exit:
        return exit.code


def one_error_line(capsys) -> str:
    """The stderr of a failed command: exactly one non-empty line, no traceback."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def test_the_documented_subcommands_are_registered():
    assert {"book", "cohort", "preprocess", "data", "pretrain", "evaluate", "results"} <= set(SUBCOMMANDS)


def test_version_prints_the_package_version(capsys):
    assert exit_code(["--version"]) == 0
    assert capsys.readouterr().out == f"brainfm {brainfm_lite.__version__}\n"


def test_help_lists_every_subcommand_and_the_exit_codes(capsys):
    assert exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)
    assert "130" in out and "usage error" in out


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command, capsys):
    assert exit_code([command, "--help"]) == 0
    assert f"usage: brainfm {command}" in capsys.readouterr().out


@pytest.mark.parametrize("command, words", [
    (["data", "--help"], ["list", "info", "fetch", "prepare-fastmri", "BRAINFM_DATA"]),
    (["data", "fetch", "--help"], ["--allow-unpinned", "--data-dir", "--files"]),
    (["data", "prepare-fastmri", "--help"], ["src", "--data-dir"]),
])
def test_data_help_shows_the_data_commands(command, words, capsys):
    assert exit_code(command) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: brainfm {' '.join(command[:-1])}") and all(word in out for word in words)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_a_bad_argument_is_a_usage_error_on_one_line(command, capsys):
    assert exit_code([command, "--no-such-option"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("brainfm") and "error" in line


@pytest.mark.parametrize("argv", [["pretrain", "mae", "--jobs", "many"], ["evaluate", "nowhere"],
                                  ["data", "fetch"], ["data", "fetch", "ixi", "--bogus"], []])
def test_a_bad_value_or_a_missing_argument_is_a_usage_error_on_one_line(argv, capsys):
    assert exit_code(argv) == 2
    assert one_error_line(capsys).startswith("brainfm")


@pytest.fixture
def cohort_raises(monkeypatch):
    """`raise_in_cohort(error)`: the function behind `brainfm cohort` raises `error` once the arguments are parsed
    (patched in the CLI module, so that the test does not import the simulation: seconds)."""

    def raise_in_cohort(error: BaseException):
        def cohort(args):
            raise error

        monkeypatch.setattr(cli, "_cohort", cohort)

    return raise_in_cohort


@pytest.mark.parametrize("error, code", [
    (InputError("/data/sub-01.nii.gz: not a 3D volume\nits shape is (4, 4)"), 2),
    (ChecksumError("ixi/T1.tar: sha256 does not match"), 1),
    (DownloadError("https://example.org/x: connection closed early"), 1),
    (PermissionError(13, "Permission denied", "/runs/out"), 1),
], ids=["input", "checksum", "download", "file-system"])
def test_an_expected_error_gives_its_exit_code_and_one_line(cohort_raises, tmp_path, capsys, error, code):
    cohort_raises(error)
    assert cli.main(["cohort", "--n", "2", "--out", str(tmp_path / "out")]) == code
    line = one_error_line(capsys)
    assert line.startswith("brainfm cohort: ")
    if isinstance(error, InputError):
        assert line == "brainfm cohort: /data/sub-01.nii.gz: not a 3D volume its shape is (4, 4)"


def test_an_unexpected_exception_keeps_its_traceback(cohort_raises, tmp_path):
    cohort_raises(ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):
        cli.main(["cohort", "--n", "2", "--out", str(tmp_path / "out")])


def test_ctrl_c_inside_a_command_exits_130_with_one_line(cohort_raises, tmp_path, capsys):
    cohort_raises(KeyboardInterrupt())
    assert cli.main(["cohort", "--n", "2", "--out", str(tmp_path / "out")]) == 130
    assert one_error_line(capsys) == "brainfm cohort: interrupted"


def test_ctrl_c_inside_a_data_command_exits_130_and_says_how_to_resume(monkeypatch, capsys):
    def interrupted_listing():
        raise KeyboardInterrupt

    monkeypatch.setattr("brainfm_lite.fetch.cli.print_list", interrupted_listing)
    assert cli.main(["data", "list"]) == 130
    line = one_error_line(capsys)
    assert line.startswith("brainfm data: interrupted") and "again" in line


def test_a_data_input_error_is_one_line_with_code_2(capsys):
    assert cli.main(["data", "info", "no_such_dataset"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("brainfm data: ") and "no_such_dataset" in line


# ------------------------------------------------------------------------------------------------------------------
# book --profile: a name or a YAML path, with --set, resolved the way every other subcommand resolves it


@pytest.fixture
def recorded_chapters(monkeypatch):
    """Replace papermill by a recorder: each chapter "runs" at once and the parameters it was given are kept."""
    calls = []

    def execute_chapter(notebook, output, *, profile_name, results_dir, parameters):
        calls.append({"label": profile_name, "results_dir": results_dir, "parameters": parameters})
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, output)
        return ChapterResult(notebook.stem, True, 0.0, output)

    monkeypatch.setattr("brainfm_lite.book_runner.execute_chapter", execute_chapter)
    return calls


def book(tmp_path, *options) -> list[str]:
    return ["book", "--root", str(ROOT), "--build-dir", str(tmp_path / "_build"), "--chapters", "01_data",
            "--no-render", *options]


def test_book_takes_a_profile_yaml_path_and_set_overrides(recorded_chapters, tmp_path, capsys):
    mine = tmp_path / "profiles" / "mine.yaml"
    mine.parent.mkdir()
    shutil.copy(ROOT / "brainfm_lite" / "profiles" / "smoke.yaml", mine)
    assert cli.main(book(tmp_path, "--profile", str(mine), "--set", "n_subjects=3")) == 0
    (call,) = recorded_chapters
    assert call["parameters"] == {"profile_name": str(mine.resolve()), "overrides": {"n_subjects": "3"}}
    assert call["label"] == "mine" and call["results_dir"] == tmp_path / "_build" / "results" / "mine"
    # what the chapter's parameters cell then does, from book/ (the path is absolute)
    assert load_profile(call["parameters"]["profile_name"], **call["parameters"]["overrides"]).n_subjects == 3
    assert "01_data" in capsys.readouterr().out


def test_book_still_takes_a_profile_name(recorded_chapters, tmp_path):
    assert cli.main(book(tmp_path, "--profile", "colab")) == 0
    assert recorded_chapters[0]["parameters"] == {"profile_name": "colab", "overrides": {}}


@pytest.mark.parametrize("options, expected", [
    (["--profile", "missing.yaml"], "missing.yaml: profile file not found"),
    (["--profile", "smok"], "unknown profile 'smok'"),
    (["--set", "n_subjects=-1"], "n_subjects"),
    (["--set", "n_subjectz=3"], "n_subjectz"),
    (["--profile", "PROFILE", "--store-reference"], "named profile"),
], ids=["missing-file", "unknown-name", "bad-value", "unknown-key", "store-reference-of-a-file"])
def test_book_refuses_a_bad_profile_before_any_chapter_runs(recorded_chapters, tmp_path, capsys, options, expected):
    mine = tmp_path / "mine.yaml"
    shutil.copy(ROOT / "brainfm_lite" / "profiles" / "smoke.yaml", mine)
    options = [str(mine) if option == "PROFILE" else option for option in options]
    assert cli.main(book(tmp_path, *options)) == 2
    assert expected in one_error_line(capsys).removeprefix("brainfm book: ")
    assert recorded_chapters == []


def test_a_failed_book_render_is_one_line_with_the_whole_output_in_a_log(tmp_path, monkeypatch):
    from brainfm_lite import book_runner
    from brainfm_lite.errors import BrainFMError

    output = "Running Sphinx v7\nbook/04_mae.ipynb:12: WARNING: undefined label: 'mae-loss'\nbuild finished\n"
    failed = subprocess.CompletedProcess([], 1, stdout=output, stderr="Traceback (most recent call last):\n  ...\n")
    monkeypatch.setattr(book_runner.subprocess, "run", lambda *args, **kwargs: failed)
    with pytest.raises(BrainFMError) as error:
        book_runner.render_html(tmp_path / "stage", tmp_path, warnings_as_errors=True)
    message = str(error.value)
    assert "\n" not in message and "WARNING: undefined label: 'mae-loss'" in message
    log = tmp_path / "_build" / "jupyter-book.log"
    assert str(log) in message and output in log.read_text() and "Traceback" in log.read_text()
