"""Fixtures shared by every test folder: torchrun, and small NIfTI fixtures (fixed seeds, files in tmp_path)."""

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
