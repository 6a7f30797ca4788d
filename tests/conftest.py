"""Fixtures shared by every test folder."""

import os
import signal
import subprocess
import sys

import pytest

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
