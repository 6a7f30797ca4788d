"""Issue 17, item 10: every profile value is converted to its field's type and checked before anything runs; bad
values, bad profile files, an --out that is a file, `book` outside a checkout and a volume too small to preprocess
give one line on stderr and exit 1 or 2, no traceback."""

import subprocess
import sys
import textwrap

import nibabel as nib
import numpy as np
import pytest
import yaml

from brainfm_lite.cli import main
from brainfm_lite.config import load_profile
from brainfm_lite.errors import InputError


@pytest.fixture
def pretrainers(monkeypatch):
    """Replace every pretraining method by a recorder of the profile it was given."""
    from brainfm_lite.train.pretrain import PRETRAINERS

    calls = []
    for name in list(PRETRAINERS):
        monkeypatch.setitem(PRETRAINERS, name, lambda profile, out, **options: calls.append(profile))
    return calls


def one_line_error(capsys, code) -> str:
    """The stderr of a command that returned `code`: exactly one line, no traceback."""
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_valid_value_works_whatever_yaml_would_make_of_it(pretrainers, tmp_path):
    assert main(["pretrain", "simclr", "--out", str(tmp_path / "run"), "--set", "contrastive_lr=3e-4",
                 "--set", "cnn_widths=4,8", "--set", "cpu_bf16=true", "--set", "device=cpu"]) == 0
    profile = pretrainers[0]
    assert profile.contrastive_lr == 3e-4 and isinstance(profile.contrastive_lr, float)
    assert profile.cnn_widths == (4, 8) and profile.cpu_bf16 is True and profile.device == "cpu"


def test_profile_files_get_the_same_treatment_lists_become_tuples(tmp_path):
    values = load_profile("smoke").to_dict() | {"name": "mine"}
    text = yaml.safe_dump({**values, "cnn_widths": list(values["cnn_widths"])}).replace(
        f"mae_lr: {values['mae_lr']}", "mae_lr: 3e-4")  # YAML 1.1 reads 3e-4 as a string
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    profile = load_profile(path)
    assert profile.mae_lr == 3e-4 and profile.cnn_widths == tuple(values["cnn_widths"])
    assert isinstance(profile.diffusion_sweep_steps, tuple) and isinstance(profile.diffusion_sweep_lrs[0], float)


BAD_SETTINGS = [
    ("mae_steps=abc", "mae_steps must be an integer"),
    ("mae_steps=", "mae_steps must be an integer"),
    ("mae_steps=2.5", "mae_steps must be an integer"),
    ("mae_steps=-1", "mae_steps must be an integer >= 1"),
    ("mae_lr=nan", "mae_lr must be a finite number"),
    ("mae_lr=-1e-3", "mae_lr must be positive"),
    ("mae_lr=", "mae_lr must be a number"),
    ("device=gpu", "device must be"),
    ("device=", "device must be"),
    ("mae_preset=huge", "mae_preset must be one of tiny, small, base"),
    ("contrastive_encoder=giant", "contrastive_encoder must be one of"),
    ("cpu_bf16=maybe", "cpu_bf16 must be true or false"),
    ("cnn_widths=[]", "cnn_widths must be a non-empty list of integers"),
    ("cnn_widths=8,x", "cnn_widths[1] must be an integer"),
    ("diffusion_ema_decay=1.5", "diffusion_ema_decay must be in [0, 1)"),
    ("cbf_image_size=40", "cbf_image_size must be a multiple of 16"),
    ("register=warp", "register must be one of rigid, affine, none"),
    ("mae_stepz=2", "mae_stepz"),
    ("=2", "KEY=VALUE"),
]


@pytest.mark.parametrize("setting, expected", BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_a_bad_set_value_is_one_line_naming_the_field_before_anything_runs(pretrainers, tmp_path, capsys, setting,
                                                                            expected):
    code = main(["pretrain", "mae", "--out", str(tmp_path / "run"), "--set", setting])
    assert expected in one_line_error(capsys, code)
    assert pretrainers == [] and not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, expected", [
    ("- a\n- list\n", "a profile is a mapping of keys to values, got list"),
    ("just a string\n", "a profile is a mapping of keys to values, got str"),
    ("mae_steps: [unclosed\n", "not valid YAML"),
    ("WRONG_TYPE", "mae_steps must be an integer, got 'many'"),
    ("NEGATIVE", "mae_steps must be an integer >= 1, got -5"),
], ids=["list", "scalar", "broken-yaml", "wrong-type", "negative"])
def test_a_bad_profile_file_is_one_line_naming_the_file(pretrainers, tmp_path, capsys, text, expected):
    path = tmp_path / "mine.yaml"
    values = load_profile("smoke").to_dict()
    if text == "WRONG_TYPE":
        text = yaml.safe_dump({**values, "mae_steps": "many"})
    elif text == "NEGATIVE":
        text = yaml.safe_dump({**values, "mae_steps": -5})
    path.write_text(text)
    with pytest.raises(InputError):
        load_profile(path)
    err = one_line_error(capsys, main(["pretrain", "mae", "--profile", str(path), "--out", str(tmp_path / "run")]))
    assert str(path) in err and expected in err
    assert pretrainers == []


@pytest.mark.parametrize("command", [
    ["pretrain", "mae", "--out", "FILE"],
    ["evaluate", "structural", "--out", "FILE"],
    ["evaluate", "recon", "--out", "FILE"],
    ["results", "asl", "--run-dir", "FILE"],
    ["cohort", "--n", "2", "--out", "FILE"],
], ids=["pretrain", "evaluate-structural", "evaluate-recon", "results", "cohort"])
def test_an_output_folder_that_is_a_file_is_one_line(pretrainers, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr("brainfm_lite.eval.comparison.compare_methods", lambda *a, **k: pytest.fail("ran"))
    monkeypatch.setattr("brainfm_lite.sim.cohort.make_cohort", lambda *a, **k: pytest.fail("ran"))
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    err = one_line_error(capsys, main([str(target) if part == "FILE" else part for part in command]))
    assert str(target) in err and "is a file" in err
    assert target.read_text() == "keep me" and pretrainers == []


def test_book_outside_a_checkout_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = one_line_error(capsys, main(["book", "--no-render", "--root", str(tmp_path)]))
    assert str(tmp_path) in err and "checkout" in err
    assert "checkout" in one_line_error(capsys, main(["book", "--no-render"]))


def test_preprocess_of_a_tiny_valid_volume_is_one_line(tmp_path, capsys):
    path = tmp_path / "tiny.nii.gz"
    data = np.random.default_rng(0).uniform(50.0, 100.0, size=(4, 4, 4)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), path)
    err = one_line_error(capsys, main(["preprocess", str(path), str(tmp_path / "out.nii.gz")]))
    assert str(path) in err
    assert not (tmp_path / "out.nii.gz").exists()


FAST_REFUSAL = """
    import sys
    sys.modules["torch"] = None  # importing torch (seconds) would raise: the profile must be refused before it
    from brainfm_lite.cli import main
    print(main(["pretrain", "mae", "--out", "run", "--set", SETTING]))
"""


@pytest.mark.parametrize("setting", ["mae_steps=-1", "mae_preset=huge"])
def test_a_bad_profile_fails_before_torch_is_imported_or_anything_simulated(tmp_path, setting):
    code = textwrap.dedent(FAST_REFUSAL).replace("SETTING", repr(setting))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2"] and setting.split("=")[0] in done.stderr
    assert not (tmp_path / "run").exists()
