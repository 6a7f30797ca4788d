"""Issue 17, item 7: `save_pretrained` keeps a complete save under its name at every moment, and the temporaries
of a killed save (of a model or a volume) are removed by the next one."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from brainfm_lite import atomic
from brainfm_lite.data.io import load_volume, save_volume
from brainfm_lite.data.volume import Volume
from brainfm_lite.models.encoders import EncoderConfig, build_encoder
from brainfm_lite.models.hub import from_pretrained, save_pretrained

CNN = EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 8))


def saved_widths(folder):
    return json.loads((folder / "config.json").read_text())["config"]["widths"]


def test_at_every_step_of_a_replacing_save_the_folder_holds_a_complete_save(tmp_path, monkeypatch):
    dest = save_pretrained(build_encoder(CNN), tmp_path / "encoder")
    steps = []

    def watched(operation):
        def run(*args):
            result = operation(*args)
            complete = (dest / "config.json").is_file() and (dest / "model.safetensors").is_file()
            steps.append((operation.__name__, complete))
            return result
        return run

    exchange = getattr(atomic, "_exchange", None)
    if exchange is not None and not exchange(tmp_path / "encoder", tmp_path / "encoder"):
        pytest.skip("this file system cannot swap two paths atomically (renameat2 RENAME_EXCHANGE)")
    monkeypatch.setattr(atomic.os, "replace", watched(os.replace))
    if exchange is not None:
        monkeypatch.setattr(atomic, "_exchange", watched(exchange))
    save_pretrained(build_encoder(EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 6))), dest)

    assert steps and all(complete for _, complete in steps), steps
    assert saved_widths(dest) == [4, 6]
    assert [path.name for path in tmp_path.iterdir()] == ["encoder"]


def run_until_killed(code: str, cwd) -> None:
    """Run `code` in a fresh Python that kills itself (SIGKILL: no cleanup runs) where the code says so."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr


KILL_WHILE_WRITING_WEIGHTS = """
    import os, signal
    import brainfm_lite.models.hub as hub
    from brainfm_lite.models.encoders import EncoderConfig, build_encoder

    def half_then_killed(tensors, filename, **kwargs):
        open(filename, "wb").write(b"half a file")
        os.kill(os.getpid(), signal.SIGKILL)

    hub.save_file = half_then_killed
    hub.save_pretrained(build_encoder(EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 6))), "encoder")
"""


def test_the_leftover_of_a_killed_save_pretrained_is_removed_by_the_next_save(tmp_path):
    dest = save_pretrained(build_encoder(CNN), tmp_path / "encoder")
    run_until_killed(KILL_WHILE_WRITING_WEIGHTS, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2, "the killed save left its temporary folder"
    assert saved_widths(dest) == [4, 8]  # the previous save is untouched

    save_pretrained(build_encoder(CNN), dest)
    assert [path.name for path in tmp_path.iterdir()] == ["encoder"]


KILL_BETWEEN_THE_RENAMES = """
    import os, signal
    from brainfm_lite import atomic
    from brainfm_lite.models.hub import save_pretrained
    from brainfm_lite.models.encoders import EncoderConfig, build_encoder

    atomic._exchange = lambda a, b: False  # a system without an atomic swap: the old folder is renamed aside
    real_replace = os.replace

    def replace(source, dest):
        real_replace(source, dest)
        if os.path.basename(source) == "encoder":  # the old save was just renamed aside
            os.kill(os.getpid(), signal.SIGKILL)

    atomic.os.replace = replace
    save_pretrained(build_encoder(EncoderConfig(kind="cnn", img_size=(16, 16, 16), widths=(4, 6))), "encoder")
"""


def test_without_an_atomic_swap_a_crash_between_the_renames_is_repaired_by_the_next_save(tmp_path):
    dest = save_pretrained(build_encoder(CNN), tmp_path / "encoder")
    run_until_killed(KILL_BETWEEN_THE_RENAMES, tmp_path)
    assert not dest.exists()  # the only moment the fallback has: the old save renamed aside

    atomic.remove_leftovers(dest)
    assert saved_widths(dest) == [4, 8]  # the previous save is back under its name
    save_pretrained(build_encoder(CNN), dest)
    assert [path.name for path in tmp_path.iterdir()] == ["encoder"]
    assert isinstance(from_pretrained(dest), type(build_encoder(CNN)))


KILL_WHILE_WRITING_A_VOLUME = """
    import os, signal
    import nibabel as nib
    import numpy as np
    from brainfm_lite.data.io import save_volume
    from brainfm_lite.data.volume import Volume

    def half_then_killed(image, filename, **kwargs):
        open(filename, "wb").write(b"\\0" * 200)
        os.kill(os.getpid(), signal.SIGKILL)

    nib.Nifti1Image.to_filename = half_then_killed
    save_volume(Volume(np.zeros((4, 5, 6), np.float32), np.eye(4)), "brain.nii.gz")
"""


def test_the_temporary_of_a_killed_save_volume_is_removed_by_the_next_call(tmp_path):
    run_until_killed(KILL_WHILE_WRITING_A_VOLUME, tmp_path)
    leftovers = [path.name for path in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".brain.nii.gz.tmp-")

    data = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    save_volume(Volume(data, np.eye(4)), tmp_path / "brain.nii.gz")
    assert [path.name for path in tmp_path.iterdir()] == ["brain.nii.gz"]
    np.testing.assert_array_equal(load_volume(tmp_path / "brain.nii.gz").data, data)


def test_a_temporary_of_a_running_writer_is_left_alone(tmp_path):
    """Cleaning is for the dead: a write in progress in another live process keeps its temporary."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = tmp_path / f".brain.nii.gz.tmp-{atomic._HOST}-{sleeper.pid}-0123abcd.nii.gz"
        busy.write_bytes(b"being written")
        save_volume(Volume(np.zeros((4, 5, 6), np.float32), np.eye(4)), tmp_path / "brain.nii.gz")
        assert busy.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    atomic.remove_leftovers(tmp_path / "brain.nii.gz")
    assert not busy.exists()
