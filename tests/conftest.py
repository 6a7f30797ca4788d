"""Fixtures shared by every test folder: torchrun, small NIfTI fixtures (fixed seeds, files in tmp_path), and the
book executed and rendered at smoke once per session."""

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brainfm_lite.data.volume import Volume

TORCHRUN_TIMEOUT_S = 180
TOY_PROBLEM = Path(__file__).with_name("train") / "toy_problem.py"


@pytest.fixture(scope="session")
def toy():
    """tests/train/toy_problem.py (a file torchrun also runs as a script): SmoothVolumes, MaskedVoxelObjective,
    ToyCrash, toy_config, train; a tiny masked-voxel objective whose forward draws random numbers."""
    spec = importlib.util.spec_from_file_location("toy_problem", TOY_PROBLEM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torchrun(script, *args, n_processes: int = 2) -> str:
    """Run `script` in `n_processes` CPU processes with torchrun; returns its output, fails the test on error.

    ``--standalone`` lets torchrun pick a free port on localhost. The launcher gets its own process group, so a
    timeout kills the launcher and both workers.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n_processes),
               str(script), *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TORCHRUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"torchrun did not finish in {TORCHRUN_TIMEOUT_S} s:\n{output}")
    if process.returncode != 0:
        pytest.fail(f"torchrun failed with exit code {process.returncode}:\n{output}")
    return output


@pytest.fixture(scope="session")
def run_torchrun():
    """`torchrun(script, *args, n_processes=2)`: launch a script in CPU processes (gloo) and return its output."""
    return torchrun

# 2 mm voxels, x flipped (LAS, as many scanners write), origin away from zero.
LAS_2MM_AFFINE = np.array(
    [
        [-2.0, 0.0, 0.0, 10.0],
        [0.0, 2.0, 0.0, -12.0],
        [0.0, 0.0, 2.0, 4.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


@pytest.fixture
def small_volume() -> Volume:
    """A 6x7x5 in-memory volume of uniform random intensities in [0, 100) on the 2 mm LAS grid."""
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 100.0, size=(6, 7, 5)).astype(np.float32)
    return Volume(data=data, affine=LAS_2MM_AFFINE.copy())


@pytest.fixture
def write_nifti(tmp_path):
    """Factory writing an array to tmp_path with nibabel alone (independent of the code under test).

    ``write_nifti(name, data, affine=LAS_2MM_AFFINE, nifti2=False) -> Path``; the affine goes into the sform
    with code 1 (scanner), and the suffix of ``name`` picks .nii or .nii.gz.
    """

    def write(name: str, data: np.ndarray, affine: np.ndarray = LAS_2MM_AFFINE, nifti2: bool = False) -> Path:
        image_class = nib.Nifti2Image if nifti2 else nib.Nifti1Image
        image = image_class(np.asarray(data), affine)
        image.set_sform(affine, code=1)
        path = tmp_path / name
        nib.save(image, path)
        return path

    return write


ROOT = Path(__file__).resolve().parents[1]


def _tree_digest(folder: Path) -> str:
    """One hash of every file (path and bytes) under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def tree_digest():
    """`tree_digest(folder) -> str`: one hash of every file under a folder (to show it unchanged)."""
    return _tree_digest


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """The book executed at smoke and rendered with warnings as errors, once per session: (BookRun, build, digest).

    It runs as a user who rebuilds one chapter would: every chapter but the first (not rendered), then the first
    alone (`make book CHAPTERS=01_data`), whose render must still hold the whole book. Each chapter runs once.
    The BookRun lists every chapter; digest is that of book/ before the runs (the sources must stay untouched).
    """
    from brainfm_lite.book_runner import chapter_notebooks, run_book

    build = tmp_path_factory.mktemp("book") / "_build"
    before = _tree_digest(ROOT / "book")
    first, *others = [notebook.stem for notebook in chapter_notebooks(ROOT)]
    earlier = run_book(ROOT, profile_name="smoke", chapters=others, build_dir=build, render=False)
    run = run_book(ROOT, profile_name="smoke", chapters=[first], build_dir=build, warnings_as_errors=True)
    run.chapters = earlier.chapters + run.chapters
    if not earlier.ok:
        run.html = None  # as a failed full build: no site
    return run, build, before
