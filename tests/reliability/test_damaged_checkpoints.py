"""Issue 17, item 8: resume verifies each checkpoint's sha256 sums and falls back to the newest intact one with a
warning naming the damaged one; a `latest` pointer leading outside the run is refused; the first metrics line after
a resume averages the same steps as in an uninterrupted run. Resume stays bitwise exact."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.train import checkpoint


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread: these runs are tiny, and two threads fighting for a busy 2-core machine take 10x longer."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(toy, tmp_path_factory):
    """9 steps, a checkpoint every 3: an uninterrupted run, and a template of one that crashed after step 6."""
    folder = tmp_path_factory.mktemp("runs")
    config = toy.toy_config(max_steps=9, checkpoint_every=3)
    _, uninterrupted = toy.train(folder / "uninterrupted", config)
    with pytest.raises(toy.ToyCrash):
        toy.train(folder / "crashed", config, crash_after_step=6)
    return config, uninterrupted.state_dict(), folder


def copy_of_crashed(runs, dest: Path) -> Path:
    shutil.copytree(runs[2] / "crashed", dest)
    return dest / "checkpoints"


def read_metrics(out_dir):
    return [{key: value for key, value in json.loads(line).items() if key not in ("seconds", "samples_per_s")}
            for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def crashed_run(toy, out_dir, config, after_step):
    with pytest.raises(toy.ToyCrash):
        toy.train(out_dir, config, crash_after_step=after_step)
    return out_dir / "checkpoints"


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF  # in the tensor data, past the header: the file still parses
    path.write_bytes(bytes(data))


DAMAGES = {
    "flipped-weight-byte": lambda folder: flip_a_byte(folder / "model.safetensors"),
    "truncated-optimizer": lambda folder: (folder / "optimizer.safetensors").write_bytes(
        (folder / "optimizer.safetensors").read_bytes()[:100]),
    "missing-rng": lambda folder: (folder / "rng.safetensors").unlink(),
    "edited-state": lambda folder: (folder / "trainer_state.json").write_text(
        (folder / "trainer_state.json").read_text().replace('"step": 6', '"step": 5')),
    "empty-sums": lambda folder: (folder / "SHA256SUMS").write_text(""),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_resume_falls_back_past_a_damaged_checkpoint_and_stays_bitwise_exact(toy, runs, tmp_path, damage):
    config, uninterrupted, folder = runs
    checkpoints = copy_of_crashed(runs, tmp_path / "run")
    damage(checkpoints / "step_0000006")

    with pytest.warns(UserWarning, match="step_0000006: damaged checkpoint"):
        result, resumed = toy.train(tmp_path / "run", config, init_seed=1, resume=True)
    assert result.step == 9 and checkpoint.checkpoint_problem(checkpoints / "step_0000006") is None  # saved again
    for name, tensor in uninterrupted.items():
        assert torch.equal(resumed.state_dict()[name], tensor), name  # from step 3, exactly as uninterrupted
    assert read_metrics(tmp_path / "run") == read_metrics(folder / "uninterrupted")


def test_every_checkpoint_damaged_is_an_input_error_naming_them(toy, runs, tmp_path):
    checkpoints = copy_of_crashed(runs, tmp_path / "run")
    for step in (3, 6):
        flip_a_byte(checkpoints / f"step_000000{step}" / "model.safetensors")
    with pytest.warns(UserWarning), pytest.raises(InputError, match="step_0000006, step_0000003"):
        toy.train(tmp_path / "run", runs[0], resume=True)


def test_an_explicit_damaged_checkpoint_is_refused(toy, runs, tmp_path):
    checkpoints = copy_of_crashed(runs, tmp_path / "run")
    flip_a_byte(checkpoints / "step_0000003" / "model.safetensors")
    with pytest.raises(InputError, match="model.safetensors does not match its sha256"):
        toy.train(tmp_path / "run", runs[0], resume=checkpoints / "step_0000003")


@pytest.mark.parametrize("pointer", ["../../elsewhere/checkpoints/step_0000003", "ABSOLUTE", "step_0000009"],
                         ids=["relative-path", "absolute-path", "link-outside"])
def test_a_latest_pointer_leading_outside_the_run_is_refused(toy, runs, tmp_path, pointer):
    elsewhere = copy_of_crashed(runs, tmp_path / "elsewhere")  # intact checkpoints, elsewhere
    checkpoints = copy_of_crashed(runs, tmp_path / "run")
    if pointer == "ABSOLUTE":
        pointer = str(elsewhere / "step_0000003")
    elif pointer == "step_0000009":
        (checkpoints / pointer).symlink_to(elsewhere / "step_0000003", target_is_directory=True)
    (checkpoints / "latest").write_text(pointer + "\n")
    with pytest.raises(InputError, match="outside"):
        checkpoint.resume_checkpoint(checkpoints)
    with pytest.raises(InputError, match="outside"):
        toy.train(tmp_path / "run", runs[0], resume=True)


def test_a_garbled_latest_pointer_falls_back_to_the_newest_intact_checkpoint(runs, tmp_path):
    checkpoints = copy_of_crashed(runs, tmp_path / "run")
    (checkpoints / "latest").write_bytes(b"\xff\xfe\0\0")  # what a power cut can leave of a freshly written file
    with pytest.warns(UserWarning, match="latest: damaged"):
        assert checkpoint.resume_checkpoint(checkpoints) == checkpoints / "step_0000006"


def test_the_metrics_line_after_a_resume_averages_the_same_steps(toy, tmp_path):
    # Lines every 4 steps, checkpoints every 3: the crash after step 6 falls inside the interval of steps 5-8.
    config = toy.toy_config(max_steps=8, checkpoint_every=3, log_every=4)
    uninterrupted, _ = toy.train(tmp_path / "a", config)
    crashed_run(toy, tmp_path / "b", config, after_step=6)
    resumed, _ = toy.train(tmp_path / "b", config, init_seed=1, resume=True)

    assert [line["step"] for line in read_metrics(tmp_path / "b")] == [4, 8]
    assert read_metrics(tmp_path / "b") == read_metrics(tmp_path / "a")
    assert resumed.history[-1]["samples_per_s"] > 0


def test_checkpoints_written_before_sums_were_recorded_still_resume(toy, runs, tmp_path):
    config, uninterrupted, _ = runs
    checkpoints = copy_of_crashed(runs, tmp_path / "run")
    for step in (3, 6):  # as format 1 wrote them
        folder = checkpoints / f"step_000000{step}"
        (folder / "SHA256SUMS").unlink()
        state = json.loads((folder / "trainer_state.json").read_text())
        del state["metrics_window"]
        (folder / "trainer_state.json").write_text(json.dumps({**state, "format_version": 1}))
    _, resumed = toy.train(tmp_path / "run", config, init_seed=1, resume=True)
    assert all(torch.equal(resumed.state_dict()[k], t) for k, t in uninterrupted.items())
